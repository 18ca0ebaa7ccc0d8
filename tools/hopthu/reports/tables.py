"""What every report is made of, whatever its format: titled sections of rows under Vietnamese headings.

A report is decided (pure) into a ``Report``; ``hopthu.reports.formats`` writes it as text, CSV, XLSX or
HTML. Cell values are ``str``, ``int``, ``datetime.date`` or ``None`` (an empty cell); the words a person
reads (Đúng hạn, Quá hạn…) are already in them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from hopthu.model import Organisation

Value = str | int | dt.date | None


@dataclass(frozen=True)
class Column:
    key: str  # English, for --json and for code
    heading: str  # Vietnamese, for people
    width: int = 16  # characters, for XLSX and text


@dataclass(frozen=True)
class Section:
    """One table: a unit's accounts, the pending requests…; a sheet of its own in XLSX."""

    title: str
    columns: tuple[Column, ...]
    rows: Sequence[Sequence[Value]]
    sheet: str = ""  # XLSX sheet name (at most 31 characters); default: from the title


@dataclass(frozen=True)
class Report:
    """A document for people, headed in the Decree 30 style (parent body, issuer, national motto)."""

    org: Organisation
    title: str  # e.g. DANH BẠ THƯ ĐIỆN TỬ
    subtitle: str  # e.g. the organisation's name, or the period
    issued: dt.date
    sections: list[Section]
    notes: list[str] = field(default_factory=list)  # lines under the tables (how it was counted)


def vn_date(day: dt.date | None) -> str:
    """``05/02/2026``: a date as a table shows it."""
    return day.strftime("%d/%m/%Y") if day else ""


def cell_text(value: Value) -> str:
    """A cell as text (CSV, the terminal)."""
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return vn_date(value)
    return str(value)
