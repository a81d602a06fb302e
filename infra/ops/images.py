"""The images the platform builds or mirrors into its own registry, as the commands that make them.

``blueprint mlflow-image``, ``monitor-image`` and ``engine-images`` print these commands rather than
run them: building needs Docker and pushing needs the registry's credentials, which the operator has
and this tool should not ask for. Images that run in team namespaces (the monitor, Argo's executor)
are signed with the platform key too, because admission there takes nothing unsigned
(docs/adr/0001-image-signing.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mlops_platform.components.lifecycle.model_monitor import REPOSITORY as MONITOR_REPOSITORY
from mlops_platform.components.lifecycle.pipelines import EXECUTOR_REPOSITORY
from mlops_platform.components.support import pins

SIGN_KEY = 'COSIGN_KEY="$(pulumi stack output imageSigning --json | jq -r .cosignKey)"'


@dataclass(frozen=True)
class ImageBuild:
    repository: str
    tag: str
    context: str
    """The build context (a folder of infra/images)."""
    requirements: Sequence[str]
    build_args: dict[str, str] = field(default_factory=dict)
    signed: bool = False
    """It runs in team namespaces."""


BUILDS = {
    "mlflow": ImageBuild(
        "mlflow-server",
        pins.MLFLOW_VERSION,
        "infra/images/mlflow",
        pins.MLFLOW_IMAGE_REQUIREMENTS,
        {"MLFLOW_VERSION": pins.MLFLOW_VERSION},
    ),
    "monitor": ImageBuild(
        MONITOR_REPOSITORY,
        pins.MODEL_MONITOR_VERSION,
        "infra/images/model-monitor",
        pins.MODEL_MONITOR_REQUIREMENTS,
        {"BASE_IMAGE": pins.MODEL_MONITOR_BASE_IMAGE},
        signed=True,
    ),
}


def _login(registry: str) -> str:
    host = registry.split("/")[0]
    region = host.split(".")[3] if host.count(".") >= 5 else "<region>"
    return (
        f"aws ecr get-login-password --region {region} | docker login --username AWS --password-stdin {host}"
    )


def _sign(image: str) -> list[str]:
    return [
        SIGN_KEY,
        f'cosign sign --key "$COSIGN_KEY" "$(docker inspect --format \'{{{{index .RepoDigests 0}}}}\' {image})"',
    ]


def build_commands(build: ImageBuild, registry: str) -> list[str]:
    """Log in, build with the pinned packages, push (and sign)."""
    registry = registry.rstrip("/")
    image = f"{registry}/{build.repository}:{build.tag}"
    arguments = " ".join(f"--build-arg {k}={v}" for k, v in build.build_args.items())
    arguments += f" --build-arg 'REQUIREMENTS={' '.join(build.requirements)}'"
    commands = [
        _login(registry),
        f"docker build {arguments} -t {image} {build.context}",
        f"docker push {image}",
    ]
    return commands + (_sign(image) if build.signed else [])


def mirror_commands(registry: str) -> list[str]:
    """Mirror Argo's pinned executor (it runs inside every workflow pod) and sign it."""
    registry = registry.rstrip("/")
    image = f"{registry}/{EXECUTOR_REPOSITORY}:{pins.ARGO_EXECUTOR_IMAGE.rsplit(':', 1)[1]}"
    upstream = pins.ARGO_EXECUTOR_IMAGE
    return [
        _login(registry),
        f"docker pull {upstream}",
        f"docker tag {upstream} {image}",
        f"docker push {image}",
        *_sign(image),
    ]
