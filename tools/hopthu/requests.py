"""Request files → validated ``Request`` objects, or findings saying what is wrong and where.

A request is one file ``requests/<org>/<unit>/<year>/<id>.yaml``. Checks, in order:

1. the file itself: readable plain YAML within the limits of ``yamlsafe`` (size, nesting, values), no
   national ID number anywhere (not even in a comment);
2. the schema (``schemas/request.schema.json``: types, patterns, lengths), each violation located at the
   offending field, and every text field storable (``hopthu.text``: no control character, something
   visible);
3. the inventory and the file's place: known org and unit, folder = org/unit/year of the document date,
   file name = id, the requester is one the inventory lists for the unit, known application groups;
4. usernames: every ``create`` account has one (``hopthu assign`` writes it) that the org's naming rule
   admits, that is not reserved and that no other request gives; the same person is not asked for twice;
   the signed letter (``document.file``) is a PDF signed by ``document.signer``, intact, whole and
   trusted (``hopthu.letters``);
5. across files: ids are unique, and so are the usernames ``create`` requests give.

Checks 3–5 run on every part of a file the schema accepted, so one run reports every problem. Cross-file
checks look at every request under ``<repo_root>/requests`` even when only some files are checked, so a
new request cannot take an id or a username an existing one already has: through what each other file
gives (``Known``), from its full check or, for a merge request's unchanged files, from a cheap read
(``read_known``; ``hopthu.mergerequest`` decides which files are which).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import subprocess
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hopthu.findings import Finding, field_name, schema_problems, schema_validator, sort_findings
from hopthu.given import scan
from hopthu.inventory import SCHEMA_DIR
from hopthu.letters import check_letter
from hopthu.model import (
    MERGE_FOLDER,
    Account,
    AccountChange,
    Document,
    Inventory,
    Kind,
    Manager,
    Merge,
    MergeSource,
    NewPerson,
    NewUnitMailbox,
    Organisation,
    Rename,
    Request,
    Requester,
)
from hopthu.naming import (
    NameParts,
    NamingError,
    Rule,
    address_problem,
    compile_rule,
    parse_name,
    rule_admits,
)
from hopthu.text import text_problems
from hopthu.yamlsafe import Document as YamlDocument
from hopthu.yamlsafe import FileRefused, YamlError, load, read_text

REQUESTS_DIR = "requests"
SUFFIX = ".yaml"
SUFFIXES = (".yaml", ".yml")
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{2,63}$")  # the schema's pattern for `id`
EMAIL_SERVICE = "email"
UPDATE_FIELDS = (
    "full_name",
    "unit_name",
    "position",
    "department",
    "phone",
    "unit",
    "services",
    "manager",
    "backup_email",
)
MULTILINE_FIELDS = frozenset({"reason"})  # may run over several lines; every other field is one line
# A CMND has 9 digits, a CCCD 12: a run of exactly that many digits is treated as an identity number.
NATIONAL_ID = re.compile(r"(?<![0-9])(?:[0-9]{12}|[0-9]{9})(?![0-9])")
DIGIT_RUNS = re.compile(r"[0-9]{9,}")  # whole runs of 9 or more digits: a cheap first look for NATIONAL_ID

FieldPath = tuple[str | int, ...]


class GitError(Exception):
    """git could not answer (not a repository, unknown ref…); the message says what git said."""


@dataclass
class CheckedFile:
    """One request file after checking: its parsed content (when readable) and its findings."""

    path: Path
    shown: str  # the path as findings print it
    document: YamlDocument | None = None
    request: Request | None = None  # built when the schema holds and the dates are real
    findings: list[Finding] = field(default_factory=list)
    # Top-level fields and ("accounts", i) items that break the schema: checks needing them are skipped.
    damaged: set[FieldPath] = field(default_factory=set)

    def add(self, where: FieldPath, message: str, rule: str, severity: str = "error") -> None:
        line, col = self.document.locate(where) if self.document else (1, 1)
        self.findings.append(Finding(self.shown, line, col, message, rule, severity, field_name(where)))

    def intact(self, *parts: FieldPath) -> bool:
        """True when the file was parsed as a mapping and none of ``parts`` breaks the schema."""
        if not self.damaged:  # the usual case, asked once or more per account
            return self.document is not None
        return self.document is not None and () not in self.damaged and not self.damaged.intersection(parts)

    @property
    def data(self) -> dict[str, Any]:
        assert self.document is not None and isinstance(self.document.data, dict)
        return self.document.data


def person_rule(patterns: tuple[str, ...]) -> Rule:
    return compile_rule(patterns)  # compile_rule caches: this costs a dictionary look-up


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (as compilers print paths)."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(os.getcwd()))
    except ValueError:
        return str(path)


def request_files(paths: Iterable[Path]) -> list[Path]:
    """The request files named by ``paths``: files as given, directories searched for *.yaml and *.yml.

    A path that does not exist is kept, so the check reports it instead of skipping it silently.
    """
    paths = [Path(path) for path in paths]
    if len(paths) == 1 and paths[0].is_dir():  # the usual case: nothing to deduplicate
        return sorted(_yaml_files(paths[0]), key=str)
    found: dict[str, Path] = {}  # absolute path (cheaper than resolving links, enough here) -> as given
    for path in paths:
        for candidate in _yaml_files(path) if path.is_dir() else [path]:
            found.setdefault(os.path.abspath(candidate), candidate)
    return sorted(found.values(), key=str)


def _yaml_files(folder: Path) -> Iterator[Path]:
    """The *.yaml and *.yml files below ``folder``, hidden files and folders left out, links to folders
    not followed (as ``Path.rglob``, ten times faster: a directory entry says what it is without a stat)."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from _yaml_files(folder / entry.name)
            elif entry.name.endswith(SUFFIXES) and entry.is_file():
                yield folder / entry.name


