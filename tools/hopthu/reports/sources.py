"""What the reports read, at the edge: request files (cheaply), the audit log (cheaply) and the directory.

- Request files: a file in the usual layout is read without a YAML parser (``hopthu.given.scan_header``:
  20,000 files in well under a second); any other file goes through its full check, and its problems
  stop the report as they stop ``hopthu validate``. A merged file was checked in full by its merge
  request; the register needs only its place, document and accounts.
- The audit log: only the lines that can matter are parsed — request records (applied, refused) and
  change records that did not succeed; canonical JSON spells those fields one way only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hopthu.audit import AuditLog, parse_time
from hopthu.findings import Finding, sort_findings
from hopthu.given import scan_header
from hopthu.model import Inventory, Kind
from hopthu.reports.progress import Progress
from hopthu.requests import check_file, request_files
from hopthu.yamlsafe import FileRefused, read_text

_REQUEST_EVENT = b'"event":"request"'
_CHANGE_EVENT = b'"event":"change"'
_OK = b'"result":"ok"'
VIETNAM = dt.timezone(dt.timedelta(hours=7), "ICT")  # the agencies' day: no daylight saving time


def today_in_vietnam() -> dt.date:
    """The agencies' today: the machine's clock may run on UTC, seven hours behind."""
    return dt.datetime.now(VIETNAM).date()


@dataclass(frozen=True)
class Entry:
    """One request file, as the register shows it."""

    id: str
    org: str
    unit: str
    kind: str
    document_number: str
    document_date: dt.date
    accounts: int
    usernames: tuple[str, ...]
    path: Path | None = None


@dataclass(frozen=True)
class Finished:
    """A request's final record in the audit log: applied or refused, when, and its merge request."""

    result: str  # applied | refused
    reason: str | None  # English, as the log says it
    time: dt.datetime  # UTC
    opened: dt.date | None = None  # when its merge request was opened (Vietnam time), when known
    refusals: tuple[dict, ...] = ()  # why it was refused, as data (hopthu.refusals.Refusal.as_record)

    @property
    def day(self) -> dt.date:
        """The day it was done, in Vietnam."""
        return self.time.astimezone(VIETNAM).date()


@dataclass(frozen=True)
class Outcomes:
    finished: dict[str, Finished] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # request id → "op uid: error", not finished


def read_entries(
    paths: Iterable[Path], inventory: Inventory, progress: Progress | None = None
) -> tuple[list[Entry], list[Finding]]:
    """The entries of the request files in ``paths``, and the findings of the files that are not valid."""
    files = request_files(paths)
    if progress is not None:
        progress.total = len(files)
    entries: list[Entry] = []
    findings: list[Finding] = []
    for path in files:
        entry = _cheap_entry(path, inventory)
        if entry is None:
            checked = check_file(path, inventory)
            errors = [f for f in checked.findings if f.severity == "error"]
            findings += checked.findings
            if checked.request is not None and not errors:
                request = checked.request
                names = [getattr(account, "username", None) for account in request.accounts]
                entry = Entry(
                    request.id,
                    request.org,
                    request.unit,
                    request.kind.value,
                    request.document.number,
                    request.document.date,
                    len(request.accounts),
                    tuple(name for name in names if name),
                    path,
                )
        if entry is not None:
            entries.append(entry)
        if progress is not None:
            progress.advance()
    return entries, sort_findings(findings)


def _cheap_entry(path: Path, inventory: Inventory) -> Entry | None:
    """The entry read without a YAML parser, or None when the file needs its full check."""
    try:
        header = scan_header(read_text(path))
    except (FileRefused, OSError, UnicodeDecodeError):
        return None
    if header is None:
        return None
    org = inventory.organisations.get(header.org)
    if org is None or header.unit not in org.units or header.kind not in Kind.__members__.values():
        return None
    try:
        date = dt.date.fromisoformat(header.document_date)
    except ValueError:
        return None
    if len(header.document_date) != 10:  # fromisoformat takes 20250303 too; the schema does not
        return None
    return Entry(
        header.id,
        header.org,
        header.unit,
        header.kind,
        header.document_number,
        date,
        header.accounts,
        header.usernames,
        path,
    )


def read_outcomes(log: AuditLog) -> Outcomes:
    """What the audit log says of each request: finished (the last request record counts), or failed (a
    change whose last record is an error, in a request not finished since)."""
    finished: dict[str, Finished] = {}
    failures: dict[tuple[str, str, str, str], str] = {}
    for record in log.records(_REQUEST_EVENT, _CHANGE_EVENT, excluding=(_OK,), strict=True):
        if record.get("event") == "request":
            finished[record["request"]] = Finished(
                record["result"],
                record.get("reason"),
                parse_time(record["time"]),
                _opened(record),
                tuple(record.get("refusals") or ()),
            )
        elif record.get("event") == "change":
            failures[_key(record)] = f"{record.get('op')} {record.get('uid')}: {record.get('result')}"
    pending = {key: error for key, error in failures.items() if key[0] not in finished}
    if pending:  # rare: then see which of those changes succeeded later
        wanted = tuple(f'"request":"{key[0]}"'.encode() for key in pending)
        for record in log.records(*wanted):
            if record.get("event") == "change" and record.get("result") == "ok":
                pending.pop(_key(record), None)
            elif record.get("event") == "change":
                pending[_key(record)] = f"{record.get('op')} {record.get('uid')}: {record.get('result')}"
    failed: dict[str, str] = {}
    for key, error in pending.items():
        failed.setdefault(key[0], error)
    return Outcomes(finished, failed)


def _key(record: dict) -> tuple[str, str, str, str]:
    return (record["request"] or "", record["op"] or "", record["uid"] or "", record["group"] or "")


def _opened(record: dict) -> dt.date | None:
    """The day the request's merge request was opened (GitLab's created_at), when the record names it."""
    merge_request = (record.get("ci") or {}).get("merge_request") or {}
    opened = merge_request.get("opened_at") if isinstance(merge_request, dict) else None
    if not isinstance(opened, str):
        return None
    try:
        return parse_time(opened).astimezone(VIETNAM).date()
    except ValueError:
        return None


@dataclass(frozen=True)
class AccountChange:
    """A change to an account that took effect (its ``change`` record says ok)."""

    op: str  # create | lock | unlock | delete
    org: str
    uid: str
    request: str
    day: dt.date  # in Vietnam


ACCOUNT_OPS = ("create", "lock", "unlock", "delete")


def read_account_changes(log: AuditLog, org: str, year: int) -> list[AccountChange]:
    """The accounts of ``org`` created, locked, unlocked or deleted during ``year`` (Vietnam time), each
    once per request, read from the change records that succeeded."""
    fragments = tuple(f'"op":"{op}"'.encode() for op in ACCOUNT_OPS)
    seen: dict[tuple[str, str, str], AccountChange] = {}
    for record in log.records(*fragments, strict=True):
        if record.get("event") != "change" or record.get("result") != "ok" or record.get("org") != org:
            continue
        day = parse_time(record["time"]).astimezone(VIETNAM).date()
        if day.year == year and record.get("op") in ACCOUNT_OPS:
            key = (record["op"], record["request"], record["uid"])
            seen.setdefault(key, AccountChange(record["op"], org, record["uid"], record["request"], day))
    return list(seen.values())
