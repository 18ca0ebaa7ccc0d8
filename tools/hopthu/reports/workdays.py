"""Vietnamese working days (ngày làm việc) of state agencies: the procedure deadline of ``hopthu status``
and the yearly report.

A working day is Monday to Friday, except the days agencies are closed; a Saturday or Sunday the
Government or the province makes a working day (làm bù) counts. The closed days come from two sources:

- the ``holidays`` package's Vietnam calendar (``holidays.countries.vietnam``): the days of Bộ luật Lao
  động 2019, Điều 112, for any year — Tết Dương lịch, five days of Tết Nguyên đán and Giỗ Tổ Hùng Vương
  from the lunar calendar (UTC+7), 30/4, 1/5, Quốc khánh 2/9 and the day next to it, Ngày Văn hóa Việt
  Nam (24/11, from 2026), the compensatory day when a holiday falls on a weekend (nghỉ bù), and the swaps
  the Government decided that the package knows (hoán đổi, with the Saturday worked in return);
- the inventory (``hopthu_calendar`` for every organisation, ``calendar`` of one organisation): what the
  package does not know yet (a decision newer than its release, such as the 2026-01-02 swap), and what a
  province announces for its own agencies. ``hopthu.inventory`` turns both into ``Organisation.closed_days``
  and ``Organisation.worked_days``.

The inventory wins over the package: a day it lists as closed is closed, a day it lists as worked is
worked. Counting is O(1) per question: a table of running totals is built once for the years asked
about (a register of ten years of requests asks 20,000 questions).
"""

from __future__ import annotations

import datetime as dt
import functools
from array import array
from collections.abc import Mapping

SATURDAY = 5
_ONE_DAY = dt.timedelta(days=1)


@functools.cache
def _national(first_year: int, last_year: int) -> tuple[dict[dt.date, str], frozenset[dt.date]]:
    """The package's closed days (with their Vietnamese names) and worked weekend days, for those years."""
    from holidays.countries.vietnam import Vietnam  # 0.3 s to import: only when a date is counted

    calendar = Vietnam(years=range(first_year, last_year + 1), language="vi")
    return dict(calendar.items()), frozenset(calendar.weekend_workdays)


class Calendar:
    """The working days of one organisation's agencies: the national calendar and the inventory's days."""

    def __init__(
        self, closed: Mapping[dt.date, str] | None = None, worked: Mapping[dt.date, str] | None = None
    ) -> None:
        self.closed = dict(closed or {})  # from the inventory: closed days, with the reason
        self.worked = dict(worked or {})  # from the inventory: weekend days worked (làm bù), with the reason
        self._first: dt.date | None = None
        self._totals = array("l")  # _totals[i]: working days among _first … _first + i - 1

    def __repr__(self) -> str:
        return f"Calendar(closed={len(self.closed)} day(s), worked={len(self.worked)} day(s))"

    # --- questions ---------------------------------------------------------------------------------

    def is_working_day(self, day: dt.date) -> bool:
        """Whether agencies work on ``day``."""
        day = _as_date(day)
        if day in self.closed:
            return False
        if day in self.worked:
            return True
        holidays, weekend_workdays = _national(day.year, day.year)
        if day in holidays:
            return False
        return day.weekday() < SATURDAY or day in weekend_workdays

    def reason(self, day: dt.date) -> str | None:
        """Why agencies are closed on ``day`` (a weekday), or why they work on a weekend day; None for an
        ordinary day."""
        day = _as_date(day)
        if day in self.closed or day in self.worked:
            return self.closed.get(day) or self.worked[day]
        holidays, weekend_workdays = _national(day.year, day.year)
        if day in holidays:
            return holidays[day]
        return "làm bù" if day in weekend_workdays else None

    def closed_days(self, year: int) -> dict[dt.date, str]:
        """The weekdays of ``year`` on which agencies are closed, with the reason."""
        day, closed = dt.date(year, 1, 1), {}
        while day.year == year:
            if day.weekday() < SATURDAY and not self.is_working_day(day):
                closed[day] = self.reason(day) or ""
            day += _ONE_DAY
        return closed

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after ``start`` up to and including ``end`` (negative when ``end`` is before).

        A request complete on Friday 13/02/2026 and done on Monday 23/02/2026 took 1 working day (Tết
        between).
        """
        start, end = _as_date(start), _as_date(end)
        self._cover(min(start, end), max(start, end))
        return self._total(end) - self._total(start)

    def add_working_days(self, start: dt.date, n: int) -> dt.date:
        """The ``n``-th working day after ``start`` (``n`` = 0: ``start``; ``n`` < 0: the ``-n``-th before).

        The procedure deadline: ``add_working_days(complete_on, org.sla_working_days)``.
        """
        day = _as_date(start)
        step = _ONE_DAY if n >= 0 else -_ONE_DAY
        remaining = abs(n)
        while remaining:
            day += step
            remaining -= self.is_working_day(day)
        return day

    # --- the running totals ------------------------------------------------------------------------

    def _total(self, day: dt.date) -> int:
        """Working days from the table's first day up to and including ``day``."""
        assert self._first is not None
        return self._totals[(day - self._first).days + 1]

    def _cover(self, first: dt.date, last: dt.date) -> None:
        """Make the table reach from ``first`` to ``last`` (whole years, so that few rebuilds happen)."""
        if (
            self._first is not None
            and self._first <= first
            and last < self._first + dt.timedelta(days=len(self._totals) - 1)
        ):
            return
        if self._first is not None:
            known_last = self._first + dt.timedelta(days=len(self._totals) - 2)
            first, last = min(first, self._first), max(last, known_last)
        first_year, last_year = first.year, last.year
        holidays, weekend_workdays = _national(first_year, last_year)
        day, stop = dt.date(first_year, 1, 1), dt.date(last_year + 1, 1, 1)
        totals, running = array("l", [0]), 0
        closed, worked = self.closed, self.worked
        while day < stop:
            if day in closed:
                working = False
            elif day in worked:
                working = True
            elif day in holidays:
                working = False
            else:
                working = day.weekday() < SATURDAY or day in weekend_workdays
            running += working
            totals.append(running)
            day += _ONE_DAY
        self._first, self._totals = dt.date(first_year, 1, 1), totals


NATIONAL = Calendar()  # the national calendar alone, without any inventory's days


def calendar_of(closed: Mapping[dt.date, str], worked: Mapping[dt.date, str]) -> Calendar:
    """One calendar per set of inventory days, shared by every organisation that has the same."""
    return _calendar(tuple(sorted(closed.items())), tuple(sorted(worked.items())))


@functools.cache
def _calendar(closed: tuple[tuple[dt.date, str], ...], worked: tuple[tuple[dt.date, str], ...]) -> Calendar:
    return Calendar(dict(closed), dict(worked))


def _as_date(value: dt.date) -> dt.date:
    # A datetime is a date too, but never equal to one: compare calendar days only.
    return value.date() if isinstance(value, dt.datetime) else value