def load_requests(
    paths: Iterable[Path],
    inventory: Inventory,
    *,
    repo_root: Path | None = None,
    cross_check: bool = True,
    letters: bool = True,
) -> tuple[list[Request], list[Finding]]:
    """Check the request files in ``paths`` (files or directories).

    Returns the requests of the files without errors, sorted by (document date, id), and every finding
    of every file. ``repo_root`` (default: the working directory) is where ``requests/`` lives.
    ``cross_check=False`` leaves the repository's other request files out of the id and username checks
    (the apply stage, which runs after the merge request's full validation, reads only pending files).
    ``letters=False`` leaves the signed letters unchecked (``hopthu notify`` reads every request file, all
    of them validated when they were merged).
    """
    checked = check_files(
        request_files(paths), inventory, repo_root=repo_root, cross_check=cross_check, letters=letters
    )
    findings = [finding for item in checked for finding in item.findings]
    requests = [
        item.request
        for item in checked
        if item.request is not None and not any(f.severity == "error" for f in item.findings)
    ]
    return sort_requests(requests), sort_findings(findings)


def sort_requests(requests: Iterable[Request]) -> list[Request]:
    return sorted(requests, key=lambda r: (r.document.date, r.id))


def check_files(
    files: Sequence[Path],
    inventory: Inventory,
    *,
    repo_root: Path | None = None,
    cross_check: bool = True,
    letters: bool = True,
) -> list[CheckedFile]:
    """Check ``files``; the other request files under ``<repo_root>/requests`` take part in the cross-file
    checks (ids, usernames) but their own problems are not reported."""
    return check_tree(files, inventory, repo_root=repo_root, cross_check=cross_check, letters=letters)[0]


def check_tree(
    files: Sequence[Path],
    inventory: Inventory,
    *,
    repo_root: Path | None = None,
    cross_check: bool = True,
    letters: bool = True,
) -> tuple[list[CheckedFile], list[CheckedFile]]:
    """Like ``check_files``, also returning the other request files of the repository, checked (their
    letters not: only what they give takes part)."""
    checked = [check_file(path, inventory, letters=letters) for path in files]
    root = (repo_root or Path.cwd()) / REQUESTS_DIR
    mine = {os.path.abspath(path) for path in files}
    others = (
        [
            check_file(p, inventory, letters=False)
            for p in request_files([root])
            if os.path.abspath(p) not in mine
        ]
        if cross_check and root.is_dir()
        else []
    )
    check_across(checked, [known_by(item) for item in others])
    return checked, others


def check_file(path: Path, inventory: Inventory, *, letters: bool = True) -> CheckedFile:
    """Every check that needs only this file and the inventory (and, with ``letters``, its signed letter)."""
    item = CheckedFile(path, shown_path(path))
    try:
        text = read_text(path)
    except FileNotFoundError:
        item.add((), "no such file", "file-missing")
        return item
    except FileRefused as refused:
        item.add((), refused.message, refused.rule)
        return item
    except (OSError, UnicodeDecodeError) as error:
        item.add((), f"cannot read the file as UTF-8 text: {error}", "file-unreadable")
        return item
    item.findings += _national_id_findings(item.shown, text)
    try:
        item.document = load(text)
    except YamlError as error:
        item.findings += [
            Finding(item.shown, p.line, p.col, p.message, f"yaml-{p.rule}") for p in error.problems
        ]
        return item
    if not isinstance(item.document.data, dict):
        item.add((), "a request must be a mapping of fields (id, org, unit, kind, …)", "schema-type")
        item.damaged.add(())
        return item
    for where, finding in schema_problems(
        schema_validator(SCHEMA_DIR / "request.schema.json"), item.document, item.shown
    ):
        item.findings.append(finding)
        item.damaged.add(_damaged_part(where))
    for where, message, rule in text_problems(item.document.data, multiline=MULTILINE_FIELDS):
        item.add(where, f"{field_name(where)}: {message}", rule)
        item.damaged.add(_damaged_part(where))
    _check_dates(item)
    org = _check_place(item, inventory)
    if org is not None:
        _check_requester(item, org)
        _check_accounts(item, org)
        if _is_merge(item):
            _check_merge(item, inventory, org)
        if letters:
            _check_letter(item, org, inventory)
    if not item.damaged and not any(f.rule == "date-invalid" for f in item.findings):
        item.request = _build_request(item)
    return item


