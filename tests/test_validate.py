"""Every kind of problem in a request file is found and located at the offending field (line:col)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hopthu.inventory import load_inventory
from hopthu.requests import load_requests
from workspace import copy_of_repo

PATH = "requests/binhthuan/bdt/2025/2025-04-01-bdt-cap-moi.yaml"

# Line numbers matter: the expected locations below refer to them.
REQUEST = """\
# yaml-language-server: $schema=../../../../schemas/request.schema.json
id: 2025-04-01-bdt-cap-moi
org: binhthuan
unit: bdt
kind: create
document:
  number: 70/BDT-VP
  date: 2025-04-01
  signer: Nguyễn Hữu Phước
requester:
  name: Trần Thị Mỹ Lệ
  position: Chánh Văn phòng
  phone: "0252 3821 104"
  email: letm@bdt.binhthuan.gov.vn
reason: Tuyển dụng mới.
accounts:
  - full_name: Phạm Quốc Bảo
    username: baopq
    staff_code: BDT-0201
    position: Chuyên viên
    department: Văn phòng
    phone: "0912 000 201"
    services: [email, qlvb]
  - full_name: Ngô Thị Hoa
    username: hoant
    staff_code: BDT-0202
    position: Chuyên viên
    department: Văn phòng
    phone: "0912 000 202"
    services: [email]
"""

LOCK = """\
id: 2025-04-02-bdt-khoa
org: binhthuan
unit: bdt
kind: lock
document: {number: 71/BDT-VP, date: 2025-04-02, signer: Nguyễn Hữu Phước}
requester: {name: Trần Thị Mỹ Lệ, position: Chánh Văn phòng, phone: "0252 3821 104", email: a@b.vn}
reason: Nghỉ hưu.
accounts:
  - username: baopq
    full_name: Phạm Quốc Bảo
