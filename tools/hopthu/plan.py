"""(requests, one directory snapshot, the audit ledger) → the exact list of changes. Pure: no I/O.

Requests are planned in order (document date, then id) against a *simulated* copy of the snapshot, so a
request that locks an account created by an earlier request of the same run sees it. A request either plans
completely or is refused with a reason — nothing of a refused request is applied.

What is already done is left out, which makes apply idempotent and lets an interrupted run converge:
- a request with a final audit record (applied or refused) plans nothing;
- every change whose effect is visible in the directory (entry exists, attribute has its value, member
  present, lock set…) is left out;
- a one-time password is not visible, so the audit log decides: a completed ``set-password`` record, or an
  intent followed by a password change on the server (``pwdChangedTime``), means it was done.

A merger (sáp nhập, ``hopthu.merger`` decides who moves where) is planned here too: per account an add in
the target (``merge-in``) and its memberships there, then the removal of its memberships and entry in the
source (``merge-out``), in that order, so that the address delivers at every moment. An account whose
entry the target already holds from an interrupted run of the merger is not added again.

The mass-change guard runs on every plan: per organisation, the accounts one run locks, deletes or moves
out, counted over the requests that do not state ``confirm_count``, may not exceed its
``mass_change_cap``; a request that states it must state exactly how many accounts it locks, deletes or
moves (those done by an interrupted run of it included).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hopthu.merger import (
    FREE,
    Mover,
    fates,
    is_moved_entry,
    movers,
    source_of,
    target_entry,
    units_accounts,
    unmapped_groups,
)
from hopthu.model import (
    AccountChange,
    Change,
    DirectoryAccount,
    EntryKind,
    Inventory,
    Kind,
    NewPerson,
    NewUnitMailbox,
    Op,
    Organisation,
    Request,
    Snapshot,
)
from hopthu.refusals import Refusal, english, merged
from hopthu.text import clean_text  # validation refuses what it would store as nothing

LOCKED_FOREVER = "000001010000Z"  # ppolicy: locked until an administrator removes it
EMAIL = "email"

# Attributes an update may change, and the request field each comes from.
PERSON_FIELDS = {
    "title": "position",
    "ou": "department",
    "telephoneNumber": "phone",
    "hopthuBackupMail": "backup_email",
}
MANAGER_ATTRIBUTES = ("hopthuManagerName", "hopthuManagerPhone", "hopthuManagerMail", "hopthuManagerTitle")
ALIAS_CLASS = "inetLocalMailRecipient"  # misc schema: mailLocalAddress, the addresses kept after a move


@dataclass(frozen=True)
class Progress:
    """What the audit log says was already done (see ``hopthu.audit``)."""

    finished: Mapping[str, str] = field(default_factory=dict)  # request id → "applied" | "refused"
    completed: frozenset[tuple[str, str, str, str]] = frozenset()  # Change.key of completed changes
    intents: Mapping[tuple[str, str, str, str], dt.datetime] = field(default_factory=dict)  # unfinished


@dataclass(frozen=True)
class RequestPlan:
    request: Request
    changes: tuple[Change, ...] = ()
    refusals: tuple[Refusal, ...] = ()  # why the request cannot be applied (từ chối); empty when it can
    done: bool = False  # already applied or refused in an earlier run

    @property
    def refusal(self) -> str | None:
        """The reasons in English (CLI, logs, the audit log's ``reason``), None when not refused."""
        return english(self.refusals) if self.refusals else None

    @property
    def state(self) -> str:
        if self.done:
            return "done"
        if self.refusals:
            return "refused"
        return "changes" if self.changes else "nothing-to-do"


@dataclass(frozen=True)
class Plan:
    requests: tuple[RequestPlan, ...]

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(c for rp in self.requests for c in rp.changes)

    def counts(self) -> dict[str, int]:
        """Counts in GitLab's Terraform-report shape: accounts created, changed, deleted.

        Each request's effect on each account counts once: a create (with its memberships) is a
        create, a delete (with its memberships) a delete, anything else — a transfer, a password, a
        lock, a membership, a move to another organisation in a merger — a change. An account created by
        one request and locked by a later one of the same plan counts once as created and once as
        changed, as the requests say.
        """
        effect: dict[tuple[str, str, str], str] = {}
        for change in self.changes:
            # A merger's account is one account in both organisations (keyed by its target username).
            key = (change.request, "" if change.source else change.org, change.uid)
            if change.op is Op.CREATE:
                effect[key] = "create"
            elif change.op is Op.DELETE:
                effect[key] = "delete"
            else:
                effect.setdefault(key, "update")
        counts = {"create": 0, "update": 0, "delete": 0}
        for what in effect.values():
            counts[what] += 1
        return counts


class Refused(Exception):
    """An account of a request cannot be planned; ``refusal`` says why, as data."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.english())
        self.refusal = refusal


def same_name(a: str, b: str) -> bool:
    return clean_text(a).casefold() == clean_text(b).casefold()


def request_order(request: Request) -> tuple[dt.date, str]:
    return (request.document.date, request.id)


def touched_uids(requests: Iterable[Request]) -> dict[str, set[str]]:
    """Per organisation, the usernames a set of requests reads or writes: what the reader must fetch
    (a merger's accounts are those of its source units: ``merged_units``)."""
    wanted: dict[str, set[str]] = {}
    for request in requests:
        for account in request.accounts:
            if account.username:
                wanted.setdefault(request.org, set()).add(account.username)
    return wanted


def merged_units(requests: Iterable[Request]) -> dict[str, set[str]]:
    """Per organisation, the units whose every account a merger among ``requests`` moves."""
    units: dict[str, set[str]] = {}
    for request in requests:
        for source in request.merge.sources if request.merge else ():
            units.setdefault(source.org, set()).update(source.units)
    return units


# Ops that lock, delete or move an account out of its organisation: what the mass-change guard counts.
GUARDED_OPS = frozenset({"lock", "delete", "move", "merge-out"})


def make_plan(
    requests: Iterable[Request],
    inventory: Inventory,
    snapshot: Snapshot,
    progress: Progress,
    now: dt.datetime,
) -> Plan:
    state = dict(snapshot.accounts)
    planned = []
    guard = _Guard(inventory, progress)
    for request in sorted(requests, key=request_order):
        if request.id in progress.finished:
            planned.append(RequestPlan(request, done=True))
            continue
        org = inventory.organisations[request.org]
        if request.kind is Kind.MERGE:
            changes, refusals = _plan_merge(request, inventory, state, snapshot, progress, now)
        else:
            changes, refusals = _plan_request(request, org, state, progress, now)
        if not refusals:
            refusals = guard.check(request, changes)
        if refusals:
            planned.append(RequestPlan(request, refusals=refusals))
            continue
        if request.kind is Kind.MERGE:
            _simulate_merge(state, changes, org)
        else:
            for change in changes:
                simulate(state, change, org)
        planned.append(RequestPlan(request, changes=tuple(sorted(changes, key=_op_rank))))
    return Plan(tuple(planned))


class _Guard:
    """The mass-change guard (for every kind): accounts locked, deleted or moved out of an organisation
    by the run's requests that do not state ``confirm_count``, against the organisation's cap; a request
    that states it, against its own count."""

    def __init__(self, inventory: Inventory, progress: Progress) -> None:
        self.inventory = inventory
        self.in_run: dict[str, int] = {}  # org → accounts counted so far in this run
        # request id → accounts an interrupted run of it already locked, deleted or moved
        self.earlier: dict[str, set[str]] = {}
        for request_id, op, uid, _ in (*progress.completed, *progress.intents):
            if op in GUARDED_OPS:
                self.earlier.setdefault(request_id, set()).add(uid)

    def check(self, request: Request, changes: Sequence[Change]) -> tuple[Refusal, ...]:
        guarded = [change for change in changes if change.op.value in GUARDED_OPS]
        per_org: dict[str, set[str]] = {}
        for change in guarded:
            per_org.setdefault(change.org, set()).add(change.entry_uid)
        if request.confirm_count is not None:
            total = len({change.uid for change in guarded} | self.earlier.get(request.id, set()))
            if total != request.confirm_count:
                params = {"org": request.org, "expected": request.confirm_count, "planned": total}
                return (Refusal("mass-change-mismatch", params),)
            return ()
        for code, uids in sorted(per_org.items()):
            cap = self.inventory.organisations[code].mass_change_cap
            after = self.in_run.get(code, 0) + len(uids)
            if after > cap:
                params = {"org": code, "planned": after, "cap": cap, "own": len(uids)}
                return (Refusal("mass-change-cap", params),)
        for code, uids in per_org.items():
            self.in_run[code] = self.in_run.get(code, 0) + len(uids)
        return ()


_OP_RANKS = {op: rank for rank, op in enumerate(Op)}  # the phase order: Op's declaration order


def _op_rank(change: Change) -> int:
    return _OP_RANKS[change.op]


def _plan_request(
    request: Request,
    org: Organisation,
    state: dict[tuple[str, str], DirectoryAccount],
    progress: Progress,
    now: dt.datetime,
) -> tuple[list[Change], tuple[Refusal, ...]]:
    """The request's changes, or every reason it is refused (each naming every account concerned)."""
    planner = _RequestPlanner(request, org, state, progress, now)
    changes: list[Change] = []
    refusals: list[Refusal] = []
    seen: set[str] = set()
    for account in request.accounts:
        if account.username is None:
            name = getattr(account, "full_name", None) or getattr(account, "unit_name", "")
            refusals.append(Refusal("username-missing", accounts=({"name": clean_text(name)},)))
            continue
        if account.username in seen:
            refusals.append(Refusal("account-twice", accounts=({"uid": account.username},)))
            continue
        seen.add(account.username)
        try:
            changes += planner.plan(account)
        except Refused as refused:
            refusals.append(refused.refusal)
    return changes, merged(refusals)


@dataclass
class _RequestPlanner:
    request: Request
    org: Organisation
    state: dict[tuple[str, str], DirectoryAccount]
    progress: Progress
    now: dt.datetime

    def plan(self, account) -> list[Change]:
        kind = self.request.kind
        if kind is Kind.CREATE:
            if isinstance(account, NewPerson):
                return self._create_person(account)
            return self._create_mailbox(account)
        try:
            current = self._existing(account)
        except _AlreadyDeleted:
            return []
        return {
            Kind.UPDATE: self._update,
            Kind.RESET_PASSWORD: self._reset_password,
            Kind.LOCK: self._lock,
            Kind.UNLOCK: self._unlock,
            Kind.DELETE: self._delete,
        }[kind](account, current)

    # --- helpers ---------------------------------------------------------------------------------

    def _change(self, op: Op, uid: str, kind: EntryKind, before=None, after=None, group=None) -> Change:
        return Change(
            request=self.request.id,
            org=self.org.code,
            op=op,
            uid=uid,
            kind=kind,
            before=before or {},
            after=after or {},
            group=group,
        )

    def _existing(self, account: AccountChange) -> DirectoryAccount:
        current = self.state.get((self.org.code, account.username))
        if current is None:
            delete_key = (self.request.id, Op.DELETE.value, account.username, "")
            if self.request.kind is Kind.DELETE and (
                delete_key in self.progress.completed or delete_key in self.progress.intents
            ):
                raise _AlreadyDeleted
            raise self._refused("account-missing", account.username)
        if (
            account.full_name
            and self.request.kind is not Kind.UPDATE  # an update's full_name is the new name
            and not same_name(account.full_name, current.first("cn") or "")
        ):
            raise self._refused(
                "name-mismatch",
                account.username,
                holder=current.first("cn"),
                named=clean_text(account.full_name),
            )
        owner = current.first("departmentNumber")
        if owner != self.request.unit and not self._moved_here(account, owner):
            unit = self.org.units.get(owner or "")
            raise self._refused(
                "not-own-account", account.username, owner=owner, owner_name=unit.name if unit else owner
            )
        return current

    def _refused(self, code: str, uid: str, **details: Any) -> Refused:
        """A refusal of one account, with the request-level parameters its text needs."""
        unit = self.org.units.get(self.request.unit)
        params = {"org": self.org.code, "unit": self.request.unit, "unit_name": unit.name if unit else ""}
        if code.startswith("delete-"):
            params["days"] = self.org.retention_days
        return Refused(Refusal(code, {**params, **details.pop("params", {})}, ({"uid": uid, **details},)))

    def _moved_here(self, account: AccountChange, owner: str | None) -> bool:
        """True when this request's own transfer took the account to ``owner`` (in an earlier,
        interrupted run): it is still the request's to finish."""
        key = (self.request.id, Op.MOVE.value, account.username, "")
        return account.unit == owner and (key in self.progress.completed or key in self.progress.intents)

    def _done(self, op: Op, uid: str, group: str = "") -> bool:
        return (self.request.id, op.value, uid, group) in self.progress.completed

    def _address(self, uid: str, unit: str | None) -> str:
        """Staff get addresses in their unit's domain (sub-domain per agency); a unit mailbox is an
        agency address of the organisation itself (bdt@binhthuan.gov.vn)."""
        return f"{uid}@{self.org.domain_of(unit) if unit else self.org.mail_domain}"

    def _mail_attrs(self, uid: str, unit: str | None) -> dict[str, tuple[str, ...]]:
        return {
            "mail": (self._address(uid, unit),),
            "hopthuMailQuota": (str(self.org.mailbox_quota_mb * 1024 * 1024),),
        }

    def _memberships(self, uid, kind, wanted: Iterable[str], current: frozenset[str]) -> list[Change]:
        wanted = set(wanted)
        if not wanted and not current:
            return []  # the usual new mailbox: no application group
        unknown = sorted(wanted - set(self.org.app_groups))
        if unknown:
            raise self._refused("unknown-group", uid, params={"groups": ", ".join(unknown)})
        adds = [self._change(Op.ADD_MEMBER, uid, kind, group=g) for g in sorted(wanted - current)]
        removes = [self._change(Op.REMOVE_MEMBER, uid, kind, group=g) for g in sorted(current - wanted)]
        return adds + removes

    # --- create (cấp mới) ------------------------------------------------------------------------

    def _create_person(self, person: NewPerson) -> list[Change]:
        uid = person.username
        full_name = clean_text(person.full_name)
        words = full_name.split()
        entry: dict[str, tuple[str, ...]] = {
            "objectClass": ("inetOrgPerson", "hopthuAccount"),
            "uid": (uid,),
            "cn": (full_name,),
            "displayName": (full_name,),
            "sn": (words[0],),
            "givenName": (words[-1],),
            "ou": (clean_text(person.department),),
            "departmentNumber": (self.request.unit,),
            "pwdReset": ("TRUE",),
        }
        # What the unit's form did not carry stays absent (some have no staff code, position or phone).
        optional = {
            "employeeNumber": person.staff_code,
            "title": person.position,
            "telephoneNumber": person.phone,
            "hopthuBackupMail": person.backup_email,
        }
        entry |= {attr: (clean_text(value),) for attr, value in optional.items() if value}
        if EMAIL in person.services:
            entry |= self._mail_attrs(uid, self.request.unit)
        groups = [s for s in person.services if s != EMAIL]
        return self._create(uid, EntryKind.PERSON, entry, groups)

    def _create_mailbox(self, mailbox: NewUnitMailbox) -> list[Change]:
        uid = mailbox.username
        name = clean_text(mailbox.unit_name)
        manager = mailbox.manager
        entry = {
            "objectClass": ("inetOrgPerson", "hopthuAccount", "hopthuUnitMailbox"),
            "uid": (uid,),
            "cn": (name,),
            "displayName": (name,),
            "sn": (name,),
            "o": (clean_text(mailbox.parent_agency),),
            "departmentNumber": (self.request.unit,),
            "telephoneNumber": (clean_text(mailbox.phone),),
            "pwdReset": ("TRUE",),
            **self._mail_attrs(uid, None),
            **_manager_attrs(manager),
        }
        return self._create(uid, EntryKind.MAILBOX, entry, [])

    def _create(self, uid, kind, entry, groups) -> list[Change]:
        current = self.state.get((self.org.code, uid))
        changes = []
        if current is None:
            changes.append(self._change(Op.CREATE, uid, kind, after=entry))
            member_of: frozenset[str] = frozenset()
        elif holds_entry(current, kind, entry):
            member_of = current.groups  # created by this request in an earlier, interrupted run
        else:
            raise self._refused("username-taken", uid, holder=current.first("cn"))
        return changes + self._memberships(uid, kind, groups, member_of)

    # --- update (thay đổi) -----------------------------------------------------------------------

    def _update(self, change: AccountChange, current: DirectoryAccount) -> list[Change]:
        uid, kind = current.uid, current.kind
        before: dict[str, tuple[str, ...]] = {}
        after: dict[str, tuple[str, ...]] = {}

        def wish(attr: str, value: str | None) -> None:
            if value is None:
                return
            value = clean_text(value)
            if current.attrs.get(attr.lower(), ()) != (value,):
                before[attr] = current.attrs.get(attr.lower(), ())
                after[attr] = (value,)

        if change.full_name is not None:
            if kind is EntryKind.MAILBOX:
                raise self._refused("mailbox-full-name", uid)
            words = clean_text(change.full_name).split()
            for attr, value in (("cn", change.full_name), ("displayName", change.full_name)):
                wish(attr, value)
            wish("sn", words[0])
            wish("givenName", words[-1])
        if change.unit_name is not None:
            if kind is not EntryKind.MAILBOX:
                raise self._refused("person-unit-name", uid)
            for attr in ("cn", "displayName", "sn"):
                wish(attr, change.unit_name)
        for attr, field_name in PERSON_FIELDS.items():
            wish(attr, getattr(change, field_name))
        if change.manager is not None:
            if kind is not EntryKind.MAILBOX:
                raise self._refused("person-manager", uid)
            # Handover (bàn giao): the new manager replaces the old one completely; a field the new
            # manager lacks is removed, not left over from the old one.
            new_manager = _manager_attrs(change.manager)
            for attr in MANAGER_ATTRIBUTES:
                values = new_manager.get(attr, ())
                if current.attrs.get(attr.lower(), ()) != values:
                    before[attr] = current.attrs.get(attr.lower(), ())
                    after[attr] = values

        changes = []
        if after:
            changes.append(self._change(Op.MODIFY, uid, kind, before, after))
        changes += self._move(change, current)
        changes += self._services(change, current)
        if change.manager is not None and not self._password_done(uid):
            # Handover (bàn giao): the new manager gets a new password; the old one stops working.
            changes.append(self._change(Op.SET_PASSWORD, uid, kind, after={"pwdReset": ("TRUE",)}))
        return changes

    def _move(self, change: AccountChange, current: DirectoryAccount) -> list[Change]:
        new_unit = change.unit
        if new_unit is None or new_unit == current.first("departmentNumber"):
            return []
        if new_unit not in self.org.units:
            raise self._refused("unknown-unit", current.uid, params={"target": new_unit})
        before = {"departmentNumber": current.attrs.get("departmentnumber", ())}
        after = {"departmentNumber": (new_unit,)}
        old_mail = current.first("mail")
        if old_mail and current.kind is EntryKind.PERSON:
            new_mail = self._address(current.uid, new_unit)
            if new_mail != old_mail:
                # An address is never dropped: the old one stays as an alias (mailLocalAddress) that keeps
                # delivering to the same mailbox, and is never given to anyone else.
                aliases = current.attrs.get("maillocaladdress", ())
                kept = tuple(dict.fromkeys(a for a in (*aliases, old_mail) if a.lower() != new_mail.lower()))
                classes = current.attrs.get("objectclass", ())
                before |= {"mail": (old_mail,), "mailLocalAddress": aliases}
                after |= {"mail": (new_mail,), "mailLocalAddress": kept}
                if ALIAS_CLASS.lower() not in {c.lower() for c in classes}:
                    before["objectClass"] = classes
                    after["objectClass"] = (*classes, ALIAS_CLASS)
        return [self._change(Op.MOVE, current.uid, current.kind, before, after)]

    def _services(self, change: AccountChange, current: DirectoryAccount) -> list[Change]:
        if change.services is None:
            return []
        changes = self._memberships(
            current.uid, current.kind, [s for s in change.services if s != EMAIL], current.groups
        )
        has_mail = current.first("mail") is not None
        if (EMAIL in change.services) != has_mail:
            unit = change.unit or current.first("departmentNumber") or self.request.unit
            if has_mail:
                before = {a: current.attrs.get(a.lower(), ()) for a in ("mail", "hopthuMailQuota")}
                after = {"mail": (), "hopthuMailQuota": ()}
            else:
                before = {"mail": (), "hopthuMailQuota": ()}
                after = self._mail_attrs(current.uid, unit if current.kind is EntryKind.PERSON else None)
            changes.append(self._change(Op.MODIFY, current.uid, current.kind, before, after))
        return changes

    # --- passwords, lock, unlock, delete ---------------------------------------------------------

    def _password_done(self, uid: str) -> bool:
        if self._done(Op.SET_PASSWORD, uid):
            return True
        started = self.progress.intents.get((self.request.id, Op.SET_PASSWORD.value, uid, ""))
        if started is None:
            return False
        # Interrupted after the intent: the server's pwdChangedTime tells whether the write took effect.
        current = self.state.get((self.org.code, uid))
        changed = _parse_generalized_time(current.first("pwdChangedTime")) if current else None
        return changed is not None and changed >= started.replace(microsecond=0)

    def _reset_password(self, account: AccountChange, current: DirectoryAccount) -> list[Change]:
        if current.locked_at is not None:
            raise self._refused("reset-locked", current.uid)
        if self._password_done(current.uid):
            return []
        return [self._change(Op.SET_PASSWORD, current.uid, current.kind, after={"pwdReset": ("TRUE",)})]

    def _lock(self, account: AccountChange, current: DirectoryAccount) -> list[Change]:
        if current.locked_at is not None:
            return []
        stamp = _generalized_time(self.now)
        after = {"pwdAccountLockedTime": (LOCKED_FOREVER,), "hopthuLockedTime": (stamp,)}
        return [self._change(Op.LOCK, current.uid, current.kind, before={}, after=after)]

    def _unlock(self, account: AccountChange, current: DirectoryAccount) -> list[Change]:
        if current.locked_at is None:
            return []
        before = {
            "pwdAccountLockedTime": current.attrs.get("pwdaccountlockedtime", ()),
            "hopthuLockedTime": current.attrs.get("hopthulockedtime", ()),
        }
        return [self._change(Op.UNLOCK, current.uid, current.kind, before=before, after={})]

    def _delete(self, account: AccountChange, current: DirectoryAccount) -> list[Change]:
        if current.locked_at is None:
            raise self._refused("delete-not-locked", current.uid)
        earliest = current.locked_at + dt.timedelta(days=self.org.retention_days)
        if self.now < earliest:
            raise self._refused(
                "delete-too-early",
                current.uid,
                locked_on=f"{current.locked_at:%d/%m/%Y}",
                earliest=f"{earliest:%d/%m/%Y}",
            )
        removes = [
            self._change(Op.REMOVE_MEMBER, current.uid, current.kind, group=g) for g in sorted(current.groups)
        ]
        # What the notice and the mailbox retirement need: hopthuMailbox when a merger moved the account.
        kept = ("cn", "mail", "departmentnumber", "uid", "hopthumailbox")
        keep = {a: v for a, v in current.attrs.items() if a in kept}
        return [*removes, self._change(Op.DELETE, current.uid, current.kind, before=keep)]


# --- merger (sáp nhập) -----------------------------------------------------------------------------


def _plan_merge(
    request: Request,
    inventory: Inventory,
    state: dict[tuple[str, str], DirectoryAccount],
    snapshot: Snapshot,
    progress: Progress,
    now: dt.datetime,
) -> tuple[list[Change], tuple[Refusal, ...]]:
    """A merger's changes, or every reason it is refused (each naming every account concerned)."""
    assert request.merge is not None
    merge, target = request.merge, inventory.organisations[request.org]
    planner = _RequestPlanner(request, target, state, progress, now)
    changes: list[Change] = []
    refusals: list[Refusal] = []
    for source in merge.sources:
        if source.org != target.code:
            continue
        # The target's own units: every account is transferred (chuyển công tác), its old address kept.
        for mover in sorted(units_accounts(source, state), key=lambda m: m.account.uid):
            move = AccountChange(mover.account.uid, unit=mover.target_unit)
            name = {"cn": mover.account.attrs.get("cn", ())}  # for the notice: who moved
            changes += [
                replace(c, before=c.before | name, after=c.after | name) if name["cn"] else c
                for c in planner._move(move, mover.account)
            ]
    taken = snapshot.taken.get(target.code, {})

    def ours(name: str, mover: Mover) -> bool:
        """The target's entry ``name`` is this mover's, added by an interrupted run of this merger."""
        current = state.get((target.code, name))
        key = (request.id, Op.MERGE_IN.value, name, "")
        return (
            current is not None
            and (key in progress.completed or key in progress.intents)
            and is_moved_entry(current, mover.account.kind, target_entry(mover, target, name))
        )

    def holder_of(name: str, mover: Mover) -> object:
        current = state.get((target.code, name))
        if current is not None:
            return FREE if ours(name, mover) else current.first("cn")
        if name in target.reserved:
            return None
        return taken.get(name) if name in taken else FREE

    params = {"org": target.code, "org_name": target.name}
    for fate in fates(movers(merge, target.code, state), merge, holder_of):
        mover = fate.mover
        source = inventory.organisations[mover.source]
        where = {"uid": mover.account.uid, "source": source.code, "source_name": source.name}
        rename = merge.rename_of(*mover.key)
        if rename is not None and not same_name(rename.name, mover.name):
            refusals.append(
                Refusal("name-mismatch", params, ({**where, "holder": mover.name, "named": rename.name},))
            )
            continue
        unmapped = unmapped_groups(mover, source_of(merge, mover.source))
        if unmapped:
            refusals.append(
                Refusal("merge-group-unmapped", params, ({**where, "groups": ", ".join(unmapped)},))
            )
            continue
        if fate.uid is None:
            holder = fate.holder or "—"
            account = {**where, "name": mover.name, "wanted": fate.wanted, "holder": holder}
            refusals.append(Refusal("merge-username-taken", params, (account,)))
            continue
        changes += _merge_changes(request, mover, fate.uid, target, merge, state)
    return changes, merged(refusals)


def _merge_changes(request, mover: Mover, uid: str, target: Organisation, merge, state) -> list[Change]:
    """Add in the target (unless an interrupted run did), memberships there; then out of the source."""
    account, tag = mover.account, mover.key
    source_groups = source_of(merge, mover.source).groups
    wanted_groups = {source_groups[group] for group in account.groups}
    identity = {
        "uid": (account.uid,),
        "mail": account.attrs.get("mail", ()),
        "departmentNumber": account.attrs.get("departmentnumber", ()),
    }
    identity = {attr: values for attr, values in identity.items() if values}

    def change(op: Op, org: str, before=None, after=None, group=None) -> Change:
        return Change(request.id, org, op, uid, account.kind, before or {}, after or {}, group, tag)

    changes = []
    current = state.get((target.code, uid))
    if current is None:
        entry = target_entry(mover, target, uid)
        changes.append(change(Op.MERGE_IN, target.code, before=identity, after=entry))
        in_target: frozenset[str] = frozenset()
    else:
        in_target = current.groups  # added by an interrupted run of the merger
    changes += [change(Op.ADD_MEMBER, target.code, group=g) for g in sorted(wanted_groups - in_target)]
    changes += [change(Op.REMOVE_MEMBER, mover.source, group=g) for g in sorted(account.groups)]
    keep = {**identity, "cn": account.attrs.get("cn", ())}
    changes.append(change(Op.MERGE_OUT, mover.source, before={k: v for k, v in keep.items() if v}))
    return changes


def holds_entry(current: DirectoryAccount, kind: EntryKind, entry: Mapping[str, Sequence[str]]) -> bool:
    """True when ``current`` is the account that the new ``entry`` describes (written by an earlier,
    interrupted run), not another account that took its username: same kind and unit, and the same staff
    code (a person) or name (a unit mailbox)."""
    if current.kind is not kind or current.first("departmentNumber") != entry["departmentNumber"][0]:
        return False
    if "employeeNumber" in entry:
        return current.first("employeeNumber") == entry["employeeNumber"][0]
    return current.first("cn") == entry["cn"][0]


class _AlreadyDeleted(Exception):
    """Not a refusal: the delete took effect in an earlier, interrupted run."""


def _manager_attrs(manager) -> dict[str, tuple[str, ...]]:
    attrs = {
        "hopthuManagerName": manager.name,
        "hopthuManagerPhone": manager.phone,
        "hopthuManagerMail": manager.email,
        "hopthuManagerTitle": manager.position,
    }
    return {k: (clean_text(v),) for k, v in attrs.items() if v}


def _generalized_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ")


def _parse_generalized_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    digits = [int(value[i : i + 2]) for i in range(4, 14, 2)]  # not strptime: a merger parses thousands
    return dt.datetime(int(value[:4]), *digits, tzinfo=dt.UTC)


def simulate(state: dict[tuple[str, str], DirectoryAccount], change: Change, org: Organisation) -> None:
    """Apply a planned change to the in-memory state, so later requests of the same run see it."""
    key = (change.org, change.entry_uid)
    current = state.get(key)
    if change.op is Op.CREATE:
        attrs = {k.lower(): v for k, v in change.after.items()}
        state[key] = DirectoryAccount(change.uid, "", change.kind, attrs, frozenset(), None, True)
        return
    if change.op is Op.MERGE_IN:
        state[key] = _moved_account(change, frozenset())
        return
    if current is None:
        return
    if change.op in (Op.DELETE, Op.MERGE_OUT):
        del state[key]
    elif change.op is Op.ADD_MEMBER:
        state[key] = replace(current, groups=current.groups | {change.group})
    elif change.op is Op.REMOVE_MEMBER:
        state[key] = replace(current, groups=current.groups - {change.group})
    elif change.op is Op.LOCK:
        locked_at = _parse_generalized_time(change.after["hopthuLockedTime"][0])
        state[key] = replace(current, attrs=_merged(current.attrs, change.after), locked_at=locked_at)
    elif change.op is Op.UNLOCK:
        attrs = {
            k: v for k, v in current.attrs.items() if k not in ("pwdaccountlockedtime", "hopthulockedtime")
        }
        state[key] = replace(current, attrs=attrs, locked_at=None)
    elif change.op in (Op.MODIFY, Op.MOVE, Op.SET_PASSWORD):
        state[key] = replace(current, attrs=_merged(current.attrs, change.after))


def _moved_account(change: Change, groups: frozenset[str]) -> DirectoryAccount:
    """The account a merger's add makes, as later requests of the run see it: locked if it was."""
    attrs = dict(zip(map(str.lower, change.after), change.after.values(), strict=True))
    locked = attrs.get("hopthulockedtime")
    pending = attrs.get("pwdreset", ("FALSE",))[0].upper() == "TRUE"
    when = _parse_generalized_time(locked[0]) if locked else None
    return DirectoryAccount(change.uid, "", change.kind, attrs, groups, when, pending)


def _simulate_merge(state: dict[tuple[str, str], DirectoryAccount], changes: list[Change], org) -> None:
    """``simulate`` for a merger's changes, in one pass: each added account with its groups at once (a
    merger has tens of thousands; one replace per membership would cost more than the rest)."""
    joined: dict[str, set[str]] = {}
    for change in changes:
        if change.op is Op.ADD_MEMBER and change.source:
            joined.setdefault(change.uid, set()).add(change.group or "")
    for change in changes:
        if change.op is Op.MERGE_IN:
            state[(change.org, change.uid)] = _moved_account(change, frozenset(joined.pop(change.uid, ())))
        elif change.op is Op.MERGE_OUT:
            state.pop((change.org, change.entry_uid), None)
        elif change.op is Op.ADD_MEMBER and change.source and change.uid not in joined:
            continue  # given with its add above
        elif change.op is Op.REMOVE_MEMBER and change.source:
            continue  # the source entry goes with its memberships
        else:
            simulate(state, change, org)


def _merged(attrs: Mapping[str, tuple[str, ...]], after: Mapping[str, tuple[str, ...]]):
    merged = dict(attrs)
    for attr, values in after.items():
        if values:
            merged[attr.lower()] = values
        else:
            merged.pop(attr.lower(), None)
    return merged
