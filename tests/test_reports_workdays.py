"""Vietnamese working days: weekends, Tết, the 30/4–1/5 break, swapped days and make-up Saturdays, for any
year, from the ``holidays`` package and the inventory's days."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest
from holidays.countries.vietnam import Vietnam
from hypothesis import given
from hypothesis import strategies as st

from hopthu.inventory import InventoryError, load_inventory
from hopthu.reports.workdays import NATIONAL, Calendar, calendar_of
from workspace import ROOT

D = dt.date


@pytest.fixture(scope="module")
def binhthuan() -> Calendar:
    """The calendar of an organisation of the example inventory: the national one and its hopthu_calendar."""
    org = load_inventory(ROOT / "inventory").organisations["binhthuan"]
    return calendar_of(org.closed_days, org.worked_days)


def test_tet_2026_closes_the_whole_break() -> None:
    assert NATIONAL.is_working_day(D(2026, 2, 13))  # Friday before Tết
    closed = [D(2026, 2, 14) + dt.timedelta(days=i) for i in range(9)]  # 14/02–22/02
    assert not any(NATIONAL.is_working_day(day) for day in closed)
    assert NATIONAL.is_working_day(D(2026, 2, 23))
    assert "Tết Nguyên Đán" in NATIONAL.reason(D(2026, 2, 17))


def test_a_deadline_across_tet_2026() -> None:
    # Complete on Thursday 12/02/2026, 2 working days: Friday 13/02, then Monday 23/02 after Tết.
    assert NATIONAL.add_working_days(D(2026, 2, 12), 2) == D(2026, 2, 23)
    assert NATIONAL.add_working_days(D(2026, 2, 13), 1) == D(2026, 2, 23)
    assert NATIONAL.working_days_between(D(2026, 2, 13), D(2026, 2, 23)) == 1
    assert NATIONAL.working_days_between(D(2026, 2, 13), D(2026, 2, 22)) == 0


def test_the_30_4_break_of_2025_and_its_make_up_saturday() -> None:
    assert NATIONAL.is_working_day(D(2025, 4, 26))  # Saturday worked for Friday 02/05 (làm bù)
    assert not any(NATIONAL.is_working_day(D(2025, m, d)) for m, d in [(4, 30), (5, 1), (5, 2)])
    assert NATIONAL.add_working_days(D(2025, 4, 25), 1) == D(2025, 4, 26)
    assert NATIONAL.add_working_days(D(2025, 4, 29), 1) == D(2025, 5, 5)
    # After Thursday 24/04 up to Monday 05/05: 25/04, Saturday 26/04, 28/04, 29/04 and 05/05.
    assert NATIONAL.working_days_between(D(2025, 4, 24), D(2025, 5, 5)) == 5


def test_swaps_and_nghi_bu_the_package_knows() -> None:
    assert not NATIONAL.is_working_day(D(2024, 4, 29)) and NATIONAL.is_working_day(D(2024, 5, 4))
    assert not NATIONAL.is_working_day(D(2026, 4, 27))  # Giỗ Tổ on Sunday 26/04: nghỉ bù
    assert not NATIONAL.is_working_day(D(2026, 8, 31)) and NATIONAL.is_working_day(D(2026, 8, 22))
    assert not NATIONAL.is_working_day(D(2026, 11, 24))  # Ngày Văn hóa Việt Nam
    assert NATIONAL.add_working_days(D(2026, 4, 24), 2) == D(2026, 4, 29)


def test_the_2026_new_year_swap_comes_from_the_inventory(binhthuan: Calendar) -> None:
    # Công văn 12729/VPCP-KGVX is newer than what the package knows: the inventory's hopthu_calendar has it.
    assert NATIONAL.is_working_day(D(2026, 1, 2)) and not NATIONAL.is_working_day(D(2026, 1, 10))
    assert not binhthuan.is_working_day(D(2026, 1, 2)) and binhthuan.is_working_day(D(2026, 1, 10))
    assert "12729/VPCP-KGVX" in binhthuan.reason(D(2026, 1, 2))
    # Complete on Wednesday 31/12/2025: 1/1 and the swapped 2/1 are closed, Monday 5/1 and Tuesday 6/1.
    assert binhthuan.add_working_days(D(2025, 12, 31), 2) == D(2026, 1, 6)
    assert binhthuan.working_days_between(D(2026, 1, 5), D(2026, 1, 12)) == 6  # 6–9/1, Saturday 10/1, 12/1


def test_year_ends_and_tet_2028() -> None:
    # 1/1/2028 is a Saturday: nghỉ bù on Monday 3/1; Tết Mậu Thân closes 24–28/1/2028.
    assert NATIONAL.working_days_between(D(2027, 12, 30), D(2028, 1, 4)) == 2  # Friday 31/12, Tuesday 4/1
    assert NATIONAL.add_working_days(D(2028, 1, 21), 2) == D(2028, 2, 1)
    vietnam = Vietnam(years=range(2027, 2029))
    assert NATIONAL.working_days_between(D(2028, 1, 20), D(2028, 2, 3)) == vietnam.get_working_days_count(
        D(2028, 1, 21), D(2028, 2, 3)
    )


def test_tet_2030_spans_a_weekend() -> None:
    # Tết Canh Tuất: 31/1–6/2/2030 (Thursday to Wednesday); the weekend inside does not count twice.
    assert [NATIONAL.is_working_day(D(2030, 1, 30) + dt.timedelta(days=i)) for i in range(9)] == [
        True,  # Wednesday 30/1
        False,
        False,
        False,
        False,  # Sunday 3/2
        False,
        False,
        False,  # Wednesday 6/2
        True,
    ]
    assert NATIONAL.add_working_days(D(2030, 1, 30), 2) == D(2030, 2, 8)


@pytest.mark.parametrize("year", [2024, 2025, 2026, 2027, 2028, 2030, 2045])
def test_each_year_closes_as_many_weekdays_as_the_law_gives(year: int) -> None:
    """Điều 112: 1 + 5 + 1 + 1 + 1 + 2 = 11 days, 12 with Ngày Văn hóa Việt Nam from 2026; a swapped day is
    worked back on a Saturday."""
    closed = NATIONAL.closed_days(year)
    assert all(day.weekday() < 5 for day in closed)
    worked = [d for d in Vietnam(years=year).weekend_workdays if d.year == year]
    assert len(closed) - len(worked) == (12 if year >= 2026 else 11)
    assert sum("Tết" in name and "Dương lịch" not in name for name in closed.values()) == 5  # Tết Nguyên Đán


def test_weekends_do_not_count() -> None:
    assert NATIONAL.working_days_between(D(2025, 3, 7), D(2025, 3, 10)) == 1  # Friday → Monday
    assert NATIONAL.add_working_days(D(2025, 3, 8), 1) == D(2025, 3, 10)  # from a Saturday
    assert NATIONAL.add_working_days(D(2025, 3, 8), 0) == D(2025, 3, 8)
    assert NATIONAL.add_working_days(D(2025, 3, 10), -1) == D(2025, 3, 7)


def test_a_provinces_closure_and_its_make_up_day() -> None:
    province = Calendar({D(2025, 3, 11): "Lễ hội", D(2025, 3, 12): "Lễ hội"}, {D(2025, 3, 15): "làm bù"})
    assert not province.is_working_day(D(2025, 3, 11)) and province.is_working_day(D(2025, 3, 15))
    assert province.add_working_days(D(2025, 3, 10), 1) == D(2025, 3, 13)
    assert province.working_days_between(D(2025, 3, 10), D(2025, 3, 17)) == 4  # 13, 14, Saturday 15, 17


def test_datetimes_count_as_their_day() -> None:
    assert not NATIONAL.is_working_day(dt.datetime(2026, 2, 16, 9, 30))
    assert NATIONAL.add_working_days(dt.datetime(2026, 2, 12, 23, 59), 2) == D(2026, 2, 23)


def test_the_inventory_calendar_is_checked_where_it_is_written(tmp_path) -> None:
    base = (ROOT / "inventory/group_vars/all/hopthu.yml").read_text(encoding="utf-8")
    bad = textwrap.dedent(
        """\
        hopthu_calendar:
          - closed: 2026-02-30
            reason: Ngày không có thật
          - closed: 2026-05-04
            until: 2026-05-01
            reason: Nghỉ
          - worked: 2026-05-08
            reason: Thứ Sáu không phải ngày làm bù
        """
    )
    text = base.replace(base[base.index("hopthu_calendar:") : base.index("hopthu_organisations:")], bad)
    (tmp_path / "group_vars/all").mkdir(parents=True)
    (tmp_path / "group_vars/all/hopthu.yml").write_text(text, encoding="utf-8")
    with pytest.raises(InventoryError) as raised:
        load_inventory(tmp_path)
    found = [(f.field, f.rule) for f in raised.value.findings]
    assert found == [
        ("hopthu_calendar[0].closed", "inventory-calendar"),
        ("hopthu_calendar[1].until", "inventory-calendar"),
        ("hopthu_calendar[2].worked", "inventory-calendar"),
    ]
    line = text.splitlines().index("  - worked: 2026-05-08") + 1
    assert raised.value.findings[2].line == line and "weekday" in raised.value.findings[2].message


years = st.dates(min_value=D(1996, 1, 1), max_value=D(2060, 12, 31))


@given(years, st.integers(min_value=0, max_value=40))
def test_adding_then_counting_gives_back_n(start: dt.date, n: int) -> None:
    end = NATIONAL.add_working_days(start, n)
    assert NATIONAL.working_days_between(start, end) == n
    if n > 0:
        assert NATIONAL.is_working_day(end)
        assert NATIONAL.working_days_between(start, end - dt.timedelta(days=1)) == n - 1


@given(years, years, years)
def test_counting_is_additive_and_antisymmetric(a: dt.date, b: dt.date, c: dt.date) -> None:
    assert NATIONAL.working_days_between(a, b) == -NATIONAL.working_days_between(b, a)
    assert NATIONAL.working_days_between(a, b) + NATIONAL.working_days_between(b, c) == (
        NATIONAL.working_days_between(a, c)
    )


@given(years, st.integers(min_value=1, max_value=120))
def test_the_count_is_the_holidays_packages(start: dt.date, length: int) -> None:
    end = start + dt.timedelta(days=length)
    vietnam = Vietnam(years=range(start.year, end.year + 1))
    assert NATIONAL.working_days_between(start, end) == vietnam.get_working_days_count(
        start + dt.timedelta(days=1), end
    )
