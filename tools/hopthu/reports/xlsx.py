"""A small streaming XLSX (Office Open XML spreadsheet) writer: sheets of text, numbers and dates with the
few styles an administrative table needs (Times New Roman, bold or italic centred titles, boxed cells,
dd/mm/yyyy dates), merged cells, column widths and frozen heading rows.

Why not openpyxl's writer: its write-only mode took 12-15 s for the 100,000-row danh bạ on this machine
(bench/export.py; the target is 10 s for the whole command); this writes the same kind of file in about
a second, row by row into the zip entry. openpyxl stays the independent reader of the tests.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from xml.sax.saxutils import escape, quoteattr

# Style ids (cellXfs in styles.xml below).
PLAIN, BOLD_CENTRE, ITALIC_CENTRE, CENTRE, HEADING, DATE, BOXED = range(7)
_EPOCH = dt.date(1899, 12, 30)  # Excel's day 0 (with its 1900 leap-year bug folded in)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

Cell = tuple[object, int]  # (value: str | int | float | date | None, style id)


@dataclass
class Sheet:
    name: str  # at most 31 characters, none of []:*?/\
    rows: Iterable[Sequence[Cell | None]]
    widths: Sequence[float] = ()
    merges: Sequence[str] = ()  # "A1:C1"
    frozen_rows: int = 0  # rows kept in view when scrolling
    _count: int = field(default=0, repr=False)


def column_letter(number: int) -> str:
    """1 → A, 27 → AA."""
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _cell(ref: str, value: object, style: int) -> str:
    if value is None or value == "":
        return f'<c r="{ref}" s="{style}"/>' if style else ""
    if isinstance(value, bool):
        value = "Có" if value else "Không"
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        style = DATE if style in (PLAIN, BOXED) else style
        return f'<c r="{ref}" s="{style}"><v>{(value - _EPOCH).days}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{ref}" s="{style}"><v>{value}</v></c>'
    text = escape(_NOT_XML.sub("", str(value)))
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    return f'<c r="{ref}" s="{style}" t="inlineStr"><is><t{space}>{text}</t></is></c>'


def _sheet_xml(sheet: Sheet, out: IO[bytes]) -> None:
    out.write(f'{_HEAD}<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}">'.encode())
    if sheet.frozen_rows:
        top = f"A{sheet.frozen_rows + 1}"
        out.write(
            f'<sheetViews><sheetView workbookViewId="0"><pane ySplit="{sheet.frozen_rows}" '
            f'topLeftCell="{top}" activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>'.encode()
        )
    if sheet.widths:
        cols = "".join(
            f'<col min="{n}" max="{n}" width="{width}" customWidth="1"/>'
            for n, width in enumerate(sheet.widths, 1)
        )
        out.write(f"<cols>{cols}</cols>".encode())
    out.write(b"<sheetData>")
    letters = [column_letter(n) for n in range(1, 65)]
    batch: list[str] = []
    number = 0
    for number, row in enumerate(sheet.rows, 1):
        cells = "".join(
            _cell(f"{letters[i] if i < 64 else column_letter(i + 1)}{number}", *cell)
            for i, cell in enumerate(row)
            if cell is not None
        )
        batch.append(f'<row r="{number}">{cells}</row>')
        if len(batch) >= 1000:
            out.write("".join(batch).encode())
            batch.clear()
    out.write("".join(batch).encode())
    out.write(b"</sheetData>")
    if sheet.merges:
        merged = "".join(f'<mergeCell ref="{ref}"/>' for ref in sheet.merges)
        out.write(f'<mergeCells count="{len(sheet.merges)}">{merged}</mergeCells>'.encode())
    out.write(b'<pageSetup orientation="landscape" paperSize="9"/></worksheet>')
    sheet._count = number


_STYLES = f"""{_HEAD}<styleSheet xmlns="{_MAIN}">
<numFmts count="1"><numFmt numFmtId="164" formatCode="DD/MM/YYYY"/></numFmts>
<fonts count="3"><font><sz val="12"/><name val="Times New Roman"/></font>\
<font><b/><sz val="12"/><name val="Times New Roman"/></font>\
<font><i/><sz val="12"/><name val="Times New Roman"/></font></fonts>
<fills count="2"><fill><patternFill patternType="none"/></fill>
<fill><patternFill patternType="gray125"/></fill></fills>
<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>\
<border><left style="thin"><color auto="1"/></left><right style="thin"><color auto="1"/></right>\
<top style="thin"><color auto="1"/></top><bottom style="thin"><color auto="1"/></bottom><diagonal/>
</border></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="7">
<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>
<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1" applyAlignment="1">\
<alignment horizontal="center"/></xf>
<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1" applyAlignment="1">\
<alignment horizontal="center"/></xf>
<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1">
<alignment horizontal="center"/></xf>
<xf numFmtId="0" fontId="1" fillId="0" borderId="1" xfId="0" applyFont="1" applyBorder="1"
 applyAlignment="1">\
<alignment horizontal="center" vertical="center" wrapText="1"/></xf>
<xf numFmtId="164" fontId="0" fillId="0" borderId="1" xfId="0" applyNumberFormat="1" applyBorder="1" \
applyAlignment="1"><alignment vertical="top"/></xf>
<xf numFmtId="0" fontId="0" fillId="0" borderId="1" xfId="0" applyBorder="1" applyAlignment="1">\
<alignment vertical="top" wrapText="1"/></xf>
</cellXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>
</styleSheet>"""


def write(out: Path | IO[bytes], sheets: Iterable[Sheet], title: str = "") -> None:
    """Write a workbook of ``sheets`` (each streamed from its rows) to ``out``."""
    names: list[str] = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as package:
        for number, sheet in enumerate(sheets, 1):
            names.append(sheet.name)
            with package.open(f"xl/worksheets/sheet{number}.xml", "w", force_zip64=True) as entry:
                _sheet_xml(sheet, entry)
        count = len(names)
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{n}.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for n in range(1, count + 1)
        )
        package.writestr(
            "[Content_Types].xml",
            f'{_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            '<Override PartName="/docProps/core.xml" '
            'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
            f"{overrides}</Types>",
        )
        package.writestr(
            "_rels/.rels",
            f'{_HEAD}<Relationships xmlns="{_PKG}">'
            f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/'
            'metadata/core-properties" Target="docProps/core.xml"/></Relationships>',
        )
        package.writestr(
            "docProps/core.xml",
            f'{_HEAD}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
            'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"<dc:title>{escape(title)}</dc:title><dc:creator>hopthu</dc:creator></cp:coreProperties>",
        )
        sheets_xml = "".join(
            f'<sheet name={quoteattr(name)} sheetId="{n}" r:id="rId{n}"/>' for n, name in enumerate(names, 1)
        )
        package.writestr(
            "xl/workbook.xml",
            f'{_HEAD}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>{sheets_xml}</sheets></workbook>',
        )
        relations = "".join(
            f'<Relationship Id="rId{n}" Type="{_REL}/worksheet" Target="worksheets/sheet{n}.xml"/>'
            for n in range(1, count + 1)
        )
        package.writestr(
            "xl/_rels/workbook.xml.rels",
            f'{_HEAD}<Relationships xmlns="{_PKG}">{relations}'
            f'<Relationship Id="rId{count + 1}" Type="{_REL}/styles" Target="styles.xml"/></Relationships>',
        )
        package.writestr("xl/styles.xml", _STYLES)
