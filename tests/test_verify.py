"""`blueprint verify` against moto: passes on resources built as the blueprint builds them, and names
the check for each injected drift."""

from __future__ import annotations

import json
from collections.abc import Callable

import boto3
import pytest
from moto import mock_aws

from mlops_platform.components.support import kube
from mlops_platform.components.support.aws import CONTROL_PLANE_LOG_TYPES
from mlops_platform.infra.cli import main
from mlops_platform.infra.config import PlatformConfig
from mlops_platform.infra.offline.runner import load_project, load_stack_config
from tests.harness import ROOT, stack, without_aws_credentials

REGION = "us-east-1"
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}


def dev_config() -> PlatformConfig:
    from mlops_platform.infra import config

    return config.parse(load_stack_config(load_project(ROOT), "dev"), project="mlops-platform", stack="dev")


def provision(session: boto3.session.Session, *, taints: list[dict] | None = None) -> dict:
    """The dev stack's verifiable resources, configured the way the blueprint configures them; returns
    the stack outputs `pulumi stack output --json` would print for them."""
    cfg = dev_config()
    values = cfg.spec
    outputs = json.loads(json.dumps(stack("dev").graph.outputs))
    kms = session.client("kms")

    def key() -> str:
        return kms.create_key(Description="k")["KeyMetadata"]["Arn"]

    artifact_key, registry_key, secrets_key, logs_key, eks_key = key(), key(), key(), key(), key()
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock=values.network.cidr)["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24")["Subnet"]["SubnetId"] for i in range(2)
    ]
    iam = session.client("iam")
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]

    eks = session.client("eks")
    cluster = outputs["clusterName"]
    eks.create_cluster(
        name=cluster,
        version=values.cluster.kubernetes_version,
        roleArn=role,
        resourcesVpcConfig={
            "subnetIds": subnets,
            "endpointPublicAccess": values.cluster.endpoint.public_access,
            "endpointPrivateAccess": True,
            "publicAccessCidrs": values.cluster.endpoint.public_access_cidrs,
        },
        logging={"clusterLogging": [{"types": list(CONTROL_PLANE_LOG_TYPES), "enabled": True}]},
        encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": eks_key}}],
    )
    for pool in values.gpu_node_pools:
        eks.create_nodegroup(
            clusterName=cluster,
            nodegroupName=f"{pool.name}-nodes",
            scalingConfig={"minSize": pool.min_size, "maxSize": pool.max_size, "desiredSize": pool.min_size},
            subnets=subnets,
            nodeRole=role,
            instanceTypes=pool.instance_types,
            amiType=pool.ami_type.value,
            capacityType=pool.capacity_type.value,
            labels={kube.GPU_POOL_LABEL: pool.name},
            taints=[GPU_TAINT] if taints is None else taints,
        )

    s3 = session.client("s3")
    bucket = outputs["artifactBucket"]
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": artifact_key,
                    }
                }
            ]
        },
    )
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration=dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
        ),
    )
    tls = {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [tls]}))

    ecr = session.client("ecr")
    repositories = list(outputs["registryUrls"]) + [
        m["repositoryUrl"].split("/", 1)[1] for m in outputs["models"].values()
    ]
    for name in repositories:
        ecr.create_repository(
            repositoryName=name,
            imageTagMutability="IMMUTABLE",
            imageScanningConfiguration={"scanOnPush": True},
            encryptionConfiguration={"encryptionType": "KMS", "kmsKey": registry_key},
        )

    database = values.mlflow.database
    session.client("rds").create_db_instance(
        DBInstanceIdentifier=outputs["mlflowDatabaseIdentifier"],
        DBInstanceClass=database.instance_class,
        Engine="postgres",
        AllocatedStorage=database.allocated_storage_gib,
        MasterUsername="mlflow",
        MasterUserPassword="not-a-real-password-1",
        StorageEncrypted=True,
        KmsKeyId=artifact_key,
        MultiAZ=database.multi_az,
        DeletionProtection=database.deletion_protection,
        PubliclyAccessible=False,
    )

    secrets = session.client("secretsmanager")
    for entry in [*(e.name for e in values.secrets.entries), "mlflow/admin"]:
        secrets.create_secret(Name=f"{outputs['secretsPathPrefix']}/{entry}", KmsKeyId=secrets_key)

    logs = session.client("logs")
    for group in outputs["logGroupNames"]:
        logs.create_log_group(logGroupName=group, kmsKeyId=logs_key)
        logs.put_retention_policy(logGroupName=group, retentionInDays=values.observability.log_retention_days)

    outputs.update(
        artifactKmsKeyArn=artifact_key,
        registryKmsKeyArn=registry_key,
        secretsKmsKeyArn=secrets_key,
        region=REGION,
    )
    return outputs


@pytest.fixture
def session():
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


