"""Every version pin of the platform, in one place.

Kubernetes, EKS managed add-ons, Helm charts and container images are pinned here and nowhere else.
Python dependency ranges live in ``pyproject.toml``. To upgrade, change a pin here, run
``blueprint diff <stack> --base HEAD`` to see what it changes, and check the add-on versions against
``aws eks describe-addon-versions --kubernetes-version <version> --addon-name <name>``.
"""

from __future__ import annotations

from dataclasses import dataclass

KUBERNETES_VERSION = "1.35"
"""The EKS control-plane version new clusters get unless the stack config overrides it."""

SUPPORTED_KUBERNETES_VERSIONS = ("1.33", "1.34", "1.35")
"""Versions this blueprint is tested against and EKS still supports; the policy pack enforces it."""

EKS_ADDON_VERSIONS: dict[str, dict[str, str]] = {
    # Add-on builds per Kubernetes minor (EKS user guide "latest version" tables; checked 2026-11).
    "1.33": {
        "vpc-cni": "v1.20.4-eksbuild.2",
        "coredns": "v1.13.2-eksbuild.4",
        "kube-proxy": "v1.33.10-eksbuild.2",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.1",
        "aws-ebs-csi-driver": "v1.53.0-eksbuild.1",
    },
    "1.34": {
        "vpc-cni": "v1.20.4-eksbuild.2",
        "coredns": "v1.13.2-eksbuild.4",
        "kube-proxy": "v1.34.6-eksbuild.2",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.1",
        "aws-ebs-csi-driver": "v1.53.0-eksbuild.1",
    },
    "1.35": {
        "vpc-cni": "v1.20.4-eksbuild.2",
        "coredns": "v1.13.2-eksbuild.4",
        "kube-proxy": "v1.35.3-eksbuild.2",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.1",
        "aws-ebs-csi-driver": "v1.53.0-eksbuild.1",
    },
}

CLUSTER_AUTOSCALER_IMAGE_TAGS = {"1.33": "v1.33.2", "1.34": "v1.34.1", "1.35": "v1.35.0"}
"""cluster-autoscaler must match the control-plane minor version."""


@dataclass(frozen=True)
class Chart:
    """A Helm chart pinned to one version. ``repository`` is the chart repository upstream publishes it
    in, for reference only: deploys install the archive vendored in ``charts/`` (charts/vendor.py)."""

    name: str
    version: str
    repository: str


CHARTS = {
    "cluster-autoscaler": Chart("cluster-autoscaler", "9.54.0", "https://kubernetes.github.io/autoscaler"),
    "nvidia-device-plugin": Chart(
        "nvidia-device-plugin", "0.18.0", "https://nvidia.github.io/k8s-device-plugin"
    ),
    "metrics-server": Chart("metrics-server", "3.13.0", "https://kubernetes-sigs.github.io/metrics-server"),
    "aws-load-balancer-controller": Chart(
        "aws-load-balancer-controller", "1.15.0", "https://aws.github.io/eks-charts"
    ),
    "external-secrets": Chart("external-secrets", "1.1.0", "https://charts.external-secrets.io"),
    "kube-prometheus-stack": Chart(
        "kube-prometheus-stack", "80.4.1", "https://prometheus-community.github.io/helm-charts"
    ),
    "dcgm-exporter": Chart("dcgm-exporter", "4.6.0", "https://nvidia.github.io/dcgm-exporter/helm-charts"),
    "aws-for-fluent-bit": Chart("aws-for-fluent-bit", "0.1.35", "https://aws.github.io/eks-charts"),
    "opentelemetry-collector": Chart(
        "opentelemetry-collector", "0.140.0", "https://open-telemetry.github.io/opentelemetry-helm-charts"
    ),
    # Karpenter's chart carries its CRDs (NodePool, NodeClaim, EC2NodeClass) in crds/.
    "karpenter": Chart("karpenter", "1.14.1", "oci://public.ecr.aws/karpenter"),
    "opencost": Chart("opencost", "2.5.17", "https://opencost.github.io/opencost-helm-chart"),
    # Kyverno 1.16: charts 3.7+ pull their policies.kyverno.io CRDs from a kyverno-api chart whose
    # source is not published in a form we can vendor; 3.6 carries every CRD it needs itself.
    "kyverno": Chart("kyverno", "3.6.4", "https://kyverno.github.io/kyverno"),
    # Progressive delivery and elastic serving: the model gateway (with the Gateway API CRDs v1.6.1,
    # experimental channel, that Envoy Gateway 1.9 requires), canaries, and scale to zero.
    "gateway-helm": Chart("gateway-helm", "v1.9.0", "oci://docker.io/envoyproxy"),
    "argo-rollouts": Chart("argo-rollouts", "2.41.0", "https://argoproj.github.io/argo-helm"),
    "keda": Chart("keda", "2.20.2", "https://kedacore.github.io/charts"),
    # The HTTP add-on is beta. No release has a maxPendingRequests setting (0.15.0 is the newest,
    # checked 2026-12): Envoy's circuit breaker on each model's route bounds the requests waiting
    # through a cold start instead (scaleToZero.maxPendingRequests, docs/adr/0002).
    "keda-add-ons-http": Chart("keda-add-ons-http", "0.15.0", "https://kedacore.github.io/charts"),
    # Pipelines: training, retraining and batch scoring workflows, and GPU queues with team quotas.
    "argo-workflows": Chart("argo-workflows", "1.0.18", "https://argoproj.github.io/argo-helm"),
    "kueue": Chart("kueue", "0.19.2", "oci://registry.k8s.io/kueue/charts"),
    # Model monitoring: the monitor jobs push their figures here for Prometheus to scrape.
    "prometheus-pushgateway": Chart(
        "prometheus-pushgateway", "3.8.0", "https://prometheus-community.github.io/helm-charts"
    ),
}

