"""Excel workbooks (.xlsx) → grids, with openpyxl in read-only mode (rows are streamed, not kept as cells).

Before a sheet is parsed, one pass over its XML (inflated size already bounded by ``files``) counts rows
and cells and collects the merged ranges, which read-only mode does not expose: a sheet with more rows
or cells than an annex list can have is refused before openpyxl builds a single row.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from typing import Any

from hopthu.forms.files import OfficeFile
from hopthu.forms.grid import Grid, Row
from hopthu.forms.problems import FormError

MAX_ROWS = 100_000  # an HR roster of a whole province fits; 5,000-row annexes are the benchmark
MAX_CELLS = 2_000_000
MAX_COLUMNS = 60  # the forms have 5-10 columns; cells further right are not read
MAX_MERGES = 20_000

_ROW_OR_CELL = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(row|c)[\s>/]")
_ROW_NUMBER = re.compile(rb'\br="(\d{1,9})"')
_MERGE = re.compile(
    rb'<(?:[A-Za-z_][\w.-]*:)?mergeCell\s+ref="([A-Z]{1,3})(\d{1,7})(?::([A-Z]{1,3})(\d{1,7}))?"'
)
_CHUNK = 1 << 20
_OVERLAP = 128  # longer than any token the patterns match


def read_workbook(source: OfficeFile) -> Iterator[Grid]:
    """Every worksheet of the workbook, in order, one at a time (hidden ones too)."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(source.path, read_only=True, data_only=True)
    except FormError:
        raise
    except Exception as error:  # openpyxl raises many kinds for a damaged or hostile workbook
        raise FormError(
            source.shown,
            f"cannot read the workbook ({type(error).__name__}): open it in Excel and save it again",
            "file-damaged",
        ) from None
    try:
        with zipfile.ZipFile(source.path) as archive:
            for sheet in workbook.worksheets:
                part = getattr(sheet, "_worksheet_path", None)
                if part is None:
                    continue  # a chart sheet: no cells
                merges = _scan(archive, part.lstrip("/"), source.shown, sheet.title)
                try:
                    grid = _grid(source, sheet, merges)
                except Exception as error:  # the sheet's XML is parsed only now, row by row
                    raise FormError(
                        f"{source.shown}:{sheet.title}",
                        f"cannot read the sheet ({type(error).__name__}): open the workbook in Excel and "
                        "save it again",
                        "file-damaged",
                    ) from None
                yield grid
    finally:
        workbook.close()


def _scan(archive: zipfile.ZipFile, part: str, shown: str, title: str) -> list[tuple[int, int, int, int]]:
    """Count rows and cells of one sheet's XML without parsing it; its merged ranges (0-based, inclusive)."""
    rows = cells = last_row = 0
    merges: list[tuple[int, int, int, int]] = []
    tail = b""
    with archive.open(part) as stream:
        while True:
            chunk = stream.read(_CHUNK)
            data = tail + chunk
            cut = len(data) if not chunk else max(len(data) - _OVERLAP, 0)
            for match in _ROW_OR_CELL.finditer(data, 0, cut):
                if match.group(1) == b"row":
                    rows += 1
                    number = _ROW_NUMBER.search(data, match.end(), match.end() + 120)
                    last_row = max(last_row, int(number.group(1)) if number else rows)
                else:
                    cells += 1
            for match in _MERGE.finditer(data, 0, cut):
                merges.append(_merge_range(match))
            if max(rows, last_row) > MAX_ROWS or cells > MAX_CELLS or len(merges) > MAX_MERGES:
                raise FormError(
                    f"{shown}:{title}",
                    f"the sheet has more than {MAX_ROWS:,} rows, {MAX_CELLS:,} cells or {MAX_MERGES:,} "
                    "merged ranges: not an annex list; split it into smaller files",
                    "sheet-too-large",
                )
            if not chunk:
                return merges
            tail = data[cut:]


def _merge_range(match: re.Match[bytes]) -> tuple[int, int, int, int]:
    first_col, first_row = _column_index(match.group(1)), int(match.group(2)) - 1
    if match.group(3) is None:
        return first_row, first_col, first_row, first_col
    return first_row, first_col, int(match.group(4)) - 1, _column_index(match.group(3))


def _column_index(letters: bytes) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + letter - 64
    return index - 1


def _grid(source: OfficeFile, sheet: Any, merges: list[tuple[int, int, int, int]]) -> Grid:
    values: list[list[Any]] = []
    formats: list[list[str | None]] = []
    for cells in _rows(sheet):
        row_values = [cell.value for cell in cells]
        while row_values and _blank(row_values[-1]):
            row_values.pop()
        values.append(row_values)
        formats.append([getattr(cell, "number_format", None) for cell in cells[: len(row_values)]])
    own = [[True] * len(row) for row in values]
    for first_row, first_col, last_row, last_col in merges:
        if first_row >= len(values) or first_col >= MAX_COLUMNS:
            continue
        top = values[first_row]
        value = top[first_col] if first_col < len(top) else None
        for r in range(first_row, min(last_row, len(values) - 1) + 1):
            for c in range(first_col, min(last_col, MAX_COLUMNS - 1) + 1):
                if (r, c) == (first_row, first_col):
                    continue
                top_format = formats[first_row][first_col] if first_col < len(formats[first_row]) else None
                _put(values[r], own[r], formats[r], c, value, top_format)
    rows = tuple(
        Row(number, tuple(row), tuple(flags), tuple(fmt))
        for number, (row, flags, fmt) in enumerate(zip(values, own, formats, strict=True), 1)
    )
    return Grid(source.shown, "xlsx", sheet.title, rows)


def _put(row: list, own: list, formats: list, column: int, value: Any, number_format: str | None) -> None:
    while len(row) <= column:
        row.append(None)
        own.append(True)
        formats.append(None)
    row[column] = value
    own[column] = False
    formats[column] = number_format


def _rows(sheet: Any) -> Iterator[tuple]:
    return sheet.iter_rows(max_col=MAX_COLUMNS)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
