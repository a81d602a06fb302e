"""``blueprint evidence``: what a change board or an auditor reads about one model in one stack, as a
self-contained Markdown report and the same facts as JSON.

Every fact comes from the stack's resource graph (offline synthesis of the committed program), its
outputs (a deployed stack's ``pulumi stack output --json`` when given), the policy pack, git history
(promotion commits) and, where given, ECR scan findings. Nothing in it is typed by hand.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlops_platform.infra.governance import history, plain_iam
from mlops_platform.policies.graph import Graph, Resource

FORMAT_VERSION = 1


@dataclass
class Inputs:
    """What a report is built from (the command gathers it)."""

    model: str
    stack: str
    environment: str
    graph: Graph
    outputs: Mapping[str, Any]
    outputs_source: str
    slo: Mapping[str, Any] | None
    traffic: Mapping[str, str]
    """Version name -> how it takes traffic, as the stack file sets it (ModelEndpointSpec.traffic_roles)."""
    promotions: Sequence[history.PromotionCommit]
    violations: Sequence[Any]
    rules_run: int
    scans: Mapping[str, Mapping[str, Any]]


def _endpoint(graph: Graph, model: str) -> Resource:
    return next(
        r for r in graph.resources if r.type == "mlops:model_endpoint:ModelEndpoint" and r.name == model
    )


def _owned(graph: Graph, model: str) -> list[Resource]:
    return list(graph.descendants(_endpoint(graph, model).urn))


def _of(resources: Sequence[Resource], type_: str) -> list[Resource]:
    return [r for r in resources if r.type == type_]


def _permissions(owned: Sequence[Resource]) -> list[dict[str, Any]]:
    documents = [json.loads(r.inputs["policy"]) for r in _of(owned, "aws:iam/rolePolicy:RolePolicy")]
    return plain_iam.policy_words(documents)


def _peer(peer: Mapping[str, Any]) -> str:
    if "ipBlock" in peer:
        return f"addresses in {peer['ipBlock']['cidr']}"
    parts = []
    if "podSelector" in peer:
        labels = peer["podSelector"].get("matchLabels", {})
        parts.append("pods " + ", ".join(f"{k}={v}" for k, v in sorted(labels.items())))
    if "namespaceSelector" in peer:
        labels = peer["namespaceSelector"].get("matchLabels", {})
        parts.append("in namespace " + ", ".join(v for v in labels.values()))
    return " ".join(parts) or "anywhere"


def _network(owned: Sequence[Resource], url: str | None) -> dict[str, Any]:
    routes = []
    for resource in _of(owned, "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"):
        spec = resource.inputs["spec"]
        parents = [f"{p.get('namespace', '')}/{p['name']}" for p in spec.get("parentRefs", [])]
        for rule in spec.get("rules", []):
            matches = rule.get("matches", [])
            headers = sorted({f"{h['name']}: {h['value']}" for m in matches for h in m.get("headers", [])})
            mirrors = [
                f"{f['requestMirror'].get('percent', 100)}% mirrored to {f['requestMirror']['backendRef']['name']}"
                for f in rule.get("filters", [])
                if f.get("type") == "RequestMirror"
            ]
            routes.append(
                {
                    "gateway": ", ".join(parents),
                    "rule": rule.get("name", ""),
                    "paths": sorted({m["path"]["value"] for m in matches if "path" in m}),
                    "headers": headers,
                    "backends": [b["name"] for b in rule.get("backendRefs", [])],
                    "mirror": mirrors,
                }
            )
    allowed = []
    for policy in _of(owned, "kubernetes:networking.k8s.io/v1:NetworkPolicy"):
        for rule in policy.inputs["spec"].get("ingress", []):
            ports = ", ".join(f"{p.get('protocol', 'TCP')} {p['port']}" for p in rule.get("ports", []))
            allowed += [f"{_peer(peer)} on {ports or 'any port'}" for peer in rule.get("from", [])]
    services = [
        {"name": s.inputs["metadata"]["name"], "type": s.inputs["spec"].get("type", "ClusterIP")}
        for s in _of(owned, "kubernetes:core/v1:Service")
    ]
    return {"url": url, "routes": routes, "services": services, "allowedIngress": allowed}


def _alert_rules(owned: Sequence[Resource]) -> list[dict[str, Any]]:
    rules = []
    for resource in _of(owned, "kubernetes:monitoring.coreos.com/v1:PrometheusRule"):
        for group in resource.inputs["spec"]["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    rules.append(
                        {
                            "alert": rule["alert"],
                            "severity": rule.get("labels", {}).get("severity"),
                            "window": rule.get("labels", {}).get("burn_window"),
                            "for": rule.get("for"),
                            "summary": rule.get("annotations", {}).get("summary"),
                            "runbook": rule.get("annotations", {}).get("runbook_url"),
                        }
                    )
    return rules


def _images(inputs: Inputs, lineage: Mapping[str, Any]) -> list[dict[str, Any]]:
    signing = inputs.outputs.get("imageSigning") or {}
    repository = (inputs.outputs.get("models") or {}).get(inputs.model, {}).get("repositoryUrl")
    images = []
    for version, facts in sorted(lineage.items()):
        digest = facts.get("image-digest")
        reference = f"{repository}@{digest}" if digest else f"{repository}:{facts.get('image-tag')}"
        images.append(
            {
                "version": version,
                "reference": reference,
                "digest": digest,
                "scan": inputs.scans.get(str(digest)),
                "admission": signing.get("admission"),
                "signingKey": signing.get("cosignKey"),
                "verify": f"cosign verify --key {signing.get('cosignKey')} --insecure-ignore-tlog {reference}",
            }
        )
    return images


def build(inputs: Inputs) -> dict[str, Any]:
    """The evidence as one JSON-able document."""
    owned = _owned(inputs.graph, inputs.model)
    owned_urns = {r.urn for r in owned}
    lineage = (inputs.outputs.get("lineage") or {}).get(inputs.model) or {}
    model_outputs = (inputs.outputs.get("models") or {}).get(inputs.model) or {}
    team = model_outputs.get("team")
    cost = ((inputs.outputs.get("costEstimate") or {}).get("byModel") or {}).get(
        f"{team}/{inputs.model}"
    ) or {}
    mine = [v for v in inputs.violations if v.urn in owned_urns]
    return {
        "formatVersion": FORMAT_VERSION,
        "model": inputs.model,
        "team": team,
        "stack": inputs.stack,
        "environment": inputs.environment,
        "sources": {"graph": f"offline synthesis of stack {inputs.stack}", "outputs": inputs.outputs_source},
        "lineage": lineage,
        "traffic": dict(inputs.traffic),
        "promotions": [
            {"commit": p.commit, "date": p.date, "author": p.author, **p.record} for p in inputs.promotions
        ],
        "policy": {
            "rulesEvaluated": inputs.rules_run,
            "stackViolations": {
                "mandatory": sum(v.enforcement in ("mandatory", "remediate") for v in inputs.violations),
                "advisory": sum(v.enforcement == "advisory" for v in inputs.violations),
            },
            "modelViolations": [
                {"rule": v.rule, "enforcement": v.enforcement, "message": v.message} for v in mine
            ],
        },
        "slo": dict(inputs.slo or {}),
        "alertRules": _alert_rules(owned),
        "permissions": {"role": model_outputs.get("roleArn"), "statements": _permissions(owned)},
        "network": _network(owned, model_outputs.get("url")),
        "cost": {
            "monthlyUsd": {k: cost.get(k) for k in ("idle", "expected", "peak")},
            "per1kInferencesUsd": cost.get("costPer1kInferences"),
            "requestsPerSecondBusy": cost.get("requestsPerSecondBusy"),
        },
        "images": _images(inputs, lineage),
    }


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    def cell(value: Any) -> str:
        return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")

    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(cell(v) for v in row) + " |" for row in rows),
    ]


def _scan_words(scan: Mapping[str, Any] | None) -> str:
    if not scan:
        return "not given (pass --scan-findings FILE from `aws ecr describe-image-scan-findings`)"
    counts = scan.get("counts") or {}
    shown = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) or "no findings"
    return f"{scan.get('status', 'COMPLETE').lower()}: {shown}"


def markdown(doc: Mapping[str, Any]) -> str:
    """The report a change board reads."""
    out = [
        f"# Evidence: {doc['model']} in {doc['stack']}",
        "",
        f"Team **{doc['team']}**, environment **{doc['environment']}**. Built from the {doc['sources']['graph']} "
        f"and {doc['sources']['outputs']} by `blueprint evidence`; nothing here is typed by hand.",
        "",
        "## Lineage",
        "",
        *_table(
            [
                "version",
                "registered model",
                "registry version",
                "image digest",
                "training run",
                "dataset",
                "code commit",
            ],
            [
                [
                    v,
                    f.get("registered-model"),
                    f.get("registry-version"),
                    f.get("image-digest"),
                    f.get("training-run"),
                    f.get("dataset-uri"),
                    f.get("code-commit"),
                ]
                for v, f in sorted(doc["lineage"].items())
            ],
        ),
        "",
        "Traffic:",
        "",
        *(f"- {v}: {role}" for v, role in doc["traffic"].items()),
        "",
        "## Promotion record",
        "",
    ]
    if not doc["promotions"]:
        out.append(
            "No promotion commit (`Promotion-Record` trailer) touches this stack's file for this model."
        )
    for p in doc["promotions"]:
        forced = f" **Forced**: {p['forced']}." if p.get("forced") else ""
        out += [
            f"- `{p['commit'][:12]}` {p['date']} by {p['author']}: {p['version']} ({p['digest']}) from "
            f"{p['from']} as {p['role']}.{forced}",
            *(f"  - {g['result']} {g['gate']}: {g['detail']}" for g in p["gates"]),
        ]
    policy = doc["policy"]
    counts = policy["stackViolations"]
    out += [
        "",
        "## Policy results",
        "",
        f"{policy['rulesEvaluated']} rules evaluated on the stack: {counts['mandatory']} mandatory and "
        f"{counts['advisory']} advisory violation(s); {len(policy['modelViolations'])} on this model's resources.",
        "",
        *(f"- [{v['enforcement']}] {v['rule']}: {v['message']}" for v in policy["modelViolations"]),
        *([""] if policy["modelViolations"] else []),
        "## Service level objectives and alerts",
        "",
        f"Availability {doc['slo'].get('availabilityTarget')}%, p95 latency {doc['slo'].get('latencyP95Ms')} ms.",
        "",
        *_table(
            ["alert", "severity", "burn window", "for", "runbook"],
            [[a["alert"], a["severity"], a["window"], a["for"], a["runbook"]] for a in doc["alertRules"]],
        ),
        "",
        "## Permissions",
        "",
        f"Role `{doc['permissions']['role']}`; everything not listed is denied.",
        "",
        *(f"- {s['words']}." for s in doc["permissions"]["statements"]),
        "",
        "## Network exposure",
        "",
        f"URL: {doc['network']['url']}",
        "",
        *(
            f"- Gateway {r['gateway']}, rule {r['rule']}: paths {', '.join(r['paths'])}"
            + (f" with {', '.join(r['headers'])}" if r["headers"] else "")
            + f" to {', '.join(r['backends'])}"
            + (f"; {', '.join(r['mirror'])}" if r["mirror"] else "")
            for r in doc["network"]["routes"]
        ),
        *(f"- Service {s['name']} ({s['type']})" for s in doc["network"]["services"]),
        *(f"- Pods accept traffic from {a} only" for a in doc["network"]["allowedIngress"]),
        "",
        "## Cost",
        "",
        *_table(
            [
                "idle USD/month",
                "expected USD/month",
                "peak USD/month",
                "USD per 1k inferences",
                "SageMaker per 1k",
            ],
            [
                [
                    *(doc["cost"]["monthlyUsd"].get(k) for k in ("idle", "expected", "peak")),
                    (doc["cost"]["per1kInferencesUsd"] or {}).get("platform"),
                    (doc["cost"]["per1kInferencesUsd"] or {}).get("sagemaker"),
                ]
            ],
        ),
        "",
        "## Images, scans and signatures",
        "",
    ]
    for image in doc["images"]:
        out += [
            f"- **{image['version']}** `{image['reference']}`",
            f"  - scan: {_scan_words(image['scan'])}",
            f"  - signature: admission `{image['admission']}` with key `{image['signingKey']}`; check it with "
            f"`{image['verify']}`",
        ]
    return "\n".join(out) + "\n"


def scan_summary(document: Any, where: str) -> tuple[str, dict[str, Any]]:
    """(digest, summary) of one `aws ecr describe-image-scan-findings` result."""
    if not isinstance(document, dict) or "imageId" not in document or "imageScanFindings" not in document:
        raise ValueError(f"{where}: not the output of `aws ecr describe-image-scan-findings --output json`")
    findings = document["imageScanFindings"]
    counts = dict(findings.get("findingSeverityCounts") or {})
    for finding in findings.get("enhancedFindings") or []:  # Inspector: no counts, one entry per finding
        counts[finding["severity"]] = counts.get(finding["severity"], 0) + 1
    status = (document.get("imageScanStatus") or {}).get("status", "COMPLETE")
    return str(document["imageId"]["imageDigest"]), {"status": status, "counts": counts}
