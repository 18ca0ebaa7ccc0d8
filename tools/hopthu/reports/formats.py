"""A ``Report`` written for people: aligned text for the terminal, CSV for spreadsheets, XLSX with one
sheet per section, or an HTML page to print — each headed as an administrative document of Decree 30
(parent body and issuer on the left, the national motto on the right, the title centred).

Values that a spreadsheet would run as a formula (``=…``, ``@…``) are written as text: names and
positions come from request files that many people write.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import re
from pathlib import Path
from typing import IO

import jinja2

from hopthu.notices.render import vn_long_date
from hopthu.reports.tables import Report, Section, Value, cell_text

MOTTO = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO_SUB = "Độc lập - Tự do - Hạnh phúc"
FILE_FORMATS = ("csv", "xlsx", "html")
BOM = "\ufeff"  # Excel reads a CSV as UTF-8 only when it starts with one
_FORMULA = re.compile(r"^(?:[=@\t\r]|[+-](?![0-9 ]))")
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
TEMPLATES = Path(__file__).parent / "templates"


def issuer(report: Report) -> str:
    return (report.org.issuer or report.org.name).upper()


def place_and_date(report: Report) -> str:
    place = f"{report.org.place}, " if report.org.place else ""
    return place + vn_long_date(report.issued)


def safe_text(text: str) -> str:
    """Text a spreadsheet shows as it is, never runs: a leading ``'`` before what would start a formula."""
    return "'" + text if _FORMULA.match(text) else text


# --- text ------------------------------------------------------------------------------------------


def render_text(report: Report) -> str:
    """The report for the terminal: a heading, then each section as aligned columns."""
    lines = [report.title, report.subtitle, ""]
    for section in report.sections:
        lines.append(f"{section.title} ({len(section.rows)})")
        widths = [
            max([len(column.heading)] + [len(cell_text(row[i])) for row in section.rows])
            for i, column in enumerate(section.columns)
        ]
        lines.append("  ".join(c.heading.ljust(w) for c, w in zip(section.columns, widths, strict=True)))
        for row in section.rows:
            cells = [cell_text(value).ljust(w) for value, w in zip(row, widths, strict=True)]
            lines.append("  ".join(cells).rstrip())
        lines.append("")
    lines += report.notes
    return "\n".join(lines).rstrip() + "\n"


# --- CSV -------------------------------------------------------------------------------------------


def write_csv(report: Report, out: IO[str]) -> None:
    """One table (UTF-8 with a byte order mark, so that Excel shows Vietnamese): the header of the first
    section, then the rows of every section (their columns are the same, and say what a row is)."""
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    columns = report.sections[0].columns if report.sections else ()
    writer.writerow([column.heading for column in columns])
    for section in report.sections:
        writer.writerows([_csv_cell(value) for value in row] for row in section.rows)


def _csv_cell(value: Value) -> str:
    return safe_text(value) if isinstance(value, str) else cell_text(value)


# --- XLSX ------------------------------------------------------------------------------------------


