"""``hopthu import``: an annex list → one request file, validated, or nothing written at all.

1. read the file (``files`` refuses what is not a spreadsheet), pick the sheet or table with a recognised
   header, read its records (``annex``) and turn them into accounts (``build``): every problem of every row;
2. give each new account the first free address of the organisation's rule (``hopthu.assign``'s, against
   the other request files, the reserved names and, when wired, the live directory);
3. write the request in a staging copy of its place, validate it with ``hopthu.requests`` exactly as
   ``hopthu validate`` would (cross-checks against the repository's other requests included), and map
   any finding back to the annex cell it came from;
4. only then write the file. An existing file with the same content is "unchanged" (running the import
   again is harmless); one with other content is never overwritten: merged requests never change.
"""

from __future__ import annotations

import bisect
import datetime as dt
import os
import tempfile
from collections import ChainMap
from collections.abc import Callable, Container, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hopthu.assign import InUse, new_username
from hopthu.findings import Finding
from hopthu.forms.annex import Annex, find_header, read_annex
from hopthu.forms.build import (
    KIND_SLUGS,
    KIND_TITLES,
    UNIT_MAILBOX_SLUG,
    Built,
    Draft,
    Rendered,
    RequestHead,
    build_accounts,
    render_request,
)
from hopthu.forms.files import OfficeFile, identify
from hopthu.forms.grid import Grid
from hopthu.forms.problems import FormError, Problem, errors, in_order, shown
from hopthu.model import Inventory, Kind, Manager, NewPerson, NewUnitMailbox, Organisation, Requester, Unit
from hopthu.naming import NamingError
from hopthu.requests import (
    ID_PATTERN,
    REQUESTS_DIR,
    SUFFIX,
    check_file,
    holders_by_org,
    load_requests,
    request_files,
    shown_path,
    usernames_by_org,
)

# The names in use in the directory, or a mapping of them to their holders (DirectoryReader.holders).
TakenFromDirectory = Callable[[Organisation], Container[str]]


