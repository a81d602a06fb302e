"""Generated reference pages are committed up to date, and every setting is documented once."""

import dataclasses

from pydantic.alias_generators import to_camel

from mlops_platform.components.support.spec import field_docs
from mlops_platform.infra import reference
from mlops_platform.infra.config import parsing
from mlops_platform.infra.config.schema import StackSpec
from tests.harness import ROOT


def test_generated_reference_pages_are_up_to_date():
    assert reference.stale(ROOT) == [], "run `blueprint docs` and commit the result"


def test_every_component_input_and_output_is_documented():
    text = (ROOT / "docs" / "components.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) > 100
    for line in rows:
        assert not line.rstrip().endswith("|  |"), f"undocumented: {line}"


def _specs(cls, seen):
    if cls not in seen:
        seen.append(cls)
        for field in dataclasses.fields(cls):
            nested = parsing.element_spec(parsing.hints(cls)[field.name])
            if nested is not None:
                _specs(nested, seen)
    return seen


def test_every_setting_has_its_one_doc_line_and_reaches_the_configuration_page():
    """A setting is one spec field plus its docstring: the page and Pulumi.yaml come from them."""
    page = (ROOT / "docs" / "configuration.md").read_text()
    specs = _specs(StackSpec, [])
    assert len(specs) > 20
    for cls in specs:
        docs = field_docs(cls)
        for field in dataclasses.fields(cls):
            assert docs.get(field.name), f"{cls.__name__}.{field.name} has no docstring"
            key = to_camel(field.name)
            assert any(
                form in page for form in (f"`{key}`", f".{key}`", f"`{key}.", f".{key}.", f"`{key}[]")
            ), key
    assert "| `labels` | map of string to string |" in page  # gpuNodePools[].labels
