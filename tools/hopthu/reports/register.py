"""The register of requests (sổ theo dõi), as the procedure asks IT to keep it: the requests still pending,
and the requests done, each against the organisation's deadline (thời hạn giải quyết) in working days.

Pure: request entries and what the audit log says → rows → a ``Report``.

- A pending request (no final audit record; ``failed`` when a change of it failed): its age, the working
  days from its start to today, and whether it is past the organisation's SLA (``sla_working_days``).
- A finished request (applied, or refused with its reason): the working days it took, from its start to
  the day it was done (Vietnam time), and whether that was within the SLA.
- Its start: the day its merge request was opened, when the audit record names it (GitLab's
  ``created_at``, recorded with the apply), else the date of its document. A pending request has no audit
  record yet: its start is its document's date.

Working days come from the organisation's calendar (``hopthu.reports.workdays``): weekends, holidays,
Tết, nghỉ bù, swaps and the province's own days do not count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hopthu.model import Inventory, Organisation
from hopthu.refusals import Refusal
from hopthu.reports.sources import Entry, Outcomes
from hopthu.reports.tables import Column, Report, Section
from hopthu.reports.workdays import calendar_of
from hopthu.summary import KIND_LABELS

PENDING, FAILED, APPLIED, REFUSED = "pending", "failed", "applied", "refused"
STATES = (PENDING, FAILED, APPLIED, REFUSED)
VIEWS = ("pending", "issued")
STATE_LABELS = {
    PENDING: "Đang chờ xử lý",
    FAILED: "Lỗi khi thực hiện",
    APPLIED: "Đã thực hiện",
    REFUSED: "Từ chối",
}
COLUMNS = (
    Column("number", "STT", 6),
    Column("id", "Mã yêu cầu", 34),
    Column("unit", "Đơn vị", 30),
    Column("kind", "Loại yêu cầu", 16),
    Column("document", "Số văn bản", 16),
    Column("document_date", "Ngày văn bản", 13),
    Column("start", "Ngày tiếp nhận", 13),
    Column("accounts", "Số tài khoản", 10),
    Column("state", "Tình trạng", 16),
    Column("finished", "Ngày giải quyết", 13),
    Column("deadline", "Hạn giải quyết", 13),
    Column("working_days", "Số ngày làm việc", 12),
    Column("verdict", "Đánh giá", 12),
    Column("note", "Ghi chú", 40),
)


@dataclass(frozen=True)
class Filters:
    """Which requests the register shows; empty means all."""

    orgs: frozenset[str] = frozenset()
    units: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    since: dt.date | None = None  # document date on or after
    until: dt.date | None = None  # document date on or before

    def admit(self, entry: Entry) -> bool:
        return (
            (not self.orgs or entry.org in self.orgs)
            and (not self.units or entry.unit in self.units)
            and (not self.kinds or entry.kind in self.kinds)
            and (self.since is None or entry.document_date >= self.since)
            and (self.until is None or entry.document_date <= self.until)
        )


@dataclass(frozen=True)
class Row:
    entry: Entry
    state: str  # pending | failed | applied | refused
    reason: str | None  # why refused, or what failed (English, as the log says it)
    note: str  # the same for the people who read the register, in Vietnamese
    start: dt.date
    start_from: str  # "merge-request" or "document"
    finished: dt.date | None  # the day it was applied or refused (Vietnam time)
    working_days: int  # pending: its age today; finished: what it took
    sla: int
    deadline: dt.date  # start + SLA working days

    @property
    def pending(self) -> bool:
        return self.state in (PENDING, FAILED)

    @property
    def late(self) -> bool:
        """Past the SLA: still pending after it, or done after it."""
        return self.working_days > self.sla


def rows(entries: Iterable[Entry], outcomes: Outcomes, inventory: Inventory, today: dt.date) -> list[Row]:
    """One row per entry, sorted by document date and id."""
    found: list[Row] = []
    for entry in sorted(entries, key=lambda e: (e.document_date, e.id)):
        org = inventory.organisations[entry.org]
        calendar = calendar_of(org.closed_days, org.worked_days)
        done = outcomes.finished.get(entry.id)
        start, start_from = entry.document_date, "document"
        if done is not None and done.opened is not None:
            start, start_from = done.opened, "merge-request"
        if done is not None:
            state, reason, end = done.result, done.reason, done.day
            note = _refusal_note(done.refusals) if done.result == "refused" else ""
        elif entry.id in outcomes.failed:
            state, reason, end = FAILED, outcomes.failed[entry.id], today
            note = "Đang thực hiện dở: có thay đổi chưa ghi được vào thư mục, bộ phận CNTT sẽ thực hiện lại."
        else:
            state, reason, end, note = PENDING, None, today, ""
        found.append(
            Row(
                entry,
                state,
                reason,
                note,
                start,
                start_from,
                done.day if done is not None else None,
                max(calendar.working_days_between(start, end), 0),
                org.sla_working_days,
                calendar.add_working_days(start, org.sla_working_days),
            )
        )
    return found


def _refusal_note(refusals: Sequence[dict]) -> str:
    """Why a request was refused, in Vietnamese: each reason's sentence (its accounts are in the notice)."""
    if not refusals:  # a refusal recorded before the reasons were kept as data
        return "Không đủ điều kiện thực hiện (lý do ghi trong thông báo kết quả)."
    return " ".join(Refusal.from_record(refusal).vietnamese() for refusal in refusals)