def _damaged_part(where: FieldPath) -> FieldPath:
    """The part a schema problem at ``where`` spoils: one account, or one top-level field."""
    return where[:2] if where[:1] == ("accounts",) and len(where) > 1 else where[:1]


def _is_merge(item: CheckedFile) -> bool:
    return item.intact(("kind",)) and item.data.get("kind") == Kind.MERGE


def _unit(item: CheckedFile) -> str | None:
    """The requesting unit's code, when the file names one the schema accepted (a merger names none)."""
    if not item.intact(("unit",)) or _is_merge(item):
        return None
    return item.data.get("unit")


def _accounts(item: CheckedFile) -> list[tuple[FieldPath, dict[str, Any]]]:
    """(path, account) of each account the schema accepted (none when the kind or list is broken)."""
    if not item.intact(("kind",), ("accounts",)) or "accounts" not in item.data or _is_merge(item):
        return []
    return [
        (("accounts", index), account)
        for index, account in enumerate(item.data["accounts"])
        if item.intact(("accounts", index))
    ]


def _national_id_findings(shown: str, text: str) -> list[Finding]:
    """Identity numbers must never reach git history; the message does not repeat the number."""
    if not any(len(run.group()) in (9, 12) for run in DIGIT_RUNS.finditer(text)):
        return []  # the usual case, found a few times faster than by scanning line by line
    findings = []
    for line_number, line in enumerate(text.splitlines(), 1):
        for match in NATIONAL_ID.finditer(line):
            kind = "CCCD" if len(match.group()) == 12 else "CMND"
            findings.append(
                Finding(
                    shown,
                    line_number,
                    match.start() + 1,
                    f"this looks like a national ID number ({kind}, {len(match.group())} digits): identity "
                    "numbers must never be stored in the repository; remove it (a staff code is enough)",
                    "national-id",
                )
            )
    return findings


def _parse_date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _check_dates(item: CheckedFile) -> None:
    document_date = None
    if item.intact(("document",)):
        document_date = _parse_date(item.data["document"]["date"])
        if document_date is None:
            item.add(
                ("document", "date"), "document.date is not a real date: write YYYY-MM-DD", "date-invalid"
            )
    for here, account in _accounts(item):
        if "birth_date" not in account:
            continue
        born = _parse_date(account["birth_date"])
        where = (*here, "birth_date")
        if born is None:
            item.add(where, f"{field_name(where)} is not a real date: write YYYY-MM-DD", "date-invalid")
        elif document_date is not None and born >= document_date:
            item.add(where, f"{field_name(where)} is not before the document date", "date-invalid")


def _check_place(item: CheckedFile, inventory: Inventory) -> Organisation | None:
    """Known org and unit, and the file where the layout says it belongs. Returns the org when known."""
    if not item.intact(("org",)):
        return None
    data = item.data
    org = inventory.organisations.get(data["org"])
    if org is None:
        known = ", ".join(sorted(inventory.organisations)) or "none"
        item.add(("org",), f"unknown organisation '{data['org']}': the inventory has {known}", "org-unknown")
        return None
    merge = _is_merge(item)
    unit = _unit(item)
    if unit is not None and unit not in org.units:
        known = ", ".join(sorted(org.units))
        item.add(
            ("unit",),
            f"unknown unit '{data['unit']}' of {org.code}: the inventory has {known}",
            "unit-unknown",
        )
    if merge:
        _check_merge_fields(item)
    elif item.intact(("kind",)) and any(name in data for name in ("sources", "renames")):
        name = "sources" if "sources" in data else "renames"
        item.add(
            (name,),
            f"{name} belongs to a merger (kind: merge) only: remove it, or file a merger",
            "merge-field",
        )
    if item.intact(("id",)) and item.path.name != f"{data['id']}{SUFFIX}":
        item.add(
            ("id",), f"the file name must be the id: rename the file to {data['id']}{SUFFIX}", "file-name"
        )
    if not item.intact(("id",), ("document",)) or (unit is None and not merge):
        return org
    # A merger lives in the target organisation's _merge folder: no unit's, so only IT owns it.
    folder, folder_key = (MERGE_FOLDER, ("kind",)) if merge else (unit, ("unit",))
    year = data["document"]["date"][:4]
    expected = f"{REQUESTS_DIR}/{data['org']}/{folder}/{year}/{data['id']}{SUFFIX}"
    folders = Path(os.path.abspath(item.path)).parent.parts
    # The folder right above the file is the year, above it the unit, then the organisation.
    for depth, (key, want) in enumerate(
        ((("document", "date"), year), (folder_key, folder), (("org",), data["org"])), 1
    ):
        got = folders[-depth] if len(folders) >= depth else ""
        if got != want:
            item.add(
                key,
                f"the file is in folder '{got}' but {field_name(key)} says '{want}': move it to {expected}",
                "file-place",
            )
    return org