ARGO_EXECUTOR_IMAGE = "quay.io/argoproj/argoexec:v4.0.6"
"""Argo's executor (the init and wait containers of every workflow pod), the appVersion of the
argo-workflows chart. Workflow pods run in team namespaces, where admission takes only signed images
from the platform registry: `blueprint engine-images` mirrors and signs it there."""

ROLLOUTS_GATEWAY_API_PLUGIN_IMAGE = "ghcr.io/argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi:v0.15.0"
"""The Gateway API traffic router of Argo Rollouts: an init container copies its binary into the
controller (argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi docs/installation.md), so the
controller downloads nothing at start. v0.15.0 sets weights on every rule of a multi-rule HTTPRoute."""

KUEUE_IMAGE = "registry.k8s.io/kueue/kueue:v0.19.2"
"""Kueue's manager. Its chart defaults to a staging image (``release-0.19``, pulled Always); the
released image of the vendored chart's appVersion replaces it."""

COSIGN_VERSION = "v2.5.2"
"""cosign that CI signs model images with (examples/team-model/.github/workflows/image.yml). 2.x writes
signatures as ``sha256-<digest>.sig`` tags, which Kyverno 3.6's Cosign verifier reads; cosign 3's
default bundle format wants ``cosignOCI11`` in the policy (docs/adr/0001-image-signing.md)."""

KARPENTER_AMI_ALIAS = "al2023@v20260714"
"""EKS-optimized AL2023 AMI release Karpenter nodes boot (the NVIDIA variant on GPU types), from
awslabs/amazon-eks-ami's release v20260714, which builds 1.33-1.35. Bump it with the cluster."""

MLFLOW_VERSION = "3.16.0"
"""MLflow server version. The upstream image lacks the PostgreSQL driver and the basic-auth app's
dependencies, so the platform builds ``infra/images/mlflow`` (FROM ghcr.io/mlflow/mlflow:v<MLFLOW_VERSION>)
into its own registry."""

MLFLOW_IMAGE_REQUIREMENTS = (
    f"mlflow[auth]=={MLFLOW_VERSION}",  # the basic-auth app (--app-name basic-auth) needs Flask-WTF
    "Flask-WTF==1.3.0",
    "psycopg2-binary==2.9.11",  # the driver the SQLAlchemy URIs name (postgresql+psycopg2://)
    "boto3==1.42.30",  # S3 artifacts
    "prometheus-flask-exporter==0.23.2",  # --expose-prometheus (MLflow's "extras", not in the image)
)
"""What the image installs on top of the upstream one, and exactly what tests/test_mlflow_server.py
installs to run the server: one list (`blueprint mlflow-image` passes it to the build)."""

MODEL_MONITOR_BASE_IMAGE = "python:3.12.12-slim-bookworm"
"""Base of the model monitor image (infra/images/model-monitor)."""
MODEL_MONITOR_VERSION = "0.1.0"
"""Tag of the platform's model monitor image; bump it when the job or its requirements change."""
MODEL_MONITOR_REQUIREMENTS = (
    "evidently==0.7.23",  # drift (PSI per feature and prediction) and the HTML report
    "pandas==2.3.3",  # Evidently 0.7 does not import under pandas 3
    "pyarrow==26.0.1",  # the Parquet Firehose writes
    "scikit-learn==1.9.1",  # accuracy, AUC, MAE, RMSE
    "boto3==1.42.30",
)
"""What the monitor image installs, and what the `monitor` extra installs to run the job in tests
(pyproject.toml; tests/test_model_monitor_job.py checks that the two agree)."""

POSTGRES_ENGINE_VERSION = "17.6"
"""RDS PostgreSQL engine version for the MLflow backend store."""
