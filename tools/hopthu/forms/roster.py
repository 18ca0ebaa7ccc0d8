"""HR's staff roster (danh sách nhân sự) against the directory → draft requests for IT to review.

HR (Phòng Tổ chức cán bộ) keeps the list of staff: staff code, full name, unit, position and whether
the person still works there. ``compare`` matches each row to a person account — by staff code first,
then by normalised full name within the row's unit — and decides, per unit:

- ``create`` for staff on the list who have no account;
- ``lock`` for people the list says left (nghỉ hưu, thôi việc, chuyển công tác…) and for accounts of the
  list's units that are no longer on it (not with ``partial``: a list of only some people);
- ``update`` for a changed position, or a unit that changed (filed in the account's current unit, which
  is where a transfer request belongs).

Whatever it cannot tell for sure — a staff code two accounts share, two accounts of the same name in a
unit, two rows claiming one account, a name found only in another unit — is listed, never guessed.
``compare`` is pure; ``roster_drafts`` writes the drafts through the same checked path as ``import``,
and nothing is ever applied here.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from hopthu.forms.annex import Annex, Record, code_text, text
from hopthu.forms.build import KIND_SLUGS, Draft, RequestHead, unit_code
from hopthu.forms.headers import LABELS, key
from hopthu.forms.problems import Problem, shown
from hopthu.model import DirectoryAccount, EntryKind, Kind, Organisation
from hopthu.naming import NamingError, parse_name

ID_PREFIX = "nhan-su"
_LEFT = frozenset(
    {
        "nghi huu",
        "da nghi huu",
        "huu",
        "nghi huu tri",
        "nghi viec",
        "da nghi viec",
        "da nghi",
        "thoi viec",
        "buoc thoi viec",
        "chuyen cong tac",
        "da chuyen cong tac",
        "chuyen di",
        "chuyen cong tac khac",
        "het hop dong",
        "cham dut hop dong",
        "khong",
        "khong con cong tac",
        "tu tran",
        "tu tuat",
        "mat",
    }
)
_EMPLOYED = frozenset(
    {
        "dang cong tac",
        "con cong tac",
        "dang lam viec",
        "lam viec",
        "cong tac",
        "con",
        "co",
        "x",
        "dang",
        "binh thuong",
        "nghi thai san",
        "nghi om",
        "nghi phep",
        "tam nghi",
        "nghi khong luong",
        "di hoc",
        "biet phai",
    }
)


@dataclass(frozen=True)
class Staff:
    """One row of the roster."""

    record: Record
    full_name: str
    unit: str  # unit code
    staff_code: str | None
    position: str | None
    department: str | None
    employed: bool
    status: str | None  # as written, for the draft's comment


@dataclass
class RosterPlan:
    creates: dict[str, list[Staff]] = field(default_factory=lambda: defaultdict(list))
    locks: dict[str, list[tuple[DirectoryAccount, Staff | None]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    updates: dict[str, list[tuple[DirectoryAccount, Staff, dict[str, str]]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    ambiguous: list[Problem] = field(default_factory=list)
    uncertain: set[str] = field(default_factory=set)  # accounts an ambiguity names: never locked as absent

    @property
    def empty(self) -> bool:
        return not (self.creates or self.locks or self.updates)


# --- the roster's rows ------------------------------------------------------------------------------------


def read_staff(annex: Annex, org: Organisation) -> tuple[list[Staff], list[Problem]]:
    """The roster's rows, or located problems (a row without a name or unit, an unknown unit or status)."""
    problems: list[Problem] = []
    header = annex.header
    missing = [name for name in ("full_name", "unit") if header.column(name) is None]
    if missing:
        needed = ", ".join(LABELS[name] for name in missing)
        where = annex.grid.row_where(header.first_row)
        return [], [
            Problem(where, f"the roster has no {needed} column: HR's list needs them", "header-missing")
        ]
    staff = []
    for record in annex.records:
        before = len(problems)
        name = text(record.get("full_name")) if record.get("full_name") else ""
        if not name:
            problems.append(
                Problem(annex.where(record, "full_name"), "no full name: fill it in", "name-missing")
            )
        else:
            try:
                parse_name(name)
            except NamingError as error:
                problems.append(
                    Problem(annex.where(record, "full_name"), f"'{shown(name)}': {error}", "name-invalid")
                )
        written_unit = text(record.get("unit")) if record.get("unit") else ""
        unit = unit_code(org, written_unit) if written_unit else None
        if unit is None:
            known = ", ".join(f"{u.code} ({u.name})" for u in org.units.values())
            what = f"unknown unit '{shown(written_unit)}'" if written_unit else "no unit"
            problems.append(
                Problem(
                    annex.where(record, "unit"), f"{what} of {org.code}: write one of {known}", "unit-unknown"
                )
            )
        status_cell = record.get("status")
        status = text(status_cell) if status_cell is not None else None
        employed = _employed(status)
        if employed is None:
            problems.append(
                Problem(
                    annex.where(record, "status"),
                    f"'{shown(status)}' is not a status hopthu knows: write 'đang công tác', or why the "
                    "person left ('nghỉ hưu', 'thôi việc', 'chuyển công tác')",
                    "status-unknown",
                )
            )
        if len(problems) > before:
            continue
        staff.append(
            Staff(
                record=record,
                full_name=name,
                unit=unit,
                staff_code=code_text(record.get("staff_code")) if record.get("staff_code") else None,
                position=text(record.get("position")) if record.get("position") else None,
                department=text(record.get("department")) if record.get("department") else record.group,
                employed=bool(employed),
                status=status,
            )
        )
    return staff, problems