class ImportRefused(Exception):
    """Nothing was written; ``problems`` says why, each at its cell, row or option."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(errors(problems))} problem(s)")
        self.problems = in_order(problems)


@dataclass(frozen=True)
class Spec:
    """What the command line says about the request: the parts an annex does not carry."""

    org: str
    unit: str
    kind: Kind
    document_number: str
    document_date: dt.date
    signer: str
    requester_email: str
    reason: str | None = None
    request_id: str | None = None
    sheet: str | None = None  # an Excel sheet by name
    table: int | None = None  # a Word table by number (1-based)


@dataclass(frozen=True)
class Imported:
    path: Path
    shown: str
    state: str  # "written" | "unchanged"
    accounts: list[tuple[str, str]]  # (name, username) of each account
    notes: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class Planned:
    """A request file ready to be checked and written: its text, and where each account came from."""

    path: Path  # where it belongs: requests/<org>/<unit>/<year>/<id>.yaml
    rendered: Rendered
    annex: Annex | None
    drafts: list[Draft]
    names: list[tuple[str, str]]


def import_annex(
    file: Path,
    spec: Spec,
    inventory: Inventory,
    repo_root: Path,
    taken_from_directory: TakenFromDirectory | None = None,
) -> Imported:
    """Read ``file`` and write its request; ImportRefused (nothing written) when anything is wrong."""
    org, unit, requester = _context(spec, inventory)
    source = _identify(file)
    annex = _annex(source, spec.sheet, spec.table)
    built = build_accounts(annex, spec.kind, org, unit)
    problems = annex.problems + built.problems
    if not built.drafts and not errors(problems):
        problems.append(
            Problem(
                source.shown,
                f"no accounts in {annex.grid.name or 'the file'}: the list is empty",
                "annex-empty",
            )
        )
    if errors(problems):
        raise ImportRefused(problems)
    request_id = spec.request_id or _default_id(spec, unit, built)
    path = request_path(repo_root, org.code, unit.code, spec.document_date, request_id)
    in_use = names_in_use(org, repo_root, inventory, [path], taken_from_directory)
    names, naming_problems = assign_names(built.drafts, annex, org, unit, in_use)
    problems += naming_problems
    if errors(naming_problems):
        raise ImportRefused(problems)
    head = RequestHead(
        id=request_id,
        org=org.code,
        unit=unit.code,
        kind=spec.kind,
        number=spec.document_number,
        date=spec.document_date,
        signer=spec.signer,
        requester=requester,
        reason=spec.reason or annex.reason or _default_reason(spec, unit),
        comments=_comments(spec.kind, source, annex, built),
    )
    accounts = [draft.fields for draft in built.drafts]
    rendered = render_request(head, accounts, [draft.comment for draft in built.drafts])
    planned = Planned(path, rendered, annex, built.drafts, names)
    [state] = write_checked([planned], inventory, repo_root, source.shown)
    return Imported(
        path, shown_path(path), state, names, in_order(p for p in problems if p.severity != "error")
    )


# --- reading -----------------------------------------------------------------------------------------------


def _identify(file: Path) -> OfficeFile:
    try:
        return identify(file, shown_path(file))
    except FormError as error:
        raise ImportRefused([error.problem]) from None


def grids_of(source: OfficeFile) -> Iterator[Grid]:
    from hopthu.forms import csvfile, docx, xlsx

    if source.kind == "xlsx":
        yield from xlsx.read_workbook(source)
    elif source.kind == "docx":
        yield from docx.read_document(source)
    else:
        yield csvfile.read_csv(source)


def _annex(source: OfficeFile, sheet: str | None = None, table: int | None = None) -> Annex:
    """The annex of the chosen sheet or table, or of the first one with a recognised header."""
    wanted = sheet if source.kind == "xlsx" else (f"table {table}" if table else None)
    seen: list[str] = []
    try:
        for grid in grids_of(source):
            seen.append(grid.name)
            if wanted is not None and grid.name != wanted:
                continue
            header = find_header(grid)
            if header is not None:
                return read_annex(grid, header)
            if wanted is not None:
                break
    except FormError as error:
        raise ImportRefused([error.problem]) from None
    if wanted is not None and wanted not in seen:
        listing = ", ".join(seen) or "none"
        what = "sheet" if source.kind == "xlsx" else "table"
        raise ImportRefused(
            [Problem(source.shown, f"no {what} '{wanted}' (the file has: {listing})", "annex-missing")]
        )
    place = f" ({', '.join(seen)})" if len(seen) > 1 else ""
    raise ImportRefused(
        [
            Problem(
                source.shown,
                f"no table with a header hopthu recognises{place}: the header row must name the columns, "
                "e.g. STT | Mã số CB | Họ và tên | Chức vụ | Ghi chú (for changes: Tài khoản / Địa chỉ hộp "
                "thư); `hopthu import template` writes a blank annex",
                "header-missing",
            )
        ]
    )


def _context(spec: Spec, inventory: Inventory) -> tuple[Organisation, Unit, Requester]:
    org = inventory.organisations.get(spec.org)
    if org is None:
        known = ", ".join(sorted(inventory.organisations))
        raise ImportRefused(
            [Problem("--org", f"unknown organisation '{spec.org}': the inventory has {known}", "org-unknown")]
        )
    unit = org.units.get(spec.unit)
    if unit is None:
        known = ", ".join(sorted(org.units))
        raise ImportRefused(
            [Problem("--unit", f"unknown unit '{spec.unit}' of {org.code}: use {known}", "unit-unknown")]
        )
    if spec.request_id is not None and not ID_PATTERN.match(spec.request_id):
        raise ImportRefused(
            [
                Problem(
                    "--id", f"'{spec.request_id}' is not a request id: 3-64 of a-z, 0-9 and '-'", "id-invalid"
                )
            ]
        )
    email = spec.requester_email.strip().lower()
    requester = next((r for r in unit.requesters if (r.email or "").lower() == email), None)
    if requester is None:
        listed = ", ".join(f"{r.name} <{r.email}>" for r in unit.requesters if r.email) or "nobody"
        raise ImportRefused(
            [
                Problem(
                    "--requester-email",
                    f"{spec.requester_email} is not a requester of {org.code}/{unit.code} in the inventory "
                    f"(listed: {listed}): only they may ask for accounts",
                    "requester-unknown",
                )
            ]
        )
    if not requester.phone:
        raise ImportRefused(
            [
                Problem(
                    "--requester-email",
                    f"the inventory has no phone for {requester.name}: add it",
                    "requester-phone",
                )
            ]
        )
    return org, unit, requester


def _default_id(spec: Spec, unit: Unit, built: Built) -> str:
    slug = UNIT_MAILBOX_SLUG if built.unit_mailboxes else KIND_SLUGS[spec.kind]
    return f"{spec.document_date.isoformat()}-{unit.code}-{slug}"


def _default_reason(spec: Spec, unit: Unit) -> str:
    return f"Theo văn bản số {spec.document_number} ngày {spec.document_date:%d/%m/%Y} của {unit.name}."


def _comments(kind: Kind, source: OfficeFile, annex: Annex, built: Built) -> tuple[str, ...]:
    title = "Cấp mới hộp thư đơn vị" if built.unit_mailboxes else KIND_TITLES[kind]
    grid = annex.grid
    where = f" (bảng {grid.name.removeprefix('table ')})" if grid.kind == "docx" else ""
    where = f" (trang {grid.name})" if grid.kind == "xlsx" else where
    lines = [f"{title}: nhập từ phụ lục {source.path.name}{where} bằng `hopthu import`."]
    if annex.header.column("national_id") is not None:
        lines.append("Cột số CMND/CCCD của phụ lục không được chép: số định danh không lưu trong kho.")
    return tuple(lines)


def request_path(root: Path, org: str, unit: str, date: dt.date, request_id: str) -> Path:
    return root / REQUESTS_DIR / org / unit / str(date.year) / f"{request_id}{SUFFIX}"


# --- names ------------------------------------------------------------------------------------------------


def names_in_use(
    org: Organisation,
    repo_root: Path,
    inventory: Inventory,
    targets: list[Path],
    taken_from_directory: TakenFromDirectory | None,
) -> InUse:
    """What ``assign`` counts as taken: names other request files give (the files being written now
    excepted, so an import run again gives the same names), reserved names and the live directory's."""
    skip = {os.path.abspath(path) for path in targets}
    root = repo_root / REQUESTS_DIR
    others = [
        check_file(path, inventory)
        for path in (request_files([root]) if root.is_dir() else [])
        if os.path.abspath(path) not in skip
    ]
    directory = taken_from_directory(org) if taken_from_directory is not None else frozenset()
    # Who holds each taken name, for rules with conditions: other requests first (newer than the directory).
    known = ChainMap(
        holders_by_org(others).get(org.code, {}), directory if isinstance(directory, Mapping) else {}
    )
    return InUse(usernames_by_org(others).get(org.code, set()), org.reserved, directory, holders=known)


