"""The policy pack: every rule passes on the real stacks and fails on a deliberately broken copy of
the same resources; the CLI check as a user runs it; the generated policy docs and configs."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import pulumi_aws as aws
import pytest

from mlops_platform.policies import offline, registry
from mlops_platform.policies.graph import Graph, Resource
from mlops_platform.policies.rule import Area, Rule
from tests.harness import ROOT, TAGS, run, stack

RULES = {rule.name: rule for rule in registry.RULES}


def graph_of(environment: str) -> Graph:
    """A private copy of a stack's graph that a test may break."""
    return copy.deepcopy(stack(environment).graph)


def violations(graph: Graph, environment: str, rule: str) -> list[offline.Violation]:
    return [v for v in offline.evaluate(graph, registry.policy_config(environment)) if v.rule == rule]


def first(graph: Graph, resource_type: str, where: Callable[[Resource], bool] = lambda r: True) -> Resource:
    return next(r for r in graph.resources if r.type == resource_type and where(r))


def drop(graph: Graph, resource_type: str, where: Callable[[Resource], bool] = lambda r: True) -> None:
    graph.resources = [r for r in graph.resources if not (r.type == resource_type and where(r))]


ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"


def model_server(graph: Graph) -> Resource:
    """A model's Rollout: the workload that runs its live pods (pod rules read its template)."""
    return first(
        graph,
        ROLLOUT,
        lambda r: r.inputs["metadata"]["labels"].get("app.kubernetes.io/component") == "model-server",
    )


def gpu_group(graph: Graph) -> Resource:
    return first(graph, "aws:eks/nodeGroup:NodeGroup", lambda r: "NVIDIA" in r.inputs.get("amiType", ""))


def gpu_node_pool(graph: Graph) -> Resource:
    """The Karpenter NodePool of a dev or stage GPU pool."""
    return first(graph, "kubernetes:karpenter.sh/v1:NodePool")


def requirement(key: str, values: list[str]) -> Callable[[Resource], None]:
    def apply(resource: Resource) -> None:
        for found in resource.inputs["spec"]["template"]["spec"]["requirements"]:
            if found["key"] == key:
                found["values"] = values

    return apply


def add_an_on_demand_gpu_group(graph: Graph) -> str:
    """A managed GPU node group like prod's, on-demand and kept at one node."""
    group = copy.deepcopy(gpu_group(stack("prod").graph))
    group.urn = group.urn.replace("::prod::", f"::{graph.stack}::") + "-extra"
    group.inputs["capacityType"] = "ON_DEMAND"
    group.inputs["scalingConfig"]["minSize"] = 1
    graph.resources.append(group)
    return group.urn


