"""`hopthu assign` adds one `username:` line per new account and changes nothing else in the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hopthu.assign import assign_usernames
from hopthu.cli import main
from hopthu.inventory import load_inventory
from hopthu.requests import load_requests
from workspace import copy_of_repo

PATH = Path("requests/binhthuan/bdt/2025/2025-04-01-bdt-cap-moi.yaml")

# Comments, quotes, flow lists, a folded string and odd spacing: all must survive untouched.
REQUEST = """\
# yaml-language-server: $schema=../../../../schemas/request.schema.json
# Cấp mới hộp thư — công văn số 70/BDT-VP.
id: 2025-04-01-bdt-cap-moi
org: binhthuan
unit: bdt
kind: create
document:
  number: "70/BDT-VP"   # số văn bản
  date: 2025-04-01
  signer: 'Nguyễn Hữu Phước'
requester: {name: Trần Thị Mỹ Lệ, position: Chánh Văn phòng, phone: "0252 3821 104", email: a@bt.vn}
reason: >-
  Tuyển dụng mới theo
  Quyết định số 12/QĐ-BDT.
accounts:
  - full_name: Nguyễn Văn Minh   # đã có người trùng tên ở Sở Nội vụ
    staff_code: BDT-0301
    position: Chuyên viên
    department: Văn phòng
    phone: "0912 000 301"
    services: [email, qlvb]

  # người thứ hai
  - full_name: "Võ Thị Thu An"
    staff_code: BDT-0302
    position: Chuyên viên
    department: Văn phòng
    phone: "0912 000 302"
    services:
      - email
  - full_name: Nguyễn Văn Minh
    staff_code: BDT-0303
    birth_date: 1990-05-17
    position: Lái xe
    department: Văn phòng
    phone: "0912 000 303"
    services: [email]
"""

EARLIER = """\
id: 2025-03-01-snv-cap-moi
org: binhthuan
unit: snv
kind: create
document: {number: 30/SNV-VP, date: 2025-03-01, signer: Lê Văn Thành}
requester: {name: Lê Văn Thành, position: Phó Chánh Văn phòng, phone: "0252 3822 417", email: a@bt.vn}
reason: Tuyển dụng.
accounts:
  - full_name: Nguyễn Văn Minh
    username: minhnv
    staff_code: SNV-0001
    position: Chuyên viên
    department: Văn phòng
    phone: "0912 000 001"
    services: [email]
"""
EARLIER_PATH = Path("requests/binhthuan/snv/2025/2025-03-01-snv-cap-moi.yaml")


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    copy_of_repo(tmp_path, "inventory")
    monkeypatch.chdir(tmp_path)
    for path, text in ((PATH, REQUEST), (EARLIER_PATH, EARLIER)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def added_lines(before: str, after: str) -> list[str]:
    """The lines of ``after`` not in ``before``, asserting that nothing of ``before`` was lost or changed."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    remaining = iter(new)
    added = []
    for line in old:
        for candidate in remaining:
            if candidate == line:
                break
            added.append(candidate)
        else:
            pytest.fail(f"line changed or lost: {line!r}")
    added += list(remaining)
    return added


def test_usernames_are_added_and_every_other_byte_is_kept(repo):
    result = assign_usernames([Path("requests")], load_inventory(Path("inventory")))
    assert result.refused == []
    after = PATH.read_text(encoding="utf-8")
    assert added_lines(REQUEST, after) == [
        "    username: minhnv2\n",  # minhnv is given by the earlier request of Sở Nội vụ
        "    username: anvtt\n",
        "    username: minhnv3\n",
    ]
    # each right under its full name
    assert (
        "  - full_name: Nguyễn Văn Minh   # đã có người trùng tên ở Sở Nội vụ\n    username: minhnv2\n"
        in after
    )
    assert [(a.name, a.username) for a in result.assigned] == [
        ("Nguyễn Văn Minh", "minhnv2"),
        ("Võ Thị Thu An", "anvtt"),
        ("Nguyễn Văn Minh", "minhnv3"),
    ]
    assert EARLIER_PATH.read_text(encoding="utf-8") == EARLIER
    # and the file now validates
    assert load_requests([Path("requests")], load_inventory(Path("inventory")))[1] == []