def assign_names(
    drafts: list[Draft], annex: Annex | None, org: Organisation, unit: Unit, in_use: InUse
) -> tuple[list[tuple[str, str]], list[Problem]]:
    """Give each new account (``full_name`` or ``unit_name``, no ``username``) its address, in row order.

    A proposed address from the annex (its *Tên hộp thư đề nghị* column) is kept when it is free and, for
    a person, what the rule can give; otherwise the rule's address is used and a note says so.
    """
    from hopthu.naming import is_address, rule_admits
    from hopthu.requests import person_rule

    names: list[tuple[str, str]] = []
    problems: list[Problem] = []
    for draft in drafts:
        fields = draft.fields
        proposed = fields.pop("proposed_username", None)
        is_unit = fields.get("type") == "unit"
        if "username" in fields:
            names.append((fields.get("full_name", ""), fields["username"]))
            continue
        name = fields["unit_name"] if is_unit else fields["full_name"]
        born = dt.date.fromisoformat(fields["birth_date"]) if "birth_date" in fields else None
        if proposed and is_address(proposed) and proposed not in in_use:
            admitted = is_unit or rule_admits(
                proposed, name, person_rule(org.naming_rule), born=born, unit=unit.code
            )
        else:
            admitted = False
        try:
            if admitted:
                username = proposed
            else:
                username = new_username(_named(name, is_unit, born), org, unit.code, in_use)
        except NamingError as error:
            where = (
                annex.where(draft.record, "unit_name" if is_unit else "full_name")
                if annex and draft.record
                else name
            )
            problems.append(
                Problem(where, f"no address can be given to '{shown(name)}': {error}", "username-none")
            )
            continue
        if proposed and not admitted and annex is not None and draft.record is not None:
            note = Problem(
                annex.where(draft.record, "username"),
                f"the proposed address '{shown(proposed)}' is taken or not what the naming rule of "
                f"{org.code} gives: '{username}' is assigned instead",
                "username-proposal",
                "note",
            )
            problems.append(note)
        in_use.new.add(username)
        _insert_username(fields, username, "unit_name" if is_unit else "full_name")
        names.append((name, username))
    return names, problems


def _named(name: str, is_unit: bool, born: dt.date | None) -> NewPerson | NewUnitMailbox:
    """Just enough of a new account for its name to be generated (``assign.new_username``)."""
    if is_unit:
        return NewUnitMailbox(name, "", Manager("", ""), "", None)
    return NewPerson(name, None, None, "", None, (), None, born)


def _insert_username(fields: dict, username: str, after: str) -> None:
    items = list(fields.items())
    position = [k for k, _ in items].index(after) + 1
    items.insert(position, ("username", username))
    fields.clear()
    fields.update(items)


# --- checking and writing -------------------------------------------------------------------------------