@functools.lru_cache(maxsize=1 << 16)
def _parsed_name(full_name: str) -> NameParts:
    """``parse_name``, once per name: each new account's name is checked, compared and matched to its
    username (a failure is not cached: it raises every time)."""
    return parse_name(full_name)


def _name_key(name: str) -> str:
    """A person's name as compared for identity: spelling variants (case, Unicode form, spaces) ignored."""
    try:
        return str(_parsed_name(name))
    except NamingError:
        return " ".join(name.casefold().split())


def _check_requester(item: CheckedFile, org: Organisation) -> None:
    """The requester is one the inventory lists for the unit. A merger has no unit: IT files it, and the
    merge request's author check (``hopthu codeowners check-author``) keeps everyone else out."""
    code = _unit(item)
    if code is None or not item.intact(("requester",)):
        return
    unit = org.units.get(code)
    if unit is None:
        return
    name = item.data["requester"]["name"]
    if _name_key(name) not in {_name_key(r.name) for r in unit.requesters}:
        listed = ", ".join(r.name for r in unit.requesters)
        item.add(
            ("requester", "name"),
            f"requester '{name}' is not listed for unit {unit.code} in the inventory ({listed}): only they "
            "may ask for accounts; ask IT to add the requester to the inventory",
            "requester-unknown",
        )


def _check_letter(item: CheckedFile, org: Organisation, inventory: Inventory) -> None:
    """The signed letter the request points to (``hopthu.letters``), or its absence."""
    if not item.intact(("document",)):
        return
    root = Path(os.path.abspath(inventory.path)).parent if inventory.path else Path.cwd()
    for problem in check_letter(item.path, item.data["document"], org, root):
        where: FieldPath = ("document", problem.field) if problem.field else ("document",)
        item.add(where, f"{field_name(where)}: {problem.message}", problem.rule, problem.severity)


def _check_accounts(item: CheckedFile, org: Organisation) -> None:
    accounts = _accounts(item)
    if not accounts:
        return
    kind = Kind(item.data["kind"])
    usernames: dict[str, FieldPath] = {}
    for here, account in accounts:
        _check_services(item, org, here, account)
        _check_backup_email(item, org, here, account)
        if kind is Kind.CREATE:
            _check_new_account(item, org, here, account)
            continue
        username = account["username"]
        if username in usernames:
            item.add(
                (*here, "username"),
                f"{field_name(here)}: '{username}' is already named in {field_name(usernames[username])}: "
                "name each account once",
                "account-duplicate",
            )
        usernames.setdefault(username, here)
        if kind is Kind.UPDATE:
            _check_update(item, org, here, account)
    if kind is Kind.CREATE:
        _check_same_person(item, accounts)


def _check_merge_fields(item: CheckedFile) -> None:
    """A merger names the organisation after it and its sources, not a unit or a list of accounts: the
    accounts are every account of the source units, as the directory holds them."""
    for name, why in (
        ("unit", f"its file lives in requests/<org>/{MERGE_FOLDER}/<year>/, which IT owns"),
        ("accounts", "every account of the source units moves: name the units in sources"),
    ):
        if name in item.data:
            item.add((name,), f"a merger (kind: merge) has no {name}: remove it ({why})", "merge-field")


