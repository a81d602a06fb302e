"""The offline runtime itself: invokes, realistic outputs, recorded options."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pytest

from mlops_platform.infra.offline.runner import SynthError
from tests.harness import TAGS, only, run


def test_invoke_without_an_offline_answer_fails_and_names_its_token():
    def program():
        aws.ec2.get_ami(most_recent=True, owners=["amazon"])

    with pytest.raises(SynthError) as caught:
        run(program)
    assert "invoke aws:ec2/getAmi:getAmi has no offline answer" in str(caught.value)


def test_availability_zones_follow_the_configured_region():
    zones = {}

    def program():
        zones["names"] = aws.get_availability_zones().names

    run(program, config={"aws:region": "eu-west-1"})
    assert zones["names"] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]


def test_outputs_look_like_the_real_ones():
    def program():
        bucket = aws.s3.Bucket("artifacts", tags=TAGS)
        role = aws.iam.Role("reader", assume_role_policy="{}", tags=TAGS)
        repo = aws.ecr.Repository("model", tags=TAGS)
        pulumi.export("bucket", bucket.bucket)
        pulumi.export("bucketArn", bucket.arn)
        pulumi.export("roleArn", role.arn)
        pulumi.export("repositoryUrl", repo.repository_url)

    outputs = run(program).graph.outputs
    assert outputs["bucket"].startswith("artifacts-") and len(outputs["bucket"]) == len("artifacts-") + 7
    assert outputs["bucketArn"] == f"arn:aws:s3:::{outputs['bucket']}"
    assert outputs["roleArn"].startswith("arn:aws:iam::123456789012:role/reader-")
    assert outputs["repositoryUrl"].startswith("123456789012.dkr.ecr.us-east-1.amazonaws.com/model-")


def test_resource_options_are_recorded():
    def program():
        aws.s3.Bucket(
            "kept",
            tags=TAGS,
            opts=pulumi.ResourceOptions(protect=True, retain_on_delete=True, ignore_changes=["tags"]),
        )

    bucket = only(run(program).graph, "aws:s3/bucket:Bucket")
    assert (bucket.protect, bucket.retain_on_delete, bucket.ignore_changes) == (True, True, ["tags"])


def test_secrets_are_masked_in_the_graph_but_kept_in_the_registrations():
    def program():
        aws.secretsmanager.SecretVersion("v", secret_id="s", secret_string=pulumi.Output.secret("hunter2"))
        pulumi.export("password", pulumi.Output.secret("hunter2"))

    result = run(program)
    version = only(result.graph, "aws:secretsmanager/secretVersion:SecretVersion")
    assert version.inputs["secretString"] == "[secret]"
    assert result.graph.outputs["password"] == "[secret]"
    assert "hunter2" not in result.graph.to_json()
