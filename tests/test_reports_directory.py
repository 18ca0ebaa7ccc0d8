"""The danh bạ (hopthu directory export) of the demo's directory — the shipped example requests applied to
a real slapd — in every format, parsed back by independent readers (openpyxl, csv, vobject, ldif): every
listed account with the right fields, read as the read-only plan-reader identity."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import ldap3
import ldif
import openpyxl
import pytest
import vobject

from hopthu.directory import dn
from hopthu.inventory import load_inventory
from workspace import copy_of_repo

HOPTHU = str(Path(sys.executable).with_name("hopthu"))
ORG = "binhthuan"
# Text that vCard, CSV and spreadsheets must carry as it is: a comma, a semicolon, a formula sign.
TITLE = "Chuyên viên, Phòng Chính sách; tổng hợp"
BACKUP = "minh.nguyen@gmail.com"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The example requests applied to a private slapd (as `make demo` does), plus a backup address and a
    position with punctuation on minhnv."""
    from hopthu.directory.server import LocalDirectory

    root = copy_of_repo(tmp_path_factory.mktemp("repo"), "inventory", "requests", "schemas")
    # Bình Thuận before the merger (sáp nhập) moved its Sở Nội vụ to Lâm Đồng: the danh bạ lists that unit
    shutil.rmtree(root / "requests" / "lamdong" / "_merge")
    inventory = load_inventory(root / "inventory")
    server = LocalDirectory.start(tmp_path_factory.mktemp("slapd"), inventory.organisations.values())
    server.set_nosync(True)
    state = tmp_path_factory.mktemp("state")
    connections = ["--directory", str(server.workdir / "directory.json")]
    files = ["--audit-log", str(state / "audit.jsonl"), "--outbox", str(state / "outbox")]
    applied = subprocess.run(
        [HOPTHU, "apply", "--quiet", *connections, *files],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr
    conn = server.connect(ORG)
    person = dn.person_dn(server.base_dn(ORG), "minhnv")
    change = {
        "hopthuBackupMail": [(ldap3.MODIFY_REPLACE, [BACKUP])],
        "title": [(ldap3.MODIFY_REPLACE, [TITLE])],
    }
    assert conn.modify(person, change), conn.result
    conn.unbind()
    yield root, server, inventory.organisations[ORG]
    server.stop()


def export(demo, *args: str) -> subprocess.CompletedProcess:
    root, server, _ = demo
    done = subprocess.run(
        [
            HOPTHU,
            "directory",
            "export",
            "--org",
            ORG,
            "--directory",
            str(server.workdir / "plan-directory.json"),
            *args,
        ],
        cwd=root,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    return done


def expected(demo) -> dict[str, dict[str, str]]:
    """What the directory holds (read as the rootdn): address → the danh bạ's fields, for the accounts
    that are listed (a mailbox, not locked)."""
    _, server, org = demo
    conn = server.connect(ORG)
    found = {}
    for ou in (dn.PEOPLE, dn.MAILBOXES):
        conn.search(
            dn.container_dn(org, ou), "(uid=*)", ldap3.LEVEL, attributes=["*", "pwdAccountLockedTime"]
        )
        for entry in conn.entries:
            values = entry.entry_attributes_as_dict
            if "mail" not in values or values.get("pwdAccountLockedTime"):
                continue
            found[values["mail"][0]] = {
                "name": values["cn"][0],
                "title": values.get("title", [""])[0],
                "unit": org.units[values["departmentNumber"][0]].name,
                "phone": values["telephoneNumber"][0],
                "backup": values.get("hopthuBackupMail", [""])[0],
                "manager": values.get("hopthuManagerName", [""])[0],
            }
    conn.unbind()
    return found


def test_the_demo_directory_is_what_we_think(demo) -> None:
    addresses = set(expected(demo))
    assert {
        "anvtt@snv.binhthuan.gov.vn",
        "bdt@binhthuan.gov.vn",
        "minhnv@bdt.binhthuan.gov.vn",
        "snv@binhthuan.gov.vn",
    } <= addresses  # and the accounts of the shipped annexes
    assert not any(address.startswith("thodn@") for address in addresses)  # locked: left out


def test_csv_opens_in_excel_and_holds_every_account(demo) -> None:
    data = export(demo, "--format", "csv").stdout
    assert data.startswith("\ufeff".encode())  # UTF-8 with BOM: Excel shows Vietnamese
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    want = expected(demo)
    assert sorted(row["Tài khoản người dùng"] for row in rows) == sorted(want)
    for row in rows:
        fields = want[row["Tài khoản người dùng"]]
        assert (row["Họ và tên"], row["Đơn vị"], row["Điện thoại"]) == (
            fields["name"],
            fields["unit"],
            fields["phone"],
        )
        assert row["Email dự phòng"] == fields["backup"]
        assert row["Người quản lý hộp thư"].startswith(fields["manager"])
    minh = next(row for row in rows if row["Tài khoản người dùng"].startswith("minhnv@"))
    assert minh["Chức vụ"] == TITLE
    box = next(row for row in rows if row["Tài khoản người dùng"] == "bdt@binhthuan.gov.vn")
    assert box["Chức vụ"] == "Hộp thư cơ quan, đơn vị" and "Trần Thị Mỹ Lệ" in box["Người quản lý hộp thư"]


def test_xlsx_has_a_sheet_per_unit_headed_as_a_decree_30_document(demo, tmp_path) -> None:
    export(demo, "--format", "xlsx", "-o", str(tmp_path / "danh-ba.xlsx"))
    book = openpyxl.load_workbook(tmp_path / "danh-ba.xlsx")
    assert book.sheetnames == ["Ban Dân tộc tỉnh Bình Thuận", "Sở Nội vụ tỉnh Bình Thuận"]
    want = expected(demo)
    seen = {}
    for sheet in book:
        cells = [[cell.value for cell in row] for row in sheet.iter_rows()]
        assert cells[0][0] == "UBND TỈNH BÌNH THUẬN" and "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in cells[0]
        assert "Độc lập - Tự do - Hạnh phúc" in cells[1] and cells[3][0] == "DANH BẠ THƯ ĐIỆN TỬ"
        assert sheet.freeze_panes == "A8" and cells[6][1] == "Tài khoản người dùng"
        for row in cells[7:]:
            if isinstance(row[0], int):
                seen[row[1]] = row
                assert row[6] == sheet.title  # the unit's sheet holds the unit's accounts
    assert sorted(seen) == sorted(want)
    assert seen["minhnv@bdt.binhthuan.gov.vn"][3:5] == [TITLE, BACKUP]


def test_vcard_4_cards_parse_back_one_per_account(demo) -> None:
    data = export(demo, "--format", "vcf").stdout
    lines = data.split(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    assert all(len(line) <= 75 for line in lines)  # folded at 75 octets
    cards = list(vobject.readComponents(data.decode("utf-8")))
    want = expected(demo)
    assert len(cards) == len(want) and all(card.version.value == "4.0" for card in cards)
    by_address = {card.email.value: card for card in cards}
    assert sorted(by_address) == sorted(want)
    minh = by_address["minhnv@bdt.binhthuan.gov.vn"]
    assert minh.fn.value == "Nguyễn Văn Minh" and minh.title.value == TITLE  # escaping undone
    assert (minh.n.value.family, minh.n.value.given, minh.n.value.additional) == ("Nguyễn", "Minh", "Văn")
    assert sorted(e.value for e in minh.contents["email"]) == [BACKUP, "minhnv@bdt.binhthuan.gov.vn"]
    assert minh.tel.value == "0912 345 601"
    box = by_address["bdt@binhthuan.gov.vn"]
    assert box.kind.value == "org" and "Trần Thị Mỹ Lệ" in box.note.value
    assert len({card.uid.value for card in cards}) == len(cards)


def test_ldif_parses_back_with_every_account(demo) -> None:
    data = export(demo, "--format", "ldif").stdout
    entries = dict(ldif.LDIFParser(io.BytesIO(data)).parse())
    want = expected(demo)
    assert sorted(attrs["mail"][0] for attrs in entries.values()) == sorted(want)
    for attrs in entries.values():
        fields = want[attrs["mail"][0]]
        assert attrs["cn"] == [fields["name"]] and attrs["telephoneNumber"] == [fields["phone"]]
    minh = entries["uid=minhnv,ou=people,dc=binhthuan,dc=gov,dc=vn"]
    assert minh["title"] == [TITLE] and minh["hopthuBackupMail"] == [BACKUP]
    assert "inetOrgPerson" in minh["objectClass"]


def test_html_is_a_page_to_print(demo) -> None:
    page = export(demo, "--format", "html").stdout.decode()
    assert "<h1>DANH BẠ THƯ ĐIỆN TỬ</h1>" in page and "@page { size: A4 landscape" in page
    assert all(address in page for address in expected(demo))
    assert "Chuyên viên, Phòng Chính sách; tổng hợp" in page


def test_locked_accounts_only_with_all_and_one_unit(demo) -> None:
    rows = json.loads(export(demo, "--format", "json", "--all").stdout)
    assert {row["uid"]: row["locked"] for row in rows}["thodn"] is True
    text = export(demo, "--format", "csv", "--all").stdout.decode("utf-8-sig")
    assert "Đã khóa" in text and "thodn@bdt.binhthuan.gov.vn" in text
    snv = json.loads(export(demo, "--format", "json", "--unit", "snv").stdout)
    assert sorted(row["uid"] for row in snv) == ["anvtt", "snv"]  # anvtt was transferred there
    assert b"1 locked left out" in export(demo, "--format", "json").stderr
