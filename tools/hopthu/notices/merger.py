"""A merger's notices (sáp nhập): one per source unit, with its people's old → new addresses. Pure.

A merger is IT's request, not a unit's; what it did concerns every unit whose accounts moved. Each source
unit gets its own notice (to its official mailbox, whose old address still delivers), listing each of its
accounts with the old address and the new one and the date the change took effect; the units the
accounts went to are named under "Nơi nhận" and get a copy. Each notice has its own number in the
notice ledger, under the key ``<request id>#<org>/<unit>``.

The rows come from what took effect, as the audit log says (``merge-in`` records: the entry before and
after; ``move`` records for the units of the target itself), never from the directory.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hopthu.audit import DoneChange
from hopthu.directory.dn import parse_dn
from hopthu.model import MERGE_FOLDER, Inventory, Organisation, Request, Unit
from hopthu.notices.render import NoticeRow

UNIT_MAILBOX_CLASS = "hopthuunitmailbox"


@dataclass(frozen=True)
class UnitNotice:
    """The notice of one source unit: where it goes and what it lists."""

    key: str  # the notice ledger's key
    source: Organisation
    unit: Unit
    rows: tuple[NoticeRow, ...]
    copies: tuple[Unit, ...]  # the target units its accounts went to


def notice_key(request_id: str, org: str, unit: str) -> str:
    return f"{request_id}#{org}/{unit}"


def requester_unit(request: Request) -> Unit:
    """Whom a refused merger's notice goes to: IT, who filed it (the requester of the file)."""
    requester = request.requester
    name = f"{requester.name}, {requester.position}" if requester.position else requester.name
    return Unit(MERGE_FOLDER, name, requester.email or "", ())


def unit_notices(request: Request, inventory: Inventory, changes: Iterable[DoneChange]) -> list[UnitNotice]:
    """One notice per source unit that had accounts moved, in the order of the merger's sources."""
    assert request.merge is not None
    target = inventory.organisations[request.org]
    changes = list(changes)
    # A moved account's source organisation: the entry its merge-out removed.
    source_of = {c.uid: _org_of(c.dn, inventory) for c in changes if c.op == "merge-out"}
    rows: dict[tuple[str, str], list[tuple[str, NoticeRow]]] = {}
    went_to: dict[tuple[str, str], list[str]] = {}
    for change in changes:
        if change.op == "merge-in":
            code = source_of.get(change.uid)
        elif change.op == "move":
            code = target.code  # a unit of the target itself, merged into another of its units
        else:
            continue
        unit = (change.before.get("departmentNumber") or [None])[0]
        to = (change.after.get("departmentNumber") or [None])[0]
        if code is None or unit is None or to is None:
            continue
        row = _row(change, target, to)
        rows.setdefault((code, unit), []).append(((row.full_name or "").casefold(), row))
        went_to.setdefault((code, unit), [])
        if to not in went_to[(code, unit)]:
            went_to[(code, unit)].append(to)
    notices = []
    for source in request.merge.sources:
        org = inventory.organisations[source.org]
        for unit_code in source.units:
            found = rows.get((source.org, unit_code))
            if not found or unit_code not in org.units:
                continue
            copies = tuple(
                target.units[code]
                for code in went_to[(source.org, unit_code)]
                if code in target.units and target.units[code].mailbox != org.units[unit_code].mailbox
            )
            notices.append(
                UnitNotice(
                    notice_key(request.id, source.org, unit_code),
                    org,
                    org.units[unit_code],
                    tuple(row for _, row in sorted(found, key=lambda item: item[0])),
                    copies,
                )
            )
    return notices


def _row(change: DoneChange, target: Organisation, unit: str) -> NoticeRow:
    before, after = change.before, change.after
    mailbox = UNIT_MAILBOX_CLASS in {c.lower() for c in after.get("objectClass", [])}
    name = (after.get("cn") or before.get("cn") or [change.uid])[0]
    new = (after.get("mail") or [None])[0]
    old = (before.get("mail") or [None])[0]
    old_uid = (before.get("uid") or [change.uid])[0]
    unit_name = target.units[unit].name if unit in target.units else unit
    if new is None:  # an application-only account: the login name is what the person needs
        return NoticeRow(name, unit_name, change.uid, old_address=old_uid if old_uid != change.uid else None)
    return NoticeRow(name, unit_name, new, old_address=old if old != new else None, unit_mailbox=mailbox)


def _org_of(entry_dn: str | None, inventory: Inventory) -> str | None:
    """The organisation whose suffix holds ``entry_dn``."""
    if not entry_dn:
        return None
    rdns = _folded(entry_dn)
    for org in inventory.organisations.values():
        suffix = _folded(org.base_dn)
        if rdns[-len(suffix) :] == suffix:
            return org.code
    return None


def _folded(text: str) -> tuple[tuple[tuple[str, str], ...], ...]:
    return tuple(tuple((attr, value.lower()) for attr, value in rdn) for rdn in parse_dn(text))
