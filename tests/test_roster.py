"""`hopthu roster`: HR's staff list against a real directory gives draft requests, per unit, and lists every
uncertain match instead of guessing. Nothing is applied."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from annexes import csv_file, xlsx
from hopthu.cli import main
from hopthu.inventory import load_inventory
from hopthu.requests import load_requests
from workspace import copy_of_repo

DRAFTS = Path("requests/binhthuan/bdt/2025")
# (uid, full name, staff code, unit, position, locked)
ACCOUNTS = [
    ("minhnv", "Nguyễn Văn Minh", "BDT-0112", "bdt", "Chuyên viên", False),  # promoted
    ("anvtt", "Võ Thị Thu An", "BDT-0113", "bdt", "Chuyên viên", False),  # transferred to snv
    ("thodn", "Đàng Năng Thọ", "BDT-0114", "bdt", "Lái xe", False),  # retired
    ("hoalt", "Lê Thị Hoa", None, "bdt", "Kế toán", False),  # no staff code: matched by name
    ("tamlv", "Lê Văn Tám", "BDT-0120", "bdt", "Chuyên viên", False),  # no longer on the list
    ("binhtv", "Trần Văn Bình", None, "bdt", "Chuyên viên", False),  # two of the same name
    ("binhtv2", "Trần Văn Bình", None, "bdt", "Văn thư", False),
    ("locdv", "Đỗ Văn Lộc", "BDT-0130", "bdt", "Chuyên viên", True),  # locked, yet on the list
    ("hungnv", "Nguyễn Văn Hùng", "SNV-0001", "snv", "Chuyên viên", False),  # unchanged
    ("sonhn", "Huỳnh Ngọc Sơn", "TT-0001", "stttt", "Chuyên viên", False),  # a unit the list does not cover
]
ROSTER = [
    ["DANH SÁCH CÁN BỘ, CÔNG CHỨC"],
    ["STT", "Mã nhân sự", "HỌ VÀ TÊN", "Đơn vị công tác", "Chức vụ", "Tình trạng"],
    [1, "BDT-0112", "Nguyễn Văn Minh", "Ban Dân tộc tỉnh Bình Thuận", "Trưởng phòng", "Đang công tác"],
    [2, "bdt-0113", "VÕ THỊ THU AN", "snv", "Chuyên viên", None],
    [3, "BDT-0114", "Đàng Năng Thọ", "bdt", "Lái xe", "Nghỉ hưu"],
    [4, None, "Lê Thị Hoa", "bdt", "Kế toán", "Đang công tác"],
    [5, None, "Trần Văn Bình", "bdt", "Chuyên viên", "Đang công tác"],
    [6, "BDT-0130", "Đỗ Văn Lộc", "bdt", "Chuyên viên", "Đang công tác"],
    [7, "SNV-0001", "Nguyễn Văn Hùng", "snv", "Chuyên viên", "Nghỉ thai sản"],
    [8, "BDT-0200", "Phạm Quốc Bảo", "bdt", "Chuyên viên", "Đang công tác"],
]
OPTIONS = ["--org", "binhthuan", "--document-number", "80/TCCB", "--document-date", "2025-05-01"]
OPTIONS += ["--signer", "Lê Văn Thành"]


@pytest.fixture
def repo(tmp_path, monkeypatch, start_directory):
    root = copy_of_repo(tmp_path / "repo", "inventory", "requests", "schemas")
    monkeypatch.chdir(root)
    inventory = load_inventory(root / "inventory")
    org = inventory.organisations["binhthuan"]
    server = start_directory(inventory.organisations.values())
    conn = server.connect(org)
    for uid, name, code, unit, position, locked in ACCOUNTS:
        attrs = {
            "objectClass": ["inetOrgPerson", "hopthuAccount"],
            "cn": name,
            "sn": name.split()[0],
            "departmentNumber": unit,
            "title": position,
        }
        if code:
            attrs["employeeNumber"] = code
        if locked:
            attrs |= {"pwdAccountLockedTime": "000001010000Z", "hopthuLockedTime": "20250101000000Z"}
        assert conn.add(f"uid={uid},ou=people,{org.base_dn}", attributes=attrs), conn.result
    conn.unbind()
    return root, server


def roster(server, file: Path, *extra: str):
    directory = str(server.workdir / "directory.json")
    return CliRunner().invoke(main, ["roster", str(file), *OPTIONS, "--directory", directory, *extra])


def test_the_roster_gives_drafts_per_unit_and_lists_what_is_uncertain(repo, tmp_path):
    root, server = repo
    result = roster(server, xlsx(Path("nhan-su.xlsx"), ROSTER, sheet="DS"))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{DRAFTS}/2025-05-01-bdt-nhan-su-cap-moi.yaml",
        f"{DRAFTS}/2025-05-01-bdt-nhan-su-thay-doi.yaml",
        f"{DRAFTS}/2025-05-01-bdt-nhan-su-khoa.yaml",
    ]
    uncertain = [line for line in result.stderr.splitlines() if line.startswith("nhan-su.xlsx:")]
    assert uncertain == [
        "nhan-su.xlsx:DS!C7: 'Trần Văn Bình' matches several accounts of unit bdt (binhtv, binhtv2): add the "
        "staff code to the roster or to the accounts [roster-ambiguous]",
        "nhan-su.xlsx:DS!C8: account locdv is locked, but the roster lists the person as working: unlock it "
        "(a mở khóa request) if they are back [roster-locked]",
    ]
    create = (DRAFTS / "2025-05-01-bdt-nhan-su-cap-moi.yaml").read_text(encoding="utf-8")
    assert "# BẢN NHÁP từ danh sách nhân sự nhan-su.xlsx (`hopthu roster`)" in create
    assert "kind: create" in create and "  name: Trần Thị Mỹ Lệ\n" in create  # the unit's requester
    assert (
        "  # danh sách nhân sự: DS, dòng 10\n  - full_name: Phạm Quốc Bảo\n    username: baopq\n"
        '    staff_code: "BDT-0200"\n    position: Chuyên viên\n    department: Ban Dân tộc tỉnh Bình Thuận\n'
    ) in create
    update = (DRAFTS / "2025-05-01-bdt-nhan-su-thay-doi.yaml").read_text(encoding="utf-8")
    assert "  - username: minhnv\n    position: Trưởng phòng\n" in update
    assert "  - username: anvtt\n    unit: snv\n" in update  # filed where the account is now
    lock = (DRAFTS / "2025-05-01-bdt-nhan-su-khoa.yaml").read_text(encoding="utf-8")
    assert (
        "  # Nghỉ hưu — danh sách nhân sự: DS, dòng 5\n  - username: thodn\n    full_name: Đàng Năng Thọ\n"
        in lock
    )
    assert "  # không còn trong danh sách nhân sự\n  - username: tamlv\n    full_name: Lê Văn Tám\n" in lock
    for uid in ("hoalt", "hungnv", "sonhn", "binhtv", "locdv"):  # matched and unchanged, or not the list's
        assert f"username: {uid}\n" not in create + update + lock
    drafts = sorted(DRAFTS.glob("2025-05-01-*"))
    _, findings = load_requests(drafts, load_inventory(root / "inventory"), repo_root=root)
    assert findings == []  # drafts are valid requests, ready for review
    # nothing was applied: the directory is as it was
    conn = server.connect(load_inventory(root / "inventory").organisations["binhthuan"])
    conn.search("ou=people,dc=binhthuan,dc=gov,dc=vn", "(uid=baopq)")
    assert conn.entries == []
    conn.search("ou=people,dc=binhthuan,dc=gov,dc=vn", "(&(uid=thodn)(pwdAccountLockedTime=*))")
    assert conn.entries == []
    conn.unbind()


def test_a_partial_list_locks_only_who_it_says_left_and_runs_again_unchanged(repo, tmp_path):
    _, server = repo
    rows = [ROSTER[1], ROSTER[4], ROSTER[9]]
    file = csv_file(Path("bien-dong.csv"), rows, separator=";")
    first = roster(server, file, "--partial")
    assert first.exit_code == 0, first.output
    lock = (DRAFTS / "2025-05-01-bdt-nhan-su-khoa.yaml").read_text(encoding="utf-8")
    assert "username: thodn" in lock and "username: tamlv" not in lock
    again = roster(server, file, "--partial")
    assert again.exit_code == 0 and again.stdout.count("(unchanged)") == 2


def test_roster_problems_are_located_and_no_draft_is_written(repo, tmp_path):
    _, server = repo
    rows = [
        ROSTER[1],
        [1, "X-1", "Lê Văn Một", "Sở Y tế", "CV", None],
        [2, "X-2", "Lê Văn Hai", "bdt", "CV", "về quê"],
    ]
    result = roster(server, xlsx(Path("sai.xlsx"), rows, sheet="DS"))
    assert result.exit_code == 1
    assert [line.split(": ")[0] for line in result.stderr.splitlines()[:2]] == [
        "sai.xlsx:DS!D2",
        "sai.xlsx:DS!F3",
    ]
    assert (
        "unknown unit 'Sở Y tế' of binhthuan" in result.stderr and "'về quê' is not a status" in result.stderr
    )
    assert not list(DRAFTS.glob("2025-05-01-*"))


def test_two_rows_claiming_one_account_decide_nothing_about_it(repo):
    _, server = repo
    rows = [ROSTER[1], ROSTER[2], [9, "BDT-0112", "Nguyễn Văn Minh", "bdt", "Lái xe", "Nghỉ việc"]]
    result = roster(server, xlsx(Path("hai-dong.xlsx"), rows, sheet="DS"), "--partial")
    assert result.exit_code == 0, result.output
    assert "hai-dong.xlsx:DS!C3: this row and hai-dong.xlsx:DS!C2 both match account minhnv" in result.stderr
    assert result.stdout == ""  # neither the promotion nor the lock of minhnv is drafted
