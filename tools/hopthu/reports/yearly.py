"""The yearly report (báo cáo) of an organisation's mail system to the body it reports to: the requests
of the year by kind and by unit, on time or late; the accounts created, locked and deleted; the accounts
in use and idle (the usage review). In the layout of an administrative document (Decree 30/2020/NĐ-CP),
rendered by the notice machinery (``hopthu.notices.render``: sandboxed templates an organisation may
override, the PDF printed by WeasyPrint), or as a spreadsheet of the same tables.

Pure: register rows, the audit log's account changes and the usage review's rows → ``Yearly``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from hopthu.model import Kind, Organisation
from hopthu.reports import register, usage
from hopthu.reports.directory_list import by_unit
from hopthu.reports.sources import AccountChange
from hopthu.reports.tables import Column, Report, Section
from hopthu.summary import KIND_LABELS

TEMPLATE = "report/yearly.html.j2"
KINDS = [kind.value for kind in Kind]


@dataclass(frozen=True)
class Yearly:
    org: Organisation
    year: int
    issued: dt.date
    number: str  # "12/BC-STTTT", or "   /BC-STTTT" for the clerk (văn thư) to fill in
    recipient: str
    totals: dict[str, int]  # received, applied, refused, pending, on_time, late, created, locked, deleted…
    sections: list[Section]  # the tables, in the report's order
    idle_days: int

    def as_report(self) -> Report:
        """The same tables as a ``Report`` (for XLSX)."""
        return Report(
            self.org,
            "BÁO CÁO",
            f"Kết quả quản lý, vận hành hệ thống thư điện tử năm {self.year}",
            self.issued,
            self.sections,
            summary(self),
        )


def _unit_name(org: Organisation, code: str) -> str:
    return org.units[code].name if code in org.units else code


def build(
    org: Organisation,
    year: int,
    rows: Sequence[register.Row],
    changes: Sequence[AccountChange],
    reviewed: Sequence[usage.Row],
    *,
    issued: dt.date,
    number: str = "",
    idle_days: int,
) -> Yearly:
    """The report of ``year``: ``rows`` are the register's rows of ``org`` (requests whose document is of
    that year), ``changes`` the account changes of the year, ``reviewed`` the usage review at ``issued``."""
    mine = [row for row in rows if row.entry.org == org.code and row.entry.document_date.year == year]
    by_kind = []
    for kind in KINDS:
        of_kind = [row for row in mine if row.entry.kind == kind]
        if not of_kind:
            continue
        done = [row for row in of_kind if not row.pending]
        by_kind.append(
            [
                KIND_LABELS[kind],
                len(of_kind),
                sum(row.state == register.APPLIED for row in of_kind),
                sum(row.state == register.REFUSED for row in of_kind),
                sum(row.pending for row in of_kind),
                sum(not row.late for row in done),
                sum(row.late for row in done),
            ]
        )
    kind_columns = (
        Column("kind", "Loại yêu cầu", 20),
        Column("received", "Tiếp nhận", 10),
        Column("applied", "Đã thực hiện", 10),
        Column("refused", "Từ chối", 10),
        Column("pending", "Đang xử lý", 10),
        Column("on_time", "Đúng hạn", 10),
        Column("late", "Trễ hạn", 10),
    )
    units = [code for code in org.units if any(row.entry.unit == code for row in mine)]
    by_unit_rows = [
        [_unit_name(org, code)]
        + [sum(row.entry.unit == code and row.entry.kind == kind for row in mine) for kind in KINDS]
        + [sum(row.entry.unit == code for row in mine)]
        for code in units
    ]
    unit_columns = (
        Column("unit", "Đơn vị", 34),
        *(Column(kind, KIND_LABELS[kind], 10) for kind in KINDS),
        Column("total", "Tổng số", 10),
    )
    unit_of_request = {row.entry.id: row.entry.unit for row in rows}
    account_units: dict[str, dict[str, int]] = {}
    for change in changes:
        unit = unit_of_request.get(change.request, "")
        counts = account_units.setdefault(unit, {op: 0 for op in ("create", "lock", "unlock", "delete")})
        counts[change.op] += 1
    account_rows = [
        [_unit_name(org, code) if code else "Chưa xác định đơn vị"]
        + [account_units[code][op] for op in ("create", "lock", "unlock", "delete")]
        for code in [*org.units, ""]
        if code in account_units
    ]
    account_columns = (
        Column("unit", "Đơn vị", 34),
        Column("created", "Cấp mới", 10),
        Column("locked", "Khóa", 10),
        Column("unlocked", "Mở khóa", 10),
        Column("deleted", "Xóa", 10),
    )
    use_rows = []
    for _code, unit_name, members in by_unit(org, [row.account for row in reviewed]):
        states = {row.account: row.state for row in reviewed}
        of_unit = [states[account] for account in members]
        use_rows.append(
            [
                unit_name,
                len(of_unit),
                of_unit.count(usage.ACTIVE),
                of_unit.count(usage.NEVER),
                of_unit.count(usage.IDLE),
                of_unit.count(usage.LOCKED),
            ]
        )
    use_columns = (
        Column("unit", "Đơn vị", 34),
        Column("accounts", "Tổng số tài khoản", 12),
        Column("active", "Đang sử dụng", 12),
        Column("never_used", "Chưa sử dụng lần nào", 12),
        Column("idle", f"Không sử dụng từ {idle_days} ngày", 12),
        Column("locked", "Đã khóa", 10),
    )
    done = [row for row in mine if not row.pending]
    totals = {
        "received": len(mine),
        "applied": sum(row.state == register.APPLIED for row in mine),
        "refused": sum(row.state == register.REFUSED for row in mine),
        "pending": sum(row.pending for row in mine),
        "on_time": sum(not row.late for row in done),
        "late": sum(row.late for row in done),
        "created": sum(change.op == "create" for change in changes),
        "locked": sum(change.op == "lock" for change in changes),
        "unlocked": sum(change.op == "unlock" for change in changes),
        "deleted": sum(change.op == "delete" for change in changes),
        "accounts": len(reviewed),
        "active": sum(row.state == usage.ACTIVE for row in reviewed),
        "never_used": sum(row.state == usage.NEVER for row in reviewed),
        "idle": sum(row.state == usage.IDLE for row in reviewed),
        "locked_now": sum(row.state == usage.LOCKED for row in reviewed),
    }
    sections = [
        Section(
            "Bảng 1. Yêu cầu tiếp nhận và giải quyết theo loại", kind_columns, by_kind, sheet="Theo loại"
        ),
        Section("Bảng 2. Yêu cầu theo đơn vị", unit_columns, by_unit_rows, sheet="Theo đơn vị"),
        Section(
            "Bảng 3. Tài khoản cấp mới, khóa, mở khóa, xóa", account_columns, account_rows, sheet="Tài khoản"
        ),
        Section(
            f"Bảng 4. Tình hình sử dụng (kiểm tra ngày {issued.strftime('%d/%m/%Y')})",
            use_columns,
            use_rows,
            sheet="Tình hình sử dụng",
        ),
    ]
    return Yearly(
        org,
        year,
        issued,
        number or f"{'':6}/BC-{org.issuer_abbrev}",
        org.report_to or org.parent,
        totals,
        sections,
        idle_days,
    )


def summary(report: Yearly) -> list[str]:
    """The paragraphs that say the figures in words, as a báo cáo does before its tables."""
    t = report.totals
    return [
        f"Trong năm {report.year}, tiếp nhận {t['received']} yêu cầu về hộp thư điện tử; đã thực hiện "
        f"{t['applied']}, từ chối {t['refused']}, đang xử lý {t['pending']}. Trong số yêu cầu đã giải "
        f"quyết, {t['on_time']} yêu cầu đúng hạn, {t['late']} yêu cầu trễ hạn (thời hạn "
        f"{report.org.sla_working_days} ngày làm việc).",
        f"Đã cấp mới {t['created']} tài khoản, khóa {t['locked']}, mở khóa {t['unlocked']} và xóa "
        f"{t['deleted']} tài khoản.",
        f"Tại thời điểm báo cáo, hệ thống có {t['accounts']} tài khoản: {t['active']} đang sử dụng, "
        f"{t['never_used']} chưa sử dụng lần nào, {t['idle']} không sử dụng từ {report.idle_days} ngày "
        f"trở lên và {t['locked_now']} đã khóa.",
    ]


def context(report: Yearly) -> dict[str, object]:
    """What the template ``report/yearly.html.j2`` is given."""
    org = report.org
    return {
        "org": org,
        "year": report.year,
        "number": report.number,
        "issued": report.issued,
        "parent": org.parent.upper(),
        "issuer": (org.issuer or org.name).upper(),
        "issuer_name": org.issuer or org.name,
        "abbrev": org.issuer_abbrev,
        "place": org.place,
        "recipient": report.recipient,
        "summary": summary(report),
        "totals": report.totals,
        "sections": [
            {"title": s.title, "headings": [c.heading for c in s.columns], "rows": s.rows}
            for s in report.sections
        ],
        "signer_title_lines": [
            line.strip().upper() for line in org.signer_title.splitlines() if line.strip()
        ],
        "signer_name": org.signer_name,
    }
