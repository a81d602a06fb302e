"""docs/components.md: each component's spec (inputs and defaults), its wiring and its outputs,
generated from the sources."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
from typing import Any

from mlops_platform.components.support.spec import default_of, field_docs, is_spec
from mlops_platform.infra.config import parsing

COMPONENT_MODULES = (
    "foundation.network",
    "foundation.cluster",
    "foundation.gpu_node_pool",
    "foundation.karpenter",
    "foundation.cluster_addons",
    "foundation.pod_identity",
    "foundation.load_balancer_controller",
    "data.artifact_store",
    "data.audit_trail",
    "data.container_registry",
    "data.image_signing",
    "data.platform_secrets",
    "data.mlflow",
    "observability.stack",
    "observability.alarms",
    "serving.team_namespace",
    "serving.kyverno",
    "serving.gateway",
    "serving.rollouts",
    "serving.autoscaling",
    "serving.model_endpoint.component",
    "lifecycle.pipelines",
    "lifecycle.training_pipeline",
    "lifecycle.batch_scoring",
    "lifecycle.capture",
    "lifecycle.model_monitor",
)
"""Modules documented in docs/components.md, in reading order."""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _annotation(cls: type, name: str) -> str:
    return _cell(inspect.formatannotation(parsing.hints(cls)[name])).replace("collections.abc.", "")


def _default(cls: type, field: dataclasses.Field[Any]) -> str:
    default = default_of(field)
    if default is dataclasses.MISSING:
        return "required"
    shown = (
        default.value if hasattr(default, "value") and not isinstance(default, str | int | float) else default
    )
    return f"`{_cell(repr(shown))}`"


def _specs_of(cls: type, seen: list[type]) -> list[type]:
    """``cls`` and every spec its fields hold, depth first, each once."""
    if cls in seen:
        return seen
    seen.append(cls)
    for field in parsing.fields(cls):
        nested = parsing.element_spec(parsing.hints(cls)[field.name])
        if nested is not None:
            _specs_of(nested, seen)
    return seen


def spec_table(cls: type) -> list[str]:
    docs = field_docs(cls)
    lines = [
        f"`{cls.__name__}`: {_cell(inspect.cleandoc(cls.__doc__ or ''))}",
        "",
        "| field | type | default | description |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{f.name}` | `{_annotation(cls, f.name)}` | {_default(cls, f)} | {_cell(docs.get(f.name, ''))} |"
        for f in parsing.fields(cls)
    ]
    return [*lines, ""]


def _outputs(component: type) -> list[tuple[str, str, str]]:
    """(name, annotation, docstring) of the attributes a component declares, from its source."""
    tree = ast.parse(inspect.getsource(component).lstrip())
    body = tree.body[0].body
    found = []
    for item, following in zip(body, [*body[1:], None], strict=True):
        documented = isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and documented:
            found.append(
                (item.target.id, _cell(ast.unparse(item.annotation)), _cell(str(following.value.value)))
            )
    return found


def _wiring(component: type) -> list[tuple[str, str, str]]:
    parameters = list(inspect.signature(component.__init__).parameters.values())[1:]
    hints = {p.name: p.annotation for p in parameters}
    rows = []
    for parameter in parameters:
        if parameter.name in ("name", "spec", "opts"):
            continue
        default = "required" if parameter.default is inspect.Parameter.empty else f"`{parameter.default!r}`"
        rows.append((parameter.name, _cell(str(hints[parameter.name])), default))
    return rows


def components_reference() -> str:
    lines = [
        "# Components reference",
        "",
        "<!-- Generated from the component sources by `blueprint docs`; do not edit by hand. -->",
        "",
        "A component takes `(name, spec, <wiring>, opts=None)`. The **spec** holds plain values with their",
        "defaults; it is also the component's stack-config section (docs/configuration.md), so the field",
        "`max_size` is the key `maxSize`. The **wiring** is what the component builds on, as typed refs to",
        "other components (`NetworkRef`, `ClusterRef`, `PlatformRef` in `mlops_platform.components.refs`)",
        "and a `StackContext` (environment, names, tags). A component validates everything at once",
        "(raising `InvalidArgs` listing every problem), parents its children to itself and names them",
        "`<name>-<role>`: child names are part of the API, and renaming one without an alias replaces it.",
        "",
    ]
    for module_name in COMPONENT_MODULES:
        module = importlib.import_module(f"mlops_platform.components.{module_name}")
        components = [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj)
            and obj.__module__ == module.__name__
            and any(b.__name__ == "ComponentResource" for b in obj.__mro__[1:])
        ]
        for component in components:
            shown = module_name.removesuffix(".component")
            lines += [f"## `{component.__name__}` (`mlops_platform.components.{shown}`)", ""]
            lines += [
                inspect.cleandoc(module.__doc__ or ""),
                "",
                inspect.cleandoc(component.__doc__ or ""),
                "",
            ]
            spec_type = inspect.signature(component.__init__).parameters.get("spec")
            if spec_type is not None:
                spec_cls = eval(spec_type.annotation, vars(module))  # a name the module imports
                lines += ["### Spec", ""]
                for cls in _specs_of(spec_cls, []):
                    if is_spec(cls):
                        lines += spec_table(cls)
            wiring = _wiring(component)
            if wiring:
                lines += ["### Wiring", "", "| parameter | type | default |", "|---|---|---|"]
                lines += [f"| `{n}` | `{t}` | {d} |" for n, t, d in wiring]
                if component.__init__.__doc__:
                    lines += ["", _cell(inspect.cleandoc(component.__init__.__doc__))]
                lines.append("")
            outputs = _outputs(component)
            if outputs:
                lines += ["### Outputs", "", "| attribute | type | description |", "|---|---|---|"]
                lines += [f"| `{n}` | `{a}` | {d} |" for n, a, d in outputs]
                lines.append("")
    return "\n".join(lines)
