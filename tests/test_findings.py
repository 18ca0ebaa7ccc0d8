"""One list of findings, four renderings that say the same thing (people, programs, GitLab)."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from hopthu.findings import Finding, field_name, render, schema_findings
from hopthu.yamlsafe import load

FINDINGS = [
    Finding(
        "requests/a.yaml",
        3,
        5,
        "accounts[0]: missing required field 'phone'",
        "schema-required",
        field="accounts[0].phone",
    ),
    Finding("requests/a.yaml", 9, 1, "duplicate key 'id' (first on line 1)", "yaml-duplicate-key"),
    Finding("requests/b.yaml", 1, 1, "no such file", "file-missing", severity="warning"),
]
FILES = ["requests/a.yaml", "requests/b.yaml", "requests/c.yaml"]


def test_text_is_one_line_per_finding_like_yamllint():
    assert render("text", FINDINGS, FILES).splitlines() == [
        "requests/a.yaml:3:5: accounts[0]: missing required field 'phone' [schema-required]",
        "requests/a.yaml:9:1: duplicate key 'id' (first on line 1) [yaml-duplicate-key]",
        "requests/b.yaml:1:1: warning: no such file [file-missing]",
    ]


def test_json_holds_every_field():
    data = json.loads(render("json", FINDINGS, FILES))
    assert data[0] == {
        "path": "requests/a.yaml",
        "line": 3,
        "col": 5,
        "message": "accounts[0]: missing required field 'phone'",
        "rule": "schema-required",
        "severity": "error",
        "field": "accounts[0].phone",
    }
    assert data[1]["field"] is None  # a YAML syntax error has no field
    assert [Finding(**item) for item in data] == FINDINGS


def test_junit_has_one_testcase_per_file_and_one_failure_per_finding():
    root = ET.fromstring(render("junit", FINDINGS, FILES))
    cases = {case.get("name"): case for case in root.iter("testcase")}
    assert sorted(cases) == FILES  # c.yaml has no finding: a passing test case
    assert len(cases["requests/a.yaml"].findall("failure")) == 2
    assert len(cases["requests/b.yaml"].findall("failure")) == 1
    assert cases["requests/c.yaml"].findall("failure") == []
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("3", "2")
    failure = cases["requests/a.yaml"].find("failure")
    assert failure.get("type") == "schema-required"
    assert "3:5" in failure.get("message")


def test_junit_with_no_files_is_still_a_valid_report():
    root = ET.fromstring(render("junit", [], []))
    assert root.find("testsuite").get("tests") == "0"


def test_codequality_has_the_keys_gitlab_requires():
    issues = json.loads(render("codequality", FINDINGS, FILES))
    assert len(issues) == 3
    for issue, finding in zip(issues, FINDINGS, strict=True):
        assert set(issue) >= {"description", "check_name", "fingerprint", "severity", "location"}
        assert issue["description"] == finding.message
        assert issue["location"] == {"path": finding.path, "lines": {"begin": finding.line}}
        assert issue["severity"] in {"info", "minor", "major", "critical", "blocker"}
    assert issues[0]["severity"] == "major" and issues[2]["severity"] == "minor"


def _prints(findings: list[Finding]) -> list[str]:
    return [issue["fingerprint"] for issue in json.loads(render("codequality", findings))]


def test_codequality_fingerprints_are_stable_and_distinct():
    twice = [FINDINGS[0], FINDINGS[0], *FINDINGS[1:]]
    first = _prints(twice)
    assert first == _prints(twice)
    assert len(set(first)) == len(first)


def test_a_fingerprint_is_rule_file_and_field_not_line_nor_message():
    (moved,) = _prints([dataclasses.replace(FINDINGS[0], line=30, col=1, message="reworded")])
    assert moved == _prints(FINDINGS)[0]
    other_field = dataclasses.replace(FINDINGS[0], field="accounts[1].phone")
    other_rule = dataclasses.replace(FINDINGS[0], rule="schema-type")
    other_file = dataclasses.replace(FINDINGS[0], path="requests/b.yaml")
    assert len(set(_prints([FINDINGS[0], other_field, other_rule, other_file]))) == 4


def test_findings_without_a_field_are_told_apart_in_file_order():
    """Two YAML errors of one rule in one file: the first keeps its print when another comes below."""
    first = Finding("requests/a.yaml", 4, 1, "duplicate key 'id' (first on line 1)", "yaml-duplicate-key")
    second = dataclasses.replace(first, line=9, message="duplicate key 'org' (first on line 2)")
    below = dataclasses.replace(first, line=20, message="duplicate key 'unit' (first on line 3)")
    alone = _prints([first])
    pair = _prints([second, first])  # the order given does not matter, the file's order does
    assert pair[1] == alone[0] and pair[0] != alone[0]
    assert _prints([first, second, below])[:2] == pair[::-1]


def test_field_names_read_like_paths():
    assert field_name(("accounts", 0, "services", 2)) == "accounts[0].services[2]"
    assert field_name(()) == "(document)"


SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "phone"],
    "properties": {
        "name": {"type": "string"},
        "phone": {"type": "string", "pattern": "^[0-9 ]+$", "description": "a phone number"},
        "kind": {"enum": ["a", "b"]},
    },
}


def check(text: str) -> list[tuple[int, int, str, str]]:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    return [(f.line, f.col, f.rule, f.message) for f in schema_findings(validator, load(text), "x.yaml")]


def test_schema_findings_locate_and_explain_each_violation():
    found = check("name: 12\nphone: abc\nkind: c\nnmae: x\n")
    assert found == [
        (
            1,
            1,
            "schema-type",
            "name: must be a string, not a number (YAML read it as a number or boolean: "
            "put the value in quotes)",
        ),
        (2, 1, "schema-value", "phone: 'abc' is not a phone number"),
        (3, 1, "schema-value", "kind: 'c' is not allowed: use one of a, b"),
        (4, 1, "schema-unknown-field", "(document): unknown field 'nmae': did you mean 'name'?"),
    ]


def test_schema_findings_name_each_missing_field():
    assert [m for *_, m in check("kind: a\n")] == [
        "(document): missing required field 'name'",
        "(document): missing required field 'phone' (a phone number)",
    ]


@pytest.mark.parametrize("number", ["012345678", "079201001234"])
def test_schema_messages_never_echo_an_identity_number(number):
    (found,) = check(f"name: x\nphone: 'id {number}x'\n")
    assert number not in found[3]
