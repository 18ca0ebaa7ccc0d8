"""A ``Report`` written for people: aligned text for the terminal, CSV for spreadsheets, XLSX with one
sheet per section, or an HTML page to print — each headed as an administrative document of Decree 30
(parent body and issuer on the left, the national motto on the right, the title centred).

Values that a spreadsheet would run as a formula (``=…``, ``@…``) are written as text (XLSX cells are
inline strings, never formulas; a CSV value gets a leading ``'``): names and positions come from request
files that many people write.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import jinja2

from hopthu.notices.render import vn_long_date
from hopthu.reports import xlsx
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
    """One sheet per section, each with the document's header (parent body and issuer, the national
    motto, place and date), the title, the section's title, the column headings (frozen) and its rows,
    boxed; dates are real dates shown dd/mm/yyyy. Streamed: 100,000 rows in about a second."""
    names: set[str] = set()
    sheets = [
        xlsx.Sheet(
            _sheet_name(section, names),
            _sheet_rows(report, section),
            [column.width for column in section.columns],
            _header_merges(len(section.columns)),
            frozen_rows=7,
        )
        for section in report.sections or [Section("", (), [])]
    ]
    xlsx.write(out, sheets, title=f"{report.title} — {report.subtitle}")


def _header_merges(columns: int) -> list[str]:
    """The left and right halves of the three header rows; the titles across the page."""
    width = max(columns, 4)
    half, last = max(width // 2, 1), xlsx.column_letter(width)
    merges = []
    for row in range(1, 4):
        merges += [
            f"A{row}:{xlsx.column_letter(half)}{row}",
            f"{xlsx.column_letter(half + 1)}{row}:{last}{row}",
        ]
    return merges + [f"A{row}:{last}{row}" for row in range(4, 7)]


def _sheet_rows(report: Report, section: Section) -> Iterator[list]:
    half = max(max(len(section.columns), 4) // 2, 1)

    def halves(left: tuple | None, right: tuple | None) -> list:
        return [left] + [None] * (half - 1) + [right]

    yield halves((report.org.parent.upper(), xlsx.CENTRE), (MOTTO, xlsx.BOLD_CENTRE))
    yield halves((issuer(report), xlsx.BOLD_CENTRE), (MOTTO_SUB, xlsx.BOLD_CENTRE))
    yield halves(None, (place_and_date(report), xlsx.ITALIC_CENTRE))
    yield [(report.title, xlsx.BOLD_CENTRE)]
    yield [(report.subtitle, xlsx.BOLD_CENTRE)]
    yield [(section.title, xlsx.ITALIC_CENTRE)]
    yield [(column.heading, xlsx.HEADING) for column in section.columns]
    boxed = xlsx.BOXED
    for row in section.rows:
        yield [(value, boxed) for value in row]
    for note in report.notes:
        yield [(note, xlsx.PLAIN)]


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


def _html_chunks(report: Report) -> Iterator[str]:
    return (
        _environment()
        .get_template("report.html.j2")
        .generate(
            report=report,
            parent=report.org.parent.upper(),
            issuer=issuer(report),
            motto=MOTTO,
            motto_sub=MOTTO_SUB,
            place_and_date=place_and_date(report),
        )
    )


def render_html(report: Report) -> str:
    """A page to print (A4 landscape) or open in a browser."""
    return "".join(_html_chunks(report))


def write_html(report: Report, out: IO[str]) -> None:
    for chunk in _html_chunks(report):  # streamed: a 100,000-row page is never one string
        out.write(chunk)


# --- choosing -------------------------------------------------------------------------------------


def write_report(report: Report, fmt: str, path: Path | None) -> str | None:
    """Write ``report`` as ``fmt`` (csv, xlsx, html) to ``path``; without a path, return the text (csv,
    html) for standard output. XLSX needs a file."""
    if fmt == "xlsx":
        if path is None:
            raise ValueError("an XLSX file needs -o FILE")
        write_xlsx(report, path)
        return None
    writer = write_csv if fmt == "csv" else write_html
    if path is None:
        buffer = io.StringIO(newline="")
        writer(report, buffer)
        return buffer.getvalue()
    with path.open("w", encoding="utf-8", newline="") as out:
        writer(report, out)
    return None
