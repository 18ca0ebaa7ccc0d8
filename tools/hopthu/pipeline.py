"""The main job, stage by stage: load → read the directory once → plan → apply. Used by the CLI and the
Ansible modules alike, so both paths run the same code."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from hopthu.audit import DETECT, AuditLog, AuditMirror, Ledger
from hopthu.directory import DirectoryUnavailable
from hopthu.directory.applier import Applier, ApplyReport, Peer
from hopthu.directory.failover import NoProviderLeft, Providers
from hopthu.directory.reader import DirectoryReader
from hopthu.directory.writer import LdapWriter
from hopthu.endpoints import Endpoint
from hopthu.findings import Finding
from hopthu.inventory import load_inventory
from hopthu.model import Inventory, Request, Snapshot
from hopthu.passwords import Outbox
from hopthu.plan import Plan, Progress, make_plan, merged_units, touched_uids
from hopthu.requests import load_requests, request_files

T = TypeVar("T")


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


def read_snapshot(loaded: Loaded, requests: list[Request], session: Session) -> Snapshot:
    """One read of every account the pending requests touch: targeted look-ups for a few, one paged
    search for many (the reader decides). For a merger: every account of its source units, every name
    in use in its target, and the target's entries of the usernames the movers would have there. A
    provider that stops answering is left for the next one, which is read from the start."""
    inventory = loaded.inventory
    accounts = {}
    for org_code, uids in sorted(touched_uids(requests).items()):
        org = inventory.organisations[org_code]
        found = session.read(
            org_code, lambda conn, org=org, uids=uids: DirectoryReader(conn).accounts(org, uids)
        )
        accounts.update({(org_code, uid): account for uid, account in found.items()})
    for org_code, units in sorted(merged_units(requests).items()):
        org = inventory.organisations[org_code]
        found = session.read(
            org_code,
            lambda conn, org=org, units=units: DirectoryReader(conn).accounts_in_units(org, units),
        )
        accounts.update({(org_code, uid): account for uid, account in found.items()})
    taken: dict[str, dict[str, str | None]] = {}
    for request in requests:
        if request.merge is None or all(source.org == request.org for source in request.merge.sources):
            continue
        target = inventory.organisations[request.org]
        names = taken.get(target.code)
        if names is None:
            names = taken[target.code] = session.read(
                target.code, lambda conn, target=target: DirectoryReader(conn).holders(target)
            )
        sources = {source.org for source in request.merge.sources}
        wanted = {r.new_username for r in request.merge.renames if r.new_username}
        wanted |= {uid for (org_code, uid) in accounts if org_code in sources}
        chosen = sorted(name for name in wanted if name in names)
        found = session.read(
            target.code,
            lambda conn, target=target, chosen=chosen: DirectoryReader(conn).accounts(target, chosen),
        )
        accounts.update({(target.code, uid): account for uid, account in found.items()})
    return Snapshot(accounts, taken)


@dataclass(frozen=True)
class Failover:
    """A provider left during a run: which organisation, which provider, why."""

    org: str
    uri: str
    reason: str


class Session:
    """Connections for one plan or apply run: per organisation one provider at a time, opened on first
    use; when it stops answering, the next one (``hopthu.directory.failover``). A provider left is not
    used again in the same run."""

    def __init__(self, endpoints: dict[str, Endpoint]) -> None:
        self.endpoints = endpoints
        self.providers: dict[str, Providers] = {}
        self.failovers: list[Failover] = []

    def _providers(self, org: str) -> Providers:
        if org not in self.providers:
            endpoint = self.endpoints.get(org)
            if endpoint is None:
                raise PipelineError(
                    f"no directory connection configured for organisation {org!r}: add it to the "
                    "connections file (--directory)"
                )
            self.providers[org] = Providers(endpoint)
        return self.providers[org]

    def connection(self, org: str):
        """The organisation's open connection, or one to its first provider that answers. A provider
        that did not answer when the connection was opened counts as left, like one that stops
        answering later: what an interrupted run recorded done may be on it only."""
        providers = self._providers(org)
        before = set(providers.failures)
        try:
            return providers.connection()
        finally:
            for uri, reason in providers.failures.items():
                if uri not in before:
                    self.failovers.append(Failover(org, uri, reason))

    def uri(self, org: str) -> str | None:
        """The provider the organisation's connection is open to now."""
        return self.providers[org].current if org in self.providers else None

    def fail_over(self, org: str, error: BaseException) -> None:
        """The organisation's provider stopped answering: leave it; the next connection is to the next."""
        if isinstance(error, NoProviderLeft):
            raise error
        uri = self._providers(org).fail(error)
        self.failovers.append(Failover(org, uri, str(error)))

    def read(self, org: str, read: Callable[[Any], T]) -> T:
        """``read(conn)`` on the organisation's provider; again on the next one if it stops answering."""
        while True:
            conn = self.connection(org)
            try:
                return read(conn)
            except DirectoryUnavailable as error:
                self.fail_over(org, error)

    def close(self) -> None:
        for providers in self.providers.values():
            providers.close()


