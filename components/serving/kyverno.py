"""``Kyverno``: admission that lets only images signed with the platform's key run in model namespaces.

Kyverno from its vendored chart, and one ClusterPolicy, ``verify-model-images``, over every pod in a
namespace that carries the team label (TeamNamespace sets it, in the platform's stacks and in teams'
own projects alike):

- ``signed-by-platform-key``: an image from this account's ECR must carry a cosign signature made
  with the ImageSigningKey (``verifyImages``, a KMS attestor); Kyverno rewrites the tag to the digest
  it verified, so what runs is what was signed;
- ``images-from-platform-registry``: containers pull from this account's ECR only, so no image
  escapes the signature check by coming from elsewhere.

``enforce`` refuses the pod; ``audit`` admits it and records the failure in a PolicyReport
(``kubectl get policyreport -n <team>``). Default: audit in dev, enforce in stage and prod.

A second ClusterPolicy, ``label-platform-pods``, gives every pod outside the team namespaces that has
no team label ``mlops-platform.io/team: platform`` as it is admitted, so OpenCost allocates the
add-ons, MLflow and the gateway's proxies to the platform, as the cost estimate does. It never
blocks a pod (``failurePolicy: Ignore``) and leaves the pods' controllers alone (no autogen: Helm
and Pulumi keep owning the templates). Kyverno skips its own namespace and ``kube-system``; those
pods are allocated by namespace.

Example::

    Kyverno("kyverno", KyvernoSpec(mode=AdmissionMode.ENFORCE), context, cluster.ref, on_cluster,
            signing_key_arn=key.key_arn, team_names=["risk"])
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.data.image_signing import VERIFY_ACTIONS, cosign_key_uri
from mlops_platform.components.foundation.pod_identity import PodIdentityRole, PodIdentitySpec
from mlops_platform.components.refs import ClusterRef
from mlops_platform.components.support import helm, iam, kube
from mlops_platform.components.support.aws import role_arn_problem
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.validation import Problem, range_problems

NAMESPACE = "kyverno"
RELEASE = "kyverno"
ADMISSION_SERVICE_ACCOUNT = "kyverno-admission-controller"
POLICY_NAME = "verify-model-images"
ADMISSION_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
REPORTS_RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}
DEFAULT_REPLICAS = {Environment.DEV: 1, Environment.STAGE: 2, Environment.PROD: 3}
"""Admission replicas: with ``failurePolicy: Fail`` no model pod starts while none answers."""


class AdmissionMode(StrEnum):
    """What a pod that fails the signature check meets."""

    ENFORCE = "enforce"
    """Refused at admission."""
    AUDIT = "audit"
    """Admitted, and recorded in the namespace's PolicyReport."""


DEFAULT_MODES = {Environment.DEV: AdmissionMode.AUDIT}
"""Enforce everywhere else: stage and prod run signed images only."""


@spec
class KyvernoSpec:
    """Image admission for the model namespaces."""

    mode: AdmissionMode | None = None
    """``enforce`` or ``audit``. Default: audit in dev, enforce in stage and prod (where audit is refused)."""
    replicas: int | None = None
    """Admission-controller replicas. Default: 1 in dev, 2 in stage, 3 in prod."""
    signer_role_arns: Sequence[str] = ()
    """Roles that may sign images besides ``registry.pushRoleArns``: teams' CI roles. Default: none."""

    def mode_in(self, environment: Environment) -> AdmissionMode:
        return self.mode or DEFAULT_MODES.get(environment, AdmissionMode.ENFORCE)

    def replicas_in(self, environment: Environment) -> int:
        return self.replicas if self.replicas is not None else DEFAULT_REPLICAS[environment]

    def problems(self, environment: Environment) -> list[Problem]:
        found = range_problems("replicas", self.replicas_in(environment), 1, 7)
        found += [
            p
            for i, arn in enumerate(self.signer_role_arns)
            if (p := role_arn_problem(f"signer_role_arns[{i}]", arn))
        ]
        if environment is not Environment.DEV and self.mode_in(environment) is AdmissionMode.AUDIT:
            found.append(
                Problem(
                    "mode", f"must be enforce in {environment.value}: stage and prod run signed images only"
                )
            )
        return found


