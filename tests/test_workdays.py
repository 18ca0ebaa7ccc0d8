"""Vietnamese working days: weekends, Tết, the 30/4–1/5 break, swapped days and make-up Saturdays."""

from __future__ import annotations

import datetime as dt
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hopthu.workdays import (
    TABLE,
    HolidayTableWarning,
    add_working_days,
    closed_days,
    is_working_day,
    working_days_between,
)

D = dt.date


def test_tet_2026_closes_the_whole_decided_range() -> None:
    assert is_working_day(D(2026, 2, 13))  # Friday before Tết
    closed = [D(2026, 2, 14) + dt.timedelta(days=i) for i in range(9)]  # 14/02–22/02
    assert not any(is_working_day(day) for day in closed)
    assert is_working_day(D(2026, 2, 23))


def test_a_deadline_across_tet_2026() -> None:
    # Complete on Thursday 12/02/2026, 2 working days: Friday 13/02, then Monday 23/02 after Tết.
    assert add_working_days(D(2026, 2, 12), 2) == D(2026, 2, 23)
    assert add_working_days(D(2026, 2, 13), 1) == D(2026, 2, 23)
    assert working_days_between(D(2026, 2, 13), D(2026, 2, 23)) == 1
    assert working_days_between(D(2026, 2, 13), D(2026, 2, 22)) == 0


def test_the_30_4_break_of_2025_and_its_make_up_saturday() -> None:
    assert is_working_day(D(2025, 4, 26))  # Saturday worked for Friday 02/05 (làm bù)
    assert not any(is_working_day(D(2025, m, d)) for m, d in [(4, 30), (5, 1), (5, 2)])
    assert add_working_days(D(2025, 4, 25), 1) == D(2025, 4, 26)
    assert add_working_days(D(2025, 4, 29), 1) == D(2025, 5, 5)
    # After Thursday 24/04 up to Monday 05/05: 25/04, Saturday 26/04, 28/04, 29/04 and 05/05.
    assert working_days_between(D(2025, 4, 24), D(2025, 5, 5)) == 5


def test_the_30_4_break_of_2024_2026() -> None:
    assert not is_working_day(D(2024, 4, 29)) and is_working_day(D(2024, 5, 4))  # swapped
    assert not is_working_day(D(2026, 4, 27))  # Giỗ Tổ on Sunday 26/04: nghỉ bù
    assert not is_working_day(D(2026, 4, 30)) and not is_working_day(D(2026, 5, 1))
    # Friday 24/04/2026 + 2 working days: Tuesday 28/04 and Wednesday 29/04.
    assert add_working_days(D(2026, 4, 24), 2) == D(2026, 4, 29)
    assert add_working_days(D(2026, 4, 29), 1) == D(2026, 5, 4)


def test_other_decided_days_of_2026() -> None:
    assert not is_working_day(D(2026, 1, 2)) and is_working_day(D(2026, 1, 10))  # New Year swap
    assert not is_working_day(D(2026, 8, 31)) and is_working_day(D(2026, 8, 22))  # Quốc khánh swap
    assert not is_working_day(D(2026, 9, 1)) and not is_working_day(D(2026, 9, 2))
    assert is_working_day(D(2026, 9, 3))


def test_gio_to_and_national_day_each_year() -> None:
    for day in (D(2024, 4, 18), D(2025, 4, 7), D(2027, 4, 16)):
        assert "Giỗ Tổ" in closed_days(day.year)[day]
    for day in (D(2024, 9, 3), D(2025, 9, 1), D(2027, 9, 3)):
        assert closed_days(day.year)[day].startswith("Quốc khánh")


# The law's days off (Điều 112): 1 + 5 + 1 + 1 + 1 + 2 = 11, and 12 with Ngày Văn hóa Việt Nam (24/11).
STATUTORY_DAYS = {2024: 11, 2025: 11, 2026: 12, 2027: 12}


@pytest.mark.parametrize("year", sorted(TABLE))
def test_each_year_closes_as_many_weekdays_as_the_law_gives(year: int) -> None:
    """Swapped days are worked back on a Saturday; the rest are holidays or their nghỉ bù."""
    table = TABLE[year]
    assert all(day.weekday() < 5 for day in table.days_off)
    assert all(day.weekday() == 5 for day in table.makeup_days)
    assert len(table.days_off) - len(table.makeup_days) == STATUTORY_DAYS[year]
    tet = [day for day, name in table.days_off.items() if name.startswith("Tết Nguyên đán")]
    assert len(tet) == 5


def test_weekends_do_not_count() -> None:
    assert working_days_between(D(2025, 3, 7), D(2025, 3, 10)) == 1  # Friday → Monday
    assert add_working_days(D(2025, 3, 8), 1) == D(2025, 3, 10)  # from a Saturday
    assert add_working_days(D(2025, 3, 8), 0) == D(2025, 3, 8)
    assert add_working_days(D(2025, 3, 10), -1) == D(2025, 3, 7)


def test_extra_closing_days_from_the_inventory() -> None:
    provincial = [D(2025, 3, 11)]
    assert not is_working_day(D(2025, 3, 11), extra=provincial)
    assert add_working_days(D(2025, 3, 10), 1, extra=provincial) == D(2025, 3, 12)
    assert working_days_between(D(2025, 3, 10), D(2025, 3, 12), extra=provincial) == 1


def test_datetimes_count_as_their_day() -> None:
    assert not is_working_day(dt.datetime(2026, 2, 16, 9, 30))
    assert add_working_days(dt.datetime(2026, 2, 12, 23, 59), 2) == D(2026, 2, 23)


def test_outside_the_table_only_weekends_count_with_a_warning() -> None:
    with pytest.warns(HolidayTableWarning, match="no Vietnamese holiday table for 2030"):
        assert is_working_day(D(2030, 1, 1))  # a holiday, but unknown: better late than a crash
    with pytest.warns(HolidayTableWarning):
        assert working_days_between(D(2030, 1, 4), D(2030, 1, 7)) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert is_working_day(D(2026, 3, 2))  # inside the table: no warning


in_table = st.dates(min_value=D(2024, 1, 1), max_value=D(2027, 10, 31))


@given(in_table, st.integers(min_value=0, max_value=40))
def test_adding_then_counting_gives_back_n(start: dt.date, n: int) -> None:
    end = add_working_days(start, n)
    assert working_days_between(start, end) == n
    if n > 0:
        assert is_working_day(end)
        assert working_days_between(start, end - dt.timedelta(days=1)) == n - 1


@given(in_table, in_table, in_table)
def test_counting_is_additive_and_antisymmetric(a: dt.date, b: dt.date, c: dt.date) -> None:
    assert working_days_between(a, b) == -working_days_between(b, a)
    assert working_days_between(a, b) + working_days_between(b, c) == working_days_between(a, c)


@given(st.dates(min_value=D(2024, 3, 1), max_value=D(2027, 12, 31)), st.integers(min_value=1, max_value=40))
def test_going_back_n_working_days(start: dt.date, n: int) -> None:
    earlier = add_working_days(start, -n)
    assert is_working_day(earlier)
    between = sum(is_working_day(earlier + dt.timedelta(days=i)) for i in range((start - earlier).days))
    assert between == n  # working days in [earlier, start)