def test_assign_is_idempotent(repo):
    inventory = load_inventory(Path("inventory"))
    assign_usernames([Path("requests")], inventory)
    once = PATH.read_bytes()
    again = assign_usernames([Path("requests")], inventory)
    assert again.assigned == [] and again.refused == []
    assert PATH.read_bytes() == once


def test_reserved_names_and_the_directory_are_avoided(repo):
    hosts = Path("inventory/group_vars/all/hopthu.yml")
    hosts.write_text(hosts.read_text().replace("reserved: [binhthuan,", "reserved: [anvtt, binhthuan,"))
    asked: list[str] = []

    def directory(org):
        asked.append(org.code)
        return frozenset({"minhnv2"})

    result = assign_usernames([PATH], load_inventory(Path("inventory")), taken_from_directory=directory)
    assert [a.username for a in result.assigned] == ["minhnv3", "anvtt2", "minhnv4"]
    assert asked == ["binhthuan"]  # once per organisation


def test_names_other_requests_mention_count_as_taken(repo):
    # An account older than hopthu: no request created it, but a lock names it, so it exists.
    lock = EARLIER.split("accounts:\n")[0].replace("kind: create", "kind: lock")
    lock = lock.replace("2025-03-01-snv-cap-moi", "2025-03-01-snv-khoa")
    path = Path("requests/binhthuan/snv/2025/2025-03-01-snv-khoa.yaml")
    path.write_text(lock + "accounts:\n  - username: anvtt\n", encoding="utf-8")
    result = assign_usernames([PATH], load_inventory(Path("inventory")))
    assert [a.username for a in result.assigned] == ["minhnv2", "anvtt2", "minhnv3"]


def test_a_unit_mailbox_gets_a_name_from_the_unit(repo):
    text = EARLIER.replace("id: 2025-03-01-snv-cap-moi", "id: 2025-03-02-snv-hop-thu").split("accounts:\n")[0]
    text += (
        "accounts:\n"
        "  - type: unit\n"
        "    unit_name: Chi cục Văn thư - Lưu trữ\n"
        "    parent_agency: Sở Nội vụ tỉnh Bình Thuận\n"
        '    phone: "0252 3822 000"\n'
        '    manager: {name: Lê Văn Tư, phone: "0905 000 111"}\n'
    )
    path = Path("requests/binhthuan/snv/2025/2025-03-02-snv-hop-thu.yaml")
    path.write_text(text, encoding="utf-8")
    result = assign_usernames([path], load_inventory(Path("inventory")))
    assert [(a.name, a.username) for a in result.assigned] == [("Chi cục Văn thư - Lưu trữ", "ccvtlt")]
    assert added_lines(text, path.read_text(encoding="utf-8")) == ["    username: ccvtlt\n"]


def test_a_file_that_does_not_validate_is_left_untouched(repo):
    # the department is required (a staff code is not: some units' forms have none)
    broken = REQUEST.replace(
        "    staff_code: BDT-0302\n    position: Chuyên viên\n    department: Văn phòng\n",
        "    staff_code: BDT-0302\n    position: Chuyên viên\n",
    )
    assert broken != REQUEST
    PATH.write_text(broken, encoding="utf-8")
    result = assign_usernames([PATH], load_inventory(Path("inventory")))
    assert result.assigned == []
    assert [f.rule for f in result.refused] == ["schema-required"]
    assert PATH.read_text(encoding="utf-8") == broken


FOUR_SPACES = """\
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
-   full_name: Võ Thị Thu An
    staff_code: BDT-0302
    position: Chuyên viên
    department: Văn phòng
    phone: "0912 000 302"
    services:
    -   email
"""


def test_a_file_indented_by_four_spaces_keeps_its_indentation(repo):
    PATH.write_text(FOUR_SPACES, encoding="utf-8")
    result = assign_usernames([PATH], load_inventory(Path("inventory")))
    assert result.refused == []
    assert added_lines(FOUR_SPACES, PATH.read_text(encoding="utf-8")) == ["    username: anvtt\n"]


