"""A grid → the annex's records: the header row found, each data row's values by field, and problems.

Real sheets are messy. The header is the first row (among the first ``HEADER_SEARCH_ROWS``) that names
at least two known columns, one of them a name or an account; title rows, the national motto and merged
titles above it do not. A second header row under it (sub-headers of a merged group) and a row of column
numbers ``(1) (2) (3)`` are taken in. Below, rows are skipped when empty (or holding only an STT number),
when they are the template's example row, a total, or a group heading (one value across the row, e.g.
*I. Văn phòng Ban*: it becomes the department of the rows under it); the signature block (*Người lập
biểu*, *THỦ TRƯỞNG ĐƠN VỊ*, *Cần Thơ, ngày … tháng … năm …*) ends the list.

A value in a column without a header is a problem (the header does not explain it); a column whose
header hopthu does not know is left out, and said so; the national ID column is never read.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hopthu.forms.grid import Grid, Row, column_letter
from hopthu.forms.headers import LABELS, contains, field_of, key, sub_field_of
from hopthu.forms.problems import Problem, shown

HEADER_SEARCH_ROWS = 40
KEY_FIELDS = frozenset({"full_name", "username", "unit_name", "staff_code"})
MULTI_COLUMN_FIELDS = frozenset({"services", "note"})  # several columns may feed them
NEVER_READ = frozenset({"national_id"})

_COLUMN_NUMBER = re.compile(r"^\(?\s*\d{1,2}\s*\)?$")
_GROUP_PREFIX = re.compile(r"^\s*(?:[IVXLC]+|[A-Za-z]|\d{1,2})\s*[.)/-]\s*")
_ROMAN_OR_LETTER = re.compile(r"^(?:[IVXLC]+|[A-Za-z])\.?$")
_SIGNATURE_PREFIXES = (
    "nguoi lap",
    "thu truong",
    "giam doc",
    "pho giam doc",
    "hieu truong",
    "chu tich",
    "xac nhan",
    "noi nhan",
    "kt ",
    "tm ",
    "q ",
    "ky ghi ro",
    "ky ten",
    "ky va ghi ro",
    "ky so",
    "da ky",
)
_DATE_LINE = re.compile(r"\bngay\b.*\bthang\b.*\bnam\b")
_TOTAL_PREFIXES = ("tong cong", "tong so", "cong ", "danh sach nay co", "tong ")
_EXAMPLE_MARKS = frozenset({"vd", "vi du", "mau", "dong mau"})


@dataclass(frozen=True)
class Column:
    index: int
    field: str
    header: str  # the header's text as written (one line)


@dataclass(frozen=True)  # not slotted: ``fields`` is cached on the instance
class Header:
    first_row: int  # row numbers (1-based) of the header's first and last row
    last_row: int
    columns: dict[str, tuple[Column, ...]]  # field → its columns (one, or several for services/note)
    unknown: tuple[Column, ...]  # headers hopthu does not know: left out
    width: int  # columns up to the last header cell

    def column(self, name: str) -> Column | None:
        found = self.columns.get(name)
        return found[0] if found else None

    @functools.cached_property
    def fields(self) -> dict[int, str]:
        """Column index → field: what each column holds."""
        return {column.index: name for name, columns in self.columns.items() for column in columns}


@dataclass(frozen=True)
class Cell:
    value: Any
    column: int
    number_format: str | None = None


@dataclass(frozen=True)
class Record:
    """One data row: its non-empty values by field (services and note may have several)."""

    row: int
    cells: dict[str, tuple[Cell, ...]]
    group: str | None = None  # the group heading above the row (a unit or department)

    def get(self, name: str) -> Cell | None:
        found = self.cells.get(name)
        return found[0] if found else None

    def all(self, name: str) -> tuple[Cell, ...]:
        return self.cells.get(name, ())


@dataclass
class Annex:
    grid: Grid
    header: Header
    records: list[Record] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    reason: str | None = None  # "Lý do …: <text>" written above or below the table

    def where(self, record: Record | int, name: str | None = None) -> str:
        """The location of a record's cell for ``name`` (its row when the field has no column)."""
        row = record.row if isinstance(record, Record) else record
        column = None
        if name is not None and isinstance(record, Record) and record.get(name) is not None:
            column = record.get(name).column
        elif name is not None and self.header.column(name) is not None:
            column = self.header.column(name).index
        return self.grid.where(row, column) if column is not None else self.grid.row_where(row)