def _employed(status: str | None) -> bool | None:
    if status is None or not status.strip():
        return True  # on the list without a remark: still there
    words = key(status)
    if words in _EMPLOYED:
        return True
    if words in _LEFT or words.startswith(
        ("nghi huu", "thoi viec", "chuyen cong tac", "nghi viec", "da nghi")
    ):
        return False
    return None


# --- the decision ----------------------------------------------------------------------------------------


def person_key(name: str) -> str:
    """A full name as compared for identity: case, diacritics' encoding and spaces ignored."""
    try:
        return str(parse_name(name))
    except NamingError:
        return " ".join(name.casefold().split())


def _code(value: str | None) -> str:
    return (value or "").strip().casefold()


def _same_text(a: str | None, b: str | None) -> bool:
    return " ".join((a or "").casefold().split()) == " ".join((b or "").casefold().split())


def compare(
    staff: list[Staff], accounts: dict[str, DirectoryAccount], annex: Annex, *, partial: bool = False
) -> RosterPlan:
    """What the roster asks of the directory (pure: the directory is ``accounts``, one read)."""
    plan = RosterPlan()
    people = {uid: a for uid, a in accounts.items() if a.kind is EntryKind.PERSON}
    by_code: dict[str, list[DirectoryAccount]] = defaultdict(list)
    by_name: dict[tuple[str, str], list[DirectoryAccount]] = defaultdict(list)
    by_name_anywhere: dict[str, list[DirectoryAccount]] = defaultdict(list)
    for account in people.values():
        if account.first("employeeNumber"):
            by_code[_code(account.first("employeeNumber"))].append(account)
        name = person_key(account.first("cn") or "")
        by_name[(name, account.first("departmentNumber") or "")].append(account)
        by_name_anywhere[name].append(account)

    claimed: dict[str, Staff] = {}
    for row in staff:
        where = annex.where(row.record, "full_name")
        found = _match(row, by_code, by_name, by_name_anywhere, where, plan)
        if found is None:
            if row.employed and not _listed(plan, where):
                plan.creates[row.unit].append(row)
            continue
        if found.uid in claimed:
            plan.uncertain.add(found.uid)
            other = annex.where(claimed[found.uid].record, "full_name")
            plan.ambiguous.append(
                Problem(
                    where,
                    f"this row and {other} both match account {found.uid}: which one is it?",
                    "roster-twice",
                )
            )
            continue
        claimed[found.uid] = row
        current_unit = found.first("departmentNumber") or row.unit
        if not row.employed:
            if found.locked_at is None:
                plan.locks[current_unit].append((found, row))
            continue
        if found.locked_at is not None:
            plan.ambiguous.append(
                Problem(
                    where,
                    f"account {found.uid} is locked, but the roster lists the person as working: unlock it "
                    "(a mở khóa request) if they are back",
                    "roster-locked",
                )
            )
            continue
        changes = {}
        if row.unit != current_unit:
            changes["unit"] = row.unit
        if row.position and not _same_text(row.position, found.first("title")):
            changes["position"] = row.position
        if changes:
            plan.updates[current_unit].append((found, row, changes))
    # A row decided before a later row claimed the same account is not certain either.
    for by_unit in (plan.locks, plan.updates):
        for unit, items in list(by_unit.items()):
            kept = [item for item in items if item[0].uid not in plan.uncertain]
            if kept:
                by_unit[unit] = kept
            else:
                del by_unit[unit]
    if not partial:
        units = {row.unit for row in staff}
        for account in people.values():
            unit = account.first("departmentNumber") or ""
            absent = account.uid not in claimed and account.uid not in plan.uncertain
            if absent and account.locked_at is None and unit in units:
                plan.locks[unit].append((account, None))
    return plan


def _listed(plan: RosterPlan, where: str) -> bool:
    return any(problem.where == where for problem in plan.ambiguous)


