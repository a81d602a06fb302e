"""Security rules: encryption, exposure, least privilege."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyResource, Severity

from mlops_platform.components.support import iam, pins
from mlops_platform.components.support.aws import CONTROL_PLANE_LOG_TYPES
from mlops_platform.components.support.tagging import ACCESS_LOG_PURPOSE_TAG
from mlops_platform.policies.documents import dependents, is_write, statements
from mlops_platform.policies.rule import (
    Area,
    RuleSet,
    as_list,
    environment_setting,
    get,
    strings_setting,
)

_rules = RuleSet(Area.SECURITY)
_rule = _rules.rule
RULES = _rules.rules

BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACLS = {"public-read", "public-read-write", "authenticated-read"}
ALL_USERS = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)


def _access_log_bucket(bucket: PolicyResource) -> bool:
    key, value = ACCESS_LOG_PURPOSE_TAG
    return get(bucket.props, "tags", key) == value


def _buckets(resources: Sequence[PolicyResource]) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type == BUCKET]


@_rule("s3-bucket-kms-encryption", severity=Severity.CRITICAL, stack=True)
def s3_kms(resources: Sequence[PolicyResource], config: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """Every S3 bucket encrypts with a customer-managed KMS key (access-log buckets, which S3 logging can only write with SSE-S3, are the documented exception).

    Fix: Add a BucketServerSideEncryptionConfiguration with sseAlgorithm aws:kms and your key, or use components.ArtifactStore.
    """
    for bucket in _buckets(resources):
        configs = dependents(
            resources,
            bucket,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        )
        algorithms = {
            get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm")
            for c in configs
            for rule in as_list(c.props.get("rules"))
        }
        allowed = {"aws:kms", "aws:kms:dsse"} | ({"AES256"} if _access_log_bucket(bucket) else set())
        if not algorithms:
            yield bucket.urn, f"bucket {bucket.name} has no server-side encryption configuration"
        elif not algorithms <= allowed:
            yield (
                bucket.urn,
                f"bucket {bucket.name} is encrypted with {', '.join(sorted(map(str, algorithms)))}, not aws:kms",
            )


@_rule("s3-bucket-public-access-block", severity=Severity.CRITICAL, stack=True)
def s3_public_access(
    resources: Sequence[PolicyResource], config: Mapping[str, Any]
) -> Iterable[tuple[str, str]]:
    """Every S3 bucket has a public-access block with all four settings on.

    Fix: Add a BucketPublicAccessBlock with blockPublicAcls, blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets true.
    """
    settings = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    for bucket in _buckets(resources):
        blocks = dependents(resources, bucket, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
        if not blocks:
            yield bucket.urn, f"bucket {bucket.name} has no public-access block"
            continue
        off = [s for s in settings if not all(b.props.get(s) is True for b in blocks)]
        if off:
            yield bucket.urn, f"bucket {bucket.name} leaves {', '.join(off)} off"


@_rule("s3-bucket-versioning", stack=True)
def s3_versioning(
    resources: Sequence[PolicyResource], config: Mapping[str, Any]
) -> Iterable[tuple[str, str]]:
    """Every S3 bucket keeps object versions, so overwrites and deletes can be undone.

    Fix: Add a BucketVersioning with status Enabled.
    """
    for bucket in _buckets(resources):
        versioning = dependents(resources, bucket, "aws:s3/bucketVersioning:BucketVersioning")
        if not any(get(v.props, "versioningConfiguration", "status") == "Enabled" for v in versioning):
            yield bucket.urn, f"bucket {bucket.name} does not enable versioning"


@_rule("s3-bucket-tls-only", stack=True)
def s3_tls(resources: Sequence[PolicyResource], config: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """Every S3 bucket policy denies requests that do not use TLS (aws:SecureTransport false).

    Fix: Add a BucketPolicy statement: Deny s3:* on the bucket and its objects when aws:SecureTransport is false.
    """
    for bucket in _buckets(resources):
        policies = dependents(resources, bucket, "aws:s3/bucketPolicy:BucketPolicy")
        if not any(
            iam.denies_insecure_transport(s) for p in policies for s in statements(p.props.get("policy"))
        ):
            yield bucket.urn, f"bucket {bucket.name} has no policy denying non-TLS requests"


@_rule(
    "s3-no-public-acls",
    severity=Severity.CRITICAL,
    types=(
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketAcl:BucketAcl",
        "aws:s3/bucketObjectv2:BucketObjectv2",
        "aws:s3/bucketObject:BucketObject",
    ),
)
def s3_acls(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """No bucket or object is made public through an ACL.

    Fix: Remove public canned ACLs and AllUsers/AuthenticatedUsers grants; keep object ownership BucketOwnerEnforced.
    """
    acl = props.get("acl")
    if acl in PUBLIC_ACLS:
        yield f"canned ACL {acl} makes it public"
    for grant in as_list(get(props, "accessControlPolicy", "grants")):
        if get(grant, "grantee", "uri") in ALL_USERS:
            yield f"grants {get(grant, 'permission')} to {get(grant, 'grantee', 'uri')}"


@_rule("kms-key-rotation", types=("aws:kms/key:Key",))
def kms_rotation(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    # AWS rotates only symmetric keys; asymmetric and HMAC keys cannot rotate.
    """Customer-managed symmetric KMS keys rotate yearly.

    Fix: Set enableKeyRotation: true (components.kms.customer_managed_key does).
    """
    spec = props.get("keySpec") or props.get("customerMasterKeySpec") or "SYMMETRIC_DEFAULT"
    if spec == "SYMMETRIC_DEFAULT" and props.get("enableKeyRotation") is not True:
        yield "key rotation is off"


@_rule("ecr-immutable-tags", types=("aws:ecr/repository:Repository",))
def ecr_immutable(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """ECR repositories refuse to overwrite a tag, so a deployed tag always means the same image.

    Fix: Set imageTagMutability: IMMUTABLE.
    """
    if props.get("imageTagMutability") != "IMMUTABLE":
        yield f"imageTagMutability is {props.get('imageTagMutability', 'MUTABLE')}"


@_rule("ecr-scan-on-push", severity=Severity.MEDIUM, types=("aws:ecr/repository:Repository",))
def ecr_scan(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """ECR repositories scan every pushed image for vulnerabilities.

    Fix: Set imageScanningConfiguration.scanOnPush: true (or enable enhanced scanning for the registry).
    """
    if get(props, "imageScanningConfiguration", "scanOnPush") is not True:
        yield "scan on push is off"


@_rule("ecr-kms-encryption", types=("aws:ecr/repository:Repository",))
def ecr_kms(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """ECR repositories encrypt image layers with a KMS key.

    Fix: Set encryptionConfigurations: [{encryptionType: KMS, kmsKey: <key arn>}].
    """
    if get(props, "encryptionConfigurations", 0, "encryptionType") != "KMS":
        yield "layers are not encrypted with KMS"


@_rule(
    "eks-private-endpoint-prod",
    severity=Severity.CRITICAL,
    types=("aws:eks/cluster:Cluster",),
    config={"environment": environment_setting()},
)
def eks_private(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """In prod the EKS API endpoint is reachable only from inside the VPC.

    Fix: Set cluster.endpoint.publicAccess: false in the prod stack; deploy from inside the VPC.
    """
    if config["environment"] == "prod" and get(props, "vpcConfig", "endpointPublicAccess") is not False:
        yield "the API endpoint is public"
    if get(props, "vpcConfig", "endpointPrivateAccess") is not True:
        yield "private endpoint access is off"


@_rule("eks-public-endpoint-restricted", severity=Severity.CRITICAL, types=("aws:eks/cluster:Cluster",))
def eks_public_cidrs(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """A public EKS API endpoint is limited to named CIDRs, never the whole internet.

    Fix: List your office or VPN ranges in cluster.endpoint.publicAccessCidrs.
    """
    if get(props, "vpcConfig", "endpointPublicAccess") is True:
        cidrs = as_list(get(props, "vpcConfig", "publicAccessCidrs")) or ["0.0.0.0/0"]
        if any(_open_to_world(c) for c in cidrs):
            yield "the public endpoint is open to 0.0.0.0/0"


@_rule("eks-secrets-encryption", severity=Severity.CRITICAL, types=("aws:eks/cluster:Cluster",))
def eks_secrets(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """EKS envelope-encrypts Kubernetes secrets with a customer-managed key.

    Fix: Set encryptionConfig: {provider: {keyArn: <key>}, resources: [secrets]}.
    """
    if "secrets" not in as_list(get(props, "encryptionConfig", "resources")) or not get(
        props, "encryptionConfig", "provider", "keyArn"
    ):
        yield "Kubernetes secrets are not envelope-encrypted"


@_rule(
    "eks-control-plane-logs",
    remediation=f"Set enabledClusterLogTypes to {', '.join(CONTROL_PLANE_LOG_TYPES)}.",
    types=("aws:eks/cluster:Cluster",),
)
def eks_logs(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """EKS sends every control-plane log type to CloudWatch."""
    missing = [t for t in CONTROL_PLANE_LOG_TYPES if t not in as_list(props.get("enabledClusterLogTypes"))]
    if missing:
        yield f"log types missing: {', '.join(missing)}"


@_rule(
    "eks-supported-version",
    types=("aws:eks/cluster:Cluster",),
    config={
        "supportedVersions": strings_setting(
            pins.SUPPORTED_KUBERNETES_VERSIONS, "Kubernetes minor versions allowed."
        )
    },
)
def eks_version(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """EKS runs a Kubernetes version this blueprint supports and tests.

    Fix: Set cluster.kubernetesVersion to a supported version (components/support/pins.py).
    """
    version = props.get("version")
    if version is not None and str(version) not in config["supportedVersions"]:
        yield f"version {version} is not one of {', '.join(config['supportedVersions'])}"


@_rule("launch-template-imdsv2", types=("aws:ec2/launchTemplate:LaunchTemplate",))
def imdsv2(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """Node launch templates require IMDSv2 tokens, so a pod or an SSRF cannot read instance credentials with a plain GET.

    Fix: Set metadataOptions.httpTokens: required (components.nodes.hardened_launch_template does).
    """
    if get(props, "metadataOptions", "httpTokens") != "required":
        yield "IMDSv2 is not required"


@_rule("launch-template-encrypted-volumes", types=("aws:ec2/launchTemplate:LaunchTemplate",))
def lt_encrypted(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """Every volume a node launch template defines is encrypted.

    Fix: Set ebs.encrypted: true on every blockDeviceMapping.
    """
    devices = as_list(props.get("blockDeviceMappings"))
    if not devices:
        yield "no block device mapping: the root volume keeps the AMI's (unencrypted) default"
    for device in devices:
        if str(get(device, "ebs", "encrypted")).lower() != "true":
            yield f"volume {device.get('deviceName')} is not encrypted"


@_rule("rds-storage-encrypted", severity=Severity.CRITICAL, types=("aws:rds/instance:Instance",))
def rds_encrypted(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """RDS instances encrypt their storage.

    Fix: Set storageEncrypted: true and kmsKeyId.
    """
    if props.get("storageEncrypted") is not True:
        yield "storage is not encrypted"


@_rule("rds-not-public", severity=Severity.CRITICAL, types=("aws:rds/instance:Instance",))
def rds_private(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """RDS instances are never publicly accessible.

    Fix: Set publiclyAccessible: false and use private subnets.
    """
    if props.get("publiclyAccessible") is True:
        yield "the instance is publicly accessible"


@_rule("secrets-manager-cmk", types=("aws:secretsmanager/secret:Secret",))
def secrets_cmk(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """Secrets Manager secrets encrypt with a customer-managed key, not the AWS-managed default.

    Fix: Set kmsKeyId to a customer-managed key (components.PlatformSecrets does).
    """
    key = props.get("kmsKeyId")
    if not key or str(key).endswith("alias/aws/secretsmanager"):
        yield "the secret uses the AWS-managed key"


IDENTITY_POLICIES = (
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/policy:Policy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)


@_rule("iam-no-wildcard-action", severity=Severity.CRITICAL, types=IDENTITY_POLICIES)
def iam_wildcard_action(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """IAM policies never allow every action of a service (or every action).

    Fix: List the actions the workload needs.
    """
    for statement in statements(props.get("policy")):
        if statement.get("Effect") != "Allow":
            continue
        for action in as_list(statement.get("Action")):
            if action == "*" or str(action).endswith(":*"):
                yield f"statement {statement.get('Sid', '?')} allows {action}"


@_rule(
    "iam-no-wildcard-resource-write",
    severity=Severity.CRITICAL,
    types=IDENTITY_POLICIES,
    config={
        "exceptions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"action": {"type": "string"}, "reason": {"type": "string"}},
                "required": ["action", "reason"],
            },
            "default": [
                {
                    "action": a,
                    "reason": "AWS X-Ray has no resource-level permissions (OpenTelemetry collector).",
                }
                for a in (
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                    "xray:PutTelemetryRecords",
                    "xray:PutTraceSegments",
                )
            ],
            "description": "Write actions allowed on '*', each with the reason.",
        }
    },
)
def iam_wildcard_write(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """IAM policies never allow a write action on every resource, apart from a documented list of actions that have no resource-level permissions.

    Fix: Scope the statement to ARNs (and conditions); if the action cannot be scoped, add it to the rule's exceptions with a reason.
    """
    allowed = {e["action"] for e in config["exceptions"]}
    for statement in statements(props.get("policy")):
        if statement.get("Effect") != "Allow" or "*" not in as_list(statement.get("Resource")):
            continue
        writes = [a for a in as_list(statement.get("Action")) if is_write(str(a)) and a not in allowed]
        if writes:
            yield f"statement {statement.get('Sid', '?')} allows {', '.join(sorted(writes))} on '*'"


@_rule(
    "iam-no-inline-admin",
    severity=Severity.CRITICAL,
    types=(
        *IDENTITY_POLICIES,
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    ),
)
def iam_admin(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """No role, user or group gets administrator rights, inline or through AdministratorAccess.

    Fix: Grant the specific actions instead.
    """
    if str(props.get("policyArn", "")).endswith(":policy/AdministratorAccess"):
        yield "attaches AdministratorAccess"
    for statement in statements(props.get("policy")):
        if (
            statement.get("Effect") == "Allow"
            and "*" in as_list(statement.get("Action"))
            and "*" in as_list(statement.get("Resource"))
        ):
            yield f"statement {statement.get('Sid', '?')} allows * on *"


def _open_to_world(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


@_rule(
    "security-group-no-public-ingress",
    severity=Severity.CRITICAL,
    types=(
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
    ),
)
def sg_public(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """Security groups admit nothing from 0.0.0.0/0 or ::/0, except HTTPS (443) into groups marked as public load balancers.

    Fix: Restrict the source to the VPC or a security group; for a public ALB tag its group mlops-platform.io/purpose=public-load-balancer and open 443 only.
    """
    public_lb = get(props, "tags", "mlops-platform.io/purpose") == "public-load-balancer"
    rules = as_list(props.get("ingress"))
    if "cidrIpv4" in props or "cidrIpv6" in props:  # SecurityGroupIngressRule
        rules = [
            {
                "cidrBlocks": as_list(props.get("cidrIpv4")),
                "ipv6CidrBlocks": as_list(props.get("cidrIpv6")),
                "fromPort": props.get("fromPort"),
                "toPort": props.get("toPort"),
            }
        ]
    elif props.get("type") in ("ingress", "egress"):  # SecurityGroupRule
        rules = [props] if props.get("type") == "ingress" else []
    for rule in rules:
        sources = [*as_list(rule.get("cidrBlocks")), *as_list(rule.get("ipv6CidrBlocks"))]
        if any(_open_to_world(str(s)) for s in sources):
            if public_lb and rule.get("fromPort") == 443 and rule.get("toPort") == 443:
                continue
            yield f"ingress on ports {rule.get('fromPort')}-{rule.get('toPort')} is open to the internet"


@_rule("log-group-kms", severity=Severity.MEDIUM, types=("aws:cloudwatch/logGroup:LogGroup",))
def log_kms(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """CloudWatch log groups are encrypted with a customer-managed KMS key.

    Fix: Set kmsKeyId (the program's logs key).
    """
    if not props.get("kmsKeyId"):
        yield "the log group is not encrypted with a KMS key"