"""
LOCK_PATH = "requests/binhthuan/bdt/2025/2025-04-02-bdt-khoa.yaml"


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """A repository with the shipped inventory and no request yet; the working directory."""
    copy_of_repo(tmp_path, "inventory")
    (tmp_path / "requests").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: str, text: str) -> Path:
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text, encoding="utf-8")
    return file


def check(*paths: str) -> list[tuple[str, int, int, str]]:
    inventory = load_inventory(Path("inventory"))
    _, findings = load_requests([Path(p) for p in paths] or [Path("requests")], inventory)
    return [(f.path, f.line, f.col, f.rule) for f in findings]


def located(text: str, path: str = PATH) -> list[tuple[int, int, str]]:
    write(path, text)
    return [(line, col, rule) for file, line, col, rule in check(path) if file == path]


def test_the_valid_request_has_no_finding_and_becomes_a_request(repo):
    write(PATH, REQUEST)
    requests, findings = load_requests([Path("requests")], load_inventory(Path("inventory")))
    assert findings == []
    assert [a.username for a in requests[0].accounts] == ["baopq", "hoant"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # YAML itself
        ("reason: Tuyển dụng mới.", "reason: [Tuyển dụng", [(16, 9, "yaml-syntax")]),
        (
            "  number: 70/BDT-VP\n",
            "  number: 70/BDT-VP\n  number: 72/BDT-VP\n",
            [(8, 3, "yaml-duplicate-key")],
        ),
        ("reason: Tuyển", "reason: !!python/object/apply:os.system [ls] #", [(15, 9, "yaml-tag")]),
        (
            "reason: Tuyển dụng mới.",
            "reason: &r Tuyển\ntitle: *r",
            [(15, 9, "yaml-anchor"), (16, 8, "yaml-alias")],
        ),
        # the schema, at the offending field
        (
            '    department: Văn phòng\n    phone: "0912 000 202"\n',
            '    phone: "0912 000 202"\n',
            [(24, 5, "schema-required")],
        ),
        (
            '    position: Chuyên viên\n    department: Văn phòng\n    phone: "0912 000 201"',
            '    position: Chuyên viên\n    departmant: Văn phòng\n    phone: "0912 000 201"',
            [(17, 5, "schema-required"), (21, 5, "schema-unknown-field")],
        ),
        ("staff_code: BDT-0201", "staff_code: 201", [(19, 5, "schema-type")]),
        ("date: 2025-04-01", "date: 01/04/2025", [(8, 3, "schema-value")]),
        ("kind: create", "kind: cap-moi", [(5, 1, "schema-value")]),
        ("  email: letm@bdt.binhthuan.gov.vn\n", "", [(10, 1, "schema-required")]),
        ("services: [email]", "services: []", [(30, 5, "schema-value")]),
        ('phone: "0912 000 202"', "phone: xin liên hệ", [(29, 5, "schema-value")]),
        # dates
        ("date: 2025-04-01", "date: 2025-02-30", [(8, 3, "date-invalid")]),
        (
            "    services: [email]\n",
            "    services: [email]\n    birth_date: 2030-01-01\n",
            [(31, 5, "date-invalid")],
        ),
        # the inventory and the file's place
        ("org: binhthuan", "org: phanthiet", [(3, 1, "org-unknown")]),
        ("unit: bdt", "unit: sxd", [(4, 1, "file-place"), (4, 1, "unit-unknown")]),
        ("date: 2025-04-01", "date: 2024-12-30", [(8, 3, "file-place")]),
        ("id: 2025-04-01-bdt-cap-moi", "id: 2025-04-01-bdt-cap-moi-2", [(2, 1, "file-name")]),
        ("name: Trần Thị Mỹ Lệ", "name: Nguyễn Văn Lạ", [(11, 3, "requester-unknown")]),
        ("services: [email, qlvb]", "services: [email, hrm]", [(23, 23, "service-unknown")]),
        # people and usernames
        ("staff_code: BDT-0202", "staff_code: bdt-0201", [(26, 5, "person-duplicate")]),
        (
            "full_name: Ngô Thị Hoa\n    username: hoant",
            "full_name: PHẠM  QUỐC BẢO\n    username: baopq2",
            [(24, 5, "person-duplicate")],
        ),
        ("    username: baopq\n", "", [(17, 5, "username-missing")]),
        ("username: baopq", "username: bao.pham", [(18, 5, "username-rule")]),
        ("username: baopq", "username: bao..pq", [(18, 5, "username-invalid")]),
        (
            "username: hoant",
            "username: baopq",
            [(18, 5, "username-taken"), (25, 5, "username-rule"), (25, 5, "username-taken")],
        ),
        ("full_name: Ngô Thị Hoa", "full_name: Ngô Thị Hoa 2", [(24, 5, "name-invalid")]),
    ],
)
def test_each_problem_is_found_at_its_place(repo, old, new, expected):
    assert old in REQUEST
    assert located(REQUEST.replace(old, new, 1)) == expected


def test_messages_say_what_to_do(repo):
    inventory = load_inventory(Path("inventory"))
    write(PATH, REQUEST.replace("    username: baopq\n", ""))
    [finding] = load_requests([Path(PATH)], inventory)[1]
    assert finding.message == f"accounts[0]: no username yet for 'Phạm Quốc Bảo': run `hopthu assign {PATH}`"
    write(
        PATH,
        REQUEST.replace(
            '    department: Văn phòng\n    phone: "0912 000 202"\n', '    phone: "0912 000 202"\n'
        ),
    )
    [finding] = load_requests([Path(PATH)], inventory)[1]
    assert finding.message.startswith("accounts[1]: missing required field 'department'")


@pytest.mark.parametrize(
    ("where", "number"),
    [
        ("reason: Tuyển dụng mới.", "reason: Tuyển dụng mới, CCCD 079201001234."),
        ("accounts:", "accounts: # 215487963"),
    ],
)
def test_a_national_id_number_is_refused_and_never_repeated(repo, where, number):
    write(PATH, REQUEST.replace(where, number))
    _, findings = load_requests([Path(PATH)], load_inventory(Path("inventory")))
    [finding] = findings
    assert finding.rule == "national-id"
    assert (finding.line, finding.col) in {(15, 30), (16, 13)}
    digits = number.split()[-1].strip(".")
    assert digits not in finding.message


def test_phone_numbers_dates_and_staff_codes_are_not_taken_for_identity_numbers(repo):
    text = REQUEST.replace('"0912 000 201"', '"02523821104"').replace("BDT-0201", "BDT-20250401")
    assert located(text) == []


def test_a_reserved_name_is_refused(repo):
    hosts = Path("inventory/group_vars/all/hopthu.yml")
    hosts.write_text(hosts.read_text().replace("reserved: [binhthuan,", "reserved: [baopq, binhthuan,"))
    assert located(REQUEST) == [(18, 5, "username-reserved")]


def test_ids_and_usernames_are_unique_across_files(repo):
    write(PATH, REQUEST)
    other = (
        REQUEST.replace("Ngô Thị Hoa", "Ngô Thị Hòa")
        .replace("hoant", "hoant2")
        .replace("BDT-0201", "BDT-0301")
    )
    other_path = "requests/binhthuan/bdt/2025/2025-04-01-bdt-cap-moi-bo-sung.yaml"
    write(other_path, other.replace("id: 2025-04-01-bdt-cap-moi", "id: 2025-04-01-bdt-cap-moi-bo-sung"))
    found = check()
    assert (PATH, 18, 5, "username-taken") in found
    assert (other_path, 18, 5, "username-taken") in found
    assert len(found) == 2
    # the same id in another unit's folder
    elsewhere = "requests/binhthuan/snv/2025/2025-04-01-bdt-cap-moi.yaml"
    snv = REQUEST.replace("unit: bdt", "unit: snv").replace("Trần Thị Mỹ Lệ", "Lê Văn Thành")
    write(elsewhere, snv.replace("baopq", "baopq2").replace("hoant", "hoant3"))
    assert (elsewhere, 2, 1, "id-duplicate") in check()
    assert (PATH, 2, 1, "id-duplicate") in check()


def test_checking_one_file_still_sees_the_others(repo):
    write(PATH, REQUEST)
    newcomer = "requests/binhthuan/bdt/2025/2025-04-05-bdt-cap-moi.yaml"
    write(newcomer, REQUEST.replace("2025-04-01", "2025-04-05").replace("BDT-02", "BDT-03"))
    found = check(newcomer)
    assert {file for file, *_ in found} == {newcomer}  # problems of the other file are not reported
    assert (newcomer, 18, 5, "username-taken") in found


def test_non_create_requests_name_existing_accounts(repo):
    assert located(LOCK, LOCK_PATH) == []
    twice = LOCK + "  - username: baopq\n"
    assert located(twice, LOCK_PATH) == [(11, 5, "account-duplicate")]
    extra = LOCK.replace(
        "    full_name: Phạm Quốc Bảo\n", "    full_name: Phạm Quốc Bảo\n    services: [email]\n"
    )
    assert located(extra, LOCK_PATH) == [(11, 5, "schema-unknown-field")]


def test_update_must_change_something_and_transfer_within_the_org(repo):
    update = LOCK.replace("kind: lock", "kind: update")
    assert located(update, LOCK_PATH) == []  # a new full name is a change
    assert located(update.replace("    full_name: Phạm Quốc Bảo\n", ""), LOCK_PATH) == [
        (9, 5, "update-empty")
    ]
    transfer = update.replace("    full_name: Phạm Quốc Bảo\n", "    unit: sxd\n")
    assert located(transfer, LOCK_PATH) == [(10, 5, "unit-unknown")]
    assert located(transfer.replace("unit: sxd", "unit: snv"), LOCK_PATH) == []


def test_a_unit_mailbox_needs_its_manager(repo):
    mailbox = REQUEST.split("accounts:\n")[0] + (
        "accounts:\n"
        "  - type: unit\n"
        "    unit_name: Phòng Thanh tra\n"
        "    username: ptt\n"
        "    parent_agency: Ban Dân tộc tỉnh Bình Thuận\n"
        '    phone: "0252 3821 999"\n'
    )
    assert located(mailbox) == [(17, 5, "schema-required")]
    manager = '    manager: {name: Lê Văn Tư, phone: "0905 000 111"}\n'
    assert located(mailbox + manager) == []


def test_not_a_mapping_and_missing_files_are_findings(repo):
    assert located("- a\n- b\n") == [(1, 1, "schema-type")]
    assert check("requests/binhthuan/bdt/2025/none.yaml") == [
        ("requests/binhthuan/bdt/2025/none.yaml", 1, 1, "file-missing")
    ]


def test_a_yml_file_is_checked_too_and_told_to_be_renamed(repo):
    path = PATH.replace(".yaml", ".yml")
    write(path, REQUEST)
    assert check() == [(path, 2, 1, "file-name")]


def test_good_requests_come_back_sorted_by_document_date_then_id(repo):
    write(LOCK_PATH, LOCK)
    write(PATH, REQUEST)
    requests, findings = load_requests([Path("requests")], load_inventory(Path("inventory")))
    assert findings == []
    assert [r.id for r in requests] == ["2025-04-01-bdt-cap-moi", "2025-04-02-bdt-khoa"]


def test_a_reason_may_run_over_lines_and_no_other_field_may(repo):
    folded = REQUEST.replace("reason: Tuyển dụng mới.", "reason: >\n  Tuyển dụng mới\n  theo Quyết định 12.")
    assert located(folded) == []  # the folded block ends in a line break: still one reason
    literal = REQUEST.replace("reason: Tuyển dụng mới.", "reason: |\n  Tuyển dụng mới.\n  Đợt 2.")
    assert located(literal) == []
    position = REQUEST.replace(
        "    position: Chuyên viên\n", "    position: |\n      Chuyên\n      viên\n", 1
    )
    assert located(position) == [(20, 5, "text-control")]


def test_control_characters_are_refused_in_the_fields_of_every_kind(repo):
    lock = LOCK.replace("full_name: Phạm Quốc Bảo", 'full_name: "Phạm Quốc\\aBảo"')
    assert located(lock, LOCK_PATH) == [(10, 5, "text-control")]
    update = LOCK.replace("kind: lock", "kind: update").replace(
        "full_name: Phạm Quốc Bảo", 'full_name: Phạm Quốc Bảo\n    department: "Phòng\\x1bA"'
    )
    assert located(update, LOCK_PATH) == [(11, 5, "text-control")]
