"""Stack files of the wrong shape, encoding or size."""

from __future__ import annotations

import pytest

from tests.bad_inputs.conftest import Project, assert_refused


def test_the_valid_fixture_synthesizes(project: Project):
    project.write_stack(project.stack_with())
    outcome = project.run("synth", "t", output=True)
    assert outcome.code == 0, outcome.err
    assert outcome.written


RAW_CASES = {
    "duplicate-top-level-config-key": (
        "config:\n  aws:region: us-east-1\n  mlops-platform:owner: a\n  mlops-platform:owner: b\n",
        ["Pulumi.t.yaml:4", "duplicate key 'mlops-platform:owner' (first at line 3)"],
    ),
    "duplicate-nested-key": (
        "config:\n  aws:region: us-east-1\n  mlops-platform:cluster:\n    version: '1.35'\n    version: '1.34'\n",
        ["Pulumi.t.yaml:5", "duplicate key 'version'"],
    ),
    "duplicate-config-section": (
        "config:\n  aws:region: us-east-1\nconfig:\n  aws:region: us-west-2\n",
        ["Pulumi.t.yaml:3", "duplicate key 'config'"],
    ),
    "config-is-a-list": (
        "config:\n  - aws:region\n",
        ["Pulumi.t.yaml", "'config' must be a mapping", "(got list)"],
    ),
    "config-is-a-string": ("config: us-east-1\n", ["'config' must be a mapping", "(got str)"]),
    "document-is-a-list": (
        "- config\n",
        ["Pulumi.t.yaml", "expected a mapping with a 'config' key (got list)"],
    ),
    "document-is-a-number": ("42\n", ["expected a mapping with a 'config' key (got int)"]),
    "tab-indentation": ("config:\n\taws:region: us-east-1\n", ["Pulumi.t.yaml:2"]),
    "unclosed-flow-mapping": ("config: {aws:region: us-east-1\n", ["Pulumi.t.yaml:"]),
    "unclosed-quote": ('config:\n  mlops-platform:owner: "ml\n', ["Pulumi.t.yaml:"]),
    "empty-file": ("", ["aws:region: required"]),
    "only-a-comment": ("# nothing here\n", ["aws:region: required"]),
}


@pytest.mark.parametrize("text, names", RAW_CASES.values(), ids=RAW_CASES.keys())
def test_a_malformed_stack_file_is_refused_with_file_line_and_key(project: Project, text, names):
    project.write_stack(text)
    assert_refused(project.run("synth", "t", output=True), *names)


ENCODING_CASES = {
    "latin-1": "config:\n  aws:region: us-east-1\n  mlops-platform:owner: équipe\n".encode("latin-1"),
    "utf-16": "config:\n  aws:region: us-east-1\n".encode("utf-16"),
    "binary": bytes(range(256)),
}


@pytest.mark.parametrize("data", ENCODING_CASES.values(), ids=ENCODING_CASES.keys())
def test_a_stack_file_that_is_not_utf8_is_refused(project: Project, data):
    project.stack_file().write_bytes(data)
    assert_refused(project.run("synth", "t", output=True), "Pulumi.t.yaml is not UTF-8", "save it as UTF-8")


def test_a_utf8_bom_is_accepted(project: Project):
    import yaml

    project.stack_file().write_bytes(b"\xef\xbb\xbf" + yaml.safe_dump(project.stack_with()).encode())
    assert project.run("synth", "t", output=True).code == 0


def test_a_stack_file_over_50_mib_is_refused_before_it_is_read(project: Project):
    with project.stack_file().open("wb") as handle:
        handle.truncate(51 * 1024 * 1024)  # sparse: instant, and it is never read
    assert_refused(project.run("synth", "t", output=True), "Pulumi.t.yaml is 51 MiB; the limit is 50 MiB")


def test_a_stack_file_that_is_a_directory_is_refused(project: Project):
    project.stack_file().mkdir()
    assert_refused(project.run("synth", "t", output=True), "Pulumi.t.yaml is a directory")


def test_an_unknown_stack_names_the_known_ones(project: Project):
    project.write_stack(project.stack_with())
    assert_refused(project.run("synth", "nope", output=True), "unknown stack 'nope'", "known stacks: t")


def test_yaml_11_booleans_stay_strings_as_pulumi_reads_them(project: Project):
    """`publicAccess: yes` is the string "yes" to Pulumi (YAML 1.2), so it is a type error, not True."""
    text = (
        "config:\n  aws:region: us-east-1\n  mlops-platform:environment: dev\n  mlops-platform:owner: a\n"
        "  mlops-platform:costCenter: b\n  mlops-platform:cluster:\n    endpoint:\n      publicAccess: yes\n"
    )
    project.write_stack(text)
    assert_refused(
        project.run("synth", "t", output=True),
        'mlops-platform:cluster.endpoint.publicAccess: must be true or false (got "yes")',
    )


def test_a_broken_project_file_is_refused(project: Project):
    (project.root / "Pulumi.yaml").write_text("name: a\nname: b\n")
    assert_refused(project.run("synth", "t", output=True), "Pulumi.yaml:2", "duplicate key 'name'")


def test_a_stack_name_that_cannot_name_the_cluster_is_refused(project: Project):
    project.write_stack(project.stack_with(), name="team.dev")
    assert_refused(
        project.run("synth", "team.dev", output=True),
        "stack 'team.dev': the EKS cluster is named <project>-<stack>, which must be 1-100 letters",
        "'mlops-platform-team.dev'",
    )
