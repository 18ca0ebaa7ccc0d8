"""Office files as units make them, for the import tests: written with openpyxl (Excel), python-docx (Word)
and the csv module with Excel's dialects — the libraries Excel-compatible tools use."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import docx
import openpyxl

TITLE_ROWS = [
    ["UBND TỈNH BÌNH THUẬN", None, None, None, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"],
    ["BAN DÂN TỘC", None, None, None, "Độc lập - Tự do - Hạnh phúc"],
    [],
    ["DANH SÁCH ĐỀ NGHỊ CẤP MỚI HỘP THƯ ĐIỆN TỬ"],
    ["(Kèm theo Công văn số 50/BDT-VP ngày 02/4/2025 của Ban Dân tộc)"],
    [],
]
SIGNATURE_ROWS = [
    [],
    [None, None, None, "Bình Thuận, ngày 02 tháng 4 năm 2025"],
    [None, None, None, "TRƯỞNG BAN"],
    [None, None, None, "(Ký, ghi rõ họ tên)"],
    [],
    [None, None, None, "Nguyễn Hữu Phước"],
]


def xlsx(
    path: Path,
    rows: Iterable[Sequence[Any]],
    *,
    merges: Iterable[str] = (),
    formats: dict[str, str] | None = None,
    sheet: str = "Phụ lục",
    before: Iterable[str] = (),
) -> Path:
    """A workbook whose sheet ``sheet`` holds ``rows`` from A1 (None = empty cell); ``before`` are other
    sheets in front of it (an empty cover sheet, say)."""
    workbook = openpyxl.Workbook()
    first = workbook.active
    for name in before:
        workbook.create_sheet(name, 0)
    first.title = sheet
    for row in rows:
        first.append(list(row))
    for merge in merges:
        first.merge_cells(merge)
    for cell, number_format in (formats or {}).items():
        first[cell].number_format = number_format
    workbook.save(path)
    return path


def docx_file(
    path: Path,
    tables: Sequence[Sequence[Sequence[Any]]],
    *,
    paragraphs_before: Iterable[str] = (),
    paragraphs_after: Iterable[str] = (),
    across: Iterable[tuple[int, int, int, int]] = (),
    down: Iterable[tuple[int, int, int, int]] = (),
) -> Path:
    """A Word document with ``tables`` (rows of cell texts), cells merged as Word merges them: ``across``
    (table, row, first column, last column) with ``w:gridSpan``, ``down`` (table, column, first row, last
    row) with ``w:vMerge``; 0-based indices."""
    document = docx.Document()
    for text in paragraphs_before:
        document.add_paragraph(text)
    made = []
    for rows in tables:
        width = max(len(row) for row in rows)
        table = document.add_table(rows=len(rows), cols=width)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is not None:
                    table.cell(r, c).text = str(value)
        made.append(table)
    for table_index, row, first, last in across:
        made[table_index].cell(row, first).merge(made[table_index].cell(row, last))
    for table_index, column, first, last in down:
        made[table_index].cell(first, column).merge(made[table_index].cell(last, column))
    for text in paragraphs_after:
        document.add_paragraph(text)
    document.save(path)
    return path


def csv_file(path: Path, rows: Iterable[Sequence[Any]], *, separator: str = ",", bom: bool = True) -> Path:
    """CSV as Excel saves it: "CSV UTF-8" (BOM) or plain UTF-8, comma or semicolon, CRLF line ends."""
    dialect = csv.excel
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.writer(handle, dialect=dialect, delimiter=separator)
        for row in rows:
            writer.writerow(["" if value is None else value for value in row])
    return path
