"""The directory snapshot a plan is computed from, read in as few round trips as possible.

Named accounts are looked up with one OR filter per chunk of usernames (an indexed equality match each),
a few chunks in flight at once, encoded and decoded without ldap3 (``hopthu.directory.lookup``: 4 to 20
times cheaper for thousands of names); all accounts are read with one paged search per container.
Reading a named set never reads the whole directory, so a full read only pays when nearly every account
is wanted, and then the caller passes None.
Accounts are keyed on the username of their RDN, never on the DN string (the server may spell it with
hex escapes).

Group membership is read from the groups' own ``member`` values, never from the accounts' ``memberOf``:
the memberof overlay writes ``memberOf`` after the group change has committed (for a thousand members,
seconds later), so a plan made from ``memberOf`` right after an interrupted apply would add members
the group already holds. For named accounts, a Matched Values control (RFC 3876) makes the server return
only their ``member`` values, not every member of a large group.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import replace

import ldap3
from ldap3.core.exceptions import LDAPException

from hopthu.directory import DirectoryError, DirectoryUnavailable, dn, lookup
from hopthu.directory.connection import UNAVAILABLE_CODES
from hopthu.model import DirectoryAccount, EntryKind, Organisation

# '*' for the user attributes, plus the operational ones the planner decides on.
ACCOUNT_ATTRIBUTES = ("*", "pwdReset", "pwdAccountLockedTime", "pwdChangedTime")
GROUP_ATTRIBUTES = ("cn", "member")
TAKEN_ATTRIBUTES = ("uid", "cn", "mail", "mailLocalAddress")
MATCHED_VALUES = "1.2.826.0.1.3344810.2.3"  # RFC 3876 control OID
NEVER_READ = frozenset({"userpassword"})  # a hash is still a secret: it never enters a snapshot
PASSWORD = "userPassword"  # read only by ``password_hashes``, for a merger's copy
CHUNK = 100  # usernames per OR filter: its answer stays below the servers' usual size limit (500)
SIZE_LIMIT_EXCEEDED = 4
PAGE_SIZE = 1000
PAGED_RESULTS = "1.2.840.113556.1.4.319"  # RFC 2696 control OID

_KINDS = ((dn.PEOPLE, EntryKind.PERSON), (dn.MAILBOXES, EntryKind.MAILBOX))
_OU = {kind: ou for ou, kind in _KINDS}
_GENERALIZED_TIME = re.compile(
    r"(?P<date>\d{8})(?P<hour>\d{2})(?P<minute>\d{2})?(?P<second>\d{2})?(?:[.,](?P<fraction>\d+))?"
    r"(?P<zone>Z|[+-]\d{2}(?:\d{2})?)"
)


class DirectoryReader:
    """Reads accounts through one bound connection (``hopthu.directory.connection.connect``)."""

    def __init__(self, conn: ldap3.Connection) -> None:
        self.conn = conn

    def accounts(self, org: Organisation, uids: Collection[str] | None = None) -> dict[str, DirectoryAccount]:
        """The accounts of ``org`` named in ``uids`` (all of them with None), by username.

        Usernames not in the directory are simply absent from the result. Matching is the server's
        (case-insensitive); the keys are the usernames as the directory spells them.
        """
        if uids is not None:
            found = self._look_up(org, sorted({uid for uid in uids if uid}))
            groups = self._memberships_of(org, [_account_key(org, a) for a in found.values()])
        else:
            found = {}
            for ou, kind in _KINDS:
                for entry in self._search(
                    dn.container_dn(org, ou), ldap3.LEVEL, "(uid=*)", ACCOUNT_ATTRIBUTES
                ):
                    account = _account(org, entry, kind)
                    if account is not None:
                        found[account.uid] = account
            entries = self._search(
                dn.container_dn(org, dn.GROUPS), ldap3.LEVEL, "(objectClass=groupOfNames)", GROUP_ATTRIBUTES
            )
            groups = _memberships(org, entries)
        return {
            uid: replace(account, groups=frozenset(groups.get(_account_key(org, account), ())))
            for uid, account in found.items()
        }

    def accounts_in_units(self, org: Organisation, units: Collection[str]) -> dict[str, DirectoryAccount]:
        """Every account of ``org`` whose unit (``departmentNumber``) is one of ``units``, by username,
        with its groups: what a merger moves. One search (decoded here when the connection allows), and
        the groups read whole, since a merger moves most of their members."""
        codes = sorted(set(units))
        if not codes:
            return {}
        groups = _memberships(org, self._groups(org))
        found: dict[str, DirectoryAccount] = {}
        for entry in self._entries_where(org.base_dn, "departmentNumber", codes, ACCOUNT_ATTRIBUTES):
            kind = _kind_of(org, entry["dn"])
            account = _account(org, entry, kind, groups) if kind is not None else None
            if account is not None:
                found[account.uid] = account
        return found

    def _groups(self, org: Organisation) -> Iterator[dict]:
        """Every group of ``org`` with all its members: one search, decoded here when it can be."""
        base = dn.container_dn(org, dn.GROUPS)
        if lookup.usable(self.conn):
            present = lookup.encode_present("member")
            (result,) = lookup.search_many(self.conn, base, ldap3.LEVEL, [present], GROUP_ATTRIBUTES)
            if result.code == 0:
                return iter(result.entries)
        return self._search(base, ldap3.LEVEL, "(objectClass=groupOfNames)", GROUP_ATTRIBUTES)

    def password_hashes(
        self, org: Organisation, accounts: Iterable[tuple[EntryKind, str]]
    ) -> dict[tuple[EntryKind, str], list[bytes]]:
        """The ``userPassword`` values (hashes: the server hashes what hopthu writes) of ``accounts``.

        The one read of a password in hopthu, for a merger, which keeps every password: the values go
        from here into the new entry's add and nowhere else (never a snapshot, plan, log or record). Only
        the rootdn may read them (``olcAccess``); an account without one is absent from the answer.
        """
        wanted = {(kind, uid.lower()): (kind, uid) for kind, uid in accounts}
        uids = sorted({uid for _, uid in wanted.values()})
        hashes: dict[tuple[EntryKind, str], list[bytes]] = {}
        for entry in self._entries_where(org.base_dn, "uid", uids, (PASSWORD,)):
            kind = _kind_of(org, entry["dn"])
            uid = dn.child_value(entry["dn"], dn.container_dn(org, _OU[kind]), "uid") if kind else None
            values = next((v for k, v in entry["raw_attributes"].items() if k.lower() == "userpassword"), [])
            key = wanted.get((kind, (uid or "").lower())) if kind else None
            if key is not None and values:
                hashes[key] = [bytes(value) for value in values]
        return hashes

    def groups_of(
        self, org: Organisation, members: Iterable[tuple[EntryKind, str]]
    ) -> dict[tuple[EntryKind, str], frozenset[str]]:
        """The application groups that list each of ``members`` ((kind, uid) of accounts that need not
        exist) as a member, read from the groups now."""
        keys = {(kind, uid): _dn_of(org, kind, uid).lower() for kind, uid in members}
        groups = self._memberships_of(org, list(keys.values()))
        return {member: frozenset(groups.get(key, ())) for member, key in keys.items()}

    def _memberships_of(self, org: Organisation, member_keys: list[str]) -> dict[str, set[str]]:
        """Member key → group codes for ``member_keys`` only: one search per chunk of them, answered with
        the groups that hold one of them and, of each group, only those ``member`` values."""
        member_dns = sorted(set(member_keys))
        chunks = [member_dns[start : start + CHUNK] for start in range(0, len(member_dns), CHUNK)]
        base = dn.container_dn(org, dn.GROUPS)
        entries: list[dict] = []
        if not lookup.usable(self.conn):
            for chunk in chunks:
                value = lookup.encode_values_filter("member", chunk)
                entries += paged_search(
                    self.conn,
                    base,
                    ldap3.LEVEL,
                    dn.any_of("member", chunk),
                    GROUP_ATTRIBUTES,
                    controls=[(MATCHED_VALUES, True, value)],
                )
            return _memberships(org, entries)
        filters = [lookup.encode_filter("member", chunk) for chunk in chunks]
        controls = [
            [lookup.encode_control(MATCHED_VALUES, True, lookup.encode_values_filter("member", chunk))]
            for chunk in chunks
        ]
        for result in lookup.search_many(self.conn, base, ldap3.LEVEL, filters, GROUP_ATTRIBUTES, controls):
            if result.code != 0:
                raise DirectoryError(
                    refusal(self.conn, base, result.code, result.description, result.message)
                )
            entries += result.entries
        return _memberships(org, entries)

    def _look_up(self, org: Organisation, uids: list[str]) -> dict[str, DirectoryAccount]:
        found: dict[str, DirectoryAccount] = {}
        for entry in self._entries_named(org.base_dn, uids):
            kind = _kind_of(org, entry["dn"])
            account = _account(org, entry, kind) if kind is not None else None
            if account is not None:
                found[account.uid] = account
        return found

    def _entries_named(self, base: str, uids: list[str]) -> Iterator[dict]:
        """The entries under ``base`` with one of ``uids``, one OR filter per chunk."""
        return self._entries_where(base, "uid", uids, ACCOUNT_ATTRIBUTES)

    def _entries_where(
        self, base: str, attribute: str, values: list[str], attributes: tuple[str, ...]
    ) -> Iterator[dict]:
        """The entries under ``base`` whose ``attribute`` equals one of ``values``, one OR filter per
        chunk of them."""
        chunks = [values[start : start + CHUNK] for start in range(0, len(values), CHUNK)]
        if not chunks:
            return
        if not lookup.usable(self.conn):
            for chunk in chunks:
                yield from self._search(base, ldap3.SUBTREE, dn.any_of(attribute, chunk), attributes)
            return
        filters = [lookup.encode_filter(attribute, chunk) for chunk in chunks]
        results = lookup.search_many(self.conn, base, ldap3.SUBTREE, filters, attributes)
        for chunk, result in zip(chunks, results, strict=True):
            if result.code == SIZE_LIMIT_EXCEEDED:  # a strange directory: page through this chunk
                yield from self._search(base, ldap3.SUBTREE, dn.any_of(attribute, chunk), attributes)
            elif result.code != 0:
                raise DirectoryError(
                    refusal(self.conn, base, result.code, result.description, result.message)
                )
            else:
                yield from result.entries

    def taken(self, org: Organisation) -> frozenset[str]:
        """Every name in use in ``org``, lower-cased: every uid value of both containers, and the local
        part of every address an account has or had (``mail``, and ``mailLocalAddress``: the addresses
        kept after a transfer), so that none is ever given to someone else."""
        return frozenset(name for name, _ in self._names(org))

    def holders(self, org: Organisation) -> dict[str, str | None]:
        """Every name in use in ``org`` (as ``taken``), with the full name (first ``cn``) of the person
        who holds it; None for a unit mailbox, whose holder is a unit, not a person.

        ``hopthu assign`` needs the holders for naming rules with conditions (``unless same-full-name``).
        """
        return dict(self._names(org))

    def _names(self, org: Organisation) -> Iterator[tuple[str, str | None]]:
        for ou, kind in _KINDS:
            for entry in self._every_account(dn.container_dn(org, ou), TAKEN_ATTRIBUTES):
                raw = entry["raw_attributes"]
                names = raw.get("cn") or ()
                holder = names[0].decode("utf-8", "replace") if names and kind is EntryKind.PERSON else None
                for value in raw.get("uid", ()):
                    yield value.decode("utf-8", "replace").lower(), holder
                for attribute in ("mail", "mailLocalAddress"):
                    for value in raw.get(attribute, ()):
                        local = value.decode("utf-8", "replace").rpartition("@")[0].lower()
                        if local:
                            yield local, holder

    def _every_account(self, container: str, attributes: tuple[str, ...]) -> Iterator[dict]:
        """Every entry right below ``container``: one search decoded here when the connection allows
        (a merger's target may hold 100,000 names), else a paged one."""
        if lookup.usable(self.conn):
            (result,) = lookup.search_many(
                self.conn, container, ldap3.LEVEL, [lookup.encode_present("uid")], attributes
            )
            if result.code == 0:
                return iter(result.entries)
        return self._search(container, ldap3.LEVEL, "(uid=*)", attributes)

    def _search(
        self, base: str, scope: str, search_filter: str, attributes: tuple[str, ...]
    ) -> Iterator[dict]:
        return paged_search(self.conn, base, scope, search_filter, attributes)


def paged_search(
    conn: ldap3.Connection,
    base: str,
    scope: str,
    search_filter: str,
    attributes: tuple[str, ...],
    controls: list[tuple[str, bool, bytes | None]] | None = None,
) -> Iterator[dict]:
    """Entries of a paged search, page by page; raises DirectoryError when the server refuses, and
    DirectoryUnavailable when it does not answer (within the connection's timeout) or cannot serve."""
    cookie: bytes | None = None
    while True:
        try:
            conn.search(
                base,
                search_filter,
                scope,
                attributes=list(attributes),
                paged_size=PAGE_SIZE,
                paged_cookie=cookie,
                controls=controls,
            )
        except LDAPException as error:  # ldap3 raises on a broken or silent connection
            with contextlib.suppress(LDAPException, OSError):
                conn.strategy.close()
            raise DirectoryUnavailable(
                f"directory {conn.server.name} unavailable during a search: {error}"
            ) from None
        result = conn.result
        if not result or result.get("result") in UNAVAILABLE_CODES:
            raise DirectoryUnavailable(
                f"directory {conn.server.name} cannot serve a search now: "
                + (f"{result.get('description')} ({result.get('result')})" if result else "no answer")
            )
        if result["result"] != 0:
            raise DirectoryError(
                refusal(conn, base, result["result"], result["description"], result.get("message") or "")
            )
        for entry in conn.response:
            if entry["type"] == "searchResEntry":
                yield entry
        cookie = result.get("controls", {}).get(PAGED_RESULTS, {}).get("value", {}).get("cookie")
        if not cookie:
            return


def refusal(conn: ldap3.Connection, base: str, code: int, description: str, message: str) -> str:
    """Why a search under ``base`` failed, and where to look."""
    hint = " (is the organisation's base loaded in this directory?)" if code == 32 else ""
    return f"cannot read {base} from {conn.server.name}: {description} ({code}) {message}".rstrip() + hint


def _kind_of(org: Organisation, entry_dn: str) -> EntryKind | None:
    for ou, kind in _KINDS:
        if dn.child_value(entry_dn, dn.container_dn(org, ou), "uid") is not None:
            return kind
    return None


def _account(
    org: Organisation, entry: dict, kind: EntryKind, groups: dict[str, set[str]] | None = None
) -> DirectoryAccount | None:
    """The account of an entry; ``groups`` (member key → group codes) gives its groups when known."""
    container = dn.container_dn(org, dn.PEOPLE if kind is EntryKind.PERSON else dn.MAILBOXES)
    uid = dn.child_value(entry["dn"], container, "uid")
    if uid is None:
        return None  # not an account entry of hopthu's tree
    attrs = {}
    for name, values in entry["raw_attributes"].items():
        key = _lower(name)
        if values and key not in NEVER_READ:
            attrs[key] = tuple([value.decode("utf-8", "replace") for value in values])
    locked = attrs.get("hopthulockedtime")
    member_of = groups.get(_dn_of(org, kind, uid).lower(), ()) if groups else ()
    return DirectoryAccount(
        uid=uid,
        dn=entry["dn"],
        kind=kind,
        attrs=attrs,
        groups=frozenset(member_of),  # else filled in from the groups' member values (``accounts``)
        locked_at=parse_generalized_time(locked[0]) if locked else None,
        password_reset_pending=attrs.get("pwdreset", ("FALSE",))[0].upper() == "TRUE",
    )


@functools.lru_cache(maxsize=256)
def _lower(name: str) -> str:
    return name.lower()


def _memberships(org: Organisation, group_entries: Iterable[dict]) -> dict[str, set[str]]:
    """Lower-cased member DN → group codes, from group entries (``cn`` from the entry's RDN)."""
    groups_dn = dn.container_dn(org, dn.GROUPS)
    members: dict[str, set[str]] = {}
    for entry in group_entries:
        code = dn.child_value(entry["dn"], groups_dn, "cn")
        if code is None:
            continue
        for value in entry["raw_attributes"].get("member", ()):
            member = value.decode("utf-8", "replace")
            if member != dn.PLACEHOLDER_MEMBER:
                members.setdefault(_member_key(org, member), set()).add(code)
    return members


def _member_key(org: Organisation, member: str) -> str:
    """A member value as the key of the account it names (the server may spell a DN its own way: hex
    escapes, case)."""
    for ou, kind in _KINDS:
        uid = dn.child_value(member, dn.container_dn(org, ou), "uid")
        if uid is not None:
            return _dn_of(org, kind, uid).lower()
    return member.lower()


def _account_key(org: Organisation, account: DirectoryAccount) -> str:
    """The account's DN as hopthu spells it, lower-cased: what ``_member_key`` gives for its member value."""
    return _dn_of(org, account.kind, account.uid).lower()


def _dn_of(org: Organisation, kind: EntryKind, uid: str) -> str:
    return dn.person_dn(org, uid) if kind is EntryKind.PERSON else dn.mailbox_dn(org, uid)


def parse_generalized_time(value: str) -> dt.datetime:
    """An LDAP GeneralizedTime (``20250131094500Z``, optional minutes, seconds, fraction, offset) as an
    aware datetime."""
    match = _GENERALIZED_TIME.fullmatch(value.strip())
    if match is None:
        raise DirectoryError(f"not an LDAP GeneralizedTime: {value!r}")
    day = match["date"]  # not strptime: ten times slower, and a merger reads thousands of lock times
    date = dt.datetime(int(day[:4]), int(day[4:6]), int(day[6:8]))
    fraction = float("0." + match["fraction"]) if match["fraction"] else 0.0
    zone = match["zone"]
    offset = dt.timedelta(0)
    if zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        offset = sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5] or 0))
    # The fraction belongs to the last unit given (RFC 4517 3.3.13).
    unit = dt.timedelta(seconds=1 if match["second"] else 60 if match["minute"] else 3600)
    stamp = (
        date.replace(
            hour=int(match["hour"]), minute=int(match["minute"] or 0), second=int(match["second"] or 0)
        )
        + fraction * unit
    )
    return stamp.replace(tzinfo=dt.timezone(offset)).astimezone(dt.UTC)
