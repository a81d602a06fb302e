"""A mock resource monitor that records every registration request as the engine would see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.protobuf import empty_pb2
from pulumi.runtime.mocks import MockMonitor, MockResourceArgs, Mocks
from pulumi.runtime.proto import resource_pb2

from mlops_platform.infra.offline.values import ResourceRef, Secret, from_proto, to_struct, unwrap
from mlops_platform.policies.graph import Resource


@dataclass
class Registration(Resource):
    """One ``RegisterResource`` request, with the options the engine would act on; its inputs keep
    secrets wrapped (the graph's ``Resource`` masks them)."""

    id: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    resource_class: type | None = None
    """The Python class the program constructed (for tools that replay a graph)."""


class _Args(MockResourceArgs):
    """MockResourceArgs that also carries the URN, so mocks can derive stable values from it."""

    def __init__(self, urn: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.urn = urn


class RecordingMonitor(MockMonitor):
    """Answers synchronously (no nested event-loop pumping) and keeps every request in order."""

    def __init__(self, mocks: Mocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.reads: list[Registration] = []
        self.root_urn: str | None = None
        self.stack_outputs: dict[str, Any] = {}

    def RegisterResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            self.root_urn = urn
            return resource_pb2.RegisterResourceResponse(urn=urn)
        inputs = from_proto(request.object)
        # A provider reference is "<urn>::<id>"; the graph names the provider by URN.
        provider = request.provider.rsplit("::", 1)[0] if request.provider else None
        reg = Registration(
            urn=urn,
            type=request.type,
            name=request.name,
            parent=request.parent or None,
            custom=bool(request.custom),
            provider=provider,
            depends_on=sorted(set(request.dependencies)),
            protect=bool(request.protect) if request.HasField("protect") else False,
            retain_on_delete=bool(request.retainOnDelete) if request.HasField("retainOnDelete") else False,
            ignore_changes=list(request.ignoreChanges),
            replace_on_changes=list(request.replaceOnChanges),
            delete_before_replace=bool(request.deleteBeforeReplace),
            aliases=self._alias_urns(request),
            inputs=inputs,
            property_dependencies={
                key: sorted(set(deps.urns))
                for key, deps in sorted(request.propertyDependencies.items())
                if deps.urns
            },
        )
        self.registrations.append(reg)
        if not request.custom:
            # Component resources have no provider-side state; the engine answers with the URN alone.
            self.resources[urn] = MockMonitor.ResourceRegistration(urn, "", {})
            return resource_pb2.RegisterResourceResponse(urn=urn)
        plain = unwrap(inputs)
        resource_id, state = self.mocks.new_resource(
            _Args(
                urn,
                typ=request.type,
                name=request.name,
                inputs=plain,
                provider=request.provider,
                resource_id=request.importId,
                custom=True,
            )
        )
        state = _keep_markers(inputs, state)
        reg.id, reg.outputs = resource_id, state
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, resource_id, state)
        returned = _returned(request.type, plain, state)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id, object=to_struct(returned))

    def _alias_urns(self, request: Any) -> list[str]:
        """The URNs a resource's aliases name, as the engine computes them from alias specs: each
        unset part (name, type, parent, stack, project) is the resource's own."""
        urns = {a.urn for a in request.aliases if a.urn} | set(request.aliasURNs)
        for alias in request.aliases:
            if alias.urn:
                continue
            spec = alias.spec
            parent = "" if spec.noParent else (spec.parentUrn or request.parent)
            head, project, _ = self.make_urn("", request.type, request.name).split("::", 2)
            stack = head.removeprefix("urn:pulumi:")
            type_ = spec.type or request.type
            if parent:
                type_ = parent.split("::")[2].split("$")[-1] + "$" + type_
            urns.add(
                "::".join(
                    [
                        f"urn:pulumi:{spec.stack or stack}",
                        spec.project or project,
                        type_,
                        spec.name or request.name,
                    ]
                )
            )
        return sorted(urns)

    def ReadResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        props = from_proto(request.properties)
        resource_id, state = self.mocks.new_resource(
            _Args(
                urn,
                typ=request.type,
                name=request.name,
                inputs=unwrap(props),
                provider=request.provider,
                resource_id=request.id,
            )
        )
        reg = Registration(
            urn=urn,
            type=request.type,
            name=request.name,
            parent=request.parent or None,
            custom=True,
            inputs=props,
            id=resource_id,
            outputs=state,
        )
        self.reads.append(reg)
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, resource_id, state)
        return resource_pb2.ReadResourceResponse(urn=urn, properties=to_struct(state))

    def Invoke(self, request: Any) -> Any:
        args = unwrap(from_proto(request.args))
        if request.tok == "pulumi:pulumi:getResource":
            found = self.resources.get(args["urn"])
            if found is None:
                raise KeyError(f"unknown resource {args['urn']}")
            ret = {"urn": found.urn, "id": found.id, "state": found.state}
        else:
            from pulumi.runtime.mocks import MockCallArgs

            ret, _ = self.mocks.call(MockCallArgs(token=request.tok, args=args, provider=request.provider))
        return resource_pb2.ResourceInvokeResponse(**{"return": to_struct(ret), "failures": None})

    def RegisterResourceOutputs(self, request: Any) -> Any:
        if request.urn == self.root_urn:
            self.stack_outputs = from_proto(request.outputs)
        return empty_pb2.Empty()


KUBERNETES_ECHOED = ("apiVersion", "kind", "metadata", "status")


def _returned(resource_type: str, inputs: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """What the program gets back: computed values, and inputs echoed only where they are scalars.

    Echoing nested inputs (tags, Kubernetes bodies) would make the SDK walk them again through the
    typed output classes for nothing: programs read names, ARNs and statuses, not what they sent.
    The recorded state (``Registration.outputs``) stays complete.
    """
    if resource_type.startswith("kubernetes:") and not resource_type.startswith("kubernetes:helm.sh"):
        return {k: v for k, v in state.items() if k in KUBERNETES_ECHOED}
    return {
        k: v
        for k, v in state.items()
        if k not in inputs or inputs[k] is not v or not isinstance(v, (dict, list))
    }


def _keep_markers(inputs: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """Mocks compute on plain values; an input echoed back keeps its secret or reference marker."""
    result = dict(state)
    for key, value in inputs.items():
        if isinstance(value, (Secret, ResourceRef)) and key in result and unwrap(value) == result[key]:
            result[key] = value
    return result