def write_checked(
    planned: list[Planned], inventory: Inventory, repo_root: Path, shown_file: str
) -> list[str]:
    """Validate every planned file as ``hopthu validate`` would, then write them all — or none.

    New files are validated in a staging copy of their place (cross-checked against the repository); an
    existing file must already hold exactly the planned text ("unchanged"), it is never overwritten.
    """
    states: list[str] = []
    problems: list[Problem] = []
    fresh = []
    for item in planned:
        if item.path.exists():
            if item.path.read_text(encoding="utf-8") == item.rendered.text:
                states.append("unchanged")
                continue
            problems.append(
                Problem(
                    shown_path(item.path),
                    "this request file already exists with other content: a request file is never "
                    "overwritten (merged requests never change); choose another id with --id",
                    "request-exists",
                )
            )
            states.append("refused")
            continue
        fresh.append(item)
        states.append("written")
    if problems:
        raise ImportRefused(problems)
    existing = [item.path for item in planned if item not in fresh]
    with tempfile.TemporaryDirectory(prefix="hopthu-import-") as staging:
        staged = {}
        for item in fresh:
            copy = Path(staging) / item.path.relative_to(repo_root)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(item.rendered.text, encoding="utf-8")
            staged[os.path.abspath(copy)] = item
        paths = [Path(path) for path in staged] + existing
        _, findings = load_requests(paths, inventory, repo_root=repo_root)
        # The signed letter is committed beside the request afterwards (document.file): validate checks it.
        findings = [f for f in findings if f.severity == "error" and f.rule != "letter-missing"]
        if findings:
            raise ImportRefused(_located(findings, staged, planned, shown_file))
    for item in fresh:
        item.path.parent.mkdir(parents=True, exist_ok=True)
        item.path.write_text(item.rendered.text, encoding="utf-8")
    return states


def _located(
    findings: list[Finding], staged: dict[str, Planned], planned: list[Planned], shown_file: str
) -> list[Problem]:
    """Validation findings of the staged files, at the annex cells their lines came from."""
    by_shown = {shown_path(Path(path)): item for path, item in staged.items()}
    by_shown |= {shown_path(item.path): item for item in planned}
    problems = []
    for finding in findings:
        item = by_shown.get(finding.path)
        message = finding.message
        for path, staged_item in staged.items():
            message = message.replace(shown_path(Path(path)), shown_path(staged_item.path))
        if item is None:
            problems.append(Problem(finding.path, message, finding.rule))
            continue
        where = _where_in_annex(item, finding.line) or f"{shown_file} ({shown_path(item.path)})"
        problems.append(Problem(where, message, finding.rule))
    return problems


def _where_in_annex(item: Planned, line: int) -> str | None:
    spans = item.rendered.lines
    starts = [first for first, _, _ in spans]
    index = bisect.bisect_right(starts, line) - 1
    if index < 0 or line > spans[index][1] or item.annex is None:
        return None
    draft = item.drafts[index]
    if draft.record is None:
        return None
    fields = spans[index][2]
    name = max((f for f, at in fields.items() if at <= line), key=lambda f: fields[f], default=None)
    source = {"type": None, "username": "username", "services": "services"}.get(name or "", name)
    if name == "services" and draft.record.get("services") is None:
        source = "note"
    return item.annex.where(draft.record, source)


# --- the HR roster ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RosterResult:
    written: list[tuple[Path, str, str]]  # (path, kind, state) of each draft
    ambiguous: list[Problem]
    notes: list[Problem]


def roster_drafts(
    file: Path,
    org: Organisation,
    inventory: Inventory,
    repo_root: Path,
    accounts: dict,
    *,
    number: str,
    date: dt.date,
    signer: str,
    sheet: str | None = None,
    partial: bool = False,
) -> RosterResult:
    """Compare HR's roster in ``file`` with ``accounts`` (the organisation's directory, read once) and
    write the draft requests; ImportRefused (nothing written) when the roster has problems."""
    from hopthu.forms.roster import compare, draft_requests, read_staff

    source = _identify(file)
    annex = _annex(source, sheet)
    staff, problems = read_staff(annex, org)
    problems += [p for p in annex.problems if p.severity == "error"]
    if errors(problems):
        raise ImportRefused(problems)
    plan = compare(staff, accounts, annex, partial=partial)
    requests, draft_problems = draft_requests(plan, annex, org, number, date, signer, source.path.name)
    if errors(draft_problems):
        raise ImportRefused(draft_problems)
    paths = [request_path(repo_root, org.code, r.unit, date, r.head.id) for r in requests]
    in_use = names_in_use(org, repo_root, inventory, paths, lambda _org: frozenset(accounts))
    planned = []
    notes: list[Problem] = []
    for request, path in zip(requests, paths, strict=True):
        unit = org.units[request.unit]
        names, naming_problems = assign_names(request.drafts, annex, org, unit, in_use)
        if errors(naming_problems):
            raise ImportRefused(naming_problems)
        notes += naming_problems
        rendered = render_request(
            request.head, [d.fields for d in request.drafts], [d.comment for d in request.drafts]
        )
        planned.append(Planned(path, rendered, annex, request.drafts, names))
    states = write_checked(planned, inventory, repo_root, source.shown) if planned else []
    written = [
        (item.path, request.kind.value, state)
        for item, request, state in zip(planned, requests, states, strict=True)
    ]
    return RosterResult(written, in_order(plan.ambiguous), in_order(notes))