# --- the header ----------------------------------------------------------------------------------------


def find_header(grid: Grid) -> Header | None:
    """The header of ``grid``, or None when no row of its top looks like one."""
    rows = grid.rows[:HEADER_SEARCH_ROWS]
    for position, row in enumerate(rows):
        fields = {field_of(value) for value in row.values} - {None}
        if len(fields) < 2 or not fields & KEY_FIELDS:
            continue
        below = rows[position + 1] if position + 1 < len(rows) else None
        if below is not None and _is_sub_header(below):
            return _header(row, below)
        return _header(row, None)
    return None


def _is_sub_header(row: Row) -> bool:
    """Every cell of its own in the row is a known header (merged copies from above do not count)."""
    own = [v for v, mine in zip(row.values, row.own, strict=True) if mine and not _blank(v)]
    return bool(own) and all(field_of(v) is not None for v in own)


def _header(row: Row, below: Row | None) -> Header:
    width = max(len(row.values), len(below.values) if below else 0)
    columns: dict[str, list[Column]] = {}
    unknown: list[Column] = []
    for index in range(width):
        text = row.value(index)
        name = field_of(text)
        if below is not None and below.own[index : index + 1] == (True,) and not _blank(below.value(index)):
            text = below.value(index)
            name = sub_field_of(name, text)
        if _blank(text):
            continue
        column = Column(index, name or "", " ".join(str(text).split()))
        if name is None:
            unknown.append(column)
        elif name in columns and name not in MULTI_COLUMN_FIELDS:
            if not _is_copy(row, below, index):
                unknown.append(column)  # a second column of the same meaning: the first one counts
        else:
            columns.setdefault(name, []).append(column)
    last = below.number if below is not None else row.number
    return Header(
        row.number, last, {k: tuple(v) for k, v in columns.items()}, tuple(unknown), _last_header(row, below)
    )


def _is_copy(row: Row, below: Row | None, index: int) -> bool:
    source = below if below is not None and not _blank(below.value(index)) else row
    return not source.own[index] if index < len(source.own) else False


def _last_header(row: Row, below: Row | None) -> int:
    width = 0
    for candidate in (row, below):
        if candidate is None:
            continue
        for index, value in enumerate(candidate.values):
            if not _blank(value):
                width = max(width, index + 1)
    return width


# --- the rows --------------------------------------------------------------------------------------------


def read_annex(grid: Grid, header: Header) -> Annex:
    annex = Annex(grid, header)
    stt = header.column("stt")
    start = next(i for i, row in enumerate(grid.rows) if row.number == header.last_row) + 1
    group: str | None = None
    outside = [row for row in grid.rows if row.number < header.first_row]  # where the reason may be
    for position in range(start, len(grid.rows)):
        row = grid.rows[position]
        if position == start and _is_column_numbers(row):
            continue
        own = [(i, v) for i, v in enumerate(row.values) if not _blank(v) and row.own[i]]
        values = [(i, v) for i, v in enumerate(row.values) if not _blank(v)]
        if not values:
            continue
        stt_value = row.value(stt.index) if stt is not None else None
        if _is_signature(row, header):
            outside += grid.rows[position:]
            break
        if len(own) == 1 and _reason_of(str(own[0][1])) is not None:
            outside.append(row)
            continue
        if stt is not None and key(str(stt_value or "")) in _EXAMPLE_MARKS:
            annex.problems.append(
                Problem(grid.row_where(row.number), "the form's example row: left out", "example-row", "note")
            )
            continue
        if _is_total(own):
            continue
        if _is_merged_line(row, own) or _is_group_heading(row, header, own, stt_value):
            group = _GROUP_PREFIX.sub("", " ".join(str(own[-1][1]).split())) or None
            continue
        mapped = [(i, v) for i, v in own if _field_at(header, i) not in (None, "stt")]
        if not mapped:
            continue  # nothing but an STT number: an empty numbered line of the form
        annex.records.append(_record(annex, row, group))
    annex.reason = _reason(grid, outside)
    return annex


