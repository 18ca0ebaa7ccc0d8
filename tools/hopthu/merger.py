"""A merger (sáp nhập), decided: who moves, under which username, into which entry. Pure: no I/O.

Every account of a source unit moves to the target organisation (another suffix, maybe another server):
it gets an entry there and loses the one in the source. This module decides, from the accounts of the
source units and what the target holds, for each account:

- its username there (``fates``): kept when it is free in the target; otherwise the request's reviewed
  ``renames`` entry says the new one, which ``hopthu assign --directory`` took from the target's rule
  exactly as it would for a new account. A username that is taken and has no rename is a collision:
  the plan refuses the merger and lists every one, never picks a name on its own;
- its entry there (``target_entry``): every attribute kept (names, position, phone, lock and lock time,
  a pending one-time password's ``pwdReset``…) but the unit, the address in the target's domain, the
  old address kept as an alias (``mailLocalAddress``) and the mailbox folder (``hopthuMailbox``), which
  stays where the mail is: no message moves, Dovecot finds the same folder under the new address.

``plan.py`` turns this into changes and refusals; ``assign.py`` into the ``renames`` block of the file.
The password hash is not part of any of it: the applier copies it at the moment it writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from hopthu.model import DirectoryAccount, EntryKind, Merge, MergeSource, Organisation

ALIAS_CLASS = "inetLocalMailRecipient"  # misc schema: mailLocalAddress
LOCKED_FOREVER = "000001010000Z"
MAILBOX_ATTRIBUTE = "hopthuMailbox"  # the mailbox folder under the mail root when not <org>/<uid>
# Values the server keeps (operational, or kept by an overlay): never copied into the new entry.
NOT_COPIED = frozenset({"pwdchangedtime", "memberof", "pwdfailuretime", "pwdhistory", "pwdgraceusetime"})
# The reader keys attributes in lower case; the new entry spells them as the rest of hopthu does.
_SPELLING = {
    name.lower(): name
    for name in [
        "objectClass",
        "uid",
        "cn",
        "sn",
        "givenName",
        "displayName",
        "mail",
        "mailLocalAddress",
        "departmentNumber",
        "ou",
        "title",
        "telephoneNumber",
        "employeeNumber",
        "o",
        "hopthuMailQuota",
        "hopthuLockedTime",
        "hopthuBackupMail",
        "hopthuManagerName",
        "hopthuManagerPhone",
        "hopthuManagerMail",
        "hopthuManagerTitle",
        "hopthuMailbox",
        "pwdReset",
        "pwdAccountLockedTime",
    ]
}
FREE = object()  # ``holder_of``'s answer for a name nobody holds


@dataclass(frozen=True)
class Mover:
    """An account of a source unit: where it comes from and the unit it goes to."""

    source: str  # organisation code
    account: DirectoryAccount
    target_unit: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.account.uid)

    @property
    def name(self) -> str:
        return self.account.first("cn") or self.account.uid


@dataclass(frozen=True)
class Fate:
    """What becomes of one mover: its username in the target, or why it has none yet."""

    mover: Mover
    uid: str | None  # None: a collision the request does not resolve (see ``holder``)
    renamed: bool = False
    holder: str | None = None  # who holds the wanted name, when it collides (None: not a person)
    wanted: str | None = None  # the name it collides on


def movers(merge: Merge, target: str, accounts: Mapping[tuple[str, str], DirectoryAccount]) -> list[Mover]:
    """The accounts of the source units of other organisations, source by source, each by username."""
    found: list[Mover] = []
    for source in merge.sources:
        if source.org == target:
            continue  # a merger of the target's own units is a transfer, planned as one
        found += sorted(
            (mover for mover in units_accounts(source, accounts)), key=lambda mover: mover.account.uid
        )
    return found


def units_accounts(
    source: MergeSource, accounts: Mapping[tuple[str, str], DirectoryAccount]
) -> Iterable[Mover]:
    for (org, _), account in accounts.items():
        unit = account.first("departmentNumber")
        if org == source.org and unit in source.units:
            yield Mover(source.org, account, source.units[unit])


def fates(found: Iterable[Mover], merge: Merge, holder_of: Callable[[str, Mover], object]) -> list[Fate]:
    """Each mover's username in the target. ``holder_of(name, mover)`` says who holds ``name`` there
    (``FREE``, a full name, or None for a holder that is not a person), the mover's own entry of an
    earlier, interrupted run aside.

    Reviewed renames are claimed first, then kept usernames in order: of two movers with one username
    (two source organisations), the first keeps it and the second collides."""
    found = list(found)
    claimed: dict[str, Mover] = {}
    for mover in found:
        rename = merge.rename_of(*mover.key)
        if rename is not None and rename.new_username:
            claimed.setdefault(rename.new_username, mover)
    result = []
    for mover in found:
        rename = merge.rename_of(*mover.key)
        wanted = rename.new_username if rename is not None else mover.account.uid
        if wanted is None:  # a rename written by hand, waiting for `hopthu assign`
            result.append(Fate(mover, None, holder=None, wanted=mover.account.uid))
            continue
        other = claimed.get(wanted)
        if other is not None and other is not mover:
            result.append(Fate(mover, None, holder=other.name, wanted=wanted))
            continue
        holder = holder_of(wanted, mover)
        if holder is not FREE:
            result.append(
                Fate(mover, None, holder=holder if isinstance(holder, str) else None, wanted=wanted)
            )
            continue
        claimed[wanted] = mover
        result.append(Fate(mover, wanted, renamed=rename is not None))
    return result


def address_of(org: Organisation, uid: str, kind: EntryKind, unit: str) -> str:
    """Staff get an address in their unit's domain; a unit mailbox one in the organisation's own."""
    domain = org.domain_of(unit) if kind is EntryKind.PERSON else org.mail_domain
    return f"{uid}@{domain}"


def target_entry(mover: Mover, target: Organisation, uid: str) -> dict[str, tuple[str, ...]]:
    """The mover's entry in the target: everything it had, in the target unit, with the address there,
    every address it had kept as an alias, and its mailbox folder where the mail is."""
    account = mover.account
    attrs = account.attrs
    entry = {_SPELLING.get(name, name): values for name, values in attrs.items() if name not in NOT_COPIED}
    if attrs.get("pwdaccountlockedtime", (LOCKED_FOREVER,)) != (LOCKED_FOREVER,):
        del entry["pwdAccountLockedTime"]  # a lockout after failed binds is the server's, and ends
    if attrs.get("pwdreset", ("TRUE",))[0].upper() != "TRUE":
        del entry["pwdReset"]
    entry["uid"] = (uid,)
    entry["departmentNumber"] = (mover.target_unit,)
    old = account.first("mail")
    if old:
        new = address_of(target, uid, account.kind, mover.target_unit)
        aliases = tuple(
            dict.fromkeys(a for a in (*account.attrs.get("maillocaladdress", ()), old) if a.lower() != new)
        )
        entry["mail"] = (new,)
        entry["mailLocalAddress"] = aliases
        classes = entry.get("objectClass", ())
        if ALIAS_CLASS.lower() not in {c.lower() for c in classes}:
            entry["objectClass"] = (*classes, ALIAS_CLASS)
        # The mailbox stays in its folder (<mail root>/<source org>/<old uid>, or where it already was).
        entry[MAILBOX_ATTRIBUTE] = account.attrs.get("hopthumailbox") or (f"{mover.source}/{account.uid}",)
    return entry


def is_moved_entry(current: DirectoryAccount, kind: EntryKind, entry: Mapping[str, tuple[str, ...]]) -> bool:
    """True when the target's ``current`` entry is the one ``entry`` describes, written by an earlier,
    interrupted run of the merger: same kind of account, unit and name, and the old addresses (never
    given to anyone else) or the staff code."""
    if current.first("departmentNumber") != entry["departmentNumber"][0]:
        return False
    if current.first("cn") != (entry.get("cn") or (None,))[0]:
        return False
    if current.kind is not kind:
        return False
    aliases = {a.lower() for a in entry.get("mailLocalAddress", ())}
    if aliases:
        return aliases <= {a.lower() for a in current.attrs.get("maillocaladdress", ())}
    return current.first("employeeNumber") == (entry.get("employeeNumber") or (None,))[0]


def unmapped_groups(mover: Mover, source: MergeSource) -> list[str]:
    return sorted(group for group in mover.account.groups if group not in source.groups)


def source_of(merge: Merge, org: str) -> MergeSource:
    return next(source for source in merge.sources if source.org == org)