def registry_host(account_id: str, region: str) -> str:
    return f"{account_id}.dkr.ecr.{region}.amazonaws.com"


def verify_images_policy(*, registry: str, signing_key_arn: str, mode: AdmissionMode) -> dict[str, Any]:
    """The ClusterPolicy manifest (``kyverno.io/v1``): signature and registry rules for team pods."""
    action = "Enforce" if mode is AdmissionMode.ENFORCE else "Audit"
    team_pods = {
        "any": [
            {
                "resources": {
                    "kinds": ["Pod"],
                    "namespaceSelector": {
                        "matchExpressions": [{"key": kube.TEAM_LABEL, "operator": "Exists"}]
                    },
                }
            }
        ]
    }
    from_registry = f"{registry}/*"
    # A private key in KMS has no transparency-log entry: signatures are checked against the key only.
    attestor = {
        "keys": {
            "kms": cosign_key_uri(signing_key_arn),
            "rekor": {"ignoreTlog": True},
            "ctlog": {"ignoreSCT": True},
        }
    }
    return {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {
            "name": POLICY_NAME,
            "labels": kube.labels(POLICY_NAME, "image-admission"),
            "annotations": {
                "policies.kyverno.io/title": "Signed model images only",
                "policies.kyverno.io/description": "Pods in team namespaces run images from the platform's "
                "ECR, signed with its KMS key (cosign).",
            },
        },
        "spec": {
            "background": False,  # signatures are checked at admission, where the pod is decided
            # Fail closed: no answer from Kyverno is no pod, not an unchecked one.
            "webhookConfiguration": {"failurePolicy": "Fail", "timeoutSeconds": 30},
            "rules": [
                {
                    "name": "signed-by-platform-key",
                    "match": team_pods,
                    "verifyImages": [
                        {
                            "imageReferences": [from_registry],
                            "failureAction": action,
                            "type": "Cosign",
                            "mutateDigest": True,
                            "verifyDigest": True,
                            "required": True,
                            "attestors": [{"count": 1, "entries": [attestor]}],
                        }
                    ],
                },
                {
                    "name": "images-from-platform-registry",
                    "match": team_pods,
                    "validate": {
                        "failureAction": action,
                        "message": f"team pods pull images from {registry} only, where they are signed",
                        "pattern": {
                            "spec": {
                                "containers": [{"image": from_registry}],
                                "=(initContainers)": [{"image": from_registry}],
                            }
                        },
                    },
                },
            ],
        },
    }


LABEL_POLICY_NAME = "label-platform-pods"
"""The ClusterPolicy that gives platform pods their team label, for cost allocation."""


def platform_labels_policy(team: str) -> dict[str, Any]:
    """The ClusterPolicy manifest (``kyverno.io/v1``) that labels platform pods with their ``team``."""
    return {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {
            "name": LABEL_POLICY_NAME,
            "labels": kube.labels(LABEL_POLICY_NAME, "cost-allocation"),
            "annotations": {
                "policies.kyverno.io/title": "Platform pods carry the platform's team label",
                "policies.kyverno.io/description": "Pods outside team namespaces without a team label "
                f"get {kube.TEAM_LABEL}: {team}, for cost allocation.",
                # Pods only: rules generated for Deployments would rewrite templates Helm owns.
                "pod-policies.kyverno.io/autogen-controllers": "none",
            },
        },
        "spec": {
            "background": False,
            # A label is bookkeeping: no answer from Kyverno must never stop a pod.
            "webhookConfiguration": {"failurePolicy": "Ignore", "timeoutSeconds": 5},
            "rules": [
                {
                    "name": "platform-team-label",
                    "match": {
                        "any": [
                            {
                                "resources": {
                                    "kinds": ["Pod"],
                                    "operations": ["CREATE"],
                                    "namespaceSelector": {
                                        "matchExpressions": [
                                            {"key": kube.TEAM_LABEL, "operator": "DoesNotExist"}
                                        ]
                                    },
                                }
                            }
                        ]
                    },
                    # ``+(key)``: add the label only where the pod has none.
                    "mutate": {
                        "patchStrategicMerge": {"metadata": {"labels": {f"+({kube.TEAM_LABEL})": team}}}
                    },
                }
            ],
        },
    }