def _record(annex: Annex, row: Row, group: str | None) -> Record:
    header = annex.header
    cells: dict[str, list[Cell]] = {}
    for index, value in enumerate(row.values):
        if _blank(value):
            continue
        name = _field_at(header, index)
        if name is None:
            if row.own[index] and not _unknown_column(header, index):
                header_text = "no header" if index >= header.width else "an empty header"
                annex.problems.append(
                    Problem(
                        annex.grid.where(row.number, index),
                        f"'{shown(value)}' is in a column with {header_text}: the header row "
                        f"({annex.grid.row_where(header.first_row)}) does not say what it is; name the "
                        "column or move the value into the right one",
                        "cell-unexplained",
                    )
                )
            continue
        if name in NEVER_READ or name == "stt":
            continue
        cells.setdefault(name, []).append(Cell(value, index, row.format(index)))
    return Record(row.number, {k: tuple(v) for k, v in cells.items()}, group)


def _field_at(header: Header, index: int) -> str | None:
    return header.fields.get(index)


def _unknown_column(header: Header, index: int) -> bool:
    return any(column.index == index for column in header.unknown)


def _is_column_numbers(row: Row) -> bool:
    own = [str(v).strip() for v, mine in zip(row.values, row.own, strict=True) if mine and not _blank(v)]
    return len(own) >= 3 and all(_COLUMN_NUMBER.match(text) for text in own)


def _is_signature(row: Row, header: Header) -> bool:
    """A line of the signature block: its words, on a row that does not look like a person's (a person
    whose position is *Giám đốc* has a name beside it)."""
    own = [(i, str(v)) for i, v in enumerate(row.values) if row.own[i] and not _blank(v)]
    if len(own) > 3:
        return False
    stt = header.column("stt")
    if stt is not None and str(row.value(stt.index) or "").strip().isdigit():
        return False
    has_key = any(_field_at(header, i) in KEY_FIELDS for i, _ in own)
    for index, text in own:
        words = key(text)
        if _DATE_LINE.search(words):
            return True
        if words.startswith(_SIGNATURE_PREFIXES) and not (has_key and _field_at(header, index) == "position"):
            return True
    return False


def _is_total(own: list[tuple[int, Any]]) -> bool:
    return 0 < len(own) <= 2 and any(key(str(v)).startswith(_TOTAL_PREFIXES) for _, v in own)


def _is_merged_line(row: Row, own: list[tuple[int, Any]]) -> bool:
    """One cell merged across the row (a heading such as *I. Văn phòng Ban*)."""
    copies = [i for i, v in enumerate(row.values) if not _blank(v) and not row.own[i]]
    return len(own) == 1 and len(copies) >= 2


def _is_group_heading(row: Row, header: Header, own: list[tuple[int, Any]], stt_value: Any) -> bool:
    """One value across the row (besides an STT of I, II, A…): merged over several columns, or in a column
    that is not a name's, or numbered I, II, A… in the STT column."""
    stt = header.column("stt")

    def not_stt(index: int) -> bool:
        return stt is None or index != stt.index

    others = [(i, v) for i, v in own if not_stt(i)]
    if not others and len(own) == 1:  # a heading written in the STT column (a CSV file cannot merge)
        written = str(own[0][1]).strip()
        return not written.isdigit() and not _ROMAN_OR_LETTER.match(written) and len(key(written)) > 3
    if len(others) != 1:
        return False
    present = [i for i, v in enumerate(row.values) if not _blank(v) and not_stt(i)]
    if len({" ".join(str(row.values[i]).split()) for i in present}) != 1:
        return False
    numbered = not _blank(stt_value)
    if numbered and not _ROMAN_OR_LETTER.match(str(stt_value).strip()):
        return False
    merged = any(not row.own[i] for i in present)
    return merged or numbered or _field_at(header, others[0][0]) not in KEY_FIELDS


