"""`hopthu validate --base`: a merge request's files checked in full, the rest of the history only for the
ids and usernames it gives, with the same findings for the merge request's files as a full run."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hopthu.cli import main
from workspace import ROOT, copy_of_repo

sys.path.insert(0, str(ROOT / "bench"))
from history import write_history, write_new_request

HISTORY = 200
NEW = "requests/binhthuan/bdt/2025/2025-12-31-bdt-cap-moi-mr.yaml"
# An old request in a layout the cheap reader declines (flow accounts): read through its full check.
ODD = "requests/danang/snv/2024/2024-06-01-snv-cap-moi.yaml"
ODD_TEXT = """\
id: 2024-06-01-snv-cap-moi
org: danang
unit: snv
kind: create
document: {number: 12/SNV-VP, date: 2024-06-01, signer: Phan Thị Thu Hằng}
requester: {name: Phan Thị Thu Hằng, position: Chánh Văn phòng, phone: "0236 3822 101", email: a@b.vn}
reason: Tuyển dụng.
accounts: [{full_name: Lê Văn Tám, username: tamlv, staff_code: SNV-1, position: Chuyên viên,
  department: Văn phòng, phone: "0905 000 001", services: [email]}]
"""


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def commit(message: str) -> None:
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", message)


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """The shipped inventory and examples, a generated history and one odd old request, merged on main;
    the working directory is on a merge-request branch."""
    copy_of_repo(tmp_path, "inventory", "requests")
    monkeypatch.chdir(tmp_path)
    requester = "Phan Thị Thu Hằng"
    assert requester in Path("inventory/group_vars/all/hopthu.yml").read_text(encoding="utf-8")
    Path(ODD).parent.mkdir(parents=True, exist_ok=True)
    Path(ODD).write_text(ODD_TEXT, encoding="utf-8")
    write_history(tmp_path, HISTORY)
    git("init", "-q", "-b", "main")
    commit("history")
    git("checkout", "-qb", "merge-request")
    return tmp_path


def findings(*args: str) -> tuple[list[dict], Result]:
    result = run("validate", "--format", "json", *args)
    return json.loads(result.stdout), result


def write(people: list[tuple[str, str]], request_id: str = "2025-12-31-bdt-cap-moi-mr") -> str:
    return str(write_new_request(Path.cwd(), request_id, people).relative_to(Path.cwd()))


def same_as_a_full_run(new: str) -> list[dict]:
    """The merge request's findings, after checking they are the full run's for its file."""
    fast, result = findings("--base", "main")
    merged = len(list(Path("requests").rglob("*.yaml"))) - 1  # every request file but the new one
    assert f"1 request file(s) checked (changed since the merge base), {merged} more" in result.stderr
    full, _ = findings()
    assert fast == [finding for finding in full if finding["path"] == new]
    return fast


def test_a_clean_request_has_the_findings_of_a_full_run(repo):
    new = write([("Phạm Thị Ngọc Diệp", "diepptn")])
    commit("new")
    assert same_as_a_full_run(new) == []


def test_an_id_taken_by_an_old_request_is_found_as_by_a_full_run(repo):
    old = "requests/binhthuan/bdt/2025/2025-03-03-bdt-cap-moi.yaml"  # a shipped example
    new = write_new_request(
        repo,
        "2025-03-03-bdt-cap-moi",
        [("Phạm Thị Ngọc Diệp", "diepptn")],
        unit="snv",
        date=dt.date(2025, 3, 3),
    )
    assert Path(old).exists() and new.parent.name == "2025" and new.parent.parent.name == "snv"
    commit("new")
    (found,) = same_as_a_full_run(str(new.relative_to(repo)))
    assert found["rule"] == "id-duplicate" and old in found["message"]


def test_a_username_given_by_an_old_request_is_found_as_by_a_full_run(repo):
    new = write([("Nguyễn Văn Minh", "minhnv")])  # minhnv: the shipped 2025-03-03-bdt-cap-moi
    commit("new")
    (found,) = same_as_a_full_run(new)
    assert found["rule"] == "username-taken"
    assert "requests/binhthuan/bdt/2025/2025-03-03-bdt-cap-moi.yaml (accounts[0])" in found["message"]


def test_a_username_of_an_old_request_read_through_its_full_check_is_found_too(repo):
    assert "tamlv" in ODD_TEXT
    path = Path(NEW.replace("binhthuan/bdt", "danang/snv").replace("bdt-cap-moi-mr", "snv-cap-moi-mr"))
    path.parent.mkdir(parents=True, exist_ok=True)
    text = ODD_TEXT.replace("2024-06-01-snv-cap-moi", path.stem).replace("2024-06-01", "2025-12-31")
    path.write_text(text.replace("staff_code: SNV-1", "staff_code: SNV-2"), encoding="utf-8")
    commit("new")
    (found,) = same_as_a_full_run(str(path))
    assert found["rule"] == "username-taken" and ODD in found["message"]


def test_a_change_outside_requests_checks_every_file_in_full(repo):
    # The inventory loses a requester: every request she signed becomes wrong, and must be reported.
    hosts = Path("inventory/group_vars/all/hopthu.yml")
    text = hosts.read_text(encoding="utf-8")
    hosts.write_text(text.replace("Phan Thị Thu Hằng", "Phan Thị Thu Hà"), encoding="utf-8")
    write([("Phạm Thị Ngọc Diệp", "diepptn")])
    found, result = findings("--base", "main")
    assert (
        "inventory/group_vars/all/hopthu.yml changed too: every request file checked in full" in result.stderr
    )
    assert {f["path"] for f in found if f["rule"] == "requester-unknown"} >= {ODD}
    assert found == findings()[0]


def test_an_untracked_request_is_checked_in_full(repo):
    new = write([("Phạm Thị Ngọc Diệp", "Diep")])  # not committed, and wrong
    found, result = findings("--base", "main")
    assert result.exit_code == 1
    assert [(f["path"], f["rule"]) for f in found] == [(new, "schema-value")]


def test_the_merge_base_decides_what_changed_not_the_target_branch_today(repo):
    write([("Phạm Thị Ngọc Diệp", "diepptn")])
    commit("the merge request")
    git("checkout", "-q", "main")  # meanwhile the target branch gets another request
    later = write([("Võ Văn Kiệt", "kietvv")], request_id="2025-12-30-bdt-cap-moi")
    commit("merged meanwhile")
    git("checkout", "-q", "merge-request")
    assert not Path(later).exists()
    found, result = findings("--base", "main")
    assert result.exit_code == 0, found  # not "existed at main and was deleted"
    Path("requests/ctu/cit/2025/2025-03-13-cit-khoa.yaml").unlink()  # a merged request: still refused
    (found,), _ = findings("--base", "main")
    assert found["rule"] == "request-immutable" and "was deleted" in found["message"]


def test_one_run_writes_the_junit_and_code_quality_reports(repo):
    new = write([("Nguyễn Văn Minh", "minhnv")])
    commit("new")
    result = run("validate", "--base", "main", "--junit", "out/junit.xml", "--codequality", "out/cq.json")
    assert result.exit_code == 1
    assert f"{new}:" in result.stdout and "[username-taken]" in result.stdout  # the text report: the job log
    junit = ET.parse("out/junit.xml").getroot()
    assert junit.get("tests") == "1" and junit.get("failures") == "1"  # the file checked, not 214
    (issue,) = json.loads(Path("out/cq.json").read_text(encoding="utf-8"))
    assert issue["check_name"] == "hopthu/username-taken" and issue["location"]["path"] == new


def test_a_merge_request_through_a_linked_folder_is_still_seen(repo, tmp_path_factory):
    # The same work tree reached through a symbolic link: git names its real path.
    link = tmp_path_factory.mktemp("elsewhere") / "repo"
    link.symlink_to(repo, target_is_directory=True)
    new = write([("Nguyễn Văn Minh", "minhnv")])
    commit("new")
    result = CliRunner().invoke(main, ["-i", str(link / "inventory"), "validate", "--base", "main"])
    assert result.exit_code == 1 and "[username-taken]" in result.stdout, result.output
    assert Path(new).name in result.stdout
    shutil.rmtree(link.parent)
