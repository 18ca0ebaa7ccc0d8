"""Drift (độ lệch): what the directory holds compared with what the applied requests say it should hold.

The expected state is folded from every request the audit log records as *applied*, in plan order: each
request is planned with ``hopthu.plan`` against the state the earlier ones left (starting empty, at the
time it was really applied, so retention periods and lock times come out as they did) and its changes are
simulated the way the planner simulates them. That state is compared with one snapshot of the directory:

- ``missing``: an account the requests created and never deleted is not in the directory (deleted by hand);
- ``unmanaged``: an account in the directory no applied request created (created by hand, or before hopthu);
- ``deleted``: an account an applied request deleted is in the directory again (made again by hand, or
  brought back by a directory provider that had not seen the delete: docs/adopting.md);
- ``kind``: a person account sits among the unit mailboxes or the other way round;
- ``attribute``: a managed attribute (name, unit, position, mail…) differs (changed by hand);
- ``lock``: locked (khóa) although no request locked it, or unlocked by hand;
- ``groups``: application group memberships differ;
- ``provider``: with several providers (multi-provider replication), an account one provider holds
  differently from the first, or a provider that does not answer. Providers are compared attribute by
  attribute (everything hopthu reads of an account, and its groups); a difference is reported only when it
  is still there a moment later (``SETTLE`` seconds), so a change replication is carrying is not drift.

Values the account's owner or the server change on their own are not drift: passwords and ``pwdReset``,
failed-bind lockouts (a ``pwdAccountLockedTime`` other than the permanent one), ``memberOf`` as such.

``expected_state`` and ``compare`` are pure; ``check_drift`` at the end is the one function that reads.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hopthu.endpoints import Endpoint
from hopthu.model import DirectoryAccount, Inventory, Op, Request, Snapshot
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
ASPECTS = ("missing", "unmanaged", "deleted", "kind", "attribute", "lock", "groups", "provider")
SETTLE = 2.0  # seconds replication gets before a difference between providers counts

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
    provider: str | None = None  # for "provider": the provider that differs from the first (reference)
    reference: str | None = None

    def describe(self) -> str:
        shown = f"{self.org}/{self.uid}"
        last = f" (last request: {self.request})" if self.request else ""
        if self.aspect == "provider":
            if self.attribute == "unreachable":
                return f"{self.org}: provider {self.provider} does not answer: {_values(self.actual)}"
            what = self.attribute or "entry"
            return (
                f"{shown}: providers differ: {what}: {self.reference} has {_values(self.expected)}, "
                f"{self.provider} has {_values(self.actual)}"
            )
        if self.aspect == "missing":
            return f"{shown}: missing from the directory: deleted outside hopthu?{last}"
        if self.aspect == "deleted":
            return f"{shown}: deleted by request {self.request} but in the directory again: delete it again"
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
    deleted: dict[Key, str] = field(default_factory=dict)  # accounts deleted → the request that did it


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
    deleted: dict[Key, str] = {}
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
            key = (change.org, change.entry_uid)
            last[key] = request.id
            if change.op is Op.DELETE:
                deleted[key] = request.id
            elif change.op is Op.CREATE:
                deleted.pop(key, None)
    return Expected(state, last, not_replayed, deleted)


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
    deleted = {(org, uid.casefold()): request for (org, uid), request in expected.deleted.items()}
    found += [
        Difference(org, account.uid, "deleted", request=deleted[key])
        if key in deleted
        else Difference(org, account.uid, "unmanaged")
        for key, account in have.items()
        for org in [key[0]]
    ]
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


def compare_providers(org: str, accounts: Mapping[str, Mapping[str, DirectoryAccount]]) -> list[Difference]:
    """Pure: every difference between the first provider's accounts (``accounts``: URI → uid → account,
    in the connections file's order) and each other provider's, attribute by attribute."""
    uris = list(accounts)
    if len(uris) < 2:
        return []
    reference = uris[0]
    first = {uid.casefold(): account for uid, account in accounts[reference].items()}
    found: list[Difference] = []
    for uri in uris[1:]:
        other = {uid.casefold(): account for uid, account in accounts[uri].items()}

        def differ(uid: str, attribute: str | None, want: Iterable[str], have: Iterable[str], uri=uri):
            found.append(
                Difference(org, uid, "provider", attribute, tuple(want), tuple(have), None, uri, reference)
            )

        for key in sorted(first.keys() | other.keys()):
            mine, theirs = first.get(key), other.get(key)
            if mine is None or theirs is None:
                uid = (mine or theirs).uid  # type: ignore[union-attr]
                differ(uid, None, ["present"] if mine else ["absent"], ["present"] if theirs else ["absent"])
                continue
            for attribute in sorted(mine.attrs.keys() | theirs.attrs.keys()):
                want, have = sorted(mine.attrs.get(attribute, ())), sorted(theirs.attrs.get(attribute, ()))
                if want != have:
                    differ(mine.uid, attribute, want, have)
            if mine.groups != theirs.groups:
                differ(mine.uid, "groups", sorted(mine.groups), sorted(theirs.groups))
    return sorted(found)


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
    endpoints: Mapping[str, Endpoint] | None = None,
) -> tuple[list[Difference], Expected]:
    """Read the audit log and every account of ``orgs`` (default: all of the inventory), compare.

    ``connect_org`` gives a bound connection per organisation (``pipeline.Session.connection``). With
    ``endpoints``, an organisation with several providers also has each provider compared with the first.
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
    between: list[Difference] = []
    for code in scope:
        org = inventory.organisations[code]
        accounts = DirectoryReader(connect_org(code)).accounts(org, None)
        actual.update({(code, uid): account for uid, account in accounts.items()})
        endpoint = (endpoints or {}).get(code)
        if endpoint is not None and len(endpoint.uris) > 1:
            between += provider_differences(org, endpoint)
    return sorted(compare(expected, actual, scope) + between), expected


def provider_differences(org, endpoint: Endpoint, settle: float = SETTLE) -> list[Difference]:
    """Read every provider of ``org``, compare each with the first; what differs is read again after
    ``settle`` seconds and only what still differs is kept."""
    import time

    from hopthu.directory.failover import read_every_provider
    from hopthu.directory.reader import DirectoryReader

    def unreachable(readings) -> list[Difference]:
        return [
            Difference(org.code, "", "provider", "unreachable", (), (reason,), None, uri)
            for uri, reason in readings.unreachable.items()
        ]

    readings = read_every_provider(endpoint, lambda conn: DirectoryReader(conn).accounts(org, None))
    found = compare_providers(org.code, readings.values)
    if not found:
        return unreachable(readings)
    time.sleep(settle)
    uids = sorted({d.uid for d in found})
    again = read_every_provider(endpoint, lambda conn: DirectoryReader(conn).accounts(org, uids))
    still = set(compare_providers(org.code, again.values))
    return sorted(unreachable(again) + [d for d in found if d in still])
