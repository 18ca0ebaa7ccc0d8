"""Write generated usernames into request files, keeping everything else byte for byte.

``hopthu assign`` runs on a unit's merge request: each ``create`` account without a ``username`` gets the
first address its organisation's naming rule gives that is not taken — by another request file, a reserved
name, an earlier account of the same run or (when the caller wires it) the live directory. The reviewer
then sees the chosen addresses in the diff, one added ``username:`` line per account.

Rules with conditions (``unless same-full-name``) also need to know who holds a taken address: the person
an earlier account of the run or another ``create`` request gives it to, else the directory's ``cn``
(when the directory answers with holders, ``DirectoryReader.holders``). A reserved name has no holder.

The file is edited with ruamel.yaml's round-trip mode (comments, order, quotes kept) and the result is
compared with the original: if anything but the added ``username:`` lines would change (a layout ruamel
cannot reproduce), the file is left untouched and the problem reported.
"""

from __future__ import annotations

import io
import re
from collections import ChainMap
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

from hopthu.findings import Finding
from hopthu.model import Inventory, Kind, NewPerson, NewUnitMailbox, Organisation
from hopthu.naming import NamingError, agency_name, generate
from hopthu.renames import RenameError, UnitsReader, renames_for, write_renames
from hopthu.requests import (
    CheckedFile,
    check_tree,
    holders_by_org,
    person_rule,
    request_files,
    sort_requests,
    usernames_by_org,
)

# Problems ``assign`` itself resolves; any other error in a file means the file is refused.
RESOLVED_BY_ASSIGN = frozenset({"username-missing"})

# The usernames in use in the live directory; a Mapping (username → holder's full name, None for a unit
# mailbox) also says who holds them.
DirectoryNames = Container[str] | Mapping[str, str | None]
TakenFromDirectory = Callable[[Organisation], DirectoryNames]

_USERNAME_LINE = re.compile(r"\s*username: (\S+)\n")


@dataclass(frozen=True)
class Assignment:
    """One username written into one file."""

    path: Path
    shown: str
    name: str  # full name of the person, or the unit's name for a unit mailbox
    username: str


@dataclass(frozen=True)
class AssignResult:
    assigned: list[Assignment]
    refused: list[Finding]  # why files were left untouched (empty when every file was fine)


def assign_usernames(
    paths: Iterable[Path],
    inventory: Inventory,
    *,
    repo_root: Path | None = None,
    taken_from_directory: TakenFromDirectory | None = None,
    units_from_directory: UnitsReader | None = None,
) -> AssignResult:
    """Fill in the missing usernames of the request files in ``paths`` (files or directories).

    Files are handled in (document date, id) order, so the earlier request gets the plainer address.
    A file that does not validate (apart from its missing usernames) or whose naming fails is refused
    as a whole: nothing in it is written. A merger's renames need the directory (``units_from_directory``
    gives the accounts of its source units, ``taken_from_directory`` the target's names).
    """
    checked, others = check_tree(request_files(paths), inventory, repo_root=repo_root)
    refused: list[Finding] = []
    ready: list[CheckedFile] = []
    mergers: list[CheckedFile] = []
    for item in checked:
        blocking = [f for f in item.findings if f.severity == "error" and f.rule not in RESOLVED_BY_ASSIGN]
        if blocking or item.request is None:
            refused += blocking
        elif item.request.kind is Kind.MERGE:
            mergers.append(item)
        elif item.request.kind is Kind.CREATE and any(a.username is None for a in item.request.accounts):
            ready.append(item)
    # Every username a request already gives, whether that file is assigned now or not.
    taken = usernames_by_org([*checked, *others])
    given_to = holders_by_org([*checked, *others])
    directory_taken: dict[str, DirectoryNames] = {}
    by_request = {id(item.request): item for item in ready}
    assigned: list[Assignment] = []
    for request in sort_requests(item.request for item in ready if item.request is not None):
        item = by_request[id(request)]
        org = inventory.organisations[request.org]
        if taken_from_directory is not None and org.code not in directory_taken:
            directory_taken[org.code] = taken_from_directory(org)
        directory = directory_taken.get(org.code, frozenset())
        # Requests before the directory: a pending request is newer than what the directory holds.
        known = ChainMap(given_to[org.code], directory if isinstance(directory, Mapping) else {})
        in_use = InUse(taken[org.code], org.reserved, directory, holders=known)
        try:
            names = _names_for(item, org, in_use)
            _write(item, names)
        except _Refused as refusal:
            refused.append(Finding(item.shown, refusal.line, refusal.col, str(refusal), "assign-refused"))
            continue
        taken[org.code].update(username for _, _, username in names)
        given_to[org.code].update(in_use.given_to)
        assigned += [Assignment(item.path, item.shown, name, username) for _, name, username in names]
    for item in mergers:
        try:
            assigned += _assign_renames(
                item, inventory, [*checked, *others], taken_from_directory, units_from_directory
            )
        except _Refused as refusal:
            refused.append(Finding(item.shown, refusal.line, refusal.col, str(refusal), "assign-refused"))
    return AssignResult(assigned, refused)