def _cluster_policy(
    name: str, manifest: pulumi.Input[dict[str, Any]], opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    manifest = pulumi.Output.from_input(manifest)
    return k8s.apiextensions.CustomResource(
        name,
        api_version="kyverno.io/v1",
        kind="ClusterPolicy",
        metadata=manifest["metadata"],
        spec=manifest["spec"],
        opts=opts,
    )


def verifier_policy(signing_key_arn: str, repository_arns: Sequence[str]) -> str:
    """Kyverno's role: read the public key, and read signatures from the team repositories."""
    statements = [iam.statement("ReadSigningPublicKey", VERIFY_ACTIONS, signing_key_arn)]
    if repository_arns:
        statements += iam.ecr_pull_statements(repository_arns)
    return iam.document(statements)


class Kyverno(PlatformComponent):
    """The Kyverno release, its admission controller's identity and the ``verify-model-images`` policy."""

    release: k8s.helm.v3.Release
    """The Helm release; policies wait for its CRDs."""
    mode: AdmissionMode
    """The mode the policy runs in."""
    policy: k8s.apiextensions.CustomResource
    """The ClusterPolicy."""

    def __init__(
        self,
        name: str,
        spec: KyvernoSpec,
        context: StackContext,
        cluster: ClusterRef,
        opts: pulumi.ResourceOptions,
        *,
        signing_key_arn: pulumi.Input[str],
        team_names: Sequence[str],
    ):
        """``team_names``: the teams whose ECR repositories (``<team>/*``) hold signed model images."""
        super().__init__(
            "mlops:kyverno:Kyverno", name, "KyvernoSpec", spec.problems(context.environment), opts
        )
        self.mode = spec.mode_in(context.environment)
        registry = registry_host(self.account_id, self.region)
        repositories = [
            f"arn:aws:ecr:{self.region}:{self.account_id}:repository/{team}/*" for team in sorted(team_names)
        ]
        role = PodIdentityRole(
            f"{name}-identity",
            PodIdentitySpec(namespace=NAMESPACE, service_account=ADMISSION_SERVICE_ACCOUNT),
            cluster_name=cluster.name,
            tags=context.tags,
            policy=pulumi.Output.from_input(signing_key_arn).apply(
                lambda arn: verifier_policy(arn, repositories)
            ),
            opts=self.child,
        )
        replicas = spec.replicas_in(context.environment)
        on_system = {"nodeSelector": kube.SYSTEM_NODE_SELECTOR}
        self.release = helm.release(
            f"{name}-release",
            RELEASE,
            namespace=NAMESPACE,
            create_namespace=True,
            values={
                "admissionController": {
                    "replicas": replicas,
                    "rbac": {"serviceAccount": {"name": ADMISSION_SERVICE_ACCOUNT}},
                    "container": {"resources": ADMISSION_RESOURCES},
                    **on_system,
                },
                "reportsController": {"replicas": 1, "resources": REPORTS_RESOURCES, **on_system},
                # Nothing here generates, mutates existing objects or cleans up: no controllers for it.
                "backgroundController": {"enabled": False},
                "cleanupController": {"enabled": False},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role]),
            footprint=helm.Footprint(system_pods=((replicas, ADMISSION_RESOURCES), (1, REPORTS_RESOURCES))),
        )
        manifest = pulumi.Output.from_input(signing_key_arn).apply(
            lambda arn: verify_images_policy(registry=registry, signing_key_arn=arn, mode=self.mode)
        )
        after_release = pulumi.ResourceOptions(parent=self, depends_on=[self.release])
        self.policy = _cluster_policy(f"{name}-verify-model-images", manifest, after_release)
        _cluster_policy(
            f"{name}-label-platform-pods", platform_labels_policy(kube.PLATFORM_TEAM), after_release
        )
        self.register_outputs({"mode": self.mode.value})
