"""The file formats of the reports, on values that break naive writers: long Vietnamese lines, vCard's
special characters, LDIF's unsafe strings, and text a spreadsheet would run as a formula."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io

import openpyxl
import vobject

from hopthu.inventory import load_inventory
from hopthu.reports import directory_list, formats
from hopthu.reports.accounts import PERSON, Account
from hopthu.reports.tables import Column, Report, Section
from workspace import ROOT

ORG = load_inventory(ROOT / "inventory").organisations["binhthuan"]


def test_a_long_vietnamese_line_is_folded_between_characters() -> None:
    line = "NOTE:" + "Người quản lý hộp thư: Nguyễn Thị Hồng Nhung, Chánh Văn phòng " * 3
    folded = directory_list.fold(line)
    parts = folded.encode("utf-8").split(b"\r\n")
    assert all(len(part) <= 75 for part in parts) and parts[-1] == b""
    assert all(part.startswith(b" ") for part in parts[1:-1])
    assert "".join(p.decode("utf-8")[1:] if i else p.decode("utf-8") for i, p in enumerate(parts)) == line


def test_vcard_escapes_and_structured_names_survive_a_parser() -> None:
    person = Account(
        "anvtt",
        PERSON,
        "uid=anvtt,ou=people,dc=binhthuan,dc=gov,dc=vn",
        "Võ Thị Thu An",
        surname="Võ",
        given="An",
        title="Phó Trưởng phòng; phụ trách\\kế toán, tổng hợp",
        mail="anvtt@snv.binhthuan.gov.vn",
    )
    card = vobject.readOne(directory_list.vcard(ORG, person, "Sở Nội vụ tỉnh Bình Thuận"))
    assert card.title.value == person.title
    assert (card.n.value.family, card.n.value.given, card.n.value.additional) == ("Võ", "An", "Thị Thu")
    assert card.org.value == [ORG.name, "Sở Nội vụ tỉnh Bình Thuận"]


def test_ldif_base64_encodes_what_is_not_a_safe_string() -> None:
    assert (
        directory_list.ldif_line("mail", "minhnv@bdt.binhthuan.gov.vn")
        == "mail: minhnv@bdt.binhthuan.gov.vn\n"
    )
    for value in ("Nguyễn Văn Minh", " leading space", ":colon", "<angle", "trailing "):
        line = directory_list.ldif_line("cn", value)
        assert line.startswith("cn:: ") and base64.b64decode(line[5:].replace("\n ", "")).decode() == value
    long = directory_list.ldif_line("description", "x" * 200)
    assert all(len(part) <= 76 for part in long.split("\n")) and long.count("\n ") == 2


def test_a_formula_in_a_name_stays_text_in_csv_and_xlsx(tmp_path) -> None:
    rows = [
        [1, '=HYPERLINK("http://x")', "+84 252 3821 104", dt.date(2026, 2, 5)],
        [2, "@SUM(A1)", "-", None],
    ]
    columns = (
        Column("n", "STT"),
        Column("name", "Họ và tên"),
        Column("phone", "Điện thoại"),
        Column("d", "Ngày"),
    )
    report = Report(ORG, "THỬ", "thử", dt.date(2026, 2, 5), [Section("Mục 1", columns, rows)])
    out = io.StringIO()
    formats.write_csv(report, out)
    table = list(csv.reader(io.StringIO(out.getvalue().lstrip("\ufeff"))))
    assert table[1] == ["1", '\'=HYPERLINK("http://x")', "+84 252 3821 104", "05/02/2026"]
    assert table[2][1] == "'@SUM(A1)"
    formats.write_xlsx(report, tmp_path / "x.xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "x.xlsx")["Mục 1"]
    assert sheet["B8"].value == '=HYPERLINK("http://x")' and sheet["B8"].data_type == "s"
    assert sheet["D8"].value == dt.datetime(2026, 2, 5) and sheet["D8"].number_format == "DD/MM/YYYY"
    assert "ngày 05 tháng 02 năm 2026" in sheet["C3"].value
