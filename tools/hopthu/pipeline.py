"""The main job, stage by stage: load → read the directory once → plan → apply. Used by the CLI and the
Ansible modules alike, so both paths run the same code."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hopthu.audit import DETECT, AuditLog, Ledger
from hopthu.directory.applier import Applier, ApplyReport, Peer
from hopthu.directory.connection import connect
from hopthu.directory.reader import DirectoryReader
from hopthu.directory.writer import LdapWriter
from hopthu.endpoints import Endpoint
from hopthu.findings import Finding
from hopthu.inventory import load_inventory
from hopthu.model import Inventory, Request, Snapshot
from hopthu.passwords import Outbox
from hopthu.plan import Plan, Progress, make_plan, merged_units, touched_uids
from hopthu.requests import load_requests, request_files


class PipelineError(Exception):
    """A stage cannot run (invalid requests, missing connection settings…); the message says what to do."""

    def __init__(self, message: str, findings: Iterable[Finding] = ()) -> None:
        super().__init__(message)
        self.findings = list(findings)


@dataclass(frozen=True)
class Loaded:
    inventory: Inventory
    requests: list[Request]
    already_done: int = 0  # request files skipped because the audit log says they are finished


def load(inventory_path: Path, request_paths: Iterable[Path], finished: Container[str] = ()) -> Loaded:
    """Inventory and pending requests, validated; any finding stops the pipeline before the directory is
    touched.

    Files of requests the audit log calls finished (``finished``: request ids) are not read again: merged
    requests are immutable (``validate --base``) and a file is named after its id, so the file name says
    which request it holds. This is what makes a no-op re-apply cheap however large the history.
    """
    inventory = load_inventory(inventory_path)
    files = request_files(list(request_paths))
    stems = Counter(path.stem for path in files)
    twice = sorted(stem for stem, n in stems.items() if n > 1)
    if twice:
        ids = ", ".join(twice)
        raise PipelineError(f"request id(s) used by more than one file: {ids}; run `hopthu validate`")
    pending_files = [path for path in files if path.stem not in finished]
    requests, findings = [], []
    if pending_files:
        requests, findings = load_requests(pending_files, inventory, cross_check=False)
    findings = [finding for finding in findings if finding.severity == "error"]  # a warning never stops it
    if findings:
        raise PipelineError(f"{len(findings)} problem(s) in the request files: fix them first", findings)
    return Loaded(inventory, requests, len(files) - len(pending_files))


def finished_requests(audit_path: Path) -> frozenset[str]:
    """Ids of the requests the audit log records as applied or refused."""
    return frozenset(AuditLog(audit_path).finished_requests())


def progress_of(ledger: Ledger) -> Progress:
    return Progress(finished=ledger.finished, completed=ledger.completed, intents=ledger.intents)


def pending(requests: Iterable[Request], progress: Progress) -> list[Request]:
    return [r for r in requests if r.id not in progress.finished]


def read_snapshot(loaded: Loaded, requests: list[Request], connect_org: Callable[[str], object]) -> Snapshot:
    """One read of every account the pending requests touch: targeted look-ups for a few, one paged
    search for many (the reader decides). For a merger: every account of its source units, every name
    in use in its target, and the target's entries of the usernames the movers would have there."""
    inventory = loaded.inventory
    accounts = {}
    for org_code, uids in sorted(touched_uids(requests).items()):
        org = inventory.organisations[org_code]
        found = DirectoryReader(connect_org(org_code)).accounts(org, uids)
        accounts.update({(org_code, uid): account for uid, account in found.items()})
    for org_code, units in sorted(merged_units(requests).items()):
        org = inventory.organisations[org_code]
        found = DirectoryReader(connect_org(org_code)).accounts_in_units(org, units)
        accounts.update({(org_code, uid): account for uid, account in found.items()})
    taken: dict[str, dict[str, str | None]] = {}
    for request in requests:
        if request.merge is None or all(source.org == request.org for source in request.merge.sources):
            continue
        target = inventory.organisations[request.org]
        reader = DirectoryReader(connect_org(target.code))
        names = taken.setdefault(target.code, reader.holders(target))
        sources = {source.org for source in request.merge.sources}
        wanted = {r.new_username for r in request.merge.renames if r.new_username}
        wanted |= {uid for (org_code, uid) in accounts if org_code in sources}
        found = reader.accounts(target, sorted(name for name in wanted if name in names))
        accounts.update({(target.code, uid): account for uid, account in found.items()})
    return Snapshot(accounts, taken)


class Session:
    """Open connections (one per organisation, opened on first use) for one plan or apply run."""

    def __init__(self, endpoints: dict[str, Endpoint]) -> None:
        self.endpoints = endpoints
        self.connections: dict[str, object] = {}

    def connection(self, org: str):
        if org not in self.connections:
            endpoint = self.endpoints.get(org)
            if endpoint is None:
                raise PipelineError(
                    f"no directory connection configured for organisation {org!r}: add it to the "
                    "connections file (--directory)"
                )
            self.connections[org] = connect(endpoint.uri, endpoint.bind_dn, endpoint.password)
        return self.connections[org]

    def close(self) -> None:
        for conn in self.connections.values():
            conn.unbind()
        self.connections.clear()


def plan(loaded: Loaded, session: Session, audit_path: Path, now: dt.datetime | None = None) -> Plan:
    if not loaded.requests:  # every request file is finished: nothing to read or plan
        return Plan(())
    return _plan_from(loaded, session, progress_of(AuditLog(audit_path).ledger()), now)


def _plan_from(loaded: Loaded, session: Session, progress: Progress, now: dt.datetime | None) -> Plan:
    """One snapshot of what the pending requests touch, and the plan made from it."""
    snapshot = read_snapshot(loaded, pending(loaded.requests, progress), session.connection)
    return make_plan(loaded.requests, loaded.inventory, snapshot, progress, now or _now())


def apply(
    loaded: Loaded,
    session: Session,
    audit_path: Path,
    outbox: Outbox,
    *,
    now: dt.datetime | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    ci: Mapping[str, Any] | None = DETECT,
) -> tuple[Plan, ApplyReport]:
    """Plan from one snapshot and execute exactly that plan, holding the audit log's lock throughout.

    ``ci`` is the records' ``ci`` field (``audit.detect_ci_context``), found out when the first record is
    written unless the caller already knows it."""
    report = ApplyReport()
    if not loaded.requests:  # every request file is finished: nothing to read, plan or write
        return Plan(()), report
    with AuditLog(audit_path, ci=ci) as audit:
        progress = progress_of(audit.ledger())
        the_plan = _plan_from(loaded, session, progress, now)
        if on_plan:
            on_plan(the_plan)
        peers: dict[str, Peer] = {}
        appliers: dict[str, Applier] = {}

        def peer(code: str) -> Peer:
            if code not in peers:
                conn = session.connection(code)
                org = loaded.inventory.organisations[code]
                peers[code] = Peer(org, LdapWriter(conn), DirectoryReader(conn))
            return peers[code]

        # In plan order, across organisations: a merger sees what the requests before it did.
        for rp in the_plan.requests:
            if rp.done:
                continue
            code = rp.request.org
            if code not in appliers:
                own = peer(code)
                applier = Applier(own.org, own.writer, audit, outbox, on_progress, own.reader, peers=peer)
                report.recovered += applier.recover(the_plan, progress)
                appliers[code] = applier
            appliers[code].apply_request(rp, report)
    return the_plan, report


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