def plan(loaded: Loaded, session: Session, audit_path: Path, now: dt.datetime | None = None) -> Plan:
    if not loaded.requests:  # every request file is finished: nothing to read or plan
        return Plan(())
    return _plan_from(loaded, session, progress_of(AuditLog(audit_path).ledger()), now or _now())


def _plan_from(loaded: Loaded, session: Session, progress: Progress, now: dt.datetime) -> Plan:
    """One snapshot of what the pending requests touch, and the plan made from it."""
    snapshot = read_snapshot(loaded, pending(loaded.requests, progress), session)
    return make_plan(loaded.requests, loaded.inventory, snapshot, progress, now)


@dataclass
class _Acknowledged:
    """What one organisation's current provider acknowledged in this run: completed changes and applied
    requests. Until the next provider shows them, they may exist on the one that failed only."""

    changes: set[tuple[str, str, str, str]] = field(default_factory=set)
    requests: set[str] = field(default_factory=set)


def resume_progress(progress: Progress, suspect: _Acknowledged, since: dt.datetime) -> Progress:
    """Pure: the progress to plan from after a fail-over. Changes the failed provider acknowledged are
    not taken as done: the plan reads the next provider and writes again what it does not show. Most
    are visible (an entry, a value, a lock); a password is not, so its change counts as begun at
    ``since`` and the next provider's ``pwdChangedTime`` says whether it arrived (``plan._password_done``).
    Requests it finished are planned again."""
    if not suspect.changes and not suspect.requests:
        return progress
    intents = dict(progress.intents)
    for key in suspect.changes:
        intents.setdefault(key, since)
    finished = {rid: outcome for rid, outcome in progress.finished.items() if rid not in suspect.requests}
    return Progress(finished=finished, completed=progress.completed - suspect.changes, intents=intents)


def settle_reopened(the_plan: Plan, reopened: Container[str]) -> Plan:
    """Pure: a request planned again after a fail-over stays as it ended when the next provider already
    shows all of it (or it would now be refused: its outcome is recorded); otherwise what the next
    provider lacks is written, and its final record is not written a second time."""
    requests = tuple(
        replace(rp, done=True)
        if rp.request.id in reopened and not rp.done and (rp.refusals or not rp.changes)
        else rp
        for rp in the_plan.requests
    )
    return Plan(requests)


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
    mirror: AuditMirror | None = None,
) -> tuple[Plan, ApplyReport]:
    """Plan from one snapshot and execute exactly that plan, holding the audit log's lock throughout.

    When an organisation's provider stops answering mid-apply (refused, reset, timed out), the next
    provider is read again and the rest of the plan resumes from the audit log's intents and completions,
    exactly as a run after a crash does: nothing done is redone, nothing acknowledged is lost, and what the
    failed provider acknowledged but had not yet replicated is written again (``resume_progress``).

    ``ci`` is the records' ``ci`` field (``audit.detect_ci_context``), found out when the first record is
    written unless the caller already knows it. ``mirror`` keeps a copy of every record in the replicated
    directory (``hopthu.statestore``). Returns the first plan (what was to be done) and the report."""
    report = ApplyReport()
    if not loaded.requests:  # every request file is finished: nothing to read, plan or write
        return Plan(()), report
    now = now or _now()
    started = _now()  # the wall clock: what a provider's pwdChangedTime is compared with
    suspect = _Acknowledged()
    first_plan: Plan | None = None
    with AuditLog(audit_path, ci=ci, mirror=mirror) as audit:
        acknowledged = _interrupted(progress_of(audit.ledger()), loaded.inventory.organisations)
        while True:
            progress = progress_of(audit.ledger())
            seen = len(session.failovers)
            the_plan = _plan_from(loaded, session, resume_progress(progress, suspect, started), now)
            if _distrust(acknowledged, suspect, session.failovers[seen:]):
                continue  # a provider that acknowledged writes failed during the read: plan again
            the_plan = settle_reopened(the_plan, suspect.requests)
            if first_plan is None:
                first_plan = the_plan
                if on_plan:
                    on_plan(the_plan)
            peers: dict[str, Peer] = {}
            appliers: dict[str, Applier] = {}

            def peer(code: str, peers: dict[str, Peer] = peers) -> Peer:
                if code not in peers:
                    conn = session.connection(code)
                    org = loaded.inventory.organisations[code]
                    peers[code] = Peer(org, LdapWriter(conn), DirectoryReader(conn))
                return peers[code]

            rp = None
            try:
                # In plan order, across organisations: a merger sees what the requests before it did.
                for rp in the_plan.requests:
                    if rp.done:
                        continue
                    code = rp.request.org
                    if code not in appliers:
                        own = peer(code)
                        applier = Applier(
                            own.org,
                            own.writer,
                            audit,
                            outbox,
                            on_progress,
                            own.reader,
                            rewritten=suspect.changes,
                            recorded=suspect.requests,
                            peers=peer,
                        )
                        report.recovered += applier.recover(the_plan, progress)
                        appliers[code] = applier
                    appliers[code].apply_request(rp, report)
                return first_plan, report
            except DirectoryUnavailable as error:
                if rp is None or isinstance(error, NoProviderLeft):
                    raise
                _note_acknowledged(acknowledged, progress, audit.ledger(), the_plan)
                for code in _failed_organisations(session, _organisations_of(rp)) or [rp.request.org]:
                    session.fail_over(code, error)
                    _distrust(acknowledged, suspect, session.failovers[-1:])
            finally:
                report.failovers = list(session.failovers)