def _check_merge(item: CheckedFile, inventory: Inventory, target: Organisation) -> None:
    """Known source organisations, units and application groups on both sides; renames that the target's
    naming rule can give, once each."""
    if not item.intact(("sources",)):
        return
    moved: dict[str, set[str]] = {}  # source org → target units its accounts go to
    seen_orgs: dict[str, FieldPath] = {}
    for index, source in enumerate(item.data["sources"]):
        here: FieldPath = ("sources", index)
        code = source["org"]
        org = inventory.organisations.get(code)
        if org is None:
            known = ", ".join(sorted(inventory.organisations))
            item.add(
                (*here, "org"),
                f"{field_name((*here, 'org'))}: unknown organisation '{code}': the inventory has {known}",
                "org-unknown",
            )
            continue
        if code in seen_orgs:
            item.add(
                (*here, "org"),
                f"{field_name((*here, 'org'))}: '{code}' is already a source in "
                f"{field_name(seen_orgs[code])}: list its units once",
                "merge-source-twice",
            )
            continue
        seen_orgs[code] = here
        for unit, to in source["units"].items():
            where = (*here, "units", unit)
            if unit not in org.units:
                item.add(
                    where,
                    f"{field_name(where)}: unknown unit '{unit}' of {code}: the inventory has "
                    f"{', '.join(sorted(org.units))}",
                    "unit-unknown",
                )
            if to not in target.units:
                item.add(
                    where,
                    f"{field_name(where)}: unknown unit '{to}' of {target.code}: add the unit "
                    "after the merger to the inventory first",
                    "unit-unknown",
                )
            elif code == target.code and unit == to:
                item.add(where, f"{field_name(where)}: {unit} merges into itself: remove it", "merge-self")
        moved[code] = set(source["units"].values())
        for group, to in source.get("groups", {}).items():
            where = (*here, "groups", group)
            if group not in org.app_groups:
                item.add(
                    where,
                    f"{field_name(where)}: unknown application group '{group}' of {code}: it has "
                    f"{', '.join(sorted(org.app_groups)) or 'none'}",
                    "service-unknown",
                )
            if to not in target.app_groups:
                item.add(
                    where,
                    f"{field_name(where)}: unknown application group '{to}' of {target.code}: it "
                    f"has {', '.join(sorted(target.app_groups)) or 'none'}",
                    "service-unknown",
                )
    _check_renames(item, target, moved)


def _check_renames(item: CheckedFile, target: Organisation, moved: dict[str, set[str]]) -> None:
    if "renames" not in item.data or not item.intact(("renames",)):
        return
    named: dict[tuple[str, str], FieldPath] = {}  # a new username given twice: the checks across files
    for index, rename in enumerate(item.data["renames"]):
        here: FieldPath = ("renames", index)
        code, username = rename["org"], rename["username"]
        if code not in moved or code == target.code:
            item.add(
                (*here, "org"),
                f"{field_name((*here, 'org'))}: '{code}' is not a source organisation "
                "of this merger (a merger of one organisation's units keeps every username)",
                "merge-rename-org",
            )
            continue
        if (code, username) in named:
            item.add(
                (*here, "username"),
                f"{field_name(here)}: {code}/{username} is already renamed in "
                f"{field_name(named[(code, username)])}: rename each account once",
                "account-duplicate",
            )
            continue
        named[(code, username)] = here
        if ("full_name" in rename) == ("unit_name" in rename):
            item.add(
                here,
                f"{field_name(here)}: give the account's full_name (a person) or unit_name (a unit "
                "mailbox), as the directory has it",
                "merge-rename-name",
            )
            continue
        new = rename.get("new_username")
        if new is None:
            item.add(
                here,
                f"{field_name(here)}: no new_username yet for {code}/{username}: run "
                f"`hopthu assign --directory FILE {item.shown}`",
                "username-missing",
            )
            continue
        where = (*here, "new_username")
        if not _check_given_username(item, where, new, target, "hopthu assign --directory"):
            continue
        if "full_name" in rename:
            try:
                name = _parsed_name(rename["full_name"])
            except NamingError as error:
                item.add((*here, "full_name"), f"{field_name((*here, 'full_name'))}: {error}", "name-invalid")
                continue
            rule = person_rule(target.naming_rule)
            if not any(rule_admits(new, name, rule, unit=unit) for unit in sorted(moved[code]) or [None]):
                item.add(
                    where,
                    f"{field_name(where)}: '{new}' is not what the naming rule of {target.code} "
                    f"({', '.join(target.naming_rule)}) gives for '{rename['full_name']}': remove it and "
                    "run `hopthu assign --directory`",
                    "username-rule",
                )


def _check_services(item: CheckedFile, org: Organisation, here: FieldPath, account: dict[str, Any]) -> None:
    for position, service in enumerate(account.get("services", [])):
        if service != EMAIL_SERVICE and service not in org.app_groups:
            known = ", ".join([EMAIL_SERVICE, *sorted(org.app_groups)])
            where = (*here, "services", position)
            item.add(
                where,
                f"{field_name(where)}: unknown service '{service}' for {org.code}: use {known}",
                "service-unknown",
            )


