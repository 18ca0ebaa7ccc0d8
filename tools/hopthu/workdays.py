"""Vietnamese working days (ngày làm việc) of state agencies, for the procedure deadline in ``hopthu status``.

A working day is Monday to Friday, except the days agencies are closed for public holidays (Bộ luật Lao
động 2019, Điều 112: Tết Dương lịch 1/1; Tết Âm lịch 5 days; Giỗ Tổ Hùng Vương 10/3 âm lịch; 30/4; 1/5;
Quốc khánh 2/9 and one day next to it), the compensatory day when a holiday falls on a weekend (nghỉ bù),
and the days the Government swaps to make a longer break (hoán đổi) — plus the Saturday worked in return
(làm bù), which *is* a working day.

The table below is for cán bộ, công chức, viên chức (the Monday–Friday week) and gives each break as the
Government decided it, from the first to the last day off (weekends inside a range do not matter):

- 2024: Tết Giáp Thìn 08/02–14/02 (Thông báo của Bộ LĐ-TB&XH); 30/4–1/5: 27/04–01/05, Monday 29/04
  swapped with Saturday 04/05 (Công văn 2450/VPCP-KGVX); Quốc khánh 31/08–03/09.
- 2025: Tết Ất Tỵ 25/01–02/02 (Công văn 8726/VPCP-KGVX of 26/11/2024, Thông báo 6150/TB-LĐTBXH); 30/4–1/5:
  30/04–04/05, Friday 02/05 swapped with Saturday 26/04; Quốc khánh 30/08–02/09 (Monday 01/09).
- 2026: Tết Dương lịch 01/01–04/01, Friday 02/01 swapped with Saturday 10/01 (Công văn 12729/VPCP-KGVX of
  25/12/2025); Tết Bính Ngọ 14/02–22/02; Giỗ Tổ on Sunday 26/04, nghỉ bù Monday 27/04; 30/04–03/05;
  Quốc khánh 29/08–02/09, Monday 31/08 swapped with Saturday 22/08.
- 2027: no decision yet (provisional): the days the Labour Code gives, computed — Tết Đinh Mùi (Lunar New
  Year on Saturday 06/02) 04/02–10/02, Giỗ Tổ Friday 16/04, 1/5 on a Saturday → Monday 03/05, Quốc khánh
  02/09 + 03/09. Replace with the decided ranges when the Government publishes them.
- 2026 and 2027 also close on 24/11, Ngày Văn hóa Việt Nam (Nghị quyết 80-NQ/TW of the Politburo, January
  2026: a paid day off, being written into Điều 112): provisional until the amended Labour Code applies.

Lunar dates (Tết, Giỗ Tổ 10/3 âm lịch: 18/04/2024, 07/04/2025, 26/04/2026, 16/04/2027) are those of the
Vietnamese calendar (UTC+7), checked against the ``holidays`` package's Vietnam calendar; the decided
ranges against the Government's published decisions as reported by the press.

Outside 2024–2027 only weekends are counted and a ``HolidayTableWarning`` says so: a deadline a few days
early is better than a crash. Extra closing days (a provincial holiday, a decision newer than this table)
come from the inventory through the ``extra`` argument of every function.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

SATURDAY = 5


class HolidayTableWarning(UserWarning):
    """A date outside the holiday table: only weekends were counted."""


@dataclass(frozen=True)
class YearTable:
    year: int
    days_off: dict[dt.date, str]  # weekdays on which agencies are closed, with the reason
    makeup_days: dict[dt.date, str]  # Saturdays worked instead of a swapped day off (làm bù)
    provisional: bool = False  # computed from the law, not yet decided by the Government


def _year(
    year: int,
    closed: list[tuple[tuple[int, int], tuple[int, int], str]],
    worked: list[tuple[tuple[int, int], str]] = (),  # type: ignore[assignment]
    provisional: bool = False,
) -> YearTable:
    """Build a year from its breaks, each (first day, last day, name) as (day, month) of ``year``."""
    days_off: dict[dt.date, str] = {}
    for (first_day, first_month), (last_day, last_month), name in closed:
        day = dt.date(year, first_month, first_day)
        while day <= dt.date(year, last_month, last_day):
            if day.weekday() < SATURDAY:
                days_off[day] = name
            day += dt.timedelta(days=1)
    makeup = {dt.date(year, month, day): name for (day, month), name in worked}
    return YearTable(year, days_off, makeup, provisional)


_CULTURE_DAY = "Ngày Văn hóa Việt Nam (dự kiến, Nghị quyết 80-NQ/TW)"

TABLE: dict[int, YearTable] = {
    table.year: table
    for table in (
        _year(
            2024,
            [
                ((1, 1), (1, 1), "Tết Dương lịch"),
                ((8, 2), (14, 2), "Tết Nguyên đán"),
                ((18, 4), (18, 4), "Giỗ Tổ Hùng Vương"),
                ((27, 4), (1, 5), "Ngày Chiến thắng 30/4, Quốc tế Lao động 1/5"),
                ((31, 8), (3, 9), "Quốc khánh"),
            ],
            [((4, 5), "làm bù cho thứ Hai 29/04")],
        ),
        _year(
            2025,
            [
                ((1, 1), (1, 1), "Tết Dương lịch"),
                ((25, 1), (2, 2), "Tết Nguyên đán"),
                ((7, 4), (7, 4), "Giỗ Tổ Hùng Vương"),
                ((30, 4), (4, 5), "Ngày Chiến thắng 30/4, Quốc tế Lao động 1/5"),
                ((30, 8), (2, 9), "Quốc khánh"),
            ],
            [((26, 4), "làm bù cho thứ Sáu 02/05")],
        ),
        _year(
            2026,
            [
                ((1, 1), (4, 1), "Tết Dương lịch"),
                ((14, 2), (22, 2), "Tết Nguyên đán"),
                ((25, 4), (27, 4), "Giỗ Tổ Hùng Vương (nghỉ bù)"),
                ((30, 4), (3, 5), "Ngày Chiến thắng 30/4, Quốc tế Lao động 1/5"),
                ((29, 8), (2, 9), "Quốc khánh"),
                ((24, 11), (24, 11), _CULTURE_DAY),
            ],
            [((10, 1), "làm bù cho thứ Sáu 02/01"), ((22, 8), "làm bù cho thứ Hai 31/08")],
        ),
        _year(
            2027,
            [
                ((1, 1), (1, 1), "Tết Dương lịch"),
                ((4, 2), (10, 2), "Tết Nguyên đán (dự kiến)"),
                ((16, 4), (16, 4), "Giỗ Tổ Hùng Vương"),
                ((30, 4), (3, 5), "Ngày Chiến thắng 30/4, Quốc tế Lao động 1/5 (nghỉ bù)"),
                ((2, 9), (3, 9), "Quốc khánh (dự kiến)"),
                ((24, 11), (24, 11), _CULTURE_DAY),
            ],
            provisional=True,
        ),
    )
}

FIRST_YEAR, LAST_YEAR = min(TABLE), max(TABLE)


def closed_days(year: int) -> dict[dt.date, str]:
    """Weekdays of ``year`` on which agencies are closed, with the reason (empty outside the table)."""
    table = TABLE.get(year)
    return dict(table.days_off) if table else {}


def is_working_day(day: dt.date, extra: Iterable[dt.date] = ()) -> bool:
    """Whether agencies work on ``day`` (``extra``: more closing days, e.g. from the inventory)."""
    return _is_working(_as_date(day), _date_set(extra))


def working_days_between(start: dt.date, end: dt.date, extra: Iterable[dt.date] = ()) -> int:
    """Working days after ``start`` up to and including ``end`` (negative when ``end`` is before ``start``).

    A request complete on Friday 13/02/2026 and done on Monday 23/02/2026 took 1 working day (Tết between).
    """
    start, end, closed = _as_date(start), _as_date(end), _date_set(extra)
    sign = 1
    if end < start:
        start, end, sign = end, start, -1
    count = 0
    day = start
    while day < end:
        day += dt.timedelta(days=1)
        count += _is_working(day, closed)
    return sign * count


def add_working_days(start: dt.date, n: int, extra: Iterable[dt.date] = ()) -> dt.date:
    """The ``n``-th working day after ``start`` (``n`` = 0: ``start``; ``n`` < 0: the ``-n``-th before).

    The procedure deadline: ``add_working_days(complete_on, org.sla_working_days)``.
    """
    day, closed = _as_date(start), _date_set(extra)
    step = dt.timedelta(days=1 if n >= 0 else -1)
    remaining = abs(n)
    while remaining:
        day += step
        remaining -= _is_working(day, closed)
    return day


def _is_working(day: dt.date, extra: frozenset[dt.date]) -> bool:
    if day in extra:
        return False
    table = TABLE.get(day.year)
    if table is None:
        warnings.warn(
            f"no Vietnamese holiday table for {day.year} (known: {FIRST_YEAR}–{LAST_YEAR}): "
            "counting weekends only; add that year to hopthu.workdays.TABLE",
            HolidayTableWarning,
            stacklevel=3,
        )
        return day.weekday() < SATURDAY
    if day in table.makeup_days:
        return True
    return day.weekday() < SATURDAY and day not in table.days_off


def _as_date(value: dt.date) -> dt.date:
    # A datetime is a date too, but never equal to one: compare calendar days only.
    return value.date() if isinstance(value, dt.datetime) else value


def _date_set(days: Iterable[dt.date]) -> frozenset[dt.date]:
    return frozenset(_as_date(day) for day in days)
