"""Reference pages generated from the code, so they cannot drift: ``blueprint docs`` writes them and
a test fails when a committed page is stale."""

from __future__ import annotations

import json
import types
from enum import Enum
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from mlops_platform.infra import config
from pydantic import BaseModel

ENVIRONMENTS = ("dev", "stage", "prod")


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        names = [_type_name(a) for a in get_args(annotation) if a is not type(None)]
        return " or ".join(names) + " (optional)"
    if origin is list:
        return f"list of {_type_name(get_args(annotation)[0])}"
    if origin is dict:
        key, value = get_args(annotation)
        return f"map of {_type_name(key)} to {_type_name(value)}"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " \\| ".join(f"`{m.value}`" for m in annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    return {int: "integer", str: "string", bool: "boolean", float: "number"}.get(annotation, str(annotation))


def _model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model(arg)
        if found is not None:
            return found
    return None


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, Enum):
        value = value.value
    return f"`{json.dumps(value)}`"


def _lookup(tree: Any, path: list[str]) -> Any:
    for part in path:
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def _rows(
    model: type[BaseModel], path: list[str], env_defaults: bool, within_optional: str = ""
) -> list[str]:
    rows = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        nested = _model(info.annotation)
        dotted = ".".join([*path[1:], key])
        if nested is not None and get_origin(info.annotation) is not list:
            if _is_optional(info.annotation):
                empty = " | ".join(["-"] * 3) if env_defaults else "-"
                rows.append(f"| `{dotted}` | object (optional) | {info.description} | {empty} |")
                rows += _rows(nested, [*path, key], env_defaults, within_optional=dotted)
            else:
                rows += _rows(nested, [*path, key], env_defaults, within_optional)
            continue
        if within_optional:
            default = (
                f"required with `{within_optional}`"
                if info.is_required()
                else _show(info.get_default(call_default_factory=True))
            )
            cells = " | ".join([default] * 3) if env_defaults else default
            rows.append(f"| `{dotted}` | {_type_name(info.annotation)} | {info.description} | {cells} |")
            continue
        if env_defaults:
            defaults = [_show(_lookup(config.ENVIRONMENT_DEFAULTS[e], [*path, key])) for e in ENVIRONMENTS]
            if all(d == "-" for d in defaults) and not info.is_required():
                defaults = [_show(info.get_default(call_default_factory=True))] * 3
            elif all(d == "-" for d in defaults):
                defaults = ["required"] * 3
            rows.append(
                f"| `{dotted}` | {_type_name(info.annotation)} | {info.description} | {' | '.join(defaults)} |"
            )
        else:
            default = "required" if info.is_required() else _show(info.get_default(call_default_factory=True))
            rows.append(f"| `{dotted}` | {_type_name(info.annotation)} | {info.description} | {default} |")
    return rows


def _is_optional(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)


def configuration_reference() -> str:
    lines = [
        "# Stack configuration",
        "",
        "<!-- Generated from infra/config.py by `blueprint docs`; do not edit by hand. -->",
        "",
        f"Every key lives in the `{config.NAMESPACE}` namespace of `stacks/Pulumi.<stack>.yaml`, plus",
        "`aws:region` (required) and optionally `aws:profile` and `aws:allowedAccountIds`. Unknown keys",
        "are rejected. A stack sets only what differs from its environment's defaults; objects merge",
        "key by key with the defaults, lists replace them. Every problem is reported at once, e.g.",
        "",
        "```",
        f"{config.NAMESPACE}:gpuNodePools[1].maxSize: must be >= minSize (got 0 < 2)",
        "```",
        "",
    ]
    for name, info in config.StackConfig.model_fields.items():
        key = info.alias or name
        nested = _model(info.annotation)
        lines += [f"## `{key}`", "", f"{info.description}", ""]
        if nested is None:
            lines += [f"Type: {_type_name(info.annotation)}. Required.", ""]
            continue
        if get_origin(info.annotation) is list:
            lines += [
                f"A list; each entry has these keys. Default for every environment: "
                f"{_show(_lookup(config.ENVIRONMENT_DEFAULTS['dev'], [key]))}.",
                "",
                "| key | type | description | default |",
                "|---|---|---|---|",
                *_rows(nested, [key], env_defaults=False),
                "",
            ]
        else:
            lines += [
                "| key | type | description | dev | stage | prod |",
                "|---|---|---|---|---|---|",
                *_rows(nested, [key], env_defaults=True),
                "",
            ]
    return "\n".join(lines)


