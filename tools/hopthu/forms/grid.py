"""The cells of one sheet, Word table or CSV file: rows of values, each cell with its location.

Merged cells are already resolved by the readers: every cell a merge covers holds the merge's value, and
``own`` tells which cell held it in the file. A title merged across the sheet then reads as one value
repeated; a unit's name merged down three rows belongs to each of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA (Excel's column names)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


@dataclass(frozen=True)
class Row:
    number: int  # 1-based: the sheet's row number, the table's row, the CSV file's line
    values: tuple[Any, ...]  # str, int, float, datetime, bool or None (Excel); str (Word, CSV)
    own: tuple[bool, ...]  # False where the value is a copy from a merged cell
    formats: tuple[str | None, ...] = ()  # Excel number formats ("000000", "dd/mm/yyyy"), when known

    def value(self, column: int) -> Any:
        return self.values[column] if column < len(self.values) else None

    def format(self, column: int) -> str | None:
        return self.formats[column] if column < len(self.formats) else None


@dataclass(frozen=True)
class Grid:
    """One table of an office file. ``kind`` decides how locations read."""

    file: str  # the file as messages name it
    kind: str  # "xlsx" | "docx" | "csv"
    name: str  # sheet name; "table N" of a Word file; "" for CSV
    rows: tuple[Row, ...]
    texts: tuple[str, ...] = ()  # text outside the table (Word paragraphs): the reason may be there

    def where(self, row: int, column: int | None = None) -> str:
        """``f.xlsx:Sheet1!C7``, ``f.docx:table 2 row 5`` (column N added), ``f.csv:line 7``."""
        if self.kind == "xlsx":
            cell = f"{column_letter(column if column is not None else 0)}{row}"
            return f"{self.file}:{_sheet_ref(self.name)}!{cell}"
        if self.kind == "docx":
            at = f"{self.file}:{self.name} row {row}"
            return at if column is None else f"{at} column {column + 1}"
        return f"{self.file}:line {row}" + ("" if column is None else f" column {column + 1}")

    def row_where(self, row: int) -> str:
        """A whole row: ``f.xlsx:Sheet1!A7`` (its first cell), ``f.docx:table 2 row 5``, ``f.csv:line 7``."""
        if self.kind == "xlsx":
            return self.where(row, 0)
        return self.where(row)


def _sheet_ref(name: str) -> str:
    """A sheet name as Excel writes it in a reference: quoted when it has spaces or punctuation."""
    plain = name.replace("_", "").isalnum()
    return name if plain else "'" + name.replace("'", "''") + "'"