def _match(row, by_code, by_name, by_name_anywhere, where: str, plan: RosterPlan) -> DirectoryAccount | None:
    """The one account ``row`` is, or None (no account: then maybe an ambiguity was listed)."""
    if row.staff_code:
        holders = by_code.get(_code(row.staff_code), [])
        if len(holders) == 1:
            return holders[0]
        if len(holders) > 1:
            uids = ", ".join(sorted(a.uid for a in holders))
            message = f"staff code {row.staff_code} is held by several accounts ({uids})"
            _uncertain(plan, holders, where, message)
            return None
    name = person_key(row.full_name)
    # Without its staff code in the directory, the same name in the same unit is the person, unless the
    # account carries another staff code (then it is someone else of that name).
    same = [
        a for a in by_name.get((name, row.unit), []) if not row.staff_code or not a.first("employeeNumber")
    ]
    if len(same) == 1:
        return same[0]
    if len(same) > 1:
        uids = ", ".join(sorted(a.uid for a in same))
        _uncertain(
            plan,
            same,
            where,
            f"'{shown(row.full_name)}' matches several accounts of unit {row.unit} ({uids}): add the "
            "staff code to the roster or to the accounts",
        )
        return None
    elsewhere = [a for a in by_name_anywhere.get(name, []) if (a.first("departmentNumber") or "") != row.unit]
    if elsewhere and not row.staff_code:
        uids = ", ".join(
            f"{a.uid} ({a.first('departmentNumber')})" for a in sorted(elsewhere, key=lambda a: a.uid)
        )
        _uncertain(
            plan,
            elsewhere,
            where,
            f"'{shown(row.full_name)}' has no account in unit {row.unit}, but the same name has one in "
            f"another unit: {uids}. A transfer, or someone else? Add the staff code",
        )
    return None


def _uncertain(plan: RosterPlan, accounts: Iterable[DirectoryAccount], where: str, message: str) -> None:
    """A row that may be any of ``accounts``: listed for review, and those accounts left alone."""
    plan.uncertain.update(a.uid for a in accounts)
    plan.ambiguous.append(Problem(where, message, "roster-ambiguous"))


# --- the drafts ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DraftRequest:
    unit: str
    kind: Kind
    head: RequestHead
    drafts: list[Draft]


def draft_requests(
    plan: RosterPlan,
    annex: Annex,
    org: Organisation,
    number: str,
    date: dt.date,
    signer: str,
    file_name: str,
) -> tuple[list[DraftRequest], list[Problem]]:
    """One request per unit and kind, with the unit's first listed requester (IT checks it in review)."""
    cited = f"văn bản số {number} ngày {date:%d/%m/%Y}"
    reasons = {
        Kind.CREATE: f"Nhân sự mới theo danh sách nhân sự ({cited}).",
        Kind.LOCK: f"Thôi công tác hoặc không còn trong danh sách nhân sự ({cited}).",
        Kind.UPDATE: f"Thay đổi đơn vị hoặc chức vụ theo danh sách nhân sự ({cited}).",
    }
    requests: list[DraftRequest] = []
    problems: list[Problem] = []
    for kind, by_unit in ((Kind.CREATE, plan.creates), (Kind.UPDATE, plan.updates), (Kind.LOCK, plan.locks)):
        for unit_code_, items in sorted(by_unit.items()):
            unit = org.units[unit_code_]
            requester = next((r for r in unit.requesters if r.email and r.phone), None)
            if requester is None:
                problems.append(
                    Problem(
                        file_name,
                        f"unit {unit.code} has no requester with e-mail and phone in the inventory: no draft",
                        "requester-missing",
                    )
                )
                continue
            head = RequestHead(
                id=f"{date.isoformat()}-{unit.code}-{ID_PREFIX}-{KIND_SLUGS[kind]}",
                org=org.code,
                unit=unit.code,
                kind=kind,
                number=number,
                date=date,
                signer=signer,
                requester=requester,
                reason=reasons[kind],
                comments=(
                    f"BẢN NHÁP từ danh sách nhân sự {file_name} (`hopthu roster`): IT kiểm tra trước khi "
                    "merge.",
                    "Người đề nghị lấy theo danh mục của đơn vị; sửa nếu cần.",
                ),
            )
            requests.append(
                DraftRequest(unit.code, kind, head, [_draft(kind, item, annex, unit.name) for item in items])
            )
    return requests, problems


def _draft(kind: Kind, item, annex: Annex, unit_name: str) -> Draft:
    if kind is Kind.CREATE:
        row: Staff = item
        fields = {
            "full_name": row.full_name,
            "staff_code": row.staff_code,
            "position": row.position,
            "department": row.department or unit_name,
            "services": ["email"],
        }
        return Draft(
            row.record, {k: v for k, v in fields.items() if v}, f"danh sách nhân sự: {_row(annex, row)}"
        )
    if kind is Kind.UPDATE:
        account, row, changes = item
        fields = {"username": account.uid, **{k: changes[k] for k in ("position", "unit") if k in changes}}
        return Draft(row.record, fields, f"{account.first('cn')} — danh sách nhân sự: {_row(annex, row)}")
    account, row = item
    fields = {"username": account.uid, "full_name": account.first("cn") or ""}
    why = (
        f"{row.status} — danh sách nhân sự: {_row(annex, row)}"
        if row
        else "không còn trong danh sách nhân sự"
    )
    return Draft(row.record if row else None, {k: v for k, v in fields.items() if v}, why)


def _row(annex: Annex, row: Staff) -> str:
    grid = annex.grid
    return f"{grid.name}, dòng {row.record.row}" if grid.name else f"dòng {row.record.row}"