def write_xlsx(report: Report, out: Path | IO[bytes]) -> None:
    """One sheet per section, each with the document's header, the section's title, the column
    headings (bold, frozen) and its rows; dates are real dates, shown dd/mm/yyyy."""
    import openpyxl  # only when a spreadsheet is written
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter

    workbook = openpyxl.Workbook(write_only=True)  # streamed: 100,000 rows without holding the cells
    bold, italic = Font(name="Times New Roman", bold=True), Font(name="Times New Roman", italic=True)
    plain = Font(name="Times New Roman")
    thin = Side(style="thin")
    boxed = Border(left=thin, right=thin, top=thin, bottom=thin)
    centred = Alignment(horizontal="center", vertical="center", wrap_text=True)
    names: set[str] = set()
    sections = report.sections or [Section("", (), [])]
    for section in sections:
        sheet = workbook.create_sheet(_sheet_name(section, names))
        width = max(len(section.columns), 4)
        for number, column in enumerate(section.columns, 1):
            sheet.column_dimensions[get_column_letter(number)].width = column.width
        sheet.freeze_panes = "A8"
        half = max(width // 2, 1)

        def styled(value: str, font: Font, sheet=sheet) -> WriteOnlyCell:
            cell = WriteOnlyCell(sheet, value)
            cell.font, cell.alignment = font, Alignment(horizontal="center")
            return cell

        def header_row(left: WriteOnlyCell | None, right: WriteOnlyCell | None, half=half) -> list:
            return [left] + [None] * (half - 1) + [right]

        sheet.append(header_row(styled(report.org.parent.upper(), plain), styled(MOTTO, bold)))
        sheet.append(header_row(styled(issuer(report), bold), styled(MOTTO_SUB, bold)))
        sheet.append(header_row(None, styled(place_and_date(report), italic)))
        sheet.append([styled(report.title, bold)])
        sheet.append([styled(report.subtitle, bold)])
        sheet.append([styled(section.title, italic)])
        for row in range(1, 4):  # the left and right halves of the header, the titles across the page
            sheet.merged_cells.ranges.add(f"A{row}:{get_column_letter(half)}{row}")
            sheet.merged_cells.ranges.add(
                f"{get_column_letter(half + 1)}{row}:{get_column_letter(width)}{row}"
            )
        for row in range(4, 7):
            sheet.merged_cells.ranges.add(f"A{row}:{get_column_letter(width)}{row}")
        headings = []
        for column in section.columns:
            cell = WriteOnlyCell(sheet, column.heading)
            cell.font, cell.alignment, cell.border = bold, centred, boxed
            headings.append(cell)
        sheet.append(headings)
        date_columns = {i for i, row in enumerate(_first_rows(section)) if isinstance(row, dt.date)}
        for row in section.rows:
            sheet.append([_xlsx_cell(sheet, value, i in date_columns) for i, value in enumerate(row)])
        for note in report.notes:
            sheet.append([note])
    workbook.save(out)


def _first_rows(section: Section) -> list[Value]:
    """A row of the section's first values per column (to know which columns hold dates)."""
    firsts: list[Value] = [None] * len(section.columns)
    for row in section.rows[:50]:
        for i, value in enumerate(row):
            if firsts[i] is None and value is not None:
                firsts[i] = value
    return firsts


def _xlsx_cell(sheet, value: Value, date_column: bool):
    if isinstance(value, str) and value.startswith("="):
        from openpyxl.cell import WriteOnlyCell

        cell = WriteOnlyCell(sheet, value)
        cell.data_type = "s"  # text, never a formula
        return cell
    if date_column and isinstance(value, dt.date):
        from openpyxl.cell import WriteOnlyCell

        cell = WriteOnlyCell(sheet, value)
        cell.number_format = "DD/MM/YYYY"
        return cell
    return value


def _sheet_name(section: Section, taken: set[str]) -> str:
    """A sheet name Excel accepts (31 characters, none of []:*?/\\), unique in the workbook."""
    base = _SHEET_FORBIDDEN.sub(" ", section.sheet or section.title or "Sheet").strip()[:31] or "Sheet"
    name, number = base, 2
    while name.lower() in taken:
        suffix = f" ({number})"
        name, number = base[: 31 - len(suffix)] + suffix, number + 1
    taken.add(name.lower())
    return name


# --- HTML ------------------------------------------------------------------------------------------


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = cell_text
    return env


def render_html(report: Report) -> str:
    """A page to print (A4 landscape) or open in a browser."""
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            report=report,
            parent=report.org.parent.upper(),
            issuer=issuer(report),
            motto=MOTTO,
            motto_sub=MOTTO_SUB,
            place_and_date=place_and_date(report),
        )
    )


def write_html(report: Report, out: IO[str]) -> None:
    out.write(render_html(report))


# --- choosing -------------------------------------------------------------------------------------


def write_report(report: Report, fmt: str, path: Path | None) -> str | None:
    """Write ``report`` as ``fmt`` (csv, xlsx, html) to ``path``; without a path, return the text (csv,
    html) for standard output. XLSX needs a file."""
    if fmt == "xlsx":
        if path is None:
            raise ValueError("an XLSX file needs -o FILE")
        write_xlsx(report, path)
        return None
    buffer = io.StringIO(newline="")
    (write_csv if fmt == "csv" else write_html)(report, buffer)
    if path is None:
        return buffer.getvalue()
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(buffer.getvalue())
    return None
