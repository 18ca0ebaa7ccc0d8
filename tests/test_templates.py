"""`hopthu import template`: the blank annexes units fill are the forms the import reads best."""

from __future__ import annotations

from pathlib import Path

import docx
import openpyxl
import pytest
from click.testing import CliRunner

from hopthu.cli import main
from hopthu.inventory import load_inventory
from hopthu.model import Kind
from test_import import run
from workspace import copy_of_repo


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    copy_of_repo(tmp_path, "inventory", "requests", "schemas")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def template(*args: str) -> Path:
    result = CliRunner().invoke(main, ["import", "template", *args])
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip())


def fill_xlsx(path: Path, rows: list[list]) -> Path:
    """A unit types its people into the numbered rows under the example, as in Excel."""
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["Phụ lục"]
    first = next(r for r in range(1, 40) if sheet.cell(r, 1).value == 1)
    for offset, values in enumerate(rows):
        for column, value in enumerate(values, 2):
            sheet.cell(first + offset, column, value)
    workbook.save(path)
    return path


def test_the_excel_template_has_the_heading_lists_and_an_example_and_imports_once_filled(repo, tmp_path):
    path = template(
        "--org", "binhthuan", "--unit", "bdt", "--kind", "create", "-o", str(tmp_path / "mau.xlsx")
    )
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["Phụ lục"]
    assert (sheet["A1"].value, sheet["A2"].value) == ("UBND TỈNH BÌNH THUẬN", "BAN DÂN TỘC TỈNH BÌNH THUẬN")
    assert (
        sheet["E1"].value == "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
        and sheet["E2"].value == "Độc lập - Tự do - Hạnh phúc"
    )
    assert sheet["A2"].font.bold and sheet["A5"].value == "DANH SÁCH ĐỀ NGHỊ CẤP MỚI HỘP THƯ ĐIỆN TỬ"
    header = [cell.value for cell in sheet[8]]
    assert header[:3] == ["STT", "Mã số CB", "Họ và tên"] and "Email dự phòng" in header
    assert sheet["A9"].value == "Ví dụ"
    lists = {str(v.sqref): v.formula1 for v in sheet.data_validations.dataValidation}
    assert lists == {"E9:E29": "'Danh mục'!$A$2:$A$4", "I9:I29": "'Danh mục'!$B$2:$B$6"}
    names = [row[0] for row in workbook["Danh mục"].iter_rows(min_row=2, values_only=True) if row[0]]
    units = load_inventory(Path("inventory")).organisations["binhthuan"].units.values()
    assert names == [unit.name for unit in units]
    assert workbook["Danh mục"].sheet_state == "hidden"

    person = ["CB-0301", "Lê Văn Tám", "Chuyên viên", "Ban Dân tộc tỉnh Bình Thuận", "Văn phòng"]
    fill_xlsx(path, [[*person, "0912 000 301", "tam.le@gmail.com", "email, qlvb"]])
    result = run(path)
    assert result.accounts == [("Lê Văn Tám", "tamlv")]  # the example row is left out, and said so
    assert [note.rule for note in result.notes] == ["example-row"]
    text = result.path.read_text(encoding="utf-8")
    assert (
        '    phone: "0912 000 301"\n    services: [email, qlvb]\n    backup_email: tam.le@gmail.com\n' in text
    )


def test_the_unit_mailbox_template_has_a_two_row_header_that_imports(repo, tmp_path):
    output = str(tmp_path / "mau-don-vi.xlsx")
    path = template("--org", "danang", "--unit", "snv", "--kind", "create", "--type", "unit", "-o", output)
    mailbox = ["Trung tâm Lưu trữ lịch sử", "Sở Nội vụ thành phố Đà Nẵng"]
    manager = ["Lê Văn Tám", "Giám đốc", "0905 111 222", "tamlv@danang.gov.vn"]
    fill_xlsx(path, [[*mailbox, *manager, "0236 3886 241", None]])
    result = run(path, org="danang", unit="snv", requester_email="hangptt@danang.gov.vn")
    assert result.accounts == [("Trung tâm Lưu trữ lịch sử", "ttltls")]
    text = result.path.read_text(encoding="utf-8")
    assert (
        '    manager:\n      name: Lê Văn Tám\n      position: Giám đốc\n      phone: "0905 111 222"\n'
        "      email: tamlv@danang.gov.vn\n"
    ) in text


@pytest.mark.parametrize("kind", ["create", "update", "lock"])
def test_the_word_template_imports_once_filled(repo, tmp_path, kind):
    path = template("--org", "binhthuan", "--unit", "bdt", "--kind", kind, "-o", str(tmp_path / "mau.docx"))
    document = docx.Document(str(path))
    heading, table = document.tables
    assert heading.cell(0, 1).text == "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    assert table.cell(1, 0).text == "Ví dụ"
    values = {
        "create": [
            "CB-0301",
            "Lê Văn Tám",
            "Chuyên viên",
            "Ban Dân tộc tỉnh Bình Thuận",
            "Văn phòng",
            "0912 000 301",
        ],
        "update": ["minhnv@bdt.binhthuan.gov.vn", "Nguyễn Văn Minh", "Trưởng phòng"],
        "lock": ["minhnv@bdt.binhthuan.gov.vn", "Nguyễn Văn Minh"],
    }[kind]
    for column, value in enumerate(values, 1):
        table.cell(2, column).text = value
    document.save(str(path))
    result = run(path, kind=Kind(kind))
    text = result.path.read_text(encoding="utf-8")
    if kind == "create":
        assert result.accounts == [("Lê Văn Tám", "tamlv")]
    elif kind == "update":
        assert "  - username: minhnv\n    full_name: Nguyễn Văn Minh\n    position: Trưởng phòng\n" in text
    else:
        assert "  - username: minhnv\n    full_name: Nguyễn Văn Minh\n" in text