def shorten_the_object_lock(graph: Graph) -> str:
    """Audit logs locked for 30 days only: the trail is reported."""
    lock = first(graph, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    set_in(("rule", "defaultRetention", "days"), 30)(lock)
    return first(graph, "aws:cloudtrail/trail:Trail").urn


def stop_recording_data_events(graph: Graph) -> str:
    """The trail keeps management events only: the model bucket is reported."""
    trail = first(graph, "aws:cloudtrail/trail:Trail")
    trail.inputs["advancedEventSelectors"] = trail.inputs["advancedEventSelectors"][:1]
    return artifacts_bucket(graph).urn


def artifacts_bucket(graph: Graph) -> Resource:
    return first(graph, "aws:s3/bucket:Bucket", lambda r: r.name == "artifacts-bucket")


def bucket_part(graph: Graph, resource_type: str) -> Resource:
    bucket = artifacts_bucket(graph)
    return first(graph, resource_type, lambda r: bucket.urn in r.property_dependencies.get("bucket", []))


def role_policy(graph: Graph) -> Resource:
    return first(graph, "aws:iam/rolePolicy:RolePolicy")


def set_policy(resource: Resource, statement: dict) -> None:
    resource.inputs["policy"] = json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def eks(graph: Graph) -> Resource:
    return first(graph, "aws:eks/cluster:Cluster")


def rds(graph: Graph) -> Resource:
    return first(graph, "aws:rds/instance:Instance")


def set_in(path: tuple, value: object) -> Callable[[Resource], None]:
    def apply(resource: Resource) -> None:
        target = resource.inputs
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return apply


@dataclass(frozen=True)
class Breakage:
    """How to break a real stack so that ``rule`` must fire; ``break_it`` returns the URN it should name."""

    rule: str
    environment: str
    break_it: Callable[[Graph], str]
    subject: str = ""
    """For stack rules: a resource type the rule inspects, to prove the passing case is not vacuous."""


def on(find: Callable[[Graph], Resource], *changes: Callable[[Resource], None]) -> Callable[[Graph], str]:
    def break_it(graph: Graph) -> str:
        resource = find(graph)
        for change in changes:
            change(resource)
        return resource.urn

    return break_it


def bucket_rule(resource_type: str, *changes: Callable[[Resource], None]) -> Callable[[Graph], str]:
    def break_it(graph: Graph) -> str:
        for change in changes:
            change(bucket_part(graph, resource_type))
        return artifacts_bucket(graph).urn

    return break_it


def without(resource_type: str, name_of: Callable[[Graph], Resource] | None = None, where=None):
    """Remove resources of a type; the named resource is the one the rule should then report."""

    def break_it(graph: Graph) -> str:
        subject = name_of(graph) if name_of else None
        drop(graph, resource_type, where or (lambda r: True))
        return subject.urn if subject else ""

    return break_it


def unprotect_database(graph: Graph) -> str:
    database = rds(graph)
    database.protect = False
    return database.urn


def endpoint_without_alerts(graph: Graph) -> str:
    endpoint = first(graph, "mlops:model_endpoint:ModelEndpoint")
    owned = {r.urn for r in graph.descendants(endpoint.urn)}
    drop(graph, "kubernetes:monitoring.coreos.com/v1:PrometheusRule", lambda r: r.urn in owned)
    return endpoint.urn


def namespace_without_network_policy(graph: Graph) -> str:
    server = model_server(graph)
    namespace = server.inputs["metadata"]["namespace"]
    drop(
        graph,
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        lambda r: r.inputs["metadata"]["namespace"] == namespace,
    )
    return server.urn


def untag_vpc(graph: Graph) -> str:
    vpc = first(graph, "aws:ec2/vpc:Vpc")
    del vpc.inputs["tags"]["cost-center"]
    return vpc.urn


def multi_replica_without_budget(graph: Graph) -> str:
    drop(graph, "kubernetes:policy/v1:PodDisruptionBudget")
    return model_server(graph).urn


def associate_twice(graph: Graph) -> str:
    """A standalone association for the service account the vpc-cni add-on already associates."""
    addon = first(graph, "aws:eks/addon:Addon", lambda r: r.inputs.get("addonName") == "vpc-cni")
    standalone = first(graph, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
    twin = copy.deepcopy(standalone)
    twin.urn, twin.name = standalone.urn + "-twin", standalone.name + "-twin"
    twin.inputs.update(namespace="kube-system", serviceAccount="aws-node")
    graph.resources.append(twin)
    return addon.urn


def name_twice(graph: Graph) -> str:
    first_repo, second = graph.of_type("aws:ecr/repository:Repository")[:2]
    second.inputs["name"] = first_repo.inputs["name"]
    return second.urn


def model_rule_set(graph: Graph, model: str) -> Resource:
    return first(
        graph,
        "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
        lambda r: (
            r.inputs["metadata"]["labels"].get("mlops-platform.io/model") == model and r.name.endswith("-slo")
        ),
    )


def outgrow_the_pool(graph: Graph) -> str:
    autoscaler = first(
        graph,
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        lambda r: r.name == "fraud-scorer-autoscaler",  # the Rollout's: stable and canary scale with it
    )
    autoscaler.inputs["spec"]["maxReplicas"] = 8
    return first(graph, ROLLOUT, lambda r: r.name == "fraud-scorer-rollout").urn


def drop_the_slo_bucket(graph: Graph) -> str:
    server = first(graph, ROLLOUT, lambda r: r.name.startswith("churn-classifier-"))
    server.inputs["spec"]["template"]["metadata"]["annotations"]["mlops-platform.io/latency-buckets"] = (
        "0.1,0.25"
    )
    return model_rule_set(graph, "churn-classifier").urn


def uninstall_kube_state_metrics(graph: Graph) -> str:
    release = first(
        graph, "kubernetes:helm.sh/v3:Release", lambda r: r.inputs["name"] == "kube-prometheus-stack"
    )
    release.inputs["values"]["kubeStateMetrics"] = {"enabled": False}
    return first(
        graph,
        "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
        lambda r: "kube_node_status_condition" in json.dumps(r.inputs),
    ).urn


def open_ssh(resource: Resource) -> None:
    resource.inputs["ingress"] = [
        {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}
    ]


BREAKAGES = [
    Breakage(
        "s3-bucket-kms-encryption",
        "prod",
        bucket_rule(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            set_in(("rules", 0, "applyServerSideEncryptionByDefault"), {"sseAlgorithm": "AES256"}),
        ),
        subject="aws:s3/bucket:Bucket",
    ),
    Breakage(
        "s3-bucket-public-access-block",
        "prod",
        bucket_rule(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", set_in(("blockPublicPolicy",), False)
        ),
        subject="aws:s3/bucket:Bucket",
    ),
    Breakage(
        "s3-bucket-versioning",
        "dev",
        bucket_rule(
            "aws:s3/bucketVersioning:BucketVersioning",
            set_in(("versioningConfiguration", "status"), "Suspended"),
        ),
        subject="aws:s3/bucket:Bucket",
    ),
    Breakage(
        "s3-bucket-tls-only",
        "stage",
        bucket_rule(
            "aws:s3/bucketPolicy:BucketPolicy",
            lambda r: set_policy(
                r,
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::b/*",
                },
            ),
        ),
        subject="aws:s3/bucket:Bucket",
    ),
    Breakage("s3-no-public-acls", "dev", on(artifacts_bucket, set_in(("acl",), "public-read"))),
    Breakage(
        "kms-key-rotation",
        "prod",
        on(lambda g: first(g, "aws:kms/key:Key"), set_in(("enableKeyRotation",), False)),
    ),
    Breakage(
        "ecr-immutable-tags",
        "dev",
        on(lambda g: first(g, "aws:ecr/repository:Repository"), set_in(("imageTagMutability",), "MUTABLE")),
    ),
    Breakage(
        "ecr-scan-on-push",
        "dev",
        on(
            lambda g: first(g, "aws:ecr/repository:Repository"),
            set_in(("imageScanningConfiguration",), {"scanOnPush": False}),
        ),
    ),
    Breakage(
        "ecr-kms-encryption",
        "dev",
        on(
            lambda g: first(g, "aws:ecr/repository:Repository"),
            set_in(("encryptionConfigurations",), [{"encryptionType": "AES256"}]),
        ),
    ),
    Breakage(
        "eks-private-endpoint-prod", "prod", on(eks, set_in(("vpcConfig", "endpointPublicAccess"), True))
    ),
    Breakage(
        "eks-public-endpoint-restricted",
        "dev",
        on(eks, set_in(("vpcConfig", "publicAccessCidrs"), ["0.0.0.0/0"])),
    ),
    Breakage("eks-secrets-encryption", "stage", on(eks, lambda r: r.inputs.pop("encryptionConfig"))),
    Breakage("eks-control-plane-logs", "dev", on(eks, set_in(("enabledClusterLogTypes",), ["api", "audit"]))),
    Breakage("eks-supported-version", "dev", on(eks, set_in(("version",), "1.29"))),
    Breakage(
        "launch-template-imdsv2",
        "dev",
        on(
            lambda g: first(g, "aws:ec2/launchTemplate:LaunchTemplate"),
            set_in(("metadataOptions", "httpTokens"), "optional"),
        ),
    ),
    Breakage(
        "launch-template-encrypted-volumes",
        "prod",
        on(
            lambda g: first(g, "aws:ec2/launchTemplate:LaunchTemplate"),
            set_in(("blockDeviceMappings", 0, "ebs", "encrypted"), "false"),
        ),
    ),
    Breakage("rds-storage-encrypted", "dev", on(rds, set_in(("storageEncrypted",), False))),
    Breakage("rds-not-public", "dev", on(rds, set_in(("publiclyAccessible",), True))),
    Breakage(
        "secrets-manager-cmk",
        "dev",
        on(lambda g: first(g, "aws:secretsmanager/secret:Secret"), lambda r: r.inputs.pop("kmsKeyId")),
    ),
    Breakage(
        "iam-no-wildcard-action",
        "dev",
        on(
            role_policy,
            lambda r: set_policy(
                r, {"Sid": "Everything", "Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}
            ),
        ),
    ),
    Breakage(
        "iam-no-wildcard-resource-write",
        "dev",
        on(
            role_policy,
            lambda r: set_policy(
                r,
                {
                    "Sid": "AnyBucket",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject"],
                    "Resource": "*",
                },
            ),
        ),
    ),
    Breakage(
        "iam-no-inline-admin",
        "prod",
        on(
            lambda g: first(g, "aws:iam/rolePolicyAttachment:RolePolicyAttachment"),
            set_in(("policyArn",), "arn:aws:iam::aws:policy/AdministratorAccess"),
        ),
    ),
    Breakage(
        "security-group-no-public-ingress",
        "dev",
        on(lambda g: first(g, "aws:ec2/securityGroup:SecurityGroup"), open_ssh),
    ),
    Breakage(
        "log-group-kms",
        "dev",
        on(lambda g: first(g, "aws:cloudwatch/logGroup:LogGroup"), lambda r: r.inputs.pop("kmsKeyId")),
    ),
    Breakage("rds-multi-az-prod", "prod", on(rds, set_in(("multiAz",), False))),
    Breakage("rds-backup-retention", "prod", on(rds, set_in(("backupRetentionPeriod",), 7))),
    Breakage("rds-deletion-protection-prod", "prod", on(rds, set_in(("deletionProtection",), False))),
    Breakage(
        "log-group-retention",
        "stage",
        on(lambda g: first(g, "aws:cloudwatch/logGroup:LogGroup"), lambda r: r.inputs.pop("retentionInDays")),
    ),
    Breakage(
        "gpu-node-group-tainted", "dev", on(gpu_node_pool, set_in(("spec", "template", "spec", "taints"), []))
    ),
    Breakage(
        "pdb-for-multi-replica-prod",
        "prod",
        multi_replica_without_budget,
        subject=ROLLOUT,
    ),
    Breakage(
        "stateful-resources-protected-prod", "prod", unprotect_database, subject="aws:rds/instance:Instance"
    ),
    Breakage(
        "model-endpoint-slo-alerts",
        "prod",
        endpoint_without_alerts,
        subject="mlops:model_endpoint:ModelEndpoint",
    ),
    Breakage(
        "allowed-instance-types",
        "dev",
        on(gpu_node_pool, requirement("node.kubernetes.io/instance-type", ["p5.48xlarge"])),
    ),
    Breakage(
        "gpu-pool-max-size-cap", "stage", on(gpu_node_pool, set_in(("spec", "limits", "nvidia.com/gpu"), "5"))
    ),
    Breakage(
        "dev-gpu-spot-or-zero",
        "dev",
        add_an_on_demand_gpu_group,
        subject="aws:eks/nodeGroup:NodeGroup",
    ),
    Breakage("required-tags", "dev", untag_vpc, subject="aws:ec2/vpc:Vpc"),
    Breakage("audit-trail-prod", "prod", shorten_the_object_lock, subject="aws:cloudtrail/trail:Trail"),
    Breakage(
        "model-monitoring-tier-1",
        "prod",
        on(
            lambda g: first(g, ROLLOUT, lambda r: r.inputs["metadata"]["name"] == "fraud-scorer"),
            lambda r: r.inputs["metadata"]["annotations"].update(
                {"mlops-platform.io/monitoring": "capture,drift"}
            ),
        ),
        subject=ROLLOUT,
    ),
    Breakage("model-buckets-audited", "dev", stop_recording_data_events, subject="aws:s3/bucket:Bucket"),
    Breakage(
        "model-image-digest",
        "prod",
        on(model_server, lambda r: container_of(r).update(image="acme/churn:2026.11.3")),
    ),
    Breakage(
        "k8s-no-latest-image",
        "dev",
        on(model_server, lambda r: container_of(r).update(image="acme/churn:latest")),
    ),
    Breakage(
        "k8s-resources-set", "dev", on(model_server, lambda r: container_of(r)["resources"].pop("limits"))
    ),
    Breakage(
        "k8s-run-as-non-root",
        "dev",
        on(model_server, lambda r: container_of(r)["securityContext"].update(runAsNonRoot=False)),
    ),
    Breakage(
        "k8s-read-only-root-filesystem",
        "prod",
        on(model_server, lambda r: container_of(r)["securityContext"].update(readOnlyRootFilesystem=False)),
    ),
    Breakage("k8s-probes", "dev", on(model_server, lambda r: container_of(r).pop("livenessProbe"))),
    Breakage(
        "k8s-no-privileged",
        "dev",
        on(model_server, set_in(("spec", "template", "spec", "hostNetwork"), True)),
    ),
    Breakage(
        "pod-identity-unique",
        "prod",
        associate_twice,
        subject="aws:eks/podIdentityAssociation:PodIdentityAssociation",
    ),
    Breakage("physical-names-unique", "prod", name_twice, subject="aws:ecr/repository:Repository"),
    Breakage("model-gpu-capacity", "prod", outgrow_the_pool, subject="aws:eks/nodeGroup:NodeGroup"),
    Breakage(
        "environment-gpu-cap",
        "dev",
        on(
            gpu_node_pool,
            requirement("node.kubernetes.io/instance-type", ["p5.48xlarge"]),
            set_in(("spec", "limits", "nvidia.com/gpu"), "16"),
        ),
        subject="kubernetes:karpenter.sh/v1:NodePool",
    ),
    Breakage(
        "slo-latency-bucket",
        "prod",
        drop_the_slo_bucket,
        subject="kubernetes:monitoring.coreos.com/v1:PrometheusRule",
    ),
    Breakage(
        "alert-metrics-exported",
        "dev",
        uninstall_kube_state_metrics,
        subject="kubernetes:monitoring.coreos.com/v1:PrometheusRule",
    ),
    Breakage(
        "k8s-network-policy-in-model-namespaces",
        "dev",
        namespace_without_network_policy,
        subject=ROLLOUT,
    ),
]


def container_of(deployment: Resource) -> dict:
    return deployment.inputs["spec"]["template"]["spec"]["containers"][0]


def test_every_rule_has_a_breakage():
    assert sorted(b.rule for b in BREAKAGES) == sorted(RULES)
    assert len(RULES) >= 30


@pytest.mark.parametrize("case", BREAKAGES, ids=lambda b: b.rule)
def test_rule_passes_on_the_real_stack(case: Breakage):
    rule: Rule = RULES[case.rule]
    graph = stack(case.environment).graph
    subjects = rule.resource_types or (case.subject,)
    assert any(r.type in subjects for r in graph.resources), (
        f"{case.environment} has nothing {case.rule} inspects"
    )
    assert violations(graph, case.environment, case.rule) == []


@pytest.mark.parametrize("case", BREAKAGES, ids=lambda b: b.rule)
def test_rule_fails_on_a_broken_copy(case: Breakage):
    graph = graph_of(case.environment)
    urn = case.break_it(graph)
    found = violations(graph, case.environment, case.rule)
    assert found, f"{case.rule} did not fire"
    assert urn in {v.urn for v in found}
    assert all(v.remediation == RULES[case.rule].remediation for v in found)


@pytest.mark.parametrize("environment", ["dev", "stage", "prod"])
def test_stacks_pass_every_rule(environment):
    assert offline.evaluate(stack(environment).graph, registry.policy_config(environment)) == []


def test_rule_metadata_is_complete():
    assert len(registry.RULES) >= 40
    for rule in registry.RULES:
        assert rule.name == rule.name.lower() and "-" in rule.name
        assert rule.description and rule.remediation
        expected = "advisory" if rule.area.value == "cost" else "mandatory"
        assert rule.enforcement.value == expected, rule.name
        for key, spec in rule.config.items():
            assert "default" in spec and "type" in spec and "description" in spec, f"{rule.name}.{key}"


def test_rules_become_crossguard_policies_with_their_metadata():
    policy = RULES["iam-no-wildcard-resource-write"].policy()
    assert policy.name == "iam-no-wildcard-resource-write"
    assert policy.enforcement_level.value == "mandatory"
    assert policy.remediation_steps == RULES["iam-no-wildcard-resource-write"].remediation
    assert "exceptions" in policy.config_schema.properties


def test_policy_config_overrides_enforcement_and_knobs():
    graph = graph_of("stage")
    gpu_node_pool(graph).inputs["spec"]["limits"]["nvidia.com/gpu"] = "5"
    config = registry.policy_config("stage")
    assert [v.enforcement for v in offline.evaluate(graph, config)] == ["advisory"]
    config["gpu-pool-max-size-cap"] = {**config["gpu-pool-max-size-cap"], "enforcementLevel": "mandatory"}
    assert offline.blocking(offline.evaluate(graph, config))
    config["gpu-pool-max-size-cap"]["maxGpuNodes"] = 8
    assert offline.evaluate(graph, config) == []
    assert offline.evaluate(graph, {"gpu-pool-max-size-cap": "disabled"}) == []


def program_violations(program: Callable[[], None], environment: str = "dev") -> dict[str, list[str]]:
    graph = run(program).graph
    found: dict[str, list[str]] = {}
    for v in offline.evaluate(graph, registry.policy_config(environment)):
        found.setdefault(v.rule, []).append(v.message)
    return found


def test_documented_wildcard_exceptions_pass_and_others_fail():
    def program():
        role = aws.iam.Role("r", assume_role_policy="{}", tags=TAGS)
        for name, action in (("xray", "xray:PutTraceSegments"), ("ec2", "ec2:TerminateInstances")):
            aws.iam.RolePolicy(
                name,
                role=role.id,
                policy=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [{"Sid": name, "Effect": "Allow", "Action": action, "Resource": "*"}],
                    }
                ),
            )

    assert program_violations(program)["iam-no-wildcard-resource-write"] == [
        "statement ec2 allows ec2:TerminateInstances on '*'"
    ]


def test_public_https_is_allowed_only_on_public_load_balancer_groups():
    def program():
        https = {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"]}
        aws.ec2.SecurityGroup(
            "alb",
            vpc_id="vpc-1",
            ingress=[https],
            tags={**TAGS, "mlops-platform.io/purpose": "public-load-balancer"},
        )
        aws.ec2.SecurityGroup("app", vpc_id="vpc-1", ingress=[https], tags=TAGS)
        aws.vpc.SecurityGroupIngressRule(
            "ssh",
            security_group_id="sg-1",
            ip_protocol="tcp",
            from_port=22,
            to_port=22,
            cidr_ipv4="0.0.0.0/0",
            tags=TAGS,
        )

    assert program_violations(program)["security-group-no-public-ingress"] == [
        "ingress on ports 443-443 is open to the internet",
        "ingress on ports 22-22 is open to the internet",
    ]


def test_plain_resources_outside_components_are_caught():
    def program():
        aws.s3.Bucket("raw", acl="public-read")
        aws.kms.Key("k")

    found = program_violations(program, "prod")
    for rule in (
        "s3-bucket-kms-encryption",
        "s3-bucket-public-access-block",
        "s3-bucket-versioning",
        "s3-bucket-tls-only",
        "s3-no-public-acls",
        "kms-key-rotation",
        "required-tags",
        "stateful-resources-protected-prod",
    ):
        assert rule in found, rule


# The CLI, as a user runs it.


def blueprint(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "mlops_platform.infra.cli", *args], cwd=cwd, capture_output=True, text=True
    )


@pytest.fixture
def broken_project(project_copy):
    """A copy of this project whose prod stack exposes the EKS API publicly."""
    prod = project_copy / "stacks" / "Pulumi.prod.yaml"
    text = prod.read_text()
    assert "  mlops-platform:cluster:\n" in text
    prod.write_text(
        text.replace(
            "  mlops-platform:cluster:\n",
            "  mlops-platform:cluster:\n    endpoint:\n      publicAccess: true\n      publicAccessCidrs: [203.0.113.0/24]\n",
        )
    )
    return project_copy


def test_check_passes_a_real_stack():
    result = blueprint("check", "stage")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"passes all {len(RULES)} rules" in result.stdout


def test_broken_config_fails_check_naming_rule_urn_and_fix(broken_project):
    result = blueprint("check", "prod", cwd=broken_project)
    assert result.returncode == 1
    assert "[mandatory] eks-private-endpoint-prod (security, critical): 1 violation(s)" in result.stdout
    assert (
        "urn:pulumi:prod::mlops-platform::mlops:cluster:EksCluster$aws:eks/cluster:Cluster::cluster-eks"
        in result.stdout
    )
    assert f"remediation: {RULES['eks-private-endpoint-prod'].remediation}" in result.stdout
    assert "1 mandatory and 0 advisory violation(s)" in result.stdout


@pytest.fixture
def code_project(tmp_path):
    """A user's own Pulumi project (not this blueprint) with a wildcard write and a public bucket."""
    (tmp_path / "Pulumi.yaml").write_text("name: team-sandbox\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  aws:region: us-east-1\n")
    (tmp_path / "__main__.py").write_text(
        textwrap.dedent("""
        import json
        import pulumi_aws as aws

        tags = {"environment": "dev", "project": "sandbox", "owner": "ml", "cost-center": "cc-1", "managed-by": "pulumi"}
        role = aws.iam.Role("worker", assume_role_policy="{}", tags=tags)
        aws.iam.RolePolicy("worker-s3", role=role.id, policy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Sid": "AllBuckets", "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": "*"}]}))
        aws.s3.Bucket("shared", acl="public-read", tags=tags)
    """)
    )
    return tmp_path


def test_code_that_breaks_rules_fails_check(code_project):
    result = blueprint("check", "dev", "--format", "json", cwd=code_project)
    assert result.returncode == 1, result.stderr
    rules = {v["rule"] for v in json.loads(result.stdout)["violations"]}
    assert {"iam-no-wildcard-resource-write", "s3-no-public-acls", "s3-bucket-public-access-block"} <= rules


def test_check_of_a_synthesized_graph_file(tmp_path):
    graph_file = tmp_path / "graph.json"
    graph = graph_of("prod")
    rds(graph).inputs["publiclyAccessible"] = True
    graph_file.write_text(graph.to_json())
    result = blueprint("check", "--graph", str(graph_file), "--format", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["mandatoryViolations"] == 1
    assert [(v["rule"], v["urn"]) for v in report["violations"]] == [("rds-not-public", rds(graph).urn)]


def test_bad_policy_config_exits_2_naming_each_problem(tmp_path):
    config = tmp_path / "policy.json"
    config.write_text(
        json.dumps(
            {
                "no-such-rule": {},
                "gpu-pool-max-size-cap": {"maxGpuNodes": "four", "enforcementLevel": "strict"},
                "rds-backup-retention": {"minimumDay": 7},
            }
        )
    )
    result = blueprint("check", "dev", "--policy-config", str(config))
    assert result.returncode == 2
    for expected in (
        "no-such-rule: no such rule",
        "gpu-pool-max-size-cap.maxGpuNodes: 'four' is not of type 'integer'",
        "gpu-pool-max-size-cap.enforcementLevel: must be one of advisory, mandatory, remediate, disabled",
        "rds-backup-retention.minimumDay: unknown setting (this rule's settings: environment, minimumDays)",
    ):
        assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_stack_without_environment_asks_for_one(tmp_path, code_project):
    (code_project / "Pulumi.sandbox.yaml").write_text("config:\n  aws:region: us-east-1\n")
    result = blueprint("check", "sandbox", cwd=code_project)
    assert result.returncode == 2
    assert "pass --environment dev|stage|prod" in result.stderr


def test_committed_policy_configs_are_the_generated_ones():
    for environment in ("dev", "stage", "prod"):
        committed = json.loads((ROOT / "policies" / "config" / f"{environment}.json").read_text())
        assert committed, environment
        assert committed == registry.policy_config(environment)
        assert offline.check_config(committed) == []


def test_pack_entry_point_only_builds_the_pack():
    source = (ROOT / "policies" / "__main__.py").read_text()
    assert "PolicyPack(" in source and "def " not in source
    manifest = (ROOT / "policies" / "PulumiPolicy.yaml").read_text()
    assert "name: mlops-platform-guardrails" in manifest and "version:" in manifest


def test_documented_rules_match_the_registry():
    page = (ROOT / "docs" / "policies.md").read_text()
    assert registry.RULES
    for rule in registry.RULES:
        assert f"| `{rule.name}` |" in page


CROSS_RESOURCE = [b for b in BREAKAGES if RULES[b.rule].area is Area.CONSISTENCY]


@pytest.mark.parametrize("case", CROSS_RESOURCE, ids=lambda b: b.rule)
def test_blueprint_check_fails_on_a_fixture_for_each_cross_resource_rule(case: Breakage, tmp_path):
    graph = graph_of(case.environment)
    case.break_it(graph)
    fixture = tmp_path / f"{case.environment}.graph.json"
    fixture.write_text(graph.to_json())
    done = subprocess.run(
        [sys.executable, "-m", "mlops_platform.infra.cli", "check", "--graph", str(fixture)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert case.rule in done.stdout and "mandatory" in done.stdout


def test_model_capacity_is_mandatory_in_prod_only():
    assert registry.policy_config("prod").get("model-gpu-capacity", {}).get("enforcementLevel") is None
    assert RULES["model-gpu-capacity"].enforcement.value == "mandatory"
    for environment in ("dev", "stage"):
        assert registry.policy_config(environment)["model-gpu-capacity"]["enforcementLevel"] == "advisory"
    graph = graph_of("prod")
    outgrow_the_pool(graph)
    (found,) = violations(graph, "prod", "model-gpu-capacity")
    assert found.message == (
        "model risk/fraud-scorer may run 13 GPUs (fraud-scorer-v3: 8 x 1, fraud-scorer-v4: 4 x 1, "
        "fraud-scorer-v6: 1 x 1) but pool gpu-baseline holds at most 6 (6 nodes x 1)"
    )


def test_the_environment_gpu_cap_counts_gpus_and_is_mandatory_in_dev_and_stage():
    for environment, cap in (("dev", 4), ("stage", 8)):
        knobs = registry.policy_config(environment)["environment-gpu-cap"]
        assert knobs == {
            "environment": environment,
            "maxEnvironmentGpus": cap,
            "enforcementLevel": "mandatory",
        }
    assert "enforcementLevel" not in registry.policy_config("prod")["environment-gpu-cap"]
    graph = graph_of("dev")
    assert violations(graph, "dev", "environment-gpu-cap") == []  # gpu-spot: a limit of 2 GPUs
    # maxSize 2 of p5.48xlarge: the NodePool the component renders for it
    requirement("node.kubernetes.io/instance-type", ["p5.48xlarge"])(gpu_node_pool(graph))
    set_in(("spec", "limits", "nvidia.com/gpu"), "16")(gpu_node_pool(graph))
    (found,) = violations(graph, "dev", "environment-gpu-cap")
    assert found.message == "the dev environment may reach 16 GPUs (gpu-spot: 2 x 8); its cap is 4"
    assert found.enforcement == "mandatory" and offline.blocking([found])
    # prod reaches 12 (gpu-baseline 4 x 1, gpu-burst 8 x 1) within 32; past it, only a warning
    graph = graph_of("prod")
    assert violations(graph, "prod", "environment-gpu-cap") == []
    set_in(("scalingConfig", "maxSize"), 40)(gpu_group(graph))
    (found,) = violations(graph, "prod", "environment-gpu-cap")
    assert found.enforcement == "advisory" and not offline.blocking([found])


def test_cross_resource_messages_name_both_sides():
    graph = graph_of("prod")
    associate_twice(graph)
    (duplicate,) = violations(graph, "prod", "pod-identity-unique")
    assert (
        "kube-system/aws-node on cluster mlops-platform-prod already has an association" in duplicate.message
    )
    graph = graph_of("prod")
    drop_the_slo_bucket(graph)
    found = violations(graph, "prod", "slo-latency-bucket")
    assert found and all(
        'le="0.15", which the server does not export (buckets: 0.1, 0.25)' in v.message for v in found
    )
    graph = graph_of("dev")
    uninstall_kube_state_metrics(graph)
    messages = {v.message for v in violations(graph, "dev", "alert-metrics-exported")}
    assert any(
        "reads kube_node_status_condition: it comes from kube-state-metrics, not installed here" in m
        for m in messages
    )


def test_gpu_rules_read_managed_node_groups_and_karpenter_node_pools_alike():
    prod = graph_of("prod")
    set_in(("taints",), [])(gpu_group(prod))
    assert [v.message for v in violations(prod, "prod", "gpu-node-group-tainted")] == [
        "the GPU node group has no nvidia.com/gpu NoSchedule taint"
    ]
    dev = graph_of("dev")
    set_in(("spec", "template", "spec", "taints"), [])(gpu_node_pool(dev))
    assert [v.message for v in violations(dev, "dev", "gpu-node-group-tainted")] == [
        "the GPU NodePool has no nvidia.com/gpu NoSchedule taint"
    ]
    stage = graph_of("stage")
    set_in(("spec", "limits", "nvidia.com/gpu"), "5")(gpu_node_pool(stage))
    assert [v.message for v in violations(stage, "stage", "gpu-pool-max-size-cap")] == [
        "GPU NodePool may grow to 5 nodes (cap 4)"
    ]


def test_the_audit_trail_rules_name_what_is_missing():
    graph = graph_of("prod")
    drop(graph, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    (found,) = violations(graph, "prod", "audit-trail-prod")
    assert "writes to a bucket without Object Lock in COMPLIANCE mode for 365 days or more" in found.message
    graph = graph_of("prod")
    drop(graph, "aws:cloudtrail/trail:Trail")
    (found,) = violations(graph, "prod", "audit-trail-prod")
    assert found.message.startswith("prod has no CloudTrail trail")
    assert [v.message for v in violations(graph, "prod", "model-buckets-audited")] == [
        "bucket artifacts-bucket holds models but no trail records its data events"
    ]
    assert violations(graph_of("dev"), "dev", "audit-trail-prod") == []  # prod only


def test_model_images_by_digest_is_required_in_stage_and_prod_only():
    for environment in ("dev", "stage", "prod"):
        graph = graph_of(environment)
        container_of(model_server(graph)).update(image="123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1.0")
        found = violations(graph, environment, "model-image-digest")
        assert bool(found) == (environment != "dev"), environment


def test_tier_one_monitoring_is_required_in_prod_only_and_tier_two_never():
    for environment in ("dev", "prod"):
        graph = graph_of(environment)
        for rollout in graph.of_type(ROLLOUT):
            rollout.inputs["metadata"]["annotations"].update(
                {"mlops-platform.io/tier": "1", "mlops-platform.io/monitoring": ""}
            )
        found = violations(graph, environment, "model-monitoring-tier-1")
        assert len(found) == (2 if environment == "prod" else 0), environment
    graph = graph_of("prod")
    for rollout in graph.of_type(ROLLOUT):
        rollout.inputs["metadata"]["annotations"].update(
            {"mlops-platform.io/tier": "2", "mlops-platform.io/monitoring": ""}
        )
    assert violations(graph, "prod", "model-monitoring-tier-1") == []