def _reason(grid: Grid, outside: list[Row]) -> str | None:
    """``Lý do …: text`` above the header, below the list, or (Word) in the letter's paragraphs."""
    texts: list[str] = list(grid.texts)
    for row in outside:
        texts += [str(v) for v, mine in zip(row.values, row.own, strict=True) if mine and not _blank(v)]
    return next((reason for text in texts if (reason := _reason_of(text)) is not None), None)


def _reason_of(text: str) -> str | None:
    flat = " ".join(text.split())
    head, colon, rest = flat.partition(":")
    if colon and key(head).startswith("ly do") and rest.strip(" .…_"):
        return rest.strip()
    return None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# --- values ------------------------------------------------------------------------------------------------


class ValueProblem(ValueError):
    """A cell's value cannot be used; the message says what to write instead."""


def text(cell: Cell) -> str:
    """A cell as one line of text: numbers without a trailing .0, dates as dd/mm/yyyy."""
    value = cell.value
    if isinstance(value, bool):
        return "x" if value else ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return f"{value:%d/%m/%Y}"
    return " ".join(str(value).replace("\u00a0", " ").split())


def code_text(cell: Cell) -> str:
    """A staff code: a number keeps the leading zeros its cell format shows (``000000`` → 002871)."""
    value = cell.value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        zeros = cell.number_format or ""
        if zeros and set(zeros) == {"0"}:
            return str(value).zfill(len(zeros))
        return str(value)
    return text(cell)


def phone_text(cell: Cell) -> str:
    """A phone number as text. Excel drops the leading zero of a number typed into a plain cell
    (0912345601 → 912345601): a 9- or 10-digit number gets it back."""
    value = cell.value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        digits = code_text(Cell(value, cell.column, cell.number_format))
        if not digits.startswith("0") and len(digits) in (9, 10):
            digits = "0" + digits
        return digits
    return text(cell)


_DAY_FIRST = re.compile(r"^(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{4})$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
EXCEL_EPOCH = dt.date(1899, 12, 30)  # serial 1 = 1900-01-01 (with Excel's 1900 leap-year bug folded in)


def date_value(cell: Cell) -> dt.date:
    """A date as Excel may store it: a date cell, a serial number, or text dd/mm/yyyy (d/m, '-' or '.')."""
    value = cell.value
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 1 <= value < 2958466:
            return EXCEL_EPOCH + dt.timedelta(days=int(value))
        raise ValueProblem(f"{value} is not a date: write dd/mm/yyyy")
    written = text(cell)
    match = _DAY_FIRST.match(written)
    parts = (match.group(3), match.group(2), match.group(1)) if match else None
    if parts is None and (iso := _ISO.match(written)):
        parts = iso.groups()
    if parts is None:
        raise ValueProblem(f"'{shown(written)}' is not a date: write dd/mm/yyyy, e.g. 17/05/1990")
    try:
        return dt.date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        raise ValueProblem(f"'{shown(written)}' is not a real date (day/month/year)") from None


def split_list(value: str) -> list[str]:
    """``email, phần mềm`` / ``email + QLVB`` / ``email; qlvb`` / lines → the items."""
    return [part.strip() for part in re.split(r"[,;/+\n]|\bvà\b|\band\b", value) if part.strip()]


def column_name(column: Column) -> str:
    return f"{column_letter(column.index)} ({column.header})"


def fields_named(fields: Iterable[str]) -> str:
    return ", ".join(LABELS.get(name, name) for name in fields)


def mentions(haystack: str, phrase: str) -> bool:
    return contains(key(haystack), key(phrase))
