"""``hopthu assign --directory`` for a merger (sáp nhập): the ``renames`` block of its file.

A merger keeps every username that is free in the target organisation. The others — taken there by an
account, a reserved name, an old address kept as an alias, another request, or another account of the
merger that comes first — get the name the target's rule gives, exactly as a new account would
(``assign.new_username``: the person rule with its conditions on who holds a name, the unit-mailbox rule
for a unit mailbox). They are written into the file, so that the reviewer sees each one in the diff:

    renames:
      - org: binhthuan
        username: anvtt
        full_name: Võ Thị Thu An
        new_username: anvtt2

The block is the file's last field and belongs to the tool: entries already there are kept (a name
chosen by hand too, if the rule admits it); an entry without ``new_username`` gets one; the block is
rewritten, or added at the end, and nothing else in the file changes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Container, Mapping
from dataclasses import dataclass
from pathlib import Path

from hopthu.merger import FREE, Mover, fates, movers
from hopthu.model import (
    DirectoryAccount,
    EntryKind,
    Inventory,
    Manager,
    NewPerson,
    NewUnitMailbox,
    Rename,
    Request,
)
from hopthu.naming import NamingError

# The accounts of some units of an organisation, as the directory holds them.
UnitsReader = Callable[[str, Collection[str]], Mapping[str, DirectoryAccount]]
_PLAIN = re.compile(r"[^\s\-?:,\[\]{}#&*!|>'\"%@`][^:#\n]*(?<!\s)")
_TOP_FIELD = re.compile(r"^[a-z_]+:", re.M)


class RenameError(Exception):
    """No name can be given (the rule needs a part the name lacks), or the file cannot be edited."""


@dataclass(frozen=True)
class Renamed:
    org: str
    username: str
    name: str
    new_username: str


def renames_for(
    request: Request,
    inventory: Inventory,
    read_units: UnitsReader,
    holders: Mapping[str, str | None],
    given: Container[str],
    new_username: Callable,  # assign.new_username
    in_use_factory: Callable,  # assign.InUse
) -> tuple[list[Rename], list[Renamed]]:
    """Every rename the merger needs (kept ones first, in the file's order) and those made now.

    ``holders``: the names in use in the target's directory and who holds them; ``given``: the names
    other requests give there."""
    assert request.merge is not None
    merge, target = request.merge, inventory.organisations[request.org]
    accounts: dict[tuple[str, str], DirectoryAccount] = {}
    for source in merge.sources:
        if source.org != target.code:
            found = read_units(source.org, list(source.units))
            accounts.update({(source.org, uid): account for uid, account in found.items()})

    def holder_of(name: str, mover: Mover) -> object:
        if name in target.reserved or name in given:
            return None
        return holders.get(name, FREE)

    moving = movers(merge, target.code, accounts)
    decided = fates(moving, merge, holder_of)
    in_use = in_use_factory(holders, target.reserved, given, holders=holders)
    in_use.new.update(fate.uid for fate in decided if fate.uid)
    kept = [r for r in merge.renames if r.new_username]
    made: list[Renamed] = []
    for fate in decided:
        if fate.uid is not None:
            continue
        mover = fate.mover
        account = _as_new_account(mover)
        try:
            name = new_username(account, target, mover.target_unit, in_use)
        except NamingError as error:
            raise RenameError(
                f"{mover.source}/{mover.account.uid}: no username can be given in {target.code}: {error}"
            ) from None
        in_use.new.add(name)
        made.append(Renamed(mover.source, mover.account.uid, mover.name, name))
    renames = kept + [
        Rename(m.org, m.username, m.name, m.new_username, unit_mailbox=_is_mailbox(accounts, m)) for m in made
    ]
    # A hand-written entry still waiting for its name, whose account does not move (yet), stays as it is.
    named_now = {(m.org, m.username) for m in made}
    renames += [r for r in merge.renames if not r.new_username and (r.org, r.username) not in named_now]
    return renames, made


def _is_mailbox(accounts: Mapping[tuple[str, str], DirectoryAccount], made: Renamed) -> bool:
    account = accounts.get((made.org, made.username))
    return account is not None and account.kind is EntryKind.MAILBOX


def _as_new_account(mover: Mover) -> NewPerson | NewUnitMailbox:
    """The mover as the naming engine sees a new account: its name (no birth date: it was never kept)."""
    if mover.account.kind is EntryKind.MAILBOX:
        return NewUnitMailbox(mover.name, "", Manager("", ""), "", None)
    return NewPerson(mover.name, None, None, "", None, (), None)


# --- the file -------------------------------------------------------------------------------------


def _scalar(text: str) -> str:
    return text if _PLAIN.fullmatch(text) else json.dumps(text, ensure_ascii=False)


def block(renames: list[Rename], target: str) -> str:
    lines = [f"renames:  # usernames taken in {target}: the new ones its naming rule gives (hopthu assign)"]
    for rename in renames:
        name_field = "unit_name" if rename.unit_mailbox else "full_name"
        lines += [
            f"  - org: {rename.org}",
            f"    username: {rename.username}",
            f"    {name_field}: {_scalar(rename.name)}",
        ]
        if rename.new_username:
            lines.append(f"    new_username: {rename.new_username}")
    return "\n".join(lines) + "\n"


def write_renames(path: Path, renames: list[Rename], target: str) -> None:
    """Replace the file's ``renames`` block (its last field) with ``renames``, or add it at the end."""
    text = path.read_text(encoding="utf-8")
    fields = list(_TOP_FIELD.finditer(text))
    start = next((m.start() for m in fields if m.group() == "renames:"), None)
    if start is not None and any(m.start() > start for m in fields):
        raise RenameError(
            f"{path}: renames must be the file's last field for `hopthu assign` to rewrite it: move it to "
            "the end"
        )
    head = text if start is None else text[:start]
    if head and not head.endswith("\n"):
        head += "\n"
    path.write_text(head + block(renames, target), encoding="utf-8")