def own_domains(org: Organisation) -> set[str]:
    """The organisation's mail domains: its own and its units' sub-domains."""
    return {org.mail_domain, *(unit.mail_domain for unit in org.units.values() if unit.mail_domain)}


def _check_backup_email(
    item: CheckedFile, org: Organisation, here: FieldPath, account: dict[str, Any]
) -> None:
    """A backup address (email dự phòng) is where a person is reached when the mailbox is not: never one
    of the organisation's own mailboxes."""
    address = account.get("backup_email")
    if address is None:
        return
    domain = address.rpartition("@")[2].lower()
    own = sorted(own_domains(org))
    if any(domain == d or domain.endswith(f".{d}") for d in own):
        where = (*here, "backup_email")
        item.add(
            where,
            f"{field_name(where)}: '{address}' is in {org.code}'s own domains ({', '.join(own)}): a backup "
            "address is one outside the organisation (a personal mailbox), used when the official one is "
            "not reachable",
            "backup-email-own-domain",
        )


def _check_given_username(
    item: CheckedFile, where: FieldPath, username: str, org: Organisation, run: str
) -> bool:
    """A username written in the file (by `hopthu assign` or a reviewer): an address, and not one of the
    organisation's reserved names. False when it is no address at all (nothing more to check of it)."""
    problem = address_problem(username)
    if problem is not None:
        item.add(
            where, f"{field_name(where)}: '{username}' is not a valid address: {problem}", "username-invalid"
        )
        return False
    if username in org.reserved:
        item.add(
            where,
            f"{field_name(where)}: '{username}' is a reserved name of {org.code}: remove it and run `{run}`",
            "username-reserved",
        )
    return True


def _check_new_account(
    item: CheckedFile, org: Organisation, here: FieldPath, account: dict[str, Any]
) -> None:
    is_unit = account.get("type") == "unit"
    name_field = "unit_name" if is_unit else "full_name"
    if not is_unit:
        try:
            name = _parsed_name(account["full_name"])
        except NamingError as error:
            item.add((*here, "full_name"), f"{field_name((*here, 'full_name'))}: {error}", "name-invalid")
            return
    username = account.get("username")
    if username is None:
        item.add(
            here,
            f"{field_name(here)}: no username yet for '{account[name_field]}': "
            f"run `hopthu assign {item.shown}`",
            "username-missing",
        )
        return
    where = (*here, "username")
    if not _check_given_username(item, where, username, org, "hopthu assign"):
        return
    if is_unit:
        return  # unit mailbox names are suggested, not prescribed: any free address will do
    born = _parse_date(account["birth_date"]) if "birth_date" in account else None
    unit = _unit(item)
    if not rule_admits(username, name, person_rule(org.naming_rule), born=born, unit=unit):
        rule = ", ".join(org.naming_rule)
        item.add(
            where,
            f"{field_name(where)}: '{username}' is not what the naming rule of {org.code} ({rule}) gives for "
            f"'{account['full_name']}': remove it and run `hopthu assign {item.shown}`",
            "username-rule",
        )


def _check_update(item: CheckedFile, org: Organisation, here: FieldPath, account: dict[str, Any]) -> None:
    if not any(name in account for name in UPDATE_FIELDS):
        item.add(
            here,
            f"{field_name(here)}: an update must change something: add one of {', '.join(UPDATE_FIELDS)}",
            "update-empty",
        )
    if "unit" in account and account["unit"] not in org.units:
        where = (*here, "unit")
        item.add(
            where,
            f"{field_name(where)}: unknown unit '{account['unit']}' of {org.code}: the inventory has "
            f"{', '.join(sorted(org.units))}",
            "unit-unknown",
        )
    if "full_name" in account:
        try:
            parse_name(account["full_name"])
        except NamingError as error:
            item.add((*here, "full_name"), f"{field_name((*here, 'full_name'))}: {error}", "name-invalid")


def _check_same_person(item: CheckedFile, accounts: list[tuple[FieldPath, dict[str, Any]]]) -> None:
    """The same person asked for twice: same staff code, or same name and birth date (both may be absent)."""
    seen_codes: dict[str, FieldPath] = {}
    seen_names: dict[tuple[str, str | None], FieldPath] = {}
    for here, account in accounts:
        if account.get("type") == "unit":
            continue
        code = account.get("staff_code", "").strip().casefold()
        key = (_name_key(account["full_name"]), account.get("birth_date"))
        if code and code in seen_codes:
            where = (*here, "staff_code")
            item.add(
                where,
                f"{field_name(where)}: the same staff code as {field_name(seen_codes[code])}: "
                "one account per person",
                "person-duplicate",
            )
        elif key in seen_names:
            where = (*here, "full_name")
            item.add(
                where,
                f"{field_name(where)}: the same name and birth date as {field_name(seen_names[key])}: "
                "remove the duplicate, or give both birth_date if they are two people",
                "person-duplicate",
            )
        if code:
            seen_codes.setdefault(code, here)
        seen_names.setdefault(key, here)