GENERATED = {"docs/configuration.md": configuration_reference}
"""Page path -> function that renders it; extended as more references are generated."""


def write_all(root: Path) -> list[str]:
    written = []
    for relative, render in GENERATED.items():
        target = root / relative
        text = render()
        if not target.exists() or target.read_text() != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            written.append(relative)
    return written


def stale(root: Path) -> list[str]:
    return [
        rel
        for rel, render in GENERATED.items()
        if not (root / rel).exists() or (root / rel).read_text() != render()
    ]


COMPONENT_MODULES = (
    "foundation.network",
    "foundation.cluster",
    "foundation.gpu_node_pool",
    "foundation.cluster_addons",
    "foundation.pod_identity",
    "data.artifact_store",
    "data.container_registry",
    "data.platform_secrets",
    "foundation.load_balancer_controller",
    "data.mlflow",
    "observability.stack",
)
"""Modules documented in docs/components.md, in reading order."""


def _class_fields(tree: Any, class_name: str) -> list[tuple[str, str, str, str]]:
    """(name, annotation, default, docstring) for each annotated attribute of a class, from source."""
    import ast

    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            fields = []
            body = node.body
            for i, item in enumerate(body):
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    doc = ""
                    following = body[i + 1] if i + 1 < len(body) else None
                    if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
                        doc = " ".join(str(following.value.value).split())
                    default = ast.unparse(item.value) if item.value is not None else ""
                    default = (
                        default.replace("field(default_factory=", "").rstrip(")")
                        if "default_factory" in default
                        else default
                    )
                    annotation = ast.unparse(item.annotation).replace("|", "\\|")
                    fields.append(
                        (item.target.id, annotation, default.replace("|", "\\|"), doc.replace("|", "\\|"))
                    )
            return fields
    return []


def components_reference() -> str:
    import ast
    import importlib
    import inspect

    lines = [
        "# Components reference",
        "",
        "<!-- Generated from the component sources by `blueprint docs`; do not edit by hand. -->",
        "",
        "Every component takes `(name, args, opts=None)`, validates its arguments all at once (raising",
        "`components.validation.InvalidArgs` listing every problem), parents its children to itself and",
        "names them `<name>-<role>`. Child names are part of the API: renaming one replaces the resource.",
        "AWS resources carry the tags passed in `args.tags`, which must include the platform's required",
        "tags (`components.tagging.platform_tags`).",
        "",
    ]
    for module_name in COMPONENT_MODULES:
        module = importlib.import_module(f"mlops_platform.components.{module_name}")
        tree = ast.parse(inspect.getsource(module))
        components = [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj)
            and obj.__module__ == module.__name__
            and any(b.__name__ == "ComponentResource" for b in obj.__mro__)
        ]
        for component in components:
            args_name = f"{component.__name__}Args"
            lines += [f"## `{component.__name__}` (`components.{module_name}`)", ""]
            lines += [
                inspect.cleandoc(module.__doc__ or ""),
                "",
                inspect.cleandoc(component.__doc__ or ""),
                "",
            ]
            lines += [
                f"### Inputs: `{args_name}`",
                "",
                "| field | type | default | description |",
                "|---|---|---|---|",
            ]
            for name, annotation, default, doc in _class_fields(tree, args_name):
                shown = f"`{default}`" if default else "required"
                lines.append(f"| `{name}` | `{annotation}` | {shown} | {doc} |")
            nested = [
                n.name
                for n in tree.body
                if isinstance(n, ast.ClassDef) and n.name.endswith("Args") and n.name != args_name
            ]
            for nested_name in nested:
                lines += [
                    "",
                    f"`{nested_name}`:",
                    "",
                    "| field | type | default | description |",
                    "|---|---|---|---|",
                ]
                for name, annotation, default, doc in _class_fields(tree, nested_name):
                    shown = f"`{default}`" if default else "required"
                    lines.append(f"| `{name}` | `{annotation}` | {shown} | {doc} |")
            outputs = [f for f in _class_fields(tree, component.__name__) if f[3]]
            lines += ["", "### Outputs", "", "| attribute | type | description |", "|---|---|---|"]
            lines += [f"| `{name}` | `{annotation}` | {doc} |" for name, annotation, _, doc in outputs]
            lines.append("")
    return "\n".join(lines)


