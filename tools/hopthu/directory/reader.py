"""The directory snapshot a plan is computed from, read in as few round trips as possible.

Named accounts are looked up with one OR filter per chunk of usernames (an indexed equality match each),
a few chunks in flight at once, encoded and decoded without ldap3 (``hopthu.directory.lookup``: 4 to 20
times cheaper for thousands of names); all accounts are read with one paged search per container.
Reading a named set never reads the whole directory, so a full read only pays when nearly every account
is wanted, and then the caller passes None.
Accounts are keyed on the username of their RDN, never on the DN string (the server may spell it with
hex escapes).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Iterator

import ldap3

from hopthu.directory import DirectoryError, dn, lookup
from hopthu.model import DirectoryAccount, EntryKind, Organisation

# '*' for the user attributes, plus the operational ones the planner decides on.
ACCOUNT_ATTRIBUTES = ("*", "pwdReset", "pwdAccountLockedTime", "pwdChangedTime", "memberOf")
NEVER_READ = frozenset({"userpassword"})  # a hash is still a secret: it never enters a snapshot
CHUNK = 100  # usernames per OR filter: its answer stays below the servers' usual size limit (500)
SIZE_LIMIT_EXCEEDED = 4
PAGE_SIZE = 1000
PAGED_RESULTS = "1.2.840.113556.1.4.319"  # RFC 2696 control OID

_KINDS = ((dn.PEOPLE, EntryKind.PERSON), (dn.MAILBOXES, EntryKind.MAILBOX))
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
            return self._look_up(org, sorted({uid for uid in uids if uid}))
        found: dict[str, DirectoryAccount] = {}
        for ou, kind in _KINDS:
            for entry in self._search(dn.container_dn(org, ou), ldap3.LEVEL, "(uid=*)", ACCOUNT_ATTRIBUTES):
                account = _account(org, entry, kind)
                if account is not None:
                    found[account.uid] = account
        return found

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
        chunks = [uids[start : start + CHUNK] for start in range(0, len(uids), CHUNK)]
        if not chunks:
            return
        if not lookup.usable(self.conn):
            for chunk in chunks:
                yield from self._search(base, ldap3.SUBTREE, dn.any_of("uid", chunk), ACCOUNT_ATTRIBUTES)
            return
        filters = [lookup.encode_filter("uid", chunk) for chunk in chunks]
        results = lookup.search_many(self.conn, base, ldap3.SUBTREE, filters, ACCOUNT_ATTRIBUTES)
        for chunk, result in zip(chunks, results, strict=True):
            if result.code == SIZE_LIMIT_EXCEEDED:  # a strange directory: page through this chunk
                yield from self._search(base, ldap3.SUBTREE, dn.any_of("uid", chunk), ACCOUNT_ATTRIBUTES)
            elif result.code != 0:
                raise DirectoryError(
                    refusal(self.conn, base, result.code, result.description, result.message)
                )
            else:
                yield from result.entries

    def taken(self, org: Organisation) -> frozenset[str]:
        """Every username in use in ``org`` (both containers, every uid value), lower-cased."""
        taken: set[str] = set()
        for ou, _kind in _KINDS:
            for entry in self._search(dn.container_dn(org, ou), ldap3.LEVEL, "(uid=*)", ("uid",)):
                values = entry["raw_attributes"]["uid"]
                taken.update(value.decode("utf-8", "replace").lower() for value in values)
        return frozenset(taken)

    def holders(self, org: Organisation) -> dict[str, str | None]:
        """Every username in use in ``org`` (as ``taken``), with the full name (first ``cn``) of the person
        who holds it; None for a unit mailbox, whose holder is a unit, not a person.

        ``hopthu assign`` needs the holders for naming rules with conditions (``unless same-full-name``).
        """
        found: dict[str, str | None] = {}
        for ou, kind in _KINDS:
            for entry in self._search(dn.container_dn(org, ou), ldap3.LEVEL, "(uid=*)", ("uid", "cn")):
                raw = entry["raw_attributes"]
                names = raw.get("cn") or ()
                holder = names[0].decode("utf-8", "replace") if names and kind is EntryKind.PERSON else None
                for value in raw["uid"]:
                    found[value.decode("utf-8", "replace").lower()] = holder
        return found

    def _search(
        self, base: str, scope: str, search_filter: str, attributes: tuple[str, ...]
    ) -> Iterator[dict]:
        return paged_search(self.conn, base, scope, search_filter, attributes)


def paged_search(
    conn: ldap3.Connection, base: str, scope: str, search_filter: str, attributes: tuple[str, ...]
) -> Iterator[dict]:
    """Entries of a paged search, page by page; raises DirectoryError when the server refuses."""
    cookie: bytes | None = None
    while True:
        conn.search(
            base, search_filter, scope, attributes=list(attributes), paged_size=PAGE_SIZE, paged_cookie=cookie
        )
        result = conn.result
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


def _account(org: Organisation, entry: dict, kind: EntryKind) -> DirectoryAccount | None:
    container = dn.container_dn(org, dn.PEOPLE if kind is EntryKind.PERSON else dn.MAILBOXES)
    uid = dn.child_value(entry["dn"], container, "uid")
    if uid is None:
        return None  # not an account entry of hopthu's tree
    attrs = {
        name.lower(): tuple(value.decode("utf-8", "replace") for value in values)
        for name, values in entry["raw_attributes"].items()
        if name.lower() not in NEVER_READ and values
    }
    groups_dn = dn.container_dn(org, dn.GROUPS)
    groups = {dn.child_value(group, groups_dn, "cn") for group in attrs.get("memberof", ())}
    locked = attrs.get("hopthulockedtime")
    return DirectoryAccount(
        uid=uid,
        dn=entry["dn"],
        kind=kind,
        attrs=attrs,
        groups=frozenset(code for code in groups if code is not None),
        locked_at=parse_generalized_time(locked[0]) if locked else None,
        password_reset_pending=attrs.get("pwdreset", ("FALSE",))[0].upper() == "TRUE",
    )


def parse_generalized_time(value: str) -> dt.datetime:
    """An LDAP GeneralizedTime (``20250131094500Z``, optional minutes, seconds, fraction, offset) as an
    aware datetime."""
    match = _GENERALIZED_TIME.fullmatch(value.strip())
    if match is None:
        raise DirectoryError(f"not an LDAP GeneralizedTime: {value!r}")
    date = dt.datetime.strptime(match["date"], "%Y%m%d")
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