def _assign_renames(
    item: CheckedFile,
    inventory: Inventory,
    every: list[CheckedFile],
    taken_from_directory: TakenFromDirectory | None,
    units_from_directory: UnitsReader | None,
) -> list[Assignment]:
    """A merger's renames: the usernames of its accounts that are taken in the target, from the
    directory (without it, nothing: who moves and what is taken is the directory's to say)."""
    request = item.request
    assert request is not None and request.merge is not None
    if units_from_directory is None or taken_from_directory is None:
        if any(rename.new_username is None for rename in request.merge.renames):
            raise _Refused("a merger's renames are given from the directory: run assign with --directory")
        return []
    target = inventory.organisations[request.org]
    found = taken_from_directory(target)
    holders = found if isinstance(found, Mapping) else dict.fromkeys(found)
    given = usernames_by_org([other for other in every if other is not item])[target.code]
    try:
        renames, made = renames_for(
            request, inventory, units_from_directory, holders, given, new_username, InUse
        )
        if made:
            write_renames(item.path, renames, target.code)
    except RenameError as error:
        raise _Refused(str(error)) from None
    return [Assignment(item.path, item.shown, m.name, m.new_username) for m in made]


class _Refused(Exception):
    def __init__(self, message: str, line: int = 1, col: int = 1) -> None:
        super().__init__(message)
        self.line, self.col = line, col


class InUse:
    """``in`` over the names given by requests, reserved names, the directory and this file's new names;
    ``holders``: who holds a taken name (full name; None: not a person), for rules with conditions."""

    def __init__(self, *sets: Container[str], holders: Mapping[str, str | None] | None = None) -> None:
        self.sets = sets
        self.new: set[str] = set()
        self.given_to: dict[str, str] = {}  # this file's new person usernames → full name
        self.holders = ChainMap(self.given_to, holders or {})  # the file's own first: the newest

    def __contains__(self, name: object) -> bool:
        return name in self.new or any(name in names for names in self.sets)


def _names_for(item: CheckedFile, org: Organisation, in_use: InUse) -> list[tuple[int, str, str]]:
    """(account index, name, username) for each account of ``item`` that lacks a username."""
    assert item.request is not None and item.document is not None
    result = []
    for index, account in enumerate(item.request.accounts):
        if account.username is not None:
            continue
        try:
            username = new_username(account, org, item.request.unit, in_use)
        except NamingError as error:
            line, col = item.document.locate(("accounts", index))
            raise _Refused(f"accounts[{index}]: no username can be generated: {error}", line, col) from None
        in_use.new.add(username)
        name = account.unit_name if isinstance(account, NewUnitMailbox) else account.full_name
        result.append((index, name, username))
    return result


def new_username(account: NewPerson | NewUnitMailbox, org: Organisation, unit: str, in_use: InUse) -> str:
    """The first free address the organisation's rule gives a new account: the person rule for a person,
    the unit-mailbox rule (``mailbox_rule``) for a unit mailbox. NamingError when there is none."""
    if isinstance(account, NewUnitMailbox):
        return agency_name(account.unit_name, org.mailbox_rule, in_use)
    username = generate(
        account.full_name,
        person_rule(org.naming_rule),
        in_use,
        born=account.birth_date,
        unit=unit,
        holders=in_use.holders,
    )
    in_use.given_to[username] = account.full_name
    return username


def _write(item: CheckedFile, names: list[tuple[int, str, str]]) -> None:
    """Insert ``username:`` after the name field of each account, changing nothing else in the file."""
    original = item.path.read_text(encoding="utf-8")
    usernames = [username for _, _, username in names]
    _, sequence_indent, block_seq_indent = load_yaml_guess_indent(original)
    # ruamel writes mappings with one indentation width: try the common ones, keep what reproduces the file.
    for mapping_indent in dict.fromkeys((2, 4, sequence_indent or 2)):
        updated = _with_usernames(
            original, names, mapping_indent, sequence_indent or 2, block_seq_indent or 0
        )
        if _only_usernames_added(original, updated, usernames):
            item.path.write_text(updated, encoding="utf-8")
            return
    raise _Refused(
        "cannot add the usernames without changing the file's layout (mixed indentation or flow style?): "
        "add them by hand, each as a 'username:' line under the full_name or unit_name: "
        + ", ".join(f"accounts[{index}] {username}" for index, _, username in names)
    )


def _with_usernames(
    original: str, names: list[tuple[int, str, str]], mapping: int, sequence: int, offset: int
) -> str:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 1 << 16  # never re-wrap long lines
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    try:
        data = yaml.load(original)
    except YAMLError as error:
        raise _Refused(f"cannot edit the file: {error}") from None
    for index, _, username in names:
        account = data["accounts"][index]
        name_field = "unit_name" if account.get("type") == "unit" else "full_name"
        account.insert(list(account).index(name_field) + 1, "username", username)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _only_usernames_added(original: str, updated: str, usernames: list[str]) -> bool:
    """Whether ``updated`` is ``original`` with ``username:`` lines inserted and nothing else changed.

    One linear walk (a general diff is quadratic: minutes for a 10,000-account file): lines that match
    are consumed together, a ``username:`` line that does not match is an insertion, anything else is
    a change. The walk may call a pathological file changed when it is not; then assign refuses, which
    is safe.
    """
    before, after = original.splitlines(keepends=True), updated.splitlines(keepends=True)
    added: list[str] = []
    i = 0
    for line in after:
        if i < len(before) and line == before[i]:
            i += 1
        elif _USERNAME_LINE.fullmatch(line):
            added.append(line)
        else:
            return False
    if i != len(before):
        return False
    wanted = sorted(usernames)
    found = sorted(m.group(1) for line in added if (m := _USERNAME_LINE.fullmatch(line)))
    return len(found) == len(added) and found == wanted