def test_a_layout_that_cannot_be_kept_is_refused_not_rewritten(repo):
    flow = REQUEST.replace(
        '  - full_name: "Võ Thị Thu An"\n    staff_code: BDT-0302\n',
        "  - {full_name: Võ Thị Thu An, staff_code: BDT-0302,\n"
        "     position: Chuyên viên, department: Văn phòng,\n"
        '     phone: "0912 000 302", services: [email]}\n'
        "  - full_name: Trần Văn Tú\n"
        "    staff_code: BDT-0304\n",
    )
    PATH.write_text(flow, encoding="utf-8")
    result = assign_usernames([PATH], load_inventory(Path("inventory")))
    assert result.assigned == []
    [refusal] = result.refused
    assert refusal.rule == "assign-refused" and "by hand" in refusal.message
    assert PATH.read_text(encoding="utf-8") == flow


def test_a_name_the_rule_cannot_handle_refuses_the_file(repo):
    odd = REQUEST.replace('"Võ Thị Thu An"', "Võ Thị Thu An 2")
    PATH.write_text(odd, encoding="utf-8")
    result = assign_usernames([PATH], load_inventory(Path("inventory")))
    assert result.assigned == []
    assert [f.rule for f in result.refused] == ["name-invalid"]
    assert PATH.read_text(encoding="utf-8") == odd


def test_cli_prints_each_assignment_and_exits_0(repo):
    result = CliRunner().invoke(main, ["assign"])
    assert result.exit_code == 0, result.output
    assert f"{PATH}: Nguyễn Văn Minh -> minhnv2" in result.output.splitlines()
    again = CliRunner().invoke(main, ["assign"])
    assert again.exit_code == 0 and "nothing to assign" in again.output


def test_cli_exits_1_and_says_why_when_a_file_is_refused(repo):
    PATH.write_text(REQUEST.replace("kind: create", "kind: cap-moi"), encoding="utf-8")
    result = CliRunner().invoke(main, ["assign", str(PATH)])
    assert result.exit_code == 1
    assert f"{PATH}:6:1: kind:" in result.output
    assert "left untouched" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


# --- the Gia Lai rule: who holds a taken name decides the form --------------------------------------

GIA_LAI_REQUEST = """\
id: {id}
org: danang
unit: snv
kind: create
document: {{number: 801/SNV-VP, date: {date}, signer: Lê Thị Bích Thuận}}
requester: {{name: Phan Thị Thu Hằng, position: Chánh Văn phòng, phone: "0236 3822 051", email: h@dn.vn}}
reason: Công chức mới tuyển dụng.
accounts:
"""
GIA_LAI_ACCOUNT = """\
  - full_name: {name}
    staff_code: {code}
    position: Chuyên viên
    department: Văn phòng
    phone: "0905 000 000"
    services: [email]
"""


def gia_lai_request(root: Path, date: str, *people: tuple[str, str | None]) -> Path:
    """A request of Đà Nẵng (no naming_rule: the Gia Lai rule) for ``people`` (name, birth date)."""
    request_id = f"{date}-snv-cap-moi"
    text = GIA_LAI_REQUEST.format(id=request_id, date=date)
    for number, (name, born) in enumerate(people, 1):
        text += GIA_LAI_ACCOUNT.format(name=name, code=f"SNV-{date[-2:]}{number}")
        text += f"    birth_date: {born}\n" if born else ""
    path = root / f"requests/danang/snv/{date[:4]}/{request_id}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_holder_another_request_gives_the_name_to_decides_the_form(repo):
    inventory = load_inventory(Path("inventory"))
    gia_lai_request(repo, "2025-05-02", ("Trương Hoàng Tiến Minh", None))
    later = gia_lai_request(repo, "2025-05-09", ("Trương Hoàng Tiến Minh", None))
    result = assign_usernames([Path("requests/danang")], inventory)
    assert [a.username for a in result.assigned] == ["minhtht"]
    [refusal] = result.refused
    assert refusal.path == str(later.relative_to(repo)) and (refusal.line, refusal.rule) == (
        9,
        "assign-refused",
    )
    assert "minhtht is held by 'Trương Hoàng Tiến Minh', who has the same full name" in refusal.message
    assert "a birth date is needed" in refusal.message
    assert "username" not in later.read_text(encoding="utf-8")

    gia_lai_request(
        repo, "2025-05-09", ("Trương Hoàng Tiến Minh", "1963-08-15"), ("Trương Hoàng Tấn Minh", None)
    )
    result = assign_usernames([later], inventory)
    assert result.refused == []
    assert [a.username for a in result.assigned] == ["minhtht15081963", "tanminhth"]