def _organisations_of(rp) -> list[str]:
    """The organisations a planned request writes in: its own, and a merger's sources."""
    return sorted({rp.request.org, *(change.org for change in rp.changes)})


def _failed_organisations(session: Session, codes: Iterable[str]) -> list[str]:
    """Which of ``codes`` has a provider that no longer answers (a merger writes in several: the one
    whose connection broke is the one to leave). Each open connection is asked once, within its timeout."""
    failed = []
    for code in codes:
        if session.uri(code) is None:
            continue
        try:
            alive = session.connection(code).extend.standard.who_am_i() is not None
        except Exception:  # a broken socket, a timeout, a reset: all mean the same here
            alive = False
        if not alive:
            failed.append(code)
    return failed


def _interrupted(progress: Progress, organisations: Iterable[str]) -> dict[str, _Acknowledged]:
    """What an interrupted run recorded done of the requests it did not finish, for every organisation
    (a merger's changes are in several): acknowledged by a provider that may since have failed before
    its writes replicated. Distrusted (``_distrust``) when this run finds a provider of the organisation
    not answering, and then written again where the provider it uses does not show them."""
    unfinished = frozenset(key for key in progress.completed if key[0] not in progress.finished)
    if not unfinished:
        return {}
    return {code: _Acknowledged(changes=set(unfinished)) for code in organisations}


def _distrust(
    acknowledged: dict[str, _Acknowledged], suspect: _Acknowledged, failovers: Iterable[Failover]
) -> bool:
    """Move what each failed provider acknowledged to ``suspect``; True when there was any."""
    moved = False
    for failover in failovers:
        failed = acknowledged.pop(failover.org, None)
        if failed is not None:
            suspect.changes |= failed.changes
            suspect.requests |= failed.requests
            moved = True
    return moved


def _note_acknowledged(
    acknowledged: dict[str, _Acknowledged], before: Progress, after: Ledger, the_plan: Plan
) -> None:
    """Add what the audit log gained since ``before`` to the current providers of the organisations that
    hold it: a change to its own organisation's (a merger writes in several), an applied request to
    every organisation it wrote in."""
    org_of_change = {change.key: change.org for rp in the_plan.requests for change in rp.changes}
    orgs_of_request = {rp.request.id: _organisations_of(rp) for rp in the_plan.requests}
    for key in after.completed - before.completed:
        code = org_of_change.get(key)
        if code is None:  # not in this plan: its request's own organisation
            code = next(iter(orgs_of_request.get(key[0], [""])))
        acknowledged.setdefault(code, _Acknowledged()).changes.add(key)
    for request_id, outcome in after.finished.items():
        if outcome == "applied" and request_id not in before.finished:
            for code in orgs_of_request.get(request_id, [""]):
                acknowledged.setdefault(code, _Acknowledged()).requests.add(request_id)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
