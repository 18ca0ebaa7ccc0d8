"""Units only touch their own folder: CODEOWNERS from the inventory, and the merge-request author check."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from hopthu.cli import main
from hopthu.cli.codeowners import (
    BEGIN,
    END,
    author_findings,
    author_folders,
    requester_changes,
    together_findings,
    units_section,
    with_units_section,
)
from hopthu.inventory import load_inventory
from hopthu.model import Inventory, Requester
from sample_requests import (
    BDT_CREATE,
    BDT_CREATE_PATH,
    INVENTORY_FILE,
    SNV_CREATE,
    SNV_CREATE_PATH,
    letm_joins_snv,
)
from workspace import copy_of_repo

ROOT = Path(__file__).resolve().parent.parent
INVENTORY = load_inventory(ROOT / "inventory")


def test_each_unit_folder_is_owned_by_its_requesters_in_an_optional_section():
    section = units_section(INVENTORY)
    assert section.startswith(BEGIN) and section.rstrip().endswith(END)
    assert "\n^[" in section  # optional: IT's approval is the one GitLab requires
    assert "/requests/ctu/cit/ ltnhan@ctu.edu.vn tmthai@ctu.edu.vn\n" in section
    assert "/requests/binhthuan/bdt/ letm@bdt.binhthuan.gov.vn\n" in section


def test_regenerating_keeps_the_departments_own_lines_and_replaces_only_the_block():
    handwritten = "[CNTT] @it/cntt\n*\n\n"
    first = with_units_section(handwritten, INVENTORY)
    assert first.startswith(handwritten)
    stale = first.replace("letm@bdt.binhthuan.gov.vn", "someone.else@example.com")
    assert with_units_section(stale, INVENTORY) == first
    assert with_units_section(first, INVENTORY) == first


def test_the_repository_codeowners_is_up_to_date_with_the_inventory():
    result = CliRunner().invoke(
        main,
        [
            "-i",
            str(ROOT / "inventory"),
            "codeowners",
            "generate",
            "--check",
            "-o",
            str(ROOT / ".gitlab/CODEOWNERS"),
        ],
    )
    assert result.exit_code == 0, result.output


def test_a_requester_may_change_their_units_folder_only():
    folders = author_folders(INVENTORY, "LeTM@bdt.binhthuan.gov.vn")
    assert folders == {"requests/binhthuan/bdt/"}
    own = "requests/binhthuan/bdt/2025/2025-04-02-bdt-cap-moi.yaml"
    other = "requests/binhthuan/snv/2025/2025-04-02-snv-cap-moi.yaml"
    findings = author_findings([own, other, ".gitlab-ci.yml"], folders, "letm")
    assert [(f.path, f.rule) for f in findings] == [
        (".gitlab-ci.yml", "author-not-requester"),
        (other, "author-not-requester"),
    ]
    assert "not a requester of unit binhthuan/snv" in findings[1].message
    assert "only IT staff may change .gitlab-ci.yml" in findings[0].message


def test_someone_who_is_nobodys_requester_may_change_nothing():
    assert author_folders(INVENTORY, "stranger@example.com") == set()
    assert author_folders(INVENTORY, None) == set()
    (finding,) = author_findings(["requests/ctu/cit/2025/x.yaml"], set(), "stranger")
    assert "(yours: none)" in finding.message


# --- requesters come from the target branch; requesters and requests never change together ---------


def _with_requesters(inventory: Inventory, org: str, unit: str, *requesters: Requester) -> Inventory:
    organisation = inventory.organisations[org]
    units = {**organisation.units, unit: dataclasses.replace(organisation.units[unit], requesters=requesters)}
    return Inventory({**inventory.organisations, org: dataclasses.replace(organisation, units=units)})


LETM = Requester("Trần Thị Mỹ Lệ", "Chánh Văn phòng", email="letm@bdt.binhthuan.gov.vn")
THANHLV = INVENTORY.organisations["binhthuan"].units["snv"].requesters[0]


def test_a_requester_change_is_a_name_or_e_mail_added_or_removed_in_a_unit():
    joined = _with_requesters(INVENTORY, "binhthuan", "snv", THANHLV, LETM)
    assert requester_changes(INVENTORY, joined) == {
        ("binhthuan", "snv"): "added Trần Thị Mỹ Lệ <letm@bdt.binhthuan.gov.vn>"
    }
    replaced = _with_requesters(INVENTORY, "binhthuan", "snv", LETM)
    assert requester_changes(INVENTORY, replaced) == {
        ("binhthuan", "snv"): "added Trần Thị Mỹ Lệ <letm@bdt.binhthuan.gov.vn>; "
        "removed Lê Văn Thành <thanhlv@snv.binhthuan.gov.vn>"
    }
    # A new position or phone, or the e-mail's case, does not change who may ask.
    same_person = dataclasses.replace(
        THANHLV, position="Chánh Văn phòng", phone=None, email=THANHLV.email.upper()
    )
    assert requester_changes(INVENTORY, _with_requesters(INVENTORY, "binhthuan", "snv", same_person)) == {}


def test_requesters_and_requests_together_give_one_finding_per_changed_unit():
    changes = {("binhthuan", "snv"): "added Trần Thị Mỹ Lệ <letm@bdt.binhthuan.gov.vn>"}
    where = {("binhthuan", "snv"): (INVENTORY_FILE, 57, 9, "hopthu_organisations[0].units[1].requesters")}
    assert together_findings(changes, [INVENTORY_FILE], where, INVENTORY_FILE) == []  # inventory alone
    assert together_findings({}, [INVENTORY_FILE, SNV_CREATE_PATH], where, INVENTORY_FILE) == []
    (finding,) = together_findings(changes, [INVENTORY_FILE, SNV_CREATE_PATH], where, INVENTORY_FILE)
    assert (finding.path, finding.line, finding.col, finding.rule, finding.field) == (
        INVENTORY_FILE,
        57,
        9,
        "requesters-with-requests",
        "hopthu_organisations[0].units[1].requesters",
    )
    assert "changes the requesters of unit binhthuan/snv" in finding.message
    assert SNV_CREATE_PATH in finding.message and "split it in two" in finding.message


class Repo:
    """A git repository holding a copy of the inventory, the requests and CODEOWNERS, on branch main."""

    def __init__(self, path: Path) -> None:
        self.path = path
        copy_of_repo(path, "inventory", "requests", ".gitlab")
        self.git("init", "-q", "-b", "main")
        self.commit("the merged state")

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
            cwd=self.path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def commit(self, message: str, files: dict[str, str] | None = None) -> None:
        for name, text in (files or {}).items():
            (self.path / name).parent.mkdir(parents=True, exist_ok=True)
            (self.path / name).write_text(text, encoding="utf-8")
        self.git("add", "-A")
        self.git("commit", "-qm", message, "--allow-empty")

    def letm_joins_snv(self) -> str:
        return letm_joins_snv((self.path / INVENTORY_FILE).read_text(encoding="utf-8"))

    def check_author(self, login: str, email: str, it: str = "") -> object:
        return CliRunner().invoke(
            main,
            [
                "codeowners",
                "check-author",
                "--base",
                "main",
                "--login",
                login,
                "--email",
                email,
                "--it-logins",
                it,
            ],
        )


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Repo:
    monkeypatch.chdir(tmp_path)
    return Repo(tmp_path)


LETM_EMAIL = "letm@bdt.binhthuan.gov.vn"


def test_a_merge_request_that_adds_its_author_to_another_unit_is_refused(repo):
    repo.git("checkout", "-q", "-b", "letm-joins-snv")
    repo.commit("letm asks for snv", {INVENTORY_FILE: repo.letm_joins_snv(), SNV_CREATE_PATH: SNV_CREATE})
    # The merge request's own inventory would make letm a requester of snv; the target branch's does not.
    assert author_folders(load_inventory(repo.path / "inventory"), LETM_EMAIL) == {
        "requests/binhthuan/bdt/",
        "requests/binhthuan/snv/",
    }
    result = repo.check_author("letm", LETM_EMAIL)
    assert result.exit_code == 1
    assert (
        f"{SNV_CREATE_PATH}:1:1: letm is not a requester of unit binhthuan/snv in the inventory of main: "
        in result.output
    )
    assert f"{INVENTORY_FILE}:1:1: only IT staff may change {INVENTORY_FILE}" in result.output
    lines = (repo.path / INVENTORY_FILE).read_text(encoding="utf-8").splitlines()
    snv = lines.index("      - code: snv")  # the unit whose requesters the merge request changes
    requesters_line = lines.index("        requesters:", snv)
    assert (
        f"{INVENTORY_FILE}:{requesters_line + 1}:9: this merge request changes the requesters of unit "
        "binhthuan/snv (added Trần Thị Mỹ Lệ <letm@bdt.binhthuan.gov.vn>)" in result.output
    )
    assert "[requesters-with-requests]" in result.output and "Traceback" not in result.output


def test_it_staff_too_must_change_requesters_and_requests_in_separate_merge_requests(repo):
    repo.git("checkout", "-q", "-b", "both")
    repo.commit("both", {INVENTORY_FILE: repo.letm_joins_snv(), SNV_CREATE_PATH: SNV_CREATE})
    result = repo.check_author("hoang.it", "hoang@stttt.binhthuan.gov.vn", it="hoang.it")
    assert result.exit_code == 1
    assert "hoang.it is IT staff" in result.output
    assert "[requesters-with-requests]" in result.output and "[author-not-requester]" not in result.output


def test_a_requester_added_by_an_earlier_merge_request_may_request_for_the_unit(repo):
    repo.git("checkout", "-q", "-b", "inventory-only")
    repo.commit("letm is a requester of snv too", {INVENTORY_FILE: repo.letm_joins_snv()})
    result = repo.check_author("hoang.it", "hoang@stttt.binhthuan.gov.vn", it="hoang.it")
    assert result.exit_code == 0, result.output
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "inventory-only", "-m", "Merge branch 'inventory-only'")

    repo.git("checkout", "-q", "-b", "snv-request")
    repo.commit("letm asks for snv", {SNV_CREATE_PATH: SNV_CREATE})
    result = repo.check_author("letm", LETM_EMAIL)
    assert result.exit_code == 0, result.output


def test_requester_changes_merged_on_the_target_after_the_fork_are_not_the_merge_requests(repo):
    repo.git("checkout", "-q", "-b", "bdt-request")
    repo.commit("letm asks for bdt", {BDT_CREATE_PATH: BDT_CREATE})
    repo.git("checkout", "-q", "main")
    repo.commit("IT: letm also requests for snv", {INVENTORY_FILE: repo.letm_joins_snv()})
    repo.git("checkout", "-q", "bdt-request")
    # The branch's inventory differs from main's, but this merge request did not change it.
    result = repo.check_author("letm", LETM_EMAIL)
    assert result.exit_code == 0, result.output


def test_a_broken_inventory_on_the_target_branch_is_located_there(repo):
    (repo.path / INVENTORY_FILE).write_text("hopthu_organisations: [\n", encoding="utf-8")
    repo.commit("broken")
    repo.git("checkout", "-q", "-b", "later")
    copy = ROOT / INVENTORY_FILE
    repo.commit("fixed", {INVENTORY_FILE: copy.read_text(encoding="utf-8"), BDT_CREATE_PATH: BDT_CREATE})
    result = repo.check_author("letm", LETM_EMAIL)
    assert result.exit_code == 1
    assert f"main:{INVENTORY_FILE}:" in result.output
    assert "the inventory at main has problems" in result.output and "Traceback" not in result.output
