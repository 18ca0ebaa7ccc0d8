"""The usage review (kiểm tra sử dụng): who has never used the mail system, and who has not for a long
time — the yearly check the regulations ask for, per unit.

Pure: accounts (with ``created`` and ``last_login``: the directory's ``createTimestamp`` and the lastbind
overlay's ``authTimestamp``, which every successful LDAP bind sets — Dovecot logs in by binding as the
user, so an IMAP login counts) → rows → a ``Report``; and the draft ``lock`` requests IT may review.
A draft is a request file for a merge request, never a change: nothing here touches an account.

- never used: no successful login since the account was made;
- idle: the last login is ``idle_days`` or more ago (the organisation's ``idle_days``, 180 by default);
- locked accounts (khóa) cannot log in and are not reviewed; they are counted.

A draft lock proposes the accounts idle for ``idle_days`` or more, and those never used that were made
at least that long ago (a new account that nobody has opened yet is shown, not proposed).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hopthu.model import Organisation
from hopthu.reports.accounts import Account
from hopthu.reports.directory_list import by_unit
from hopthu.reports.sources import VIETNAM
from hopthu.reports.tables import Column, Report, Section

NEVER, IDLE, ACTIVE, LOCKED = "never-used", "idle", "active", "locked"
COLUMNS = (
    Column("number", "STT", 6),
    Column("uid", "Tài khoản", 18),
    Column("address", "Địa chỉ thư điện tử", 32),
    Column("name", "Họ và tên", 28),
    Column("title", "Chức vụ", 22),
    Column("created", "Ngày tạo", 13),
    Column("last_login", "Đăng nhập lần cuối", 13),
    Column("idle_days", "Số ngày không sử dụng", 12),
    Column("state", "Tình trạng sử dụng", 26),
    Column("proposal", "Đề xuất", 14),
)


@dataclass(frozen=True)
class Row:
    account: Account
    state: str  # never-used | idle | active | locked
    idle_days: int | None  # days since the last login, or since creation when never used
    propose_lock: bool


def day_of(moment: dt.datetime | None) -> dt.date | None:
    return moment.astimezone(VIETNAM).date() if moment else None


def review(accounts: Iterable[Account], today: dt.date, idle_days: int) -> list[Row]:
    """One row per account, in the order given."""
    rows = []
    for account in accounts:
        if account.locked:
            rows.append(Row(account, LOCKED, None, False))
            continue
        last, made = day_of(account.last_login), day_of(account.created)
        if last is None:
            since = max((today - made).days, 0) if made else None
            rows.append(Row(account, NEVER, since, since is not None and since >= idle_days))
        else:
            since = max((today - last).days, 0)
            state = IDLE if since >= idle_days else ACTIVE
            rows.append(Row(account, state, since, state == IDLE))
    return rows


def _state_text(row: Row) -> str:
    if row.state == NEVER:
        return "Chưa sử dụng lần nào"
    if row.state == IDLE:
        return f"Không sử dụng {row.idle_days} ngày"
    return "Đang sử dụng" if row.state == ACTIVE else "Đã khóa"


def report(org: Organisation, rows: Sequence[Row], today: dt.date, idle_days: int) -> Report:
    """The review as a document: per unit, the accounts never used, then the idle ones (longest first)."""
    reviewed = {row.account: row for row in rows if row.state in (NEVER, IDLE)}
    sections = []
    for _code, unit_name, members in by_unit(org, reviewed):
        ordered = sorted(
            (reviewed[account] for account in members),
            key=lambda row: (row.state != NEVER, -(row.idle_days or 0)),
        )
        cells = [
            [
                number,
                row.account.uid,
                row.account.mail,
                row.account.name,
                row.account.title,
                day_of(row.account.created),
                day_of(row.account.last_login),
                row.idle_days,
                _state_text(row),
                "Khóa" if row.propose_lock else "",
            ]
            for number, row in enumerate(ordered, 1)
        ]
        sections.append(Section(unit_name, COLUMNS, cells))
    counts = {state: sum(row.state == state for row in rows) for state in (NEVER, IDLE, ACTIVE, LOCKED)}
    notes = [
        f"Tổng số tài khoản: {len(rows)}; đang sử dụng: {counts[ACTIVE]}; chưa sử dụng lần nào: "
        f"{counts[NEVER]}; không sử dụng từ {idle_days} ngày trở lên: {counts[IDLE]}; "
        f"đã khóa: {counts[LOCKED]}.",
        "Lần đăng nhập cuối là lần xác thực thành công gần nhất với hệ thống (thư điện tử qua IMAP và các "
        "ứng dụng dùng tài khoản), do máy chủ thư mục ghi nhận.",
    ]
    return Report(
        org,
        "BÁO CÁO KIỂM TRA SỬ DỤNG HỆ THỐNG THƯ ĐIỆN TỬ",
        f"{org.name} — ngày {today.strftime('%d/%m/%Y')}",
        today,
        sections,
        notes,
    )


def as_json(row: Row) -> dict[str, object]:
    account = row.account
    return {
        "uid": account.uid,
        "kind": account.kind,
        "address": account.mail or None,
        "name": account.name,
        "unit": account.unit or None,
        "state": row.state,
        "created": account.created.isoformat() if account.created else None,
        "last_login": account.last_login.isoformat() if account.last_login else None,
        "idle_days": row.idle_days,
        "propose_lock": row.propose_lock,
    }


# --- draft lock requests ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    unit: str
    request_id: str
    relative_path: str  # requests/<org>/<unit>/<year>/<id>.yaml
    text: str
    usernames: tuple[str, ...]


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def drafts(org: Organisation, rows: Sequence[Row], today: dt.date, idle_days: int) -> list[Draft]:
    """One draft ``lock`` request per unit that has accounts proposed, in the layout request files are
    written in. IT reviews it, fills in the decision (document number, date, signer) and opens the merge
    request; merging it is what locks, as for any request."""
    proposed: dict[str, list[Row]] = {}
    for row in rows:
        if row.propose_lock and row.account.unit in org.units:
            proposed.setdefault(row.account.unit, []).append(row)
    found = []
    for code, unit_rows in proposed.items():
        unit = org.units[code]
        request_id = f"{today.isoformat()}-{code}-khoa-khong-su-dung"
        requester = unit.requesters[0]
        lines = [
            "# yaml-language-server: $schema=../../../../schemas/request.schema.json",
            f"# BẢN NHÁP do `hopthu usage` lập ngày {today.strftime('%d/%m/%Y')} (kiểm tra sử dụng): chưa có "
            "hiệu lực, chưa áp dụng gì.",
            "# Trước khi mở yêu cầu hợp nhất: kiểm tra danh sách, ghi số, ngày và người ký của văn bản "
            "quyết định khóa, người đề nghị.",
            f"id: {request_id}",
            f"org: {org.code}",
            f"unit: {code}",
            "kind: lock",
            "document:",
            f"  number: {_quoted('(số văn bản)')}",
            f"  date: {today.isoformat()}",
            f"  signer: {_quoted('(người ký)')}",
            "requester:",
            f"  name: {_quoted(requester.name)}",
            f"  position: {_quoted(requester.position)}",
        ]
        if requester.phone:
            lines.append(f"  phone: {_quoted(requester.phone)}")
        if requester.email:
            lines.append(f"  email: {requester.email}")
        reason = f"Tài khoản không sử dụng từ {idle_days} ngày trở lên (kiểm tra sử dụng ngày "
        reason += today.strftime("%d/%m/%Y") + ")."
        lines += [f"reason: {_quoted(reason)}", "accounts:"]
        for row in unit_rows:
            last = day_of(row.account.last_login)
            seen = f"đăng nhập lần cuối {last.strftime('%d/%m/%Y')}" if last else "chưa sử dụng lần nào"
            lines += [
                f"  - username: {row.account.uid}",
                f"    full_name: {_quoted(row.account.name)}  # {seen}",
            ]
        found.append(
            Draft(
                code,
                request_id,
                f"requests/{org.code}/{code}/{today.year}/{request_id}.yaml",
                "\n".join(lines) + "\n",
                tuple(row.account.uid for row in unit_rows),
            )
        )
    return found