# --- across files ----------------------------------------------------------------------------------


@dataclass(eq=False)  # two files are two, however alike
class Known:
    """What one request file gives that no other file may take: its id and, for a ``create``, the
    usernames of its accounts ((("accounts", index), username)). ``None`` for what it does not give."""

    path: Path
    id: str | None
    org: str | None
    usernames: list[tuple[FieldPath, str]]
    shown_as: str | None = None

    @property
    def shown(self) -> str:
        return self.shown_as if self.shown_as is not None else shown_path(self.path)


def known_by(item: CheckedFile) -> Known:
    """What a checked file gives: the parts of it the schema accepted."""
    request_id = item.data["id"] if item.intact(("id",)) else None
    org = item.data["org"] if item.intact(("org",)) else None
    return Known(item.path, request_id, org, _new_usernames(item), item.shown)


def read_known(path: Path, inventory: Inventory) -> Known:
    """What a request file gives, read cheaply (``hopthu.given``) when it is in the usual layout, from its
    full check otherwise (whose findings are not reported: the file is not the one being checked)."""
    try:
        text = read_text(path)
    except (FileRefused, OSError, UnicodeDecodeError):
        text = None
    given = scan(text) if text is not None else None
    if given is None:
        return known_by(check_file(path, inventory, letters=False))
    usernames = [(("accounts", index), username) for index, username in given.usernames]
    return Known(path, given.id, given.org, usernames)


def check_across(checked: list[CheckedFile], others: Iterable[Known]) -> None:
    """Ids unique across files, and no username given twice in one organisation: each of ``checked`` is
    compared with the others and with ``others``; findings go to the checked files."""
    mine = [known_by(item) for item in checked]
    ids = {me.id for me in mine}
    names = {(me.org, username) for me in mine for _, username in me.usernames}
    # Only the others that share something with the checked files matter (20,000 others, 1 checked).
    everyone = [
        *mine,
        *(o for o in others if o.id in ids or any((o.org, name) in names for _, name in o.usernames)),
    ]
    _check_unique_ids(checked, mine, everyone)
    _check_username_collisions(checked, mine, everyone)


def _check_unique_ids(checked: list[CheckedFile], mine: list[Known], everyone: list[Known]) -> None:
    by_id: dict[str, list[Known]] = defaultdict(list)
    for known in everyone:
        if known.id is not None:
            by_id[known.id].append(known)
    for item, me in zip(checked, mine, strict=True):
        if me.id is None:
            continue
        same = [other.shown for other in by_id[me.id] if other is not me]
        if same:
            item.add(
                ("id",),
                f"id '{me.id}' is also the id of {', '.join(same)}: ids are unique; "
                "choose another id and rename the file",
                "id-duplicate",
            )


def _check_username_collisions(checked: list[CheckedFile], mine: list[Known], everyone: list[Known]) -> None:
    """A new account's username must not be given by any other request of the same organisation."""
    given: dict[tuple[str | None, str], list[tuple[Known, FieldPath]]] = defaultdict(list)
    for known in everyone:
        for here, username in known.usernames:
            given[(known.org, username)].append((known, here))
    for item, me in zip(checked, mine, strict=True):
        for here, username in me.usernames:
            clashes = [
                (other, at) for other, at in given[(me.org, username)] if other is not me or at != here
            ]
            if not clashes:
                continue
            where_else = ", ".join(
                field_name(at) if other is me else f"{other.shown} ({field_name(at)})"
                for other, at in clashes
            )
            where = here if here[-1] == "new_username" else (*here, "username")
            item.add(
                where,
                f"{field_name(where)}: '{username}' is also given by {where_else}: an address belongs to one "
                f"account; remove it and run `hopthu assign {item.shown}`",
                "username-taken",
            )


def _new_usernames(item: CheckedFile) -> list[tuple[FieldPath, str]]:
    """(path, username) of each new account of a ``create`` request that already has a username, and of
    each renamed account of a merger (the path then ends with ``new_username``)."""
    if _is_merge(item) and item.intact(("org",), ("renames",)):
        return [
            (("renames", index, "new_username"), rename["new_username"])
            for index, rename in enumerate(item.data.get("renames", ()))
            if rename.get("new_username")
        ]
    if not item.intact(("org",)) or item.data.get("kind") != Kind.CREATE:
        return []
    return [(here, account["username"]) for here, account in _accounts(item) if account.get("username")]