def verify(outputs: dict, tmp_path, *extra: str) -> int:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    return main(["verify", "dev", "--outputs", str(path), *extra])


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_passes_on_resources_built_like_the_blueprint(session, tmp_path, capsys):
    outputs = provision(session)
    assert verify(outputs, tmp_path) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    for check in (
        "status ACTIVE",
        "Kubernetes version",
        "secrets envelope encryption",
        "control-plane logging",
        "endpoint access",
        "AMI type",
        "nvidia.com/gpu NoSchedule taint",
        "scaling bounds",
        "SSE-KMS with the platform key",
        "versioning",
        "public access blocked",
        "TLS-only policy",
        "immutable tags",
        "image scanning",
        "KMS encryption with the registry key",
        "storage encrypted",
        "Multi-AZ as configured",
        "deletion protection as configured",
        "not publicly accessible",
        "encrypted with the secrets key",
        "retention set",
        "KMS encryption",
    ):
        assert check in out, check
    assert "0 failed" in out.splitlines()[-1]


def _suspend_versioning(session, outputs):
    session.client("s3").put_bucket_versioning(
        Bucket=outputs["artifactBucket"], VersioningConfiguration={"Status": "Suspended"}
    )


def _unblock_public_access(session, outputs):
    session.client("s3").delete_public_access_block(Bucket=outputs["artifactBucket"])


def _mutable_tags(session, outputs):
    session.client("ecr").put_image_tag_mutability(
        repositoryName="mlflow-server", imageTagMutability="MUTABLE"
    )


def _drop_tls_policy(session, outputs):
    session.client("s3").delete_bucket_policy(Bucket=outputs["artifactBucket"])


def _expire_never(session, outputs):
    session.client("logs").delete_retention_policy(logGroupName=outputs["logGroupNames"][0])


def _delete_database(session, outputs):
    session.client("rds").delete_db_instance(
        DBInstanceIdentifier=outputs["mlflowDatabaseIdentifier"], SkipFinalSnapshot=True
    )


DRIFTS: list[tuple[str, Callable, str, str]] = [
    ("versioning suspended", _suspend_versioning, "versioning", "Suspended"),
    ("public access unblocked", _unblock_public_access, "public access blocked", "off: BlockPublicAcls"),
    ("immutability off", _mutable_tags, "immutable tags", "MUTABLE"),
    ("TLS policy removed", _drop_tls_policy, "TLS-only policy", "no such statement"),
    ("log retention removed", _expire_never, "retention set", "never expires"),
    ("database gone", _delete_database, "exists and is readable", "DBInstanceNotFound"),
]


@pytest.mark.parametrize(("drift", "inject", "check", "detail"), DRIFTS, ids=[d[0] for d in DRIFTS])
def test_each_drift_fails_naming_the_check(session, tmp_path, capsys, drift, inject, check, detail):
    outputs = provision(session)
    inject(session, outputs)
    assert verify(outputs, tmp_path, "--format", "json") == 1
    report = json.loads(capsys.readouterr().out)
    failed = [c for c in report["checks"] if not c["ok"]]
    assert [c["check"] for c in failed] == [check]
    assert detail in failed[0]["detail"]
    assert report["failed"] == 1


def test_a_removed_gpu_taint_fails(session, tmp_path, capsys):
    outputs = provision(session, taints=[])
    assert verify(outputs, tmp_path) == 1
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert (
        "mlops-platform-dev/gpu-spot" in line
        and "nvidia.com/gpu NoSchedule taint" in line
        and "missing" in line
    )


def test_scaling_bounds_that_differ_from_the_outputs_fail(session, tmp_path, capsys):
    outputs = provision(session)
    outputs["gpuNodePools"]["gpu-spot"]["maxSize"] = 5
    assert verify(outputs, tmp_path, "--format", "json") == 1
    [failed] = [c for c in json.loads(capsys.readouterr().out)["checks"] if not c["ok"]]
    assert failed["check"] == "scaling bounds" and "expected 0/5" in failed["detail"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not valid JSON"),
        ("[]", "expected a JSON object of stack outputs"),
        ('{"clusterName": "x"}', "lacks outputs region, gpuNodePools"),
    ],
)
def test_malformed_outputs_exit_2(session, tmp_path, capsys, content, message):
    path = tmp_path / "outputs.json"
    path.write_text(content)
    assert main(["verify", "dev", "--outputs", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_unknown_stack_missing_file_wrong_region_and_credentials_exit_2(
    session, tmp_path, capsys, monkeypatch
):
    outputs = provision(session)
    assert main(["verify", "nope", "--outputs", str(tmp_path / "o.json")]) == 2
    assert "unknown stack 'nope'" in capsys.readouterr().err
    assert main(["verify", "dev", "--outputs", str(tmp_path / "missing.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert verify({**outputs, "region": "eu-west-1"}, tmp_path) == 2
    assert "is for region eu-west-1, but stack dev deploys to us-east-1" in capsys.readouterr().err
    without_aws_credentials(monkeypatch, tmp_path)
    assert verify(outputs, tmp_path) == 2
    assert "no AWS credentials" in capsys.readouterr().err
