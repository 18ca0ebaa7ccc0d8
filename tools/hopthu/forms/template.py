"""The blank annexes (phụ lục) units fill: the form ``hopthu import`` reads best, one per request kind.

Each has the heading of an administrative document (Decree 30/2020/NĐ-CP: parent body and unit at the
top left, the national motto at the top right), the title, the header row with the columns the import
recognises, one worked example row (STT *Ví dụ*: the import leaves it out), numbered blank rows, a line
for the reason and the signature block. The Excel one offers the organisation's units and services as
drop-down lists (data validation over a hidden sheet *Danh mục*); the Word one lists them under the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hopthu.model import Kind, Organisation

BLANK_ROWS = 20
EXAMPLE_MARK = "Ví dụ"
FONT = "Times New Roman"
MOTTO = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO_2 = "Độc lập - Tự do - Hạnh phúc"


@dataclass(frozen=True)
class Column:
    header: str
    width: int  # Excel character widths
    example: str = ""
    choices: str | None = None  # "units" | "services": a drop-down list in Excel
    group: str | None = None  # a header over several columns (second header row)


TITLES = {
    "create": "DANH SÁCH ĐỀ NGHỊ CẤP MỚI HỘP THƯ ĐIỆN TỬ",
    "unit": "DANH SÁCH ĐỀ NGHỊ CẤP MỚI HỘP THƯ ĐIỆN TỬ CƠ QUAN, ĐƠN VỊ",
    "update": "DANH SÁCH ĐỀ NGHỊ THAY ĐỔI THÔNG TIN TÀI KHOẢN THƯ ĐIỆN TỬ",
    "reset-password": "DANH SÁCH ĐỀ NGHỊ CẤP LẠI MẬT KHẨU HỘP THƯ ĐIỆN TỬ",
    "lock": "DANH SÁCH ĐỀ NGHỊ KHÓA TÀI KHOẢN THƯ ĐIỆN TỬ",
    "unlock": "DANH SÁCH ĐỀ NGHỊ MỞ KHÓA TÀI KHOẢN THƯ ĐIỆN TỬ",
    "delete": "DANH SÁCH ĐỀ NGHỊ HỦY BỎ TÀI KHOẢN THƯ ĐIỆN TỬ",
}
MANAGER = "Công chức được phân công quản lý hộp thư"


def columns_for(kind: Kind, unit_mailboxes: bool, org: Organisation, unit_name: str) -> list[Column]:
    account = Column("Tài khoản (địa chỉ hộp thư)", 30, f"minhnv@{org.mail_domain}")
    if kind is Kind.CREATE and unit_mailboxes:
        return [
            Column("STT", 6, EXAMPLE_MARK),
            Column("Tên cơ quan/đơn vị đề nghị cấp mới", 32, "Chi cục Văn thư - Lưu trữ"),
            Column("Tên cơ quan cấp trên", 28, unit_name),
            Column("Họ và tên", 24, "Hồ Thị Thanh Hương", group=MANAGER),
            Column("Chức vụ", 20, "Chánh Văn phòng", group=MANAGER),
            Column("Số điện thoại", 16, "0935 240 117", group=MANAGER),
            Column("Địa chỉ hộp thư liên lạc", 28, f"huonghtt@{org.mail_domain}", group=MANAGER),
            Column("Số điện thoại cơ quan", 16, "0236 3886 240"),
            Column("Tên hộp thư đề nghị (nếu có)", 20, "ccvtlt"),
        ]
    if kind is Kind.CREATE:
        columns = [
            Column("STT", 6, EXAMPLE_MARK),
            Column("Mã số CB", 12, "CB-0001"),
            Column("Họ và tên", 26, "Nguyễn Văn Minh"),
        ]
        if any("{born" in pattern for pattern in org.naming_rule):
            columns.append(Column("Ngày sinh", 12, "17/05/1990"))
        return [
            *columns,
            Column("Chức vụ", 18, "Chuyên viên"),
            Column("Đơn vị", 28, unit_name, choices="units"),
            Column("Phòng ban", 24, "Văn phòng"),
            Column("Số điện thoại", 16, "0912 345 678"),
            Column("Email dự phòng", 26, "minh.nguyen@gmail.com"),
            Column("Dịch vụ (email, phần mềm)", 22, _example_services(org), choices="services"),
        ]
    if kind is Kind.UPDATE:
        return [
            Column("STT", 6, EXAMPLE_MARK),
            account,
            Column("Họ và tên", 26, "Nguyễn Văn Minh"),
            Column("Chức vụ mới", 18, "Phó Trưởng phòng"),
            Column("Đơn vị mới", 28, "", choices="units"),
            Column("Phòng ban mới", 24, ""),
            Column("Số điện thoại mới", 16, ""),
            Column("Email dự phòng", 26, ""),
            Column("Dịch vụ (email, phần mềm)", 22, "", choices="services"),
        ]
    return [Column("STT", 6, EXAMPLE_MARK), account, Column("Họ và tên", 28, "Nguyễn Văn Minh")]


def _example_services(org: Organisation) -> str:
    return ", ".join(["email", *list(org.app_groups)[:1]])


def service_choices(org: Organisation) -> list[str]:
    """What a unit may pick in the services column: the mailbox, an application, or both."""
    codes = list(org.app_groups)
    return ["email", *(f"email, {code}" for code in codes), *codes]


def _title_key(kind: Kind, unit_mailboxes: bool) -> str:
    return "unit" if kind is Kind.CREATE and unit_mailboxes else kind.value


def _heading(org: Organisation, unit_name: str | None) -> tuple[str, str]:
    return org.parent.upper(), (unit_name or "TÊN CƠ QUAN, ĐƠN VỊ").upper()


def _legend(org: Organisation) -> str:
    groups = "; ".join(f"{code} = {group.name}" for code, group in org.app_groups.items())
    return "Dịch vụ: email = hộp thư điện tử" + (f"; {groups}" if groups else "") + "."


# --- Excel ------------------------------------------------------------------------------------------------


def write_xlsx(
    path: Path, kind: Kind, unit_mailboxes: bool, org: Organisation, unit_name: str | None
) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    columns = columns_for(kind, unit_mailboxes, org, unit_name or "Tên đơn vị")
    width = len(columns)
    last = get_column_letter(width)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Phụ lục"
    regular, bold, italic = (
        Font(name=FONT, size=12),
        Font(name=FONT, size=12, bold=True),
        Font(name=FONT, italic=True),
    )
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)
    thin = Side(style="thin")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)

    parent, issuer = _heading(org, unit_name)
    half = max(width // 2, 1)
    right = get_column_letter(half + 1)
    for row, (left_text, left_font, right_text) in enumerate(
        ((parent, regular, MOTTO), (issuer, bold, MOTTO_2)), 1
    ):
        sheet.merge_cells(f"A{row}:{get_column_letter(half)}{row}")
        sheet.merge_cells(f"{right}{row}:{last}{row}")
        sheet[f"A{row}"], sheet[f"{right}{row}"] = left_text, right_text
        sheet[f"A{row}"].font, sheet[f"{right}{row}"].font = left_font, bold
        sheet[f"A{row}"].alignment = sheet[f"{right}{row}"].alignment = center
    for row, text, font in (
        (4, "PHỤ LỤC", bold),
        (5, TITLES[_title_key(kind, unit_mailboxes)], bold),
        (6, "(Kèm theo văn bản số ……/…… ngày …… tháng …… năm …… của ……)", italic),
    ):
        sheet.merge_cells(f"A{row}:{last}{row}")
        sheet[f"A{row}"] = text
        sheet[f"A{row}"].font, sheet[f"A{row}"].alignment = font, center

    header = 8
    grouped = any(column.group for column in columns)
    data = header + (2 if grouped else 1)
    for index, column in enumerate(columns, 1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = column.width
        if column.group and grouped:
            sheet.cell(header, index, column.group)
            sheet.cell(header + 1, index, column.header)
        else:
            sheet.cell(header, index, column.header)
            if grouped:
                sheet.merge_cells(f"{letter}{header}:{letter}{header + 1}")
        for row in range(header, data):
            sheet.cell(row, index).font, sheet.cell(row, index).alignment = bold, center
            sheet.cell(row, index).border = box
    if grouped:
        members = [i for i, column in enumerate(columns, 1) if column.group]
        sheet.merge_cells(f"{get_column_letter(members[0])}{header}:{get_column_letter(members[-1])}{header}")
    example = Font(name=FONT, size=12, italic=True, color="808080")
    for index, column in enumerate(columns, 1):
        cell = sheet.cell(data, index, column.example or None)
        cell.font, cell.border = example, box
    for number in range(1, BLANK_ROWS + 1):
        for index in range(1, width + 1):
            cell = sheet.cell(data + number, index, number if index == 1 else None)
            cell.font, cell.border = regular, box
            cell.number_format = "@"  # text: phone numbers and staff codes keep their leading zeros
    end = data + BLANK_ROWS

    lists = workbook.create_sheet("Danh mục")
    lists.sheet_state = "hidden"
    choices = {"units": [u.name for u in org.units.values()], "services": service_choices(org)}
    for index, (name, values) in enumerate(choices.items(), 1):
        letter = get_column_letter(index)
        lists.cell(1, index, name)
        for row, value in enumerate(values, 2):
            lists.cell(row, index, value)
        for column_index, column in enumerate(columns, 1):
            if column.choices != name:
                continue
            target = get_column_letter(column_index)
            validation = DataValidation(
                type="list",
                formula1=f"'Danh mục'!${letter}$2:${letter}${len(values) + 1}",
                allow_blank=True,
                showErrorMessage=False,  # a list of several services is typed, not picked
            )
            validation.add(f"{target}{data}:{target}{end}")
            sheet.add_data_validation(validation)

    notes = [(end + 2, _legend(org), italic), (end + 3, "Lý do: ……………………………………………………", regular)]
    for row, text, font in notes:
        sheet.merge_cells(f"A{row}:{last}{row}")
        sheet[f"A{row}"], sheet[f"A{row}"].font = text, font
    sign = end + 5
    for offset, (text, font) in enumerate(
        (
            ("……, ngày …… tháng …… năm ……", italic),
            ("THỦ TRƯỞNG ĐƠN VỊ", bold),
            ("(Ký, ghi rõ họ tên)", italic),
        )
    ):
        row = sign + offset
        sheet.merge_cells(f"{right}{row}:{last}{row}")
        sheet[f"{right}{row}"], sheet[f"{right}{row}"].font = text, font
        sheet[f"{right}{row}"].alignment = center
    sheet.freeze_panes = f"A{data}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.print_title_rows = f"{header}:{data - 1}"
    workbook.save(path)


# --- Word ------------------------------------------------------------------------------------------------


def write_docx(
    path: Path, kind: Kind, unit_mailboxes: bool, org: Organisation, unit_name: str | None
) -> None:
    import docx
    from docx.enum.section import WD_ORIENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Mm, Pt

    columns = columns_for(kind, unit_mailboxes, org, unit_name or "Tên đơn vị")
    document = docx.Document()
    style = document.styles["Normal"]
    style.font.name, style.font.size = FONT, Pt(13)
    section = document.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Mm(297), Mm(210)
    section.left_margin, section.right_margin = Mm(30), Mm(15)
    section.top_margin = section.bottom_margin = Mm(20)

    parent, issuer = _heading(org, unit_name)
    heading = document.add_table(rows=2, cols=2)  # no borders: the layout of the document's heading
    for row, (left, right) in enumerate(((parent, MOTTO), (issuer, MOTTO_2))):
        for col, text in enumerate((left, right)):
            paragraph = heading.cell(row, col).paragraphs[0]
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
            run = paragraph.add_run(text)
            run.bold = not (row == 0 and col == 0)
    for text, bold, italic in (
        ("PHỤ LỤC", True, False),
        (TITLES[_title_key(kind, unit_mailboxes)], True, False),
        ("(Kèm theo văn bản số ……/…… ngày …… tháng …… năm …… của ……)", False, True),
    ):
        paragraph = document.add_paragraph()
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = paragraph.add_run(text)
        run.bold, run.italic = bold, italic

    grouped = any(column.group for column in columns)
    head_rows = 2 if grouped else 1
    table = document.add_table(rows=head_rows + 1 + BLANK_ROWS, cols=len(columns))
    table.style = "Table Grid"
    for index, column in enumerate(columns):
        if grouped and column.group:
            table.cell(0, index).text = column.group
            table.cell(1, index).text = column.header
        else:
            table.cell(0, index).text = column.header
        table.cell(head_rows, index).text = column.example
    if grouped:
        members = [i for i, column in enumerate(columns) if column.group]
        group_text = table.cell(0, members[0]).text
        merged = table.cell(0, members[0]).merge(table.cell(0, members[-1]))
        merged.text = group_text
        for index, column in enumerate(columns):
            if not column.group:
                text = table.cell(0, index).text
                table.cell(0, index).merge(table.cell(1, index)).text = text
    for row in table.rows[:head_rows]:
        for cell in row.cells:
            for run in cell.paragraphs[0].runs:
                run.bold = True
    for run in (run for cell in table.rows[head_rows].cells for run in cell.paragraphs[0].runs):
        run.italic = True
    for number in range(1, BLANK_ROWS + 1):
        table.cell(head_rows + number, 0).text = str(number)

    document.add_paragraph().add_run(_legend(org)).italic = True
    units = "; ".join(f"{u.name}" for u in org.units.values())
    document.add_paragraph().add_run(f"Đơn vị: {units}.").italic = True
    document.add_paragraph("Lý do: ……………………………………………………")
    for text, bold, italic in (
        ("……, ngày …… tháng …… năm ……", False, True),
        ("THỦ TRƯỞNG ĐƠN VỊ", True, False),
        ("(Ký, ghi rõ họ tên)", False, True),
    ):
        paragraph = document.add_paragraph()
        paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        run = paragraph.add_run(text)
        run.bold, run.italic = bold, italic
    document.save(str(path))