GENERATED["docs/components.md"] = components_reference


def serving_metrics_reference() -> str:
    from mlops_platform.components.observability import telemetry

    lines = [
        "# Serving metrics contract",
        "",
        "<!-- Generated from components/telemetry.py by `blueprint docs`; do not edit by hand. -->",
        "",
        "Every model server exposes these Prometheus metrics on its metrics port at `/metrics`. The",
        "platform's ServiceMonitor scrapes them, the SLO burn-rate alerts and the *Model serving*",
        "dashboard read nothing else, and Prometheus adds `namespace`, `service` and `pod` labels.",
        "",
        "| metric | meaning |",
        "|---|---|",
        *[f"| `{name}` | {meaning} |" for name, meaning in telemetry.SERVING_METRICS.items()],
        "",
        "Python servers get them from `prometheus_client` (a `Counter` and a `Histogram` named",
        "`http_requests` and `http_request_duration_seconds`) or from framework exporters such as",
        "`prometheus-fastapi-instrumentator` configured with those names.",
        "",
        "Other exporters the platform runs, and the metrics dashboards and alerts may use from them:",
        "",
        *[
            f"- **{exporter}**: {', '.join(f'`{m}`' for m in sorted(metrics))}"
            for exporter, metrics in telemetry.EXPORTED_METRICS.items()
        ],
        "",
    ]
    return "\n".join(lines)


GENERATED["docs/serving-metrics.md"] = serving_metrics_reference


def policies_reference() -> str:
    from mlops_platform.policies import registry

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        "# Policy pack reference",
        "",
        "<!-- Generated from the rule metadata in policies/ by `blueprint docs`; do not edit by hand. -->",
        "",
        f"The `{registry.PACK_NAME}` pack holds {len(registry.RULES)} rules. The same rule code runs in",
        "`pulumi preview --policy-pack policies --policy-pack-config policies/config/<env>.json` and offline",
        "in `blueprint check <stack>`. Mandatory rules fail the preview (and `blueprint check` exits 1);",
        "advisory rules only report. Override a rule's enforcement level or knobs in the config file,",
        'for example `{"gpu-pool-max-size-cap": {"enforcementLevel": "mandatory", "maxGpuNodes": 8}}`.',
        "",
        "Kubernetes rules see the objects the program renders (model endpoints, MLflow, team",
        "namespaces); objects a Helm chart creates inside its release are not resources of the stack, so",
        "the pinned charts' values are reviewed by hand instead.",
        "",
    ]
    areas: dict[str, list] = {}
    for rule in registry.RULES:
        areas.setdefault(rule.area.value, []).append(rule)
    for area, rules in areas.items():
        lines += [
            f"## {area.capitalize()}",
            "",
            "| rule | enforcement | severity | checks | remediation |",
            "|---|---|---|---|---|",
        ]
        for rule in rules:
            lines.append(
                f"| `{rule.name}` | {rule.enforcement.value} | {rule.severity.value} | "
                f"{cell(rule.description)} | {cell(rule.remediation)} |"
            )
        lines.append("")
    lines += [
        "## Knobs",
        "",
        "Rules with settings take them from the policy config; these are the defaults and the per-environment",
        "values in `policies/config/`.",
        "",
        "| rule | setting | type | default | dev | stage | prod | meaning |",
        "|---|---|---|---|---|---|---|---|",
    ]
    configs = {env: registry.policy_config(env) for env in ENVIRONMENTS}
    for rule in registry.RULES:
        for key, spec in rule.config.items():
            per_env = [_show(configs[env].get(rule.name, {}).get(key)) for env in ENVIRONMENTS]
            lines.append(
                f"| {rule.name} | `{key}` | {spec.get('type', '')} | {_show(spec.get('default'))} | "
                + " | ".join(per_env)
                + f" | {cell(spec.get('description', ''))} |"
            )
    lines.append("")
    return "\n".join(lines)


GENERATED["docs/policies.md"] = policies_reference


def _policy_config_page(environment: str):
    def render() -> str:
        from mlops_platform.policies import registry

        return registry.config_file_text(environment)

    return render


for _environment in ENVIRONMENTS:
    GENERATED[f"policies/config/{_environment}.json"] = _policy_config_page(_environment)
