"""A merger (sáp nhập) file is checked like every request: each problem located at its field, and only IT may
file it (CODEOWNERS gives requests/<org>/_merge/ to nobody else; the author check refuses a unit's
requester)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hopthu.cli import main
from hopthu.cli.codeowners import author_findings, author_folders, units_section
from hopthu.inventory import load_inventory
from hopthu.model import Kind
from hopthu.requests import load_requests
from test_gitlab_ci_codeowners import Repo
from workspace import ROOT, copy_of_repo

PATH = "requests/lamdong/_merge/2025/2025-06-30-sap-nhap.yaml"
MERGER = """\
id: 2025-06-30-sap-nhap
org: lamdong
kind: merge
document: {number: 1507/QĐ-UBND, date: 2025-06-30, signer: Trần Hồng Thái}
requester:
  name: Nguyễn Đình Khoa
  position: Trưởng phòng Công nghệ thông tin
  phone: "0263 3822 059"
  email: khoand@skhcn.lamdong.gov.vn
reason: Sáp nhập tỉnh Bình Thuận vào tỉnh Lâm Đồng.
sources:
  - org: binhthuan
    units: {bdt: sdttg, stttt: skhcn}
    groups: {qlvb: qlvb, motcua: motcua}
renames:
  - org: binhthuan
    username: minhnv
    full_name: Nguyễn Văn Minh
    new_username: minhnv2
  - org: binhthuan
    username: bdt
    unit_name: Ban Dân tộc
    new_username: bdt2
confirm_count: 120
"""


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    copy_of_repo(tmp_path, "inventory")
    (tmp_path / "requests").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def findings(text: str, path: str = PATH, *others: tuple[str, str]) -> list[tuple[int, str, str]]:
    for other, other_text in others:
        Path(other).parent.mkdir(parents=True, exist_ok=True)
        Path(other).write_text(other_text, encoding="utf-8")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text, encoding="utf-8")
    _, found = load_requests([Path("requests")], load_inventory(Path("inventory")))
    return [(f.line, f.rule, f.message) for f in found if f.path == path]


def test_the_merger_becomes_a_request_with_its_sources_renames_and_count(repo):
    assert findings(MERGER) == []
    (request,), _ = load_requests([Path(PATH)], load_inventory(Path("inventory")))
    assert request.kind is Kind.MERGE and request.unit == "_merge" and request.accounts == ()
    (source,) = request.merge.sources
    assert (source.org, source.units, source.groups) == (
        "binhthuan",
        {"bdt": "sdttg", "stttt": "skhcn"},
        {"qlvb": "qlvb", "motcua": "motcua"},
    )
    assert [(r.username, r.new_username, r.unit_mailbox) for r in request.merge.renames] == [
        ("minhnv", "minhnv2", False),
        ("bdt", "bdt2", True),
    ]
    assert request.confirm_count == 120


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # an unknown source organisation: its renames are of no source either
        (
            "org: binhthuan\n",
            "org: quangnam\n",
            [(12, "org-unknown"), (16, "merge-rename-org"), (20, "merge-rename-org")],
        ),
        ("{bdt: sdttg,", "{khongco: sdttg,", [(13, "unit-unknown")]),
        ("stttt: skhcn}", "stttt: stttt}", [(13, "unit-unknown")]),
        ("motcua: motcua}", "motcua: dvc}", [(14, "service-unknown")]),
        ("new_username: minhnv2", "new_username: minhnv.x", [(19, "username-rule")]),
        (
            "new_username: minhnv2",
            "new_username: vanphong",
            [(19, "username-reserved"), (19, "username-rule")],
        ),
        ("new_username: bdt2", "new_username: minhnv2", [(19, "username-taken"), (23, "username-taken")]),
        (
            "  - org: binhthuan\n    username: bdt",
            "  - org: danang\n    username: bdt",
            [(20, "merge-rename-org")],
        ),
        ("    new_username: minhnv2\n", "", [(16, "username-missing")]),
        ("    full_name: Nguyễn Văn Minh\n", "", [(16, "merge-rename-name")]),
        ("confirm_count: 120", "confirm_count: many", [(24, "schema-type")]),
        ("confirm_count: 120", "confirm_count: 0", [(24, "schema-value")]),
        ("kind: merge\n", "kind: merge\nunit: sdttg\n", [(4, "merge-field")]),
        ("sources:\n", "accounts: [{username: minhnv}]\nsources:\n", [(11, "merge-field")]),
        ("kind: merge", "kind: lock", [(1, "schema-required"), (1, "schema-required"), (11, "merge-field")]),
    ],
)
def test_each_problem_of_a_merger_is_located_at_its_field(repo, old, new, expected):
    text = MERGER.replace(old, new, 1)
    assert text != MERGER
    assert [(line, rule) for line, rule, _ in findings(text)] == expected


def test_a_merger_lives_in_the_target_s_merge_folder(repo):
    wrong = "requests/lamdong/skhcn/2025/2025-06-30-sap-nhap.yaml"
    (finding,) = findings(MERGER, wrong)
    assert finding[1] == "file-place"
    assert "move it to requests/lamdong/_merge/2025/2025-06-30-sap-nhap.yaml" in finding[2]


def test_a_new_username_of_the_merger_is_given_by_no_other_request(repo):
    create = (ROOT / "requests/lamdong/snv/2025/2025-03-05-snv-cap-moi.yaml").read_text(encoding="utf-8")
    other = ("requests/lamdong/snv/2025/2025-03-05-snv-cap-moi.yaml", create.replace("anvtt", "minhnv2"))
    found = findings(MERGER, PATH, other)
    assert [(line, rule) for line, rule, _ in found] == [(19, "username-taken")]
    assert "also given by requests/lamdong/snv/2025/2025-03-05-snv-cap-moi.yaml" in found[0][2]


def test_only_it_may_file_a_merger():
    inventory = load_inventory(ROOT / "inventory")
    assert "/requests/lamdong/_merge/" not in units_section(inventory)  # CODEOWNERS: IT's section only
    folders = author_folders(inventory, "khoand@skhcn.lamdong.gov.vn")  # a requester of skhcn
    (finding,) = author_findings([PATH], folders, "khoand")
    assert finding.rule == "author-not-requester"
    assert (
        "may not file a merger (sáp nhập): requests/lamdong/_merge/ belongs to IT staff only"
        in finding.message
    )


def test_the_author_check_lets_it_staff_file_a_merger_and_no_unit_requester(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    repo = Repo(tmp_path)
    repo.git("checkout", "-q", "-b", "sap-nhap")
    repo.commit("the merger", {PATH: MERGER})
    refused = repo.check_author("khoand", "khoand@skhcn.lamdong.gov.vn")
    assert refused.exit_code == 1 and "may not file a merger" in refused.output
    allowed = repo.check_author("it.cntt", "cntt@lamdong.gov.vn", it="it.cntt")
    assert allowed.exit_code == 0, allowed.output


def test_hopthu_validate_reads_the_shipped_merger():
    result = CliRunner().invoke(main, ["-i", str(ROOT / "inventory"), "validate", str(ROOT / "requests")])
    assert result.exit_code == 0, result.output
