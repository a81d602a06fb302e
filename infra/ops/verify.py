"""``blueprint verify``: after ``pulumi up``, check that what runs in the account is what the stack
promises, and show drift when someone changed a setting in the console.

Expectations come from the stack's validated config (Kubernetes version, endpoint access, GPU pools,
database settings) and its outputs (names and ARNs of what was created).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from mlops_platform.components.support import iam, kube
from mlops_platform.components.support.aws import CONTROL_PLANE_LOG_TYPES
from mlops_platform.infra.config import PlatformConfig
from mlops_platform.infra.ops.aws_session import error_code, read_optional
from mlops_platform.policies.documents import statements

REQUIRED_OUTPUTS = (
    "clusterName",
    "region",
    "gpuNodePools",
    "artifactBucket",
    "artifactKmsKeyArn",
    "registryUrls",
    "registryKmsKeyArn",
    "secretsKmsKeyArn",
    "secretsPathPrefix",
    "logGroupNames",
    "mlflowDatabaseIdentifier",
)


class OutputsError(ValueError):
    """The outputs file lacks what verify needs (exit 2)."""


@dataclass(frozen=True)
class Check:
    """One verified promise: the AWS area, the resource, what was checked, and what was found."""

    area: str
    resource: str
    check: str
    ok: bool
    detail: str


def check_outputs(outputs: Any, origin: str) -> dict[str, Any]:
    if not isinstance(outputs, Mapping):
        raise OutputsError(
            f"{origin}: expected a JSON object of stack outputs (`pulumi stack output --json`)"
        )
    missing = [k for k in REQUIRED_OUTPUTS if k not in outputs]
    if missing:
        raise OutputsError(
            f"{origin} lacks outputs {', '.join(missing)}; export them with `pulumi stack output --json` "
            "from a stack deployed by this version of the blueprint"
        )
    secret = [k for k in REQUIRED_OUTPUTS if outputs[k] == "[secret]"]
    if secret:
        raise OutputsError(
            f"{origin}: outputs {', '.join(secret)} are masked; they are not secrets, re-export them"
        )
    return dict(outputs)


def _key_id(arn_or_id: str | None) -> str:
    """``arn:aws:kms:...:key/ID`` and ``ID`` compare equal."""
    return (arn_or_id or "").rsplit("/", 1)[-1]


class Verifier:
    def __init__(self, session: Any, config: PlatformConfig, outputs: Mapping[str, Any]):
        self.session = session
        self.config = config
        self.outputs = outputs
        self.region = str(outputs["region"])
        self.checks: list[Check] = []

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=self.region)

    def record(self, area: str, resource: str, check: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(area, resource, check, bool(ok), detail))

    def guarded(self, area: str, resource: str, probe: Callable[[], None]) -> None:
        """Run one resource's checks; a resource that is missing or unreadable is itself a failure."""
        try:
            probe()
        except botocore.exceptions.ClientError as exc:
            self.record(area, resource, "exists and is readable", False, f"{error_code(exc)}: {exc}")

    def run(self) -> list[Check]:
        cluster = str(self.outputs["clusterName"])
        self.guarded("eks", cluster, lambda: self.eks(cluster))
        self.guarded("eks", cluster, lambda: self.node_groups(cluster))
        bucket = str(self.outputs["artifactBucket"])
        self.guarded("s3", bucket, lambda: self.bucket(bucket, str(self.outputs["artifactKmsKeyArn"])))
        for name in self.repositories():
            self.guarded("ecr", name, lambda name=name: self.repository(name))
        database = str(self.outputs["mlflowDatabaseIdentifier"])
        self.guarded("rds", database, lambda: self.database(database))
        self.guarded("secretsmanager", str(self.outputs["secretsPathPrefix"]), self.secrets)
        for group in self.outputs["logGroupNames"]:
            self.guarded("logs", group, lambda group=group: self.log_group(group))
        return self.checks

    def repositories(self) -> list[str]:
        """The platform's repositories and every model's (``<registry host>/<name>`` URLs)."""
        names = set(self.outputs["registryUrls"])
        for model in dict(self.outputs.get("models") or {}).values():
            url = model.get("repositoryUrl") if isinstance(model, Mapping) else None
            if isinstance(url, str) and "/" in url:
                names.add(url.split("/", 1)[1])
        return sorted(names)

    # --- EKS ----------------------------------------------------------------------------------

    def eks(self, name: str) -> None:
        cluster = self.client("eks").describe_cluster(name=name)["cluster"]
        want = self.config.spec.cluster
        self.record(
            "eks", name, "status ACTIVE", cluster.get("status") == "ACTIVE", f"status {cluster.get('status')}"
        )
        self.record(
            "eks",
            name,
            "Kubernetes version",
            cluster.get("version") == want.kubernetes_version,
            f"runs {cluster.get('version')}, config says {want.kubernetes_version}",
        )
        encrypted = any(
            "secrets" in c.get("resources", []) and c.get("provider", {}).get("keyArn")
            for c in cluster.get("encryptionConfig", [])
        )
        self.record("eks", name, "secrets envelope encryption", encrypted, "KMS" if encrypted else "off")
        enabled = {
            t
            for entry in cluster.get("logging", {}).get("clusterLogging", [])
            if entry.get("enabled")
            for t in entry.get("types", [])
        }
        missing = [t for t in CONTROL_PLANE_LOG_TYPES if t not in enabled]
        self.record(
            "eks",
            name,
            "control-plane logging",
            not missing,
            f"missing {', '.join(missing)}" if missing else "all types",
        )
        vpc = cluster.get("resourcesVpcConfig", {})
        public = bool(vpc.get("endpointPublicAccess"))
        expected_public = want.endpoint.public_access
        detail = f"public {public}, private {vpc.get('endpointPrivateAccess')}"
        ok = vpc.get("endpointPrivateAccess") is True and public == expected_public
        if ok and public:
            cidrs = sorted(vpc.get("publicAccessCidrs", []))
            ok = cidrs == sorted(want.endpoint.public_access_cidrs)
            detail += f", CIDRs {', '.join(cidrs)}"
        self.record("eks", name, "endpoint access", ok, detail)

    def node_groups(self, cluster: str) -> None:
        eks = self.client("eks")
        names = [
            n
            for page in eks.get_paginator("list_nodegroups").paginate(clusterName=cluster)
            for n in page["nodegroups"]
        ]
        groups = [eks.describe_nodegroup(clusterName=cluster, nodegroupName=n)["nodegroup"] for n in names]
        pools = {p.name: p for p in self.config.spec.gpu_node_pools}
        for pool_name, promised in sorted(dict(self.outputs["gpuNodePools"]).items()):
            group = next(
                (g for g in groups if g.get("labels", {}).get(kube.GPU_POOL_LABEL) == pool_name), None
            )
            resource = f"{cluster}/{pool_name}"
            if group is None:
                self.record(
                    "eks",
                    resource,
                    "GPU node group exists",
                    False,
                    f"no node group labelled {kube.GPU_POOL_LABEL}={pool_name}",
                )
                continue
            pool = pools.get(pool_name)
            want_ami = pool.ami_type.value if pool else None
            self.record(
                "eks",
                resource,
                "AMI type",
                group.get("amiType") == want_ami,
                f"{group.get('amiType')}, config says {want_ami}",
            )
            tainted = any(
                t.get("key") == "nvidia.com/gpu" and t.get("effect") == "NO_SCHEDULE"
                for t in group.get("taints", [])
            )
            self.record(
                "eks",
                resource,
                "nvidia.com/gpu NoSchedule taint",
                tainted,
                "present" if tainted else "missing",
            )
            scaling = group.get("scalingConfig", {})
            bounds = (scaling.get("minSize"), scaling.get("maxSize"))
            expected = (promised.get("minSize"), promised.get("maxSize"))
            self.record(
                "eks",
                resource,
                "scaling bounds",
                bounds == expected,
                f"min/max {bounds[0]}/{bounds[1]}, expected {expected[0]}/{expected[1]}",
            )

    # --- S3 -----------------------------------------------------------------------------------

    def bucket(self, name: str, key_arn: str) -> None:
        s3 = self.client("s3")
        rules = read_optional(
            s3.get_bucket_encryption, "ServerSideEncryptionConfigurationNotFoundError", Bucket=name
        )
        default = ((rules or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules") or [{}])[0].get(
            "ApplyServerSideEncryptionByDefault", {}
        )
        ok = default.get("SSEAlgorithm") == "aws:kms" and _key_id(default.get("KMSMasterKeyID")) == _key_id(
            key_arn
        )
        self.record(
            "s3",
            name,
            "SSE-KMS with the platform key",
            ok,
            f"{default.get('SSEAlgorithm', 'none')} {default.get('KMSMasterKeyID', '')}".strip(),
        )
        status = s3.get_bucket_versioning(Bucket=name).get("Status", "never enabled")
        self.record("s3", name, "versioning", status == "Enabled", status)
        block = read_optional(s3.get_public_access_block, "NoSuchPublicAccessBlockConfiguration", Bucket=name)
        settings = (block or {}).get("PublicAccessBlockConfiguration", {})
        off = [
            k
            for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
            if settings.get(k) is not True
        ]
        self.record(
            "s3", name, "public access blocked", not off, f"off: {', '.join(off)}" if off else "all four on"
        )
        policy = read_optional(s3.get_bucket_policy, "NoSuchBucketPolicy", Bucket=name)
        tls = any(iam.denies_insecure_transport(s) for s in statements(policy["Policy"] if policy else None))
        self.record(
            "s3",
            name,
            "TLS-only policy",
            tls,
            "denies aws:SecureTransport=false" if tls else "no such statement",
        )

    # --- ECR, RDS, Secrets Manager, CloudWatch Logs ------------------------------------------

    def repository(self, name: str) -> None:
        ecr = self.client("ecr")
        repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        self.record(
            "ecr",
            name,
            "immutable tags",
            repo.get("imageTagMutability") == "IMMUTABLE",
            repo.get("imageTagMutability", "?"),
        )
        on_push = repo.get("imageScanningConfiguration", {}).get("scanOnPush") is True
        scan_type = _registry_scan_type(ecr)
        self.record(
            "ecr",
            name,
            "image scanning",
            on_push or scan_type == "ENHANCED",
            f"scanOnPush {on_push}, registry {scan_type}",
        )
        encryption = repo.get("encryptionConfiguration", {})
        ok = encryption.get("encryptionType") == "KMS" and _key_id(encryption.get("kmsKey")) == _key_id(
            str(self.outputs["registryKmsKeyArn"])
        )
        self.record(
            "ecr",
            name,
            "KMS encryption with the registry key",
            ok,
            f"{encryption.get('encryptionType')} {encryption.get('kmsKey', '')}".strip(),
        )

    def database(self, identifier: str) -> None:
        db = self.client("rds").describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
        want = self.config.spec.mlflow.database
        checks = [
            ("storage encrypted", db.get("StorageEncrypted") is True, str(db.get("StorageEncrypted"))),
            (
                "Multi-AZ as configured",
                bool(db.get("MultiAZ")) == want.multi_az,
                f"{db.get('MultiAZ')}, config says {want.multi_az}",
            ),
            (
                "deletion protection as configured",
                bool(db.get("DeletionProtection")) == want.deletion_protection,
                f"{db.get('DeletionProtection')}, config says {want.deletion_protection}",
            ),
            (
                "not publicly accessible",
                db.get("PubliclyAccessible") is False,
                str(db.get("PubliclyAccessible")),
            ),
        ]
        for check, ok, detail in checks:
            self.record("rds", identifier, check, ok, detail)

    def secrets(self) -> None:
        prefix = str(self.outputs["secretsPathPrefix"]).rstrip("/") + "/"
        key = _key_id(str(self.outputs["secretsKmsKeyArn"]))
        manager = self.client("secretsmanager")
        found = [
            s
            for page in manager.get_paginator("list_secrets").paginate(
                Filters=[{"Key": "name", "Values": [prefix]}]
            )
            for s in page["SecretList"]
            if s["Name"].startswith(prefix)
        ]
        if not found:
            self.record(
                "secretsmanager", prefix, "platform secrets exist", False, f"no secret named {prefix}*"
            )
        for secret in found:
            kms = secret.get("KmsKeyId")
            self.record(
                "secretsmanager",
                secret["Name"],
                "encrypted with the secrets key",
                _key_id(kms) == key,
                kms or "AWS-managed key",
            )

    def log_group(self, name: str) -> None:
        groups = self.client("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        group = next((g for g in groups if g["logGroupName"] == name), None)
        if group is None:
            self.record("logs", name, "log group exists", False, "not found")
            return
        retention = group.get("retentionInDays")
        self.record(
            "logs",
            name,
            "retention set",
            bool(retention),
            f"{retention} days" if retention else "never expires",
        )
        self.record(
            "logs", name, "KMS encryption", bool(group.get("kmsKeyId")), group.get("kmsKeyId") or "none"
        )


def _registry_scan_type(ecr: Any) -> str:
    try:
        return str(
            ecr.get_registry_scanning_configuration()["scanningConfiguration"].get("scanType", "BASIC")
        )
    except (botocore.exceptions.ClientError, KeyError):
        return "BASIC"


def render_table(stack: str, checks: list[Check]) -> str:
    failed = [c for c in checks if not c.ok]
    rows = [("result", "area", "resource", "check", "detail")] + [
        ("PASS" if c.ok else "FAIL", c.area, c.resource, c.check, c.detail) for c in checks
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]

    out = [line(rows[0]), "-" * (sum(widths) + 8 + len("detail")), *(line(r) for r in rows[1:]), ""]
    out.append(f"verify {stack}: {len(checks) - len(failed)} passed, {len(failed)} failed")
    return "\n".join(out) + "\n"


def render_json(stack: str, checks: list[Check]) -> str:
    failed = sum(1 for c in checks if not c.ok)
    return (
        json.dumps(
            {
                "stack": stack,
                "passed": len(checks) - failed,
                "failed": failed,
                "checks": [dataclasses.asdict(c) for c in checks],
            },
            indent=2,
        )
        + "\n"
    )


def failures(checks: list[Check]) -> Iterator[Check]:
    return (c for c in checks if not c.ok)