def usernames_by_org(items: Iterable[CheckedFile]) -> dict[str, set[str]]:
    """Every username the requests among ``items`` give or name, per organisation.

    A name an update or lock mentions belongs to an existing account even when no request created it
    (accounts older than hopthu), so a generator must not hand it out again.
    """
    taken: dict[str, set[str]] = defaultdict(set)
    for item in items:
        if not item.intact(("org",)):
            continue
        if _is_merge(item):
            taken[item.data["org"]].update(username for _, username in _new_usernames(item))
        for _, account in _accounts(item):
            if account.get("username"):
                taken[item.data["org"]].add(account["username"])
    return taken


def holders_by_org(items: Iterable[CheckedFile]) -> dict[str, dict[str, str]]:
    """Per organisation, the full name of the person each ``create`` request gives a username to.

    Naming rules with conditions (``unless same-full-name``) compare a new person with these holders.
    """
    holders: dict[str, dict[str, str]] = defaultdict(dict)
    for item in items:
        if not item.intact(("org",)) or item.data.get("kind") != Kind.CREATE:
            continue
        for _, account in _accounts(item):
            if account.get("username") and account.get("type") != "unit":
                holders[item.data["org"]][account["username"]] = account["full_name"]
    return holders


# --- from checked data to the model ----------------------------------------------------------------


def _manager(raw: dict[str, Any]) -> Manager:
    return Manager(name=raw["name"], phone=raw["phone"], email=raw.get("email"), position=raw.get("position"))


def _account(kind: Kind, raw: dict[str, Any]) -> Account:
    if kind is Kind.CREATE and raw.get("type") == "unit":
        return NewUnitMailbox(
            unit_name=raw["unit_name"],
            parent_agency=raw["parent_agency"],
            manager=_manager(raw["manager"]),
            phone=raw["phone"],
            username=raw.get("username"),
        )
    if kind is Kind.CREATE:
        return NewPerson(
            full_name=raw["full_name"],
            staff_code=raw.get("staff_code"),
            position=raw.get("position"),
            department=raw["department"],
            phone=raw.get("phone"),
            services=tuple(raw["services"]),
            username=raw.get("username"),
            birth_date=_parse_date(raw["birth_date"]) if "birth_date" in raw else None,
            backup_email=raw.get("backup_email"),
        )
    return AccountChange(
        username=raw["username"],
        full_name=raw.get("full_name"),
        position=raw.get("position"),
        department=raw.get("department"),
        phone=raw.get("phone"),
        unit=raw.get("unit"),
        services=tuple(raw["services"]) if "services" in raw else None,
        manager=_manager(raw["manager"]) if "manager" in raw else None,
        unit_name=raw.get("unit_name"),
        backup_email=raw.get("backup_email"),
    )


def _merge(data: dict[str, Any]) -> Merge:
    sources = tuple(
        MergeSource(raw["org"], dict(raw["units"]), dict(raw.get("groups", {}))) for raw in data["sources"]
    )
    renames = tuple(
        Rename(
            org=raw["org"],
            username=raw["username"],
            name=raw.get("full_name") or raw.get("unit_name") or "",
            new_username=raw.get("new_username"),
            unit_mailbox="unit_name" in raw,
        )
        for raw in data.get("renames", ())
    )
    return Merge(sources, renames)


def _build_request(item: CheckedFile) -> Request:
    data = item.data
    kind = Kind(data["kind"])
    document = data["document"]
    requester = data["requester"]
    merge = kind is Kind.MERGE
    return Request(
        id=data["id"],
        org=data["org"],
        unit=MERGE_FOLDER if merge else data["unit"],
        kind=kind,
        document=Document(
            number=document["number"],
            date=dt.date.fromisoformat(document["date"]),
            signer=document["signer"],
            file=document.get("file"),
            sha256=document["sha256"].lower() if "sha256" in document else None,
        ),
        requester=Requester(
            name=requester["name"],
            position=requester["position"],
            phone=requester["phone"],
            email=requester["email"],
        ),
        reason=data["reason"],
        accounts=() if merge else tuple(_account(kind, raw) for raw in data["accounts"]),
        path=item.path,
        merge=_merge(data) if merge else None,
        confirm_count=data.get("confirm_count"),
    )


# --- git, for the merge request's checks (hopthu.mergerequest) ----------------------------------------------


def run_git(repo_root: Path, *args: str) -> str:
    try:
        result = subprocess.run(
            ["git", "-C", str(repo_root), *args], capture_output=True, text=True, check=False, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise GitError(f"cannot run git: {error}") from None
    if result.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {result.stderr.strip() or 'failed'}")
    return result.stdout
