"""The register of requests (hopthu status): pending ones against the SLA, done ones with the working
days they took — across weekends, Tết and year ends — and the register as files an office prints."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from holidays.countries.vietnam import Vietnam

from hopthu.audit import AuditLog
from hopthu.cli import main
from hopthu.inventory import load_inventory
from hopthu.refusals import Refusal
from hopthu.reports import register
from hopthu.reports.progress import Progress
from hopthu.reports.sources import Entry, Finished, Outcomes, read_entries, read_outcomes
from workspace import ROOT, copy_of_repo

D = dt.date
UTC = dt.UTC
INVENTORY = load_inventory(ROOT / "inventory")


def entry(request_id: str, date: dt.date, kind: str = "create", org: str = "binhthuan", unit: str = "bdt"):
    return Entry(request_id, org, unit, kind, "1/BDT-VP", date, 1, ("minhnv",))


NOTHING = Outcomes()
LATER = D(2030, 12, 31)


def the_row(one: Entry, outcomes: Outcomes = NOTHING, today: dt.date = LATER) -> register.Row:
    (row,) = register.rows([one], outcomes, INVENTORY, today)
    return row


def test_a_pending_request_across_tet_2028_is_overdue_by_the_packages_count() -> None:
    # Friday 21/01/2028; Tết Mậu Thân closes 24–28/01: by Wednesday 02/02 three working days have passed.
    row = the_row(entry("a", D(2028, 1, 21)), today=D(2028, 2, 2))
    counted = Vietnam(years=2028).get_working_days_count(D(2028, 1, 22), D(2028, 2, 2))
    assert (row.state, row.working_days, counted) == ("pending", 3, 3)
    assert row.deadline == D(2028, 2, 1) and row.late and register.verdict(row) == "Quá hạn"
    within = the_row(entry("b", D(2028, 1, 21)), today=D(2028, 1, 31))  # Monday after Tết: 1 day
    assert (within.working_days, within.late, register.verdict(within)) == (1, False, "Trong hạn")


def test_a_request_done_around_tet_2030_counts_to_the_day_it_was_done_in_vietnam() -> None:
    # Wednesday 30/01/2030, Tết Canh Tuất 31/01–06/02: applied Friday 08/02 at 23:30 in Vietnam (16:30 UTC).
    done = Outcomes({"a": Finished("applied", None, dt.datetime(2030, 2, 8, 16, 30, tzinfo=UTC))})
    row = the_row(entry("a", D(2030, 1, 30)), done, today=D(2031, 5, 5))
    counted = Vietnam(years=2030).get_working_days_count(D(2030, 1, 31), D(2030, 2, 8))
    assert (row.finished, row.working_days, counted) == (D(2030, 2, 8), 2, 2)
    assert not row.late and register.verdict(row) == "Đúng hạn"
    # Done a year later, it took what it took, not its age today (no "440 working days").
    assert register.as_json(row)["age_working_days"] is None and register.as_json(row)["on_time"] is True
    # 17:30 UTC is Saturday 09/02 00:30 in Vietnam: still 2 working days, the weekend does not count.
    saturday = Outcomes({"a": Finished("applied", None, dt.datetime(2030, 2, 8, 17, 30, tzinfo=UTC))})
    assert the_row(entry("a", D(2030, 1, 30)), saturday).finished == D(2030, 2, 9)
    assert the_row(entry("a", D(2030, 1, 30)), saturday).working_days == 2


def test_a_request_over_the_year_end_and_a_late_one() -> None:
    # Thursday 30/12/2027 → Tuesday 04/01/2028: 31/12 and 04/01 (1/1 is a Saturday, nghỉ bù Monday 3/1).
    on_time = Outcomes({"a": Finished("applied", None, dt.datetime(2028, 1, 4, 3, 0, tzinfo=UTC))})
    assert the_row(entry("a", D(2027, 12, 30)), on_time).working_days == 2
    late = Outcomes({"a": Finished("refused", "unknown account", dt.datetime(2028, 1, 5, 3, tzinfo=UTC))})
    row = the_row(entry("a", D(2027, 12, 30)), late)
    assert (row.state, row.working_days, register.verdict(row), row.reason) == (
        "refused",
        3,
        "Trễ hạn",
        "unknown account",
    )


def test_the_day_the_merge_request_was_opened_is_the_start_when_known() -> None:
    opened = Finished("applied", None, dt.datetime(2026, 3, 10, 2, tzinfo=UTC), opened=D(2026, 3, 9))
    row = the_row(entry("a", D(2026, 2, 27)), Outcomes({"a": opened}))
    assert (row.start, row.start_from, row.working_days) == (D(2026, 3, 9), "merge-request", 1)
    assert the_row(entry("a", D(2026, 2, 27))).start_from == "document"


def test_the_inventory_swap_counts_in_the_register() -> None:
    # Wednesday 31/12/2025: 1/1 and the swapped Friday 2/1/2026 are closed (hopthu_calendar).
    done = Outcomes({"a": Finished("applied", None, dt.datetime(2026, 1, 6, 3, tzinfo=UTC))})
    row = the_row(entry("a", D(2025, 12, 31)), done)
    assert (row.working_days, row.deadline, row.late) == (2, D(2026, 1, 6), False)


def test_filters_by_organisation_unit_kind_and_dates() -> None:
    entries = [
        entry("a", D(2025, 3, 3)),
        entry("b", D(2025, 4, 3), kind="lock"),
        entry("c", D(2025, 5, 3), org="ctu", unit="cit"),
    ]
    pick = lambda **f: [e.id for e in entries if register.Filters(**f).admit(e)]  # noqa: E731
    assert pick(orgs=frozenset({"ctu"})) == ["c"]
    assert pick(units=frozenset({"bdt"}), kinds=frozenset({"lock"})) == ["b"]
    assert pick(since=D(2025, 4, 1), until=D(2025, 4, 30)) == ["b"]


def test_failed_changes_make_a_request_failed_until_they_succeed(tmp_path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", commit=None, ci=None)
    change = {"event": "change", "request": "r1", "org": "binhthuan", "op": "create", "uid": "minhnv"}
    log.append([{**change, "result": "connection lost"}, {**change, "request": "r2", "result": "timeout"}])
    log.append([{**change, "request": "r2", "result": "ok"}])
    assert read_outcomes(log).failed == {"r1": "create minhnv: connection lost"}


def test_progress_is_shown_past_a_few_thousand_entries() -> None:
    lines: list[str] = []
    progress = Progress("request files", 12_000, echo=lines.append)
    progress.advance(4_999)
    assert lines == []
    progress.advance(7_001)
    assert lines == ["request files: 5,000 of 12,000 read", "request files: 10,000 of 12,000 read"]


def test_request_files_read_cheaply_give_what_the_full_check_gives(tmp_path) -> None:
    copy_of_repo(tmp_path, "requests")
    cheap, findings = read_entries([tmp_path / "requests"], INVENTORY)
    assert findings == []
    # The same files in a layout the scanner declines (flow style) go through the full check.
    for path in (tmp_path / "requests").rglob("*.yaml"):
        import yaml

        path.write_text(json.dumps(yaml.safe_load(path.read_text(encoding="utf-8")), default=str))
    full, findings = read_entries([tmp_path / "requests"], INVENTORY)
    assert findings == []
    key = lambda e: (e.id, e.org, e.unit, e.kind, e.document_number, e.document_date, e.accounts, e.usernames)  # noqa: E731
    shipped = len(list((tmp_path / "requests").rglob("*.yaml")))
    assert sorted(map(key, cheap)) == sorted(map(key, full)) and len(cheap) == shipped


# --- the command -------------------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    copy_of_repo(tmp_path, "inventory", "requests")
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("HOPTHU_AUDIT_LOG", str(log))
    opened = {"merge_request": {"iid": 3, "opened_at": "2025-03-04T01:00:00.000Z"}}
    records = [
        ("2025-03-03-bdt-cap-moi", "applied", None, dt.datetime(2025, 3, 5, 2, tzinfo=UTC), opened),
        ("2025-03-01-bdt-hop-thu-don-vi", "applied", None, dt.datetime(2025, 3, 12, 2, tzinfo=UTC), None),
        (
            "2025-03-10-bdt-chuyen-cong-tac",
            "refused",
            "1 account(s) do not exist in binhthuan: anvtt",
            dt.datetime(2025, 3, 11, tzinfo=UTC),
            None,
        ),
    ]
    missing = Refusal("account-missing", {"org": "binhthuan"}, ({"uid": "anvtt"},)).as_record()
    for request_id, result, reason, when, ci in records:
        AuditLog(log, commit=None, ci=ci, clock=lambda when=when: when).append(
            [
                {
                    "event": "request",
                    "request": request_id,
                    "org": "binhthuan",
                    "result": result,
                    "reason": reason,
                    "refusals": [missing] if result == "refused" else None,
                }
            ]
        )
    return tmp_path


def run(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_status_json_has_both_views_with_english_keys(repo) -> None:
    rows = {
        r["id"]: r
        for r in json.loads(run("status", "--org", "binhthuan", "--today", "2025-03-20", "--json").stdout)
    }
    created = rows["2025-03-03-bdt-cap-moi"]
    assert (created["state"], created["start"], created["start_from"]) == (
        "applied",
        "2025-03-04",
        "merge-request",
    )
    assert (created["finished"], created["working_days"], created["on_time"]) == ("2025-03-05", 1, True)
    unit_box = rows["2025-03-01-bdt-hop-thu-don-vi"]  # a Saturday document, done on Wednesday 12/03
    assert (unit_box["working_days"], unit_box["deadline"], unit_box["on_time"]) == (8, "2025-03-04", False)
    locked = rows["2025-03-17-bdt-khoa"]
    assert (locked["state"], locked["age_working_days"], locked["overdue"]) == ("pending", 3, True)
    pending = json.loads(
        run("status", "--pending", "--org", "binhthuan", "--today", "2025-03-20", "--json").stdout
    )
    assert {r["state"] for r in pending} == {"pending"}
    issued = json.loads(run("status", "--issued", "--json", "--kind", "create").stdout)
    assert [r["id"] for r in issued] == ["2025-03-01-bdt-hop-thu-don-vi", "2025-03-03-bdt-cap-moi"]


def test_status_writes_the_register_as_xlsx_csv_and_html(repo) -> None:
    run("status", "--org", "binhthuan", "--today", "2025-03-20", "--format", "xlsx", "-o", "so-theo-doi.xlsx")
    book = openpyxl.load_workbook(repo / "so-theo-doi.xlsx")
    assert book.sheetnames == ["Đang chờ xử lý", "Đã giải quyết"]
    done = book["Đã giải quyết"]
    cells = [[cell.value for cell in row] for row in done.iter_rows()]
    assert cells[0][0] == "UBND TỈNH BÌNH THUẬN" and "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in cells[0]
    assert cells[1][0] == "SỞ THÔNG TIN VÀ TRUYỀN THÔNG" and "Độc lập - Tự do - Hạnh phúc" in cells[1]
    headings = cells[6]
    assert headings[:4] == ["STT", "Mã yêu cầu", "Đơn vị", "Loại yêu cầu"]
    by_id = {row[1]: dict(zip(headings, row, strict=True)) for row in cells[7:] if row[0]}
    refused = by_id["2025-03-10-bdt-chuyen-cong-tac"]
    assert (refused["Tình trạng"], refused["Đánh giá"]) == ("Từ chối", "Đúng hạn")
    # the reason as the unit's notice gives it, in Vietnamese (the log's English line stays in --json)
    assert refused["Ghi chú"] == (
        "1 tài khoản được đề nghị không có trong hệ thống thư điện tử. Tài khoản: anvtt."
    )
    assert by_id["2025-03-03-bdt-cap-moi"]["Ngày giải quyết"].date() == D(2025, 3, 5)  # a real date

    text = run("status", "--org", "binhthuan", "--today", "2025-03-20", "--format", "csv").stdout
    assert text.startswith("\ufeff")
    table = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert {row["Tình trạng"] for row in table} == {"Đang chờ xử lý", "Đã thực hiện", "Từ chối"}
    assert next(r for r in table if r["Mã yêu cầu"] == "2025-03-17-bdt-khoa")["Đánh giá"] == "Quá hạn"

    page = run(
        "status", "--org", "binhthuan", "--pending", "--format", "html", "--today", "2025-03-20"
    ).stdout
    waiting = sum(1 for row in table if row["Tình trạng"] == "Đang chờ xử lý")
    assert f"<h2>Yêu cầu đang chờ xử lý ({waiting})</h2>" in page and "Đã giải quyết" not in page


def test_a_register_file_is_one_organisations(repo) -> None:
    result = CliRunner().invoke(main, ["status", "--format", "csv"])
    assert result.exit_code == 2 and "add --org" in result.output


def test_status_of_requests_dated_around_tet_2028_and_2030(repo) -> None:
    """Request files as units write them, dated before Tết; the command counts what the package counts."""
    source = (repo / "requests/binhthuan/bdt/2025/2025-03-17-bdt-khoa.yaml").read_text(encoding="utf-8")
    for date in ("2028-01-21", "2030-01-30"):
        request_id = f"{date}-bdt-khoa"
        text = source.replace("2025-03-17-bdt-khoa", request_id).replace("date: 2025-03-17", f"date: {date}")
        folder = repo / f"requests/binhthuan/bdt/{date[:4]}"
        folder.mkdir(exist_ok=True)
        (folder / f"{request_id}.yaml").write_text(text, encoding="utf-8")
    for date, today in (("2028-01-21", D(2028, 2, 2)), ("2030-01-30", D(2030, 2, 8))):
        out = run("status", "--pending", "--json", "--from", date, "--to", date, "--today", today.isoformat())
        (row,) = json.loads(out.stdout)
        start = D.fromisoformat(date)
        counted = Vietnam(years=today.year).get_working_days_count(start + dt.timedelta(days=1), today)
        assert row["age_working_days"] == counted == (3 if today.year == 2028 else 2)
        assert row["overdue"] is (counted > 2)
