"""The blueprint CLI as a user runs it: output and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

from mlops_platform.infra.cli import main
from tests.harness import ROOT


def blueprint(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "mlops_platform.infra.cli", *args], cwd=cwd, capture_output=True, text=True
    )


def test_preview_prints_tree_counts_and_masked_outputs(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["preview", "dev"]) == 0
    out = capsys.readouterr().out
    assert "├─ cluster  mlops:cluster:EksCluster" in out
    assert "aws:eks/nodeGroup:NodeGroup" in out
    assert "Resources: " in out
    assert '  kubeconfig: "[secret]"' in out
    assert "not a diff against live state" in out


def test_synth_writes_the_graph(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    target = tmp_path / "g.json"
    assert main(["synth", "dev", "-o", str(target)]) == 0
    graph = json.loads(target.read_text())
    assert graph["formatVersion"] == 1 and graph["stack"] == "dev"
    assert "wrote" in capsys.readouterr().err


def test_unknown_stack_exits_2_without_traceback():
    result = blueprint("preview", "no-such-stack")
    assert result.returncode == 2
    assert "unknown stack 'no-such-stack'" in result.stderr
    assert "known stacks: dev, prod, stage" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_project_file_exits_2(tmp_path):
    result = blueprint("synth", "dev", cwd=tmp_path)
    assert result.returncode == 2
    assert "no Pulumi.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_config_exits_2_listing_every_problem_without_traceback(project_copy):
    stack_file = project_copy / "stacks" / "Pulumi.dev.yaml"
    text = stack_file.read_text().replace("minSize: 0\n      maxSize: 2", "minSize: 3\n      maxSize: 2")
    stack_file.write_text(text + "  mlops-platform:netwrk: {}\n")
    result = blueprint("synth", "dev", cwd=project_copy)
    assert result.returncode == 2
    assert "mlops-platform:gpuNodePools[0].maxSize: must be >= minSize (got 2 < 3)" in result.stderr
    assert "mlops-platform:netwrk: unknown key" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_invalid_yaml_exits_2(project_copy):
    (project_copy / "stacks" / "Pulumi.dev.yaml").write_text("config: [unclosed\n")
    result = blueprint("preview", "dev", cwd=project_copy)
    assert result.returncode == 2
    assert "invalid YAML" in result.stderr


def test_program_that_imports_wrongly_fails_as_under_pulumi_up(project_copy):
    (project_copy / "infra" / "__main__.py").write_text("from infra.no_such_module import main\nmain()\n")
    result = blueprint("synth", "dev", cwd=project_copy)
    assert result.returncode == 1
    assert "ModuleNotFoundError: No module named 'infra.no_such_module'" in result.stderr


def test_unwritable_output_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert main(["synth", "dev", "-o", str(tmp_path / "missing-dir" / "g.json")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_usage_errors_exit_2():
    assert blueprint().returncode == 2
    assert blueprint("preview").returncode == 2
    assert blueprint("frobnicate").returncode == 2


def test_mlflow_image_prints_the_pinned_build(capsys):
    from mlops_platform.components.support import pins

    assert main(["mlflow-image", "--registry", "123456789012.dkr.ecr.eu-west-1.amazonaws.com"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("aws ecr get-login-password --region eu-west-1 |")
    assert f"--build-arg MLFLOW_VERSION={pins.MLFLOW_VERSION}" in out[1]
    assert f"--build-arg 'REQUIREMENTS={' '.join(pins.MLFLOW_IMAGE_REQUIREMENTS)}'" in out[1]
    assert (
        out[2]
        == f"docker push 123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlflow-server:{pins.MLFLOW_VERSION}"
    )


def test_mlflow_image_lists_the_requirements_the_server_test_installs(capsys):
    from mlops_platform.components.support import pins

    assert main(["mlflow-image", "--requirements"]) == 0
    assert capsys.readouterr().out.splitlines() == list(pins.MLFLOW_IMAGE_REQUIREMENTS)
    assert f"mlflow[auth]=={pins.MLFLOW_VERSION}" in pins.MLFLOW_IMAGE_REQUIREMENTS
    dockerfile = (ROOT / "infra" / "images" / "mlflow" / "Dockerfile").read_text()
    assert "pip install --no-cache-dir ${REQUIREMENTS}" in dockerfile
    assert main(["mlflow-image"]) == 2


def test_monitor_image_builds_pushes_and_signs_what_the_job_test_runs(capsys):
    from mlops_platform.components.support import pins

    registry = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert main(["monitor-image", "--registry", registry]) == 0
    out = capsys.readouterr().out.splitlines()
    image = f"{registry}/model-monitor:{pins.MODEL_MONITOR_VERSION}"
    assert f"--build-arg BASE_IMAGE={pins.MODEL_MONITOR_BASE_IMAGE}" in out[1] and out[1].endswith(
        f"-t {image} infra/images/model-monitor"
    )
    assert out[2] == f"docker push {image}"
    # Monitor jobs run in team namespaces: admission takes only images signed with the platform key.
    assert out[3].startswith('COSIGN_KEY="$(pulumi stack output imageSigning')
    assert out[4].startswith('cosign sign --key "$COSIGN_KEY"') and image in out[4]
    dockerfile = (ROOT / "infra" / "images" / "model-monitor" / "Dockerfile").read_text()
    assert "COPY model_monitor.py /app/model_monitor.py" in dockerfile
    assert main(["monitor-image", "--requirements"]) == 0
    assert capsys.readouterr().out.splitlines() == list(pins.MODEL_MONITOR_REQUIREMENTS)


def test_engine_images_mirrors_and_signs_the_argo_executor_the_platform_runs(capsys):
    from mlops_platform.components.support import pins

    registry = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert main(["engine-images", "--registry", registry]) == 0
    out = capsys.readouterr().out.splitlines()
    mirrored = f"{registry}/argoexec:{pins.ARGO_EXECUTOR_IMAGE.rsplit(':', 1)[1]}"
    assert out[1:4] == [
        f"docker pull {pins.ARGO_EXECUTOR_IMAGE}",
        f"docker tag {pins.ARGO_EXECUTOR_IMAGE} {mirrored}",
        f"docker push {mirrored}",
    ]
    assert mirrored in out[5] and out[5].startswith("cosign sign")
    assert main(["engine-images"]) == 2


def test_team_example_previews_offline_against_platform_outputs(tmp_path):
    outputs = tmp_path / "platform.json"
    assert blueprint("synth", "dev", "-o", str(tmp_path / "g.json")).returncode == 0
    outputs.write_text(json.dumps(json.loads((tmp_path / "g.json").read_text())["outputs"]))
    example = ROOT / "examples" / "team-model"
    result = blueprint(
        "preview", "dev", "--stack-reference", f"acme/mlops-platform/dev={outputs}", cwd=example
    )
    assert result.returncode == 0, result.stderr
    assert "sentiment  mlops:model_endpoint:ModelEndpoint" in result.stdout
    missing = blueprint("preview", "dev", cwd=example)
    assert (
        missing.returncode == 1
        and "StackReference 'acme/mlops-platform/dev' has no offline outputs" in missing.stderr
    )
    bad = blueprint("preview", "dev", "--stack-reference", "no-equals-sign", cwd=example)
    assert bad.returncode == 2 and "--stack-reference must be NAME=FILE" in bad.stderr