def in_view(row: Row, views: Sequence[str]) -> bool:
    return ("pending" in views and row.pending) or ("issued" in views and not row.pending)


def verdict(row: Row) -> str:
    if row.pending:
        return "Quá hạn" if row.late else "Trong hạn"
    return "Trễ hạn" if row.late else "Đúng hạn"


def as_json(row: Row) -> dict[str, object]:
    entry = row.entry
    return {
        "id": entry.id,
        "org": entry.org,
        "unit": entry.unit,
        "kind": entry.kind,
        "document": entry.document_number,
        "document_date": entry.document_date.isoformat(),
        "accounts": entry.accounts,
        "usernames": list(entry.usernames),
        "state": row.state,
        "reason": row.reason,
        "note": row.note,
        "start": row.start.isoformat(),
        "start_from": row.start_from,
        "finished": row.finished.isoformat() if row.finished else None,
        "deadline": row.deadline.isoformat(),
        "sla_working_days": row.sla,
        "working_days": row.working_days,
        "age_working_days": row.working_days if row.pending else None,
        "overdue": row.pending and row.late,
        "on_time": None if row.pending else not row.late,
    }


def _cells(number: int, row: Row, org: Organisation) -> list[object]:
    entry = row.entry
    unit = org.units.get(entry.unit)
    note = row.note
    if not row.pending and entry.usernames:
        note = " ".join(part for part in (note, "Tài khoản: " + ", ".join(entry.usernames) + ".") if part)
    return [
        number,
        entry.id,
        unit.name if unit else entry.unit,
        KIND_LABELS.get(entry.kind, entry.kind),
        entry.document_number,
        entry.document_date,
        row.start,
        entry.accounts,
        STATE_LABELS[row.state],
        row.finished,
        row.deadline,
        row.working_days,
        verdict(row),
        note,
    ]


def report(shown: Sequence[Row], views: Sequence[str], org: Organisation, today: dt.date) -> Report:
    """The register of ``org`` as a document: one section per view."""
    sections = []
    if "pending" in views:
        pending = [row for row in shown if row.pending]
        cells = [_cells(n, row, org) for n, row in enumerate(pending, 1)]
        sections.append(Section("Yêu cầu đang chờ xử lý", COLUMNS, cells, sheet="Đang chờ xử lý"))
    if "issued" in views:
        done = [row for row in shown if not row.pending]
        cells = [_cells(n, row, org) for n, row in enumerate(done, 1)]
        sections.append(Section("Yêu cầu đã giải quyết", COLUMNS, cells, sheet="Đã giải quyết"))
    late = sum(row.late for row in shown)
    notes = [
        f"Thời hạn giải quyết: {org.sla_working_days} ngày làm việc kể từ ngày tiếp nhận (ngày mở yêu "
        "cầu hợp nhất khi có, nếu không là ngày của văn bản đề nghị); không tính thứ Bảy, Chủ nhật, ngày "
        "nghỉ lễ, Tết và ngày nghỉ bù.",
        f"Tổng số: {len(shown)} yêu cầu; quá hạn hoặc trễ hạn: {late}.",
    ]
    return Report(
        org,
        "SỔ THEO DÕI YÊU CẦU CẤP, THAY ĐỔI, KHÓA, XÓA HỘP THƯ ĐIỆN TỬ",
        f"{org.name} — tính đến ngày {today.strftime('%d/%m/%Y')}",
        today,
        sections,
        notes,
    )
