"""Conversion between the engine's protobuf property values and plain Python values.

The SDK's own converters are asynchronous; the offline monitor answers synchronously, so it uses
these. Secrets and resource references survive the round trip as marker objects, which the graph
writer then masks (``"[secret]"``) or replaces by the URN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2

SIG = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

SECRET_MASK = "[secret]"
UNKNOWN_MASK = "[unknown]"


@dataclass(frozen=True)
class Secret:
    value: Any


@dataclass(frozen=True)
class ResourceRef:
    urn: str
    id: str | None = None


@dataclass(frozen=True)
class Unknown:
    pass


def from_proto(value: Any) -> Any:
    """protobuf Struct / ListValue / scalar -> Python, keeping secret and reference markers."""
    if isinstance(value, struct_pb2.ListValue):
        return [from_proto(v) for v in value]
    if isinstance(value, struct_pb2.Struct):
        if SIG in value:
            sig = value[SIG]
            if sig == SECRET_SIG:
                return Secret(from_proto(value["value"]))
            if sig == RESOURCE_SIG:
                rid = value.get("id", None)
                return ResourceRef(str(value["urn"]), None if rid in (None, "") else str(rid))
            if sig == OUTPUT_VALUE_SIG:
                inner = from_proto(value["value"]) if "value" in value else Unknown()
                is_secret = bool(value["secret"]) if "secret" in value else False
                return Secret(inner) if is_secret else inner
            if sig == ASSET_SIG:
                return {"asset": {k: from_proto(value[k]) for k in ("path", "text", "uri") if k in value}}
            if sig == ARCHIVE_SIG:
                return {"archive": {k: from_proto(value[k]) for k in ("path", "uri", "assets") if k in value}}
        return {k: from_proto(v) for k, v in value.items()}
    if isinstance(value, float) and value.is_integer():
        # The wire format only has doubles; integral values are integers in every schema we render.
        return int(value)
    if value == UNKNOWN:
        return Unknown()
    return value


def to_proto_value(value: Any) -> Any:
    """Python (with markers) -> something ``Struct.update`` accepts."""
    if isinstance(value, Secret):
        return {SIG: SECRET_SIG, "value": to_proto_value(value.value)}
    if isinstance(value, ResourceRef):
        ref = {SIG: RESOURCE_SIG, "urn": value.urn}
        if value.id is not None:
            ref["id"] = value.id
        return ref
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, dict):
        return {k: to_proto_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [to_proto_value(v) for v in value]
    return value


def to_struct(props: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(to_proto_value(props))
    return struct


def _reduce(value: Any, secret: Any, unknown: Any) -> Any:
    """A value with references as URNs, ``secret(s)`` for each secret and ``unknown`` for unknowns."""
    if isinstance(value, Secret):
        return secret(value)
    if isinstance(value, ResourceRef):
        return value.urn
    if isinstance(value, Unknown):
        return unknown
    if isinstance(value, dict):
        return {k: _reduce(v, secret, unknown) for k, v in value.items()}
    if isinstance(value, list):
        return [_reduce(v, secret, unknown) for v in value]
    return value


def unwrap(value: Any) -> Any:
    """Plain values for code that computes outputs: secrets opened, references reduced to URNs."""
    return _reduce(value, lambda s: unwrap(s.value), None)


def masked(value: Any) -> Any:
    """What the graph records: secrets masked, references as URNs, unknowns marked."""
    return _reduce(value, lambda s: SECRET_MASK, UNKNOWN_MASK)