def test_same_full_name_twice_in_one_request_without_birth_dates_is_refused(repo):
    path = gia_lai_request(
        repo, "2025-05-02", ("Trương Hoàng Tiến Minh", None), ("Trương Hoàng Tiến Minh", None)
    )
    result = assign_usernames([path], load_inventory(Path("inventory")))
    assert result.assigned == []
    assert [f.rule for f in result.refused] == ["person-duplicate"]
    assert "give both birth_date if they are two people" in result.refused[0].message
    path = gia_lai_request(
        repo, "2025-05-02", ("Trương Hoàng Tiến Minh", "1970-01-02"), ("Trương Hoàng Tiến Minh", "1963-08-15")
    )
    result = assign_usernames([path], load_inventory(Path("inventory")))
    assert [a.username for a in result.assigned] == ["minhtht", "minhtht15081963"]


DEMO_INVENTORY = """\
hopthu_organisations:
  - code: demo
    name: Hệ thống thư điện tử thử nghiệm
    parent: UBND TỈNH THỬ NGHIỆM
    mail_domain: demo.gov.vn
    base_dn: dc=demo,dc=gov,dc=vn
    units:
      - code: snv
        name: Sở Nội vụ
        mailbox: snv@demo.gov.vn
        requesters:
          - {name: Phan Thị Thu Hằng, position: Chánh Văn phòng}
"""


def test_assign_against_the_live_directory_knows_each_holder_by_cn(directory, org, tmp_path, monkeypatch):
    # The session server serves org "demo"; its inventory here has no naming_rule: the Gia Lai rule.
    (tmp_path / "inventory/group_vars/all").mkdir(parents=True)
    (tmp_path / "inventory/group_vars/all/hopthu.yml").write_text(DEMO_INVENTORY, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    admin = directory.connect(org)
    assert admin.add(
        f"uid=minhtht,ou=people,{org.base_dn}",
        ["inetOrgPerson", "hopthuAccount"],
        {"uid": "minhtht", "cn": "Trần Huỳnh Tấn Minh", "sn": "Trần"},
    ), admin.result
    text = GIA_LAI_REQUEST.replace("org: danang", "org: demo").format(
        id="2025-05-02-snv-cap-moi", date="2025-05-02"
    )
    for number, (name, born) in enumerate(
        (("Trương Hoàng Tiến Minh", None), ("Trương Hoàng Tấn Minh", "1963-08-15"))
    ):
        text += GIA_LAI_ACCOUNT.format(name=name, code=f"SNV-{number}") + (
            f"    birth_date: {born}\n" if born else ""
        )
    path = Path("requests/demo/snv/2025/2025-05-02-snv-cap-moi.yaml")
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")

    offline = CliRunner().invoke(main, ["assign", "requests"])
    assert offline.exit_code == 0, offline.output
    assert "Trương Hoàng Tiến Minh -> minhtht\n" in offline.output  # without the directory it cannot know
    path.write_text(text, encoding="utf-8")

    online = CliRunner().invoke(main, ["assign", "--directory", str(directory.workdir / "directory.json")])
    assert online.exit_code == 0, online.output
    assert online.output.splitlines() == [
        f"{path}: Trương Hoàng Tiến Minh -> tienminhth",  # the holder of minhtht differs in both names
        f"{path}: Trương Hoàng Tấn Minh -> minhtht15081963",  # same middle name next to the given name
    ]
    assert load_requests([Path("requests")], load_inventory(Path("inventory")))[1] == []
