"""`hopthu validate`: exit codes, report formats, and --base (merged requests are immutable)."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from hopthu.cli import main
from workspace import ROOT, copy_of_repo

GOOD = "requests/ctu/cit/2025/2025-03-12-cit-cap-lai-mat-khau.yaml"
LOCK = "requests/ctu/cit/2025/2025-03-13-cit-khoa.yaml"


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """A copy of the shipped inventory and example requests; the working directory."""
    copy_of_repo(tmp_path, "inventory", "requests")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def break_file(path: str = GOOD) -> None:
    file = Path(path)
    file.write_text(
        file.read_text(encoding="utf-8").replace("kind: reset-password", "kind: reset"), encoding="utf-8"
    )


def test_the_shipped_requests_validate(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = run("validate")
    assert result.exit_code == 0, result.output
    assert "problem" in result.output  # the summary
    assert ":" not in result.stdout  # no finding lines


def test_a_problem_gives_exit_1_and_a_located_line(repo):
    break_file()
    result = run("validate")
    assert result.exit_code == 1
    assert f"{GOOD}:6:1: kind: 'reset' is not allowed" in result.stdout
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_paths_limit_what_is_reported(repo):
    break_file()
    assert run("validate", LOCK).exit_code == 0
    assert run("validate", "requests/ctu").exit_code == 1


def test_json_report(repo):
    break_file()
    result = run("validate", "--format", "json")
    [finding] = json.loads(result.stdout)
    assert finding["path"] == GOOD and finding["line"] == 6 and finding["rule"] == "schema-value"


def test_junit_report_written_to_a_file_while_text_goes_to_the_log(repo):
    break_file()
    result = run("validate", "--format", "junit", "--output", "report.xml")
    assert result.exit_code == 1
    assert f"{GOOD}:6:1:" in result.stdout
    root = ET.parse("report.xml").getroot()
    cases = list(root.iter("testcase"))
    assert len(cases) == len(list(Path("requests").rglob("*.yaml")))
    failed = [case.get("name") for case in cases if case.find("failure") is not None]
    assert failed == [GOOD]


def test_codequality_report(repo):
    break_file()
    run("validate", "--format", "codequality", "--output", "gl-code-quality.json")
    [issue] = json.loads(Path("gl-code-quality.json").read_text(encoding="utf-8"))
    assert issue["location"] == {"path": GOOD, "lines": {"begin": 6}}
    assert issue["check_name"] == "hopthu/schema-value" and len(issue["fingerprint"]) == 64


def test_codequality_fingerprints_survive_lines_inserted_above_and_differ_per_field(repo):
    file = Path(GOOD)
    text = file.read_text(encoding="utf-8").replace("kind: reset-password", "kind: reset")
    file.write_text(text.replace('phone: "0292 3734 713"', "phone: call me"), encoding="utf-8")

    def report() -> dict[str, dict]:
        run("validate", "--format", "codequality", "--output", "gl-code-quality.json")
        issues = json.loads(Path("gl-code-quality.json").read_text(encoding="utf-8"))
        return {issue["description"].split(":")[0]: issue for issue in issues}

    before = report()
    assert sorted(before) == ["kind", "requester.phone"]  # one rule (schema-value), two fields
    assert before["kind"]["fingerprint"] != before["requester.phone"]["fingerprint"]
    lines = file.read_text(encoding="utf-8").splitlines(keepends=True)
    file.write_text(
        "".join([lines[0], "# Ghi chú thêm.\n", "# Và một dòng nữa.\n", *lines[1:]]), encoding="utf-8"
    )
    after = report()
    for field in before:
        assert after[field]["location"]["lines"]["begin"] == before[field]["location"]["lines"]["begin"] + 2
        assert after[field]["fingerprint"] == before[field]["fingerprint"]


def test_a_broken_inventory_is_reported_not_a_traceback(repo):
    hosts = Path("inventory/group_vars/all/hopthu.yml")
    hosts.write_text(
        hosts.read_text(encoding="utf-8").replace("base_dn: dc=ctu,dc=edu,dc=vn", "base_dn: ctu")
    )
    result = run("validate")
    assert result.exit_code == 1
    assert "inventory/group_vars/all/hopthu.yml:" in result.output and "[inventory-base-dn]" in result.output
    assert "Traceback" not in result.output


def test_inventory_may_be_given_as_a_hosts_file(repo):
    Path("inventory/dev.yml").write_text("all:\n  hosts:\n    localhost:\n", encoding="utf-8")
    assert run("--inventory", "inventory/dev.yml", "validate").exit_code == 0


def git(*args: str) -> None:
    subprocess.run(["git", *args], check=True, capture_output=True)


@pytest.fixture
def git_repo(repo) -> Path:
    git("init", "-q", "-b", "main")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "merged requests")
    return repo


def test_base_accepts_new_requests(git_repo):
    new = Path("requests/ctu/cit/2025/2025-03-21-cit-khoa.yaml")
    text = Path(LOCK).read_text(encoding="utf-8").replace("2025-03-13-cit-khoa", "2025-03-21-cit-khoa")
    new.write_text(text.replace("date: 2025-03-13", "date: 2025-03-21"), encoding="utf-8")
    result = run("validate", "--base", "main")
    assert result.exit_code == 0, result.output


def test_base_refuses_a_modified_or_deleted_merged_request(git_repo):
    file = Path(LOCK)
    file.write_text(file.read_text(encoding="utf-8").replace("khóa để kiểm tra", "khóa"), encoding="utf-8")
    Path(GOOD).unlink()
    result = run("validate", "--base", "main")
    assert result.exit_code == 1
    assert f"{LOCK}:1:1: this request existed at main and was modified" in result.stdout
    assert f"{GOOD}:1:1: this request existed at main and was deleted" in result.stdout
    assert "[request-immutable]" in result.stdout
    # without --base the edited file is a perfectly valid request
    assert run("validate", LOCK).exit_code == 0


def test_base_with_an_unknown_ref_is_a_clear_error(git_repo):
    result = run("validate", "--base", "no-such-branch")
    assert result.exit_code == 1
    assert "--base no-such-branch" in result.output
    assert "Traceback" not in result.output
