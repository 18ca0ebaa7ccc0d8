"""Drift (độ lệch): what the directory holds compared with what the applied requests say it should hold.

The expected state is folded from every request the audit log records as *applied*, in plan order: each
request is planned with ``hopthu.plan`` against the state the earlier ones left (starting empty, at the
time it was really applied, so retention periods and lock times come out as they did) and its changes are
simulated the way the planner simulates them. That state is compared with one snapshot of the directory:

- ``missing``: an account the requests created and never deleted is not in the directory (deleted by hand);
- ``unmanaged``: an account in the directory no applied request created (created by hand, or before hopthu);
- ``kind``: a person account sits among the unit mailboxes or the other way round;
- ``attribute``: a managed attribute (name, unit, position, mail…) differs (changed by hand);
- ``lock``: locked (khóa) although no request locked it, or unlocked by hand;
- ``groups``: application group memberships differ.

Values the account's owner or the server change on their own are not drift: passwords and ``pwdReset``,
failed-bind lockouts (a ``pwdAccountLockedTime`` other than the permanent one), ``memberOf`` as such.

``expected_state`` and ``compare`` are pure; ``check_drift`` at the end is the one function that reads.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from hopthu.model import DirectoryAccount, Inventory, Request, Snapshot
from hopthu.plan import LOCKED_FOREVER, Progress, make_plan, request_order, simulate, touched_uids

# Attributes the requests decide (docs/architecture.md), compared value for value.
MANAGED_ATTRIBUTES = (
    "cn",
    "displayName",
    "sn",
    "givenName",
    "employeeNumber",
    "title",
    "ou",
    "departmentNumber",
    "telephoneNumber",
    "mail",
    "hopthuMailQuota",
    "o",
    "hopthuManagerName",
    "hopthuManagerPhone",
    "hopthuManagerMail",
    "hopthuManagerTitle",
    "hopthuBackupMail",
)
ASPECTS = ("missing", "unmanaged", "kind", "attribute", "lock", "groups")

Key = tuple[str, str]  # (organisation code, username)


@dataclass(frozen=True, order=True)
class Difference:
    """One way an account in the directory differs from what the applied requests say."""

    org: str
    uid: str
    aspect: str  # one of ASPECTS
    attribute: str | None = None  # for "attribute"
    expected: tuple[str, ...] = ()
    actual: tuple[str, ...] = ()
    request: str | None = None  # the last applied request that touched the account

    def describe(self) -> str:
        shown = f"{self.org}/{self.uid}"
        last = f" (last request: {self.request})" if self.request else ""
        if self.aspect == "missing":
            return f"{shown}: missing from the directory: deleted outside hopthu?{last}"
        if self.aspect == "unmanaged":
            return f"{shown}: in the directory but created by no applied request"
        return f"{shown}: {self.aspect}{' ' + self.attribute if self.attribute else ''}: " + (
            f"requests say {_values(self.expected)}, directory has {_values(self.actual)}{last}"
        )


@dataclass(frozen=True)
class Expected:
    """The state the applied requests lead to, and what could not be replayed."""

    accounts: dict[Key, DirectoryAccount]
    last_request: dict[Key, str]
    not_replayed: dict[str, str]  # request id → why it cannot be replayed (the log says applied)


def _values(values: tuple[str, ...]) -> str:
    return ", ".join(repr(v) for v in values) if values else "nothing"


# --- decisions (no I/O) ----------------------------------------------------------------------------


def expected_state(
    requests: Iterable[Request], inventory: Inventory, applied: Mapping[str, dt.datetime]
) -> Expected:
    """Fold the requests whose id is in ``applied`` (request id → when it was applied), in plan order."""
    state: dict[Key, DirectoryAccount] = {}
    last: dict[Key, str] = {}
    not_replayed: dict[str, str] = {}
    for request in sorted(requests, key=request_order):
        when = applied.get(request.id)
        if when is None:
            continue
        org = inventory.organisations[request.org]
        if request.merge is not None:  # a merger moves every account of its units: it reads them all
            snapshot = Snapshot(dict(state))
        else:
            touched = {(request.org, uid) for uid in touched_uids([request]).get(request.org, ())}
            snapshot = Snapshot({key: state[key] for key in touched if key in state})
        (planned,) = make_plan([request], inventory, snapshot, Progress(), when).requests
        if planned.refusal:
            not_replayed[request.id] = planned.refusal
            continue
        for change in planned.changes:
            simulate(state, change, org)
            last[(change.org, change.entry_uid)] = request.id
    return Expected(state, last, not_replayed)


def compare(
    expected: Expected, actual: Mapping[Key, DirectoryAccount], orgs: Iterable[str]
) -> list[Difference]:
    """Every difference between the expected and the actual accounts of the organisations ``orgs``."""
    scope = set(orgs)
    found: list[Difference] = []
    wanted = {key: account for key, account in expected.accounts.items() if key[0] in scope}
    have = {(org, uid.casefold()): account for (org, uid), account in actual.items() if org in scope}
    for key, account in wanted.items():
        org, uid = key
        request = expected.last_request.get(key)
        current = have.pop((org, uid.casefold()), None)
        if current is None:
            found.append(Difference(org, uid, "missing", request=request))
        else:
            found += _account_differences(org, uid, account, current, request)
    found += [Difference(org, account.uid, "unmanaged") for (org, _), account in have.items()]
    return sorted(found)


def _account_differences(
    org: str, uid: str, want: DirectoryAccount, have: DirectoryAccount, request: str | None
) -> list[Difference]:
    found = []

    def differ(aspect: str, expected: Iterable[str], actual: Iterable[str], attribute: str | None = None):
        found.append(Difference(org, uid, aspect, attribute, tuple(expected), tuple(actual), request))

    if want.kind is not have.kind:
        differ("kind", [want.kind.value], [have.kind.value])
    for attribute in MANAGED_ATTRIBUTES:
        expected = sorted(want.attrs.get(attribute.lower(), ()))
        actual = sorted(have.attrs.get(attribute.lower(), ()))
        if expected != actual:
            differ("attribute", expected, actual, attribute)
    want_locked, have_locked = want.locked_at is not None, _locked_for_good(have)
    if want_locked != have_locked:
        differ("lock", [_lock_word(want_locked)], [_lock_word(have_locked)])
    if want.groups != have.groups:
        differ("groups", sorted(want.groups), sorted(have.groups))
    return found


def _locked_for_good(account: DirectoryAccount) -> bool:
    """Locked (khóa) the way hopthu locks; a lockout after failed binds expires and is not drift."""
    return account.first("pwdAccountLockedTime") == LOCKED_FOREVER


def _lock_word(locked: bool) -> str:
    return "locked" if locked else "not locked"


def render_text(differences: list[Difference], expected: Expected) -> str:
    lines = [difference.describe() for difference in differences]
    lines += [
        f"warning: request {request_id} is recorded as applied but cannot be replayed: {reason}"
        for request_id, reason in sorted(expected.not_replayed.items())
    ]
    if differences:
        accounts = len({(d.org, d.uid) for d in differences})
        lines.append(f"drift: {len(differences)} difference(s) in {accounts} account(s)")
    else:
        lines.append("no drift: the directory holds what the applied requests say")
    return "\n".join(lines) + "\n"


def as_dict(differences: list[Difference], expected: Expected) -> dict:
    return {
        "differences": [asdict(d) for d in differences],
        "accounts": len({(d.org, d.uid) for d in differences}),
        "not_replayed": dict(sorted(expected.not_replayed.items())),
    }


def render_json(differences: list[Difference], expected: Expected) -> str:
    return json.dumps(as_dict(differences, expected), ensure_ascii=False, indent=2) + "\n"


# --- effects: the one read --------------------------------------------------------------------------


def check_drift(
    requests: list[Request],
    inventory: Inventory,
    audit_path: Path,
    connect_org: Callable[[str], object],
    orgs: Iterable[str] | None = None,
) -> tuple[list[Difference], Expected]:
    """Read the audit log and every account of ``orgs`` (default: all of the inventory), compare.

    ``connect_org`` gives a bound connection per organisation (``pipeline.Session.connection``).
    """
    from hopthu.audit import AuditError, AuditLog
    from hopthu.directory.reader import DirectoryReader

    if not audit_path.is_file():
        raise AuditError(
            f"{audit_path}: no audit log: drift compares the directory with the requests the log records "
            "as applied (give --audit-log PATH or set $HOPTHU_AUDIT_LOG)"
        )
    outcomes = AuditLog(audit_path).ledger().outcomes
    applied = {rid: outcome.time for rid, outcome in outcomes.items() if outcome.result == "applied"}
    expected = expected_state(requests, inventory, applied)
    scope = sorted(orgs) if orgs is not None else sorted(inventory.organisations)
    actual: dict[Key, DirectoryAccount] = {}
    for code in scope:
        accounts = DirectoryReader(connect_org(code)).accounts(inventory.organisations[code], None)
        actual.update({(code, uid): account for uid, account in accounts.items()})
    return compare(expected, actual, scope), expected
