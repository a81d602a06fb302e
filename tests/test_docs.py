"""Generated reference pages are committed up to date."""

from mlops_platform.infra import docs

from tests.harness import ROOT


def test_generated_reference_pages_are_up_to_date():
    assert docs.stale(ROOT) == [], "run `blueprint docs` and commit the result"


def test_every_component_input_and_output_is_documented():
    text = (ROOT / "docs" / "components.md").read_text()
    for line in text.splitlines():
        if line.startswith("| `"):
            assert not line.rstrip().endswith("|  |"), f"undocumented: {line}"
