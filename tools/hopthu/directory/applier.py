"""Executes a plan against one organisation's directory: exactly the planned changes, nothing else.

Per request, the applier
1. reserves the one-time passwords the request needs in the credentials outbox (durably, *before* any
   write, so a crash can never leave an account with a password nobody knows);
2. writes the changes in phases (creates, memberships, modifications, passwords, locks, deletes), each
   phase pipelined on the one connection and separated from the next by a barrier;
3. around every batch of writes appends ``intent`` records, then the ``change`` records of what the server
   acknowledged — two fsyncs per batch, not two per change;
4. ends with a ``request`` record (applied / refused).

A run killed anywhere leaves intents without completion; the next run's plan leaves out whatever took
effect and ``recover`` completes those intents, so the log ends with exactly one completed record per
change that took effect.

A merger writes in two organisations, possibly on two servers: its changes come in phase order (adds and
memberships in the target, then memberships and entries out of the source), each batch of writes in one
organisation through that organisation's connection (``peers``), so every entry is in the target before
any is removed from the source. The password hash of each account is read from the source at the moment
its add is written, and goes nowhere else.

A write the server refuses because what it asks for is already there (the entry exists, the member is
in the group, the entry or the member is gone) is not taken at its word: the directory may have moved on
since the snapshot (the memberof overlay catching up after an interrupted run, a change made by hand).
The applier reads the entry or group again and records every change it finds in effect as done (never as
an error), and writes the rest again, once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from hopthu.audit import Prepared
from hopthu.directory.dn import group_dn, mailbox_dn, person_dn
from hopthu.directory.reader import DirectoryReader
from hopthu.directory.writer import (
    RELAX_RULES,
    Add,
    Barrier,
    Delete,
    LdapOp,
    LdapWriter,
    Modify,
    WriteResult,
)
from hopthu.merger import is_moved_entry
from hopthu.model import Change, EntryKind, Op, Organisation, Request
from hopthu.plan import Plan, Progress, RequestPlan, holds_entry

BATCH = 2000  # changes per audit batch: bounds the work redone after a crash, keeps fsyncs rare
NEEDS_PASSWORD = (Op.CREATE, Op.SET_PASSWORD)
# Changes to an account's own attributes: within a request they become one modify of its entry.
ENTRY_MODIFY_OPS = frozenset({Op.MODIFY, Op.MOVE, Op.SET_PASSWORD, Op.LOCK, Op.UNLOCK})
ENTRY_MODIFY = "modify-entry"
# Result codes that may mean "already done": entryAlreadyExists (an add), noSuchObject (a delete),
# attributeOrValueExists / noSuchAttribute (a member added / removed).
ALREADY_EXISTS, NO_SUCH_OBJECT, VALUE_EXISTS, NO_SUCH_VALUE = 68, 32, 20, 16
MAYBE_DONE = {
    Op.CREATE: {ALREADY_EXISTS},
    Op.MERGE_IN: {ALREADY_EXISTS},
    Op.DELETE: {NO_SUCH_OBJECT},
    Op.MERGE_OUT: {NO_SUCH_OBJECT},
    Op.ADD_MEMBER: {VALUE_EXISTS},
    Op.REMOVE_MEMBER: {NO_SUCH_VALUE},
}
IN_EFFECT = "already in effect in the directory"
# A change the previous provider acknowledged, written again on the next one: it had not replicated it.
REWRITTEN = "written again on the next directory provider: the one that acknowledged it failed first"


class ApplyError(Exception):
    """The apply stopped part-way (the directory went away, or refused a write); run it again."""


@dataclass
class ApplyReport:
    applied: list[str] = field(default_factory=list)  # request ids applied in this run
    refused: dict[str, str] = field(default_factory=dict)  # request id → reason
    failed: dict[str, str] = field(default_factory=dict)  # request id → first error
    changes: int = 0  # changes that took effect in this run
    recovered: int = 0  # changes of an interrupted run found done and recorded now
    failovers: list[Any] = field(default_factory=list)  # pipeline.Failover: providers left in this run


def entry_dn(org: Organisation, kind: EntryKind, uid: str) -> str:
    return person_dn(org, uid) if kind is EntryKind.PERSON else mailbox_dn(org, uid)


_ENTRY_UUIDS = uuid.UUID("8f6d2c1e-5b7a-4e0f-9c3d-2a1b0e4f6a7c")  # hopthu's namespace for entryUUIDs


def entry_uuid(change: Change, dn: str) -> str:
    """The entryUUID of the entry a create (or a merger's move-in) adds: the same for the same change in
    every run. A create written again on the next provider after the first failed is then the same entry
    as the one the first may hold, and replication settles the two by entryCSN; with slapd's own random
    UUIDs they were two entries of one DN, and replication between the providers lost one of them."""
    return str(uuid.uuid5(_ENTRY_UUIDS, f"{change.org}\n{change.request}\n{dn.lower()}"))


@dataclass(frozen=True)
class Peer:
    """Another organisation a merger writes in: its settings, writer and reader (one connection)."""

    org: Organisation
    writer: LdapWriter
    reader: DirectoryReader | None


def recipient_of(request: Request, org: Organisation) -> str:
    """Where the request's result notice and its passwords go: always the requesting unit's official
    mailbox (SPEC §3). For a handover (bàn giao) the notice names the new manager, who receives the
    password from the unit, as every owner does."""
    return org.units[request.unit].mailbox


class Applier:
    """Applies the plans of one organisation through one bound connection."""

    def __init__(
        self,
        org: Organisation,
        writer: LdapWriter,
        audit,  # hopthu.audit.AuditLog, opened by the caller
        outbox,  # hopthu.passwords.Outbox
        on_progress: Callable[[int], None] | None = None,
        reader: DirectoryReader | None = None,  # on the writer's connection: reads back refused writes
        rewritten: Container[tuple[str, str, str, str]] = frozenset(),  # keys a failed provider acknowledged
        recorded: Container[str] = frozenset(),  # requests whose final record is written already
        peers: Callable[[str], Peer] | None = None,  # the other organisations of a merger
    ) -> None:
        self.org = org
        self.writer = writer
        self.audit = audit
        self.outbox = outbox
        self.on_progress = on_progress or (lambda n: None)
        self.reader = reader
        self.rewritten = rewritten
        self.recorded = recorded
        self.peers = peers

    def _peer(self, code: str) -> Peer:
        if code == self.org.code:
            return Peer(self.org, self.writer, self.reader)
        if self.peers is None:
            raise ApplyError(
                f"a change in organisation {code}, but the applier of {self.org.code} has no peers"
            )
        return self.peers(code)

    def _dn(self, change: Change) -> str:
        """The entry a change writes: in its own organisation, under the username it has there."""
        return entry_dn(self._peer(change.org).org, change.kind, change.entry_uid)

    # --- recovery ---------------------------------------------------------------------------------

    def recover(self, plan: Plan, progress: Progress) -> int:
        """Record as completed every dangling intent of a plannable request that the plan left out,
        because the directory shows that the change took effect before the crash."""
        still_to_do = {c.key for c in plan.changes}
        plannable = {
            rp.request.id: rp.request
            for rp in plan.requests
            if rp.request.org == self.org.code and not rp.done and not rp.refusals
        }
        records = []
        for key in sorted(progress.intents):
            request_id, op, uid, group = key
            if request_id in plannable and key not in still_to_do:
                request = plannable[request_id]
                records.append(
                    self._record("change", request, op=op, uid=uid, group=group or None, result="ok")
                    | {"reason": "completed after an interrupted run"}
                )
        self.audit.append(records)
        return len(records)

    # --- apply ------------------------------------------------------------------------------------

    def apply(self, plan: Plan, report: ApplyReport) -> None:
        for request_plan in plan.requests:
            if request_plan.done or request_plan.request.org != self.org.code:
                continue
            self.apply_request(request_plan, report)

    def apply_request(self, rp: RequestPlan, report: ApplyReport) -> None:
        request = rp.request
        if rp.refusals:
            refusals = [refusal.as_record() for refusal in rp.refusals]
            record = self._record("request", request, result="refused", reason=rp.refusal, refusals=refusals)
            self.audit.append([record])
            report.refused[request.id] = rp.refusal or ""
            return
        uids = sorted({c.uid for c in rp.changes if c.op in NEEDS_PASSWORD})
        passwords = {}
        if uids:
            passwords = self.outbox.reserve(
                request.id,
                uids,
                self.org.password_policy,
                org=self.org.code,
                unit=request.unit,
                recipient=recipient_of(request, self.org),
            )
        batches = list(_batches(rp.changes, BATCH))
        intents = [self._intent(request, change) for change in batches[0]] if batches else []
        for number, batch in enumerate(batches):
            following = batches[number + 1] if number + 1 < len(batches) else []
            error, intents = self._write_batch(request, batch, passwords, intents, following)
            if error:
                report.failed[request.id] = error
                raise ApplyError(f"request {request.id}: {error}; nothing else was written, run apply again")
            report.changes += len(batch)
        if request.id not in self.recorded:  # planned again after a fail-over: its outcome stands
            self.audit.append([self._record("request", request, result="applied")])
        if request.id not in report.applied:
            report.applied.append(request.id)

    def _write_batch(
        self,
        request: Request,
        changes: list[Change],
        passwords: dict[str, str],
        intents: list[Prepared],
        following: list[Change],
    ) -> tuple[str | None, list[Prepared]]:
        """Write ``changes`` between their intents and their completions; return the first error and the
        intents of the ``following`` batch.

        Audit records are prepared (checked, mostly serialised) while the directory works: each answer
        brings the completion of its changes and the intent of as many following changes, so the pause
        between two batches is little more than writing them.
        """
        self.audit.append(intents)
        peer = self._peer(changes[0].org)  # a batch writes in one organisation (``_batches``)
        ops, covers = self._operations(changes, passwords, self._hashes(changes))
        done: list[Prepared] = []
        upcoming = iter(following)
        next_intents: list[Prepared] = []
        errors: list[str] = []
        refused: list[tuple[LdapOp, list[Change]]] = []  # refused writes that may be in effect already
        try:
            for result in peer.writer.write(ops):
                carried = covers[id(result.op)]
                if not result.ok and peer.reader is not None and _maybe_done(result, carried):
                    refused.append((result.op, carried))
                else:
                    done += self._outcomes(request, carried, result, errors)
                next_intents += [self._intent(request, change) for change in islice(upcoming, len(carried))]
                self.on_progress(len(carried))
            for op, carried in refused:
                done += self._settle(request, op, carried, passwords, errors)
        finally:
            # Whatever happens (the server goes away mid-batch), what it acknowledged is recorded.
            self.audit.append(done)
        next_intents += [self._intent(request, change) for change in upcoming]
        return (errors[0] if errors else None), next_intents

    def _outcomes(
        self, request: Request, carried: list[Change], result: WriteResult, errors: list[str], how: str = ""
    ) -> list[Prepared]:
        """The ``change`` records of the changes one write carried out; the first error goes to ``errors``."""
        outcome = "ok" if result.ok else _describe(result)
        if not result.ok and not errors:
            errors.append(f"{carried[0].op.value} {carried[0].uid}: {_describe(result)}")
        records = []
        for change in carried:
            # A change a failed provider acknowledged and the next one shows done says both.
            reason = "; ".join(filter(None, (REWRITTEN if change.key in self.rewritten else "", how)))
            record = self._change_record("change", request, change, result=outcome)
            records.append(self.audit.prepare(record | ({"reason": reason} if reason else {})))
        return records

    def _settle(
        self,
        request: Request,
        op: LdapOp,
        carried: list[Change],
        passwords: dict[str, str],
        errors: list[str],
    ) -> list[Prepared]:
        """Records for a refused write whose changes may be in effect: those the directory shows done are
        recorded as done; the others are written again, once, and recorded with that result."""
        peer = self._peer(carried[0].org)
        effective = self._in_effect(carried, peer)
        records = []
        if effective:
            ok = WriteResult(op, True, 0, "")
            records += self._outcomes(request, effective, ok, errors, how=IN_EFFECT)
        rest = [change for change in carried if change not in effective]
        if rest:
            (retry,), _ = self._phase_ops_list(rest, passwords, self._hashes(rest))
            (result,) = list(peer.writer.write([retry]))
            records += self._outcomes(request, rest, result, errors)
        return records

    def _in_effect(self, changes: list[Change], peer: Peer) -> list[Change]:
        """The changes whose effect the directory shows now."""
        reader, org = peer.reader, peer.org
        assert reader is not None
        op = changes[0].op
        if op in (Op.DELETE, Op.MERGE_OUT):
            return list(changes)  # noSuchObject: the entry is gone
        if op in (Op.CREATE, Op.MERGE_IN):
            found = reader.accounts(org, [c.uid for c in changes])
            same = is_moved_entry if op is Op.MERGE_IN else holds_entry
            return [c for c in changes if c.uid in found and same(found[c.uid], c.kind, c.after)]
        groups = reader.groups_of(org, [(c.kind, c.entry_uid) for c in changes])
        wanted = op is Op.ADD_MEMBER
        return [c for c in changes if (c.group in groups[(c.kind, c.entry_uid)]) == wanted]

    def _hashes(self, changes: list[Change]) -> dict[tuple[str, EntryKind, str], list[bytes]]:
        """The password hashes a merger's adds among ``changes`` copy, read from the source entries now:
        (source org, kind, source username) → values. Held in memory for the write only."""
        wanted: dict[str, list[tuple[EntryKind, str]]] = {}
        for change in changes:
            if change.op is Op.MERGE_IN and change.source is not None:
                wanted.setdefault(change.source[0], []).append((change.kind, change.source[1]))
        hashes: dict[tuple[str, EntryKind, str], list[bytes]] = {}
        for code, accounts in wanted.items():
            peer = self._peer(code)
            if peer.reader is None:
                raise ApplyError(f"a merger needs a reader of {code} to copy its passwords")
            for (kind, uid), values in peer.reader.password_hashes(peer.org, accounts).items():
                hashes[(code, kind, uid)] = values
        return hashes

    def _intent(self, request: Request, change: Change) -> Prepared:
        return self.audit.prepare(self._change_record("intent", request, change))

    # --- changes → LDAP operations ----------------------------------------------------------------

    def _operations(
        self, changes: list[Change], passwords: dict[str, str], hashes: dict | None = None
    ) -> tuple[list[LdapOp | Barrier], dict[int, list[Change]]]:
        """LDAP operations for ``changes`` in phase order, and which changes each operation carries out.

        Every entry is written once per phase: the memberships of one group are one modify of the group
        entry, however many accounts join it, and all the attribute changes of one account (change,
        move, password, lock, unlock) are one modify of the account's entry.
        """
        ops: list[LdapOp | Barrier] = []
        covers: dict[int, list[Change]] = {}
        for phase, phase_changes in _phases(changes):
            if ops:
                ops.append(Barrier())
            for ldap_op, carried in self._phase_ops(phase, phase_changes, passwords, hashes or {}):
                ops.append(ldap_op)
                covers[id(ldap_op)] = carried
        return ops, covers

    def _phase_ops_list(
        self, changes: list[Change], passwords: dict[str, str], hashes: dict | None = None
    ) -> tuple[list[LdapOp], list[list[Change]]]:
        """The operations of one phase's ``changes`` and the changes each carries."""
        pairs = list(self._phase_ops(_phase(changes[0].op), changes, passwords, hashes or {}))
        return [op for op, _ in pairs], [carried for _, carried in pairs]

    def _phase_ops(
        self, phase: str, changes: list[Change], passwords: dict[str, str], hashes: dict
    ) -> Iterator[tuple[LdapOp, list[Change]]]:
        org = self._peer(changes[0].org).org
        if phase in (Op.ADD_MEMBER, Op.REMOVE_MEMBER):
            how = "add" if phase == Op.ADD_MEMBER else "delete"
            for group, members in _grouped(changes, lambda c: c.group).items():
                dns = [entry_dn(org, c.kind, c.entry_uid) for c in members]
                yield Modify(group_dn(org, group), [("member", how, dns)]), members
        elif phase == ENTRY_MODIFY:
            for (kind, uid), entry_changes in _grouped(changes, lambda c: (c.kind, c.uid)).items():
                modifications = [m for c in entry_changes for m in self._modifications(c, passwords)]
                yield Modify(entry_dn(org, kind, uid), modifications), entry_changes
        else:
            for change in changes:
                dn = entry_dn(org, change.kind, change.entry_uid)
                if change.op is Op.CREATE:
                    attributes = {k: list(v) for k, v in change.after.items()}
                    attributes["userPassword"] = [passwords[change.uid]]
                    yield _add_as_hopthu(change, dn, attributes), [change]
                elif change.op is Op.MERGE_IN:
                    # Everything the plan decided, and the password hash as the source holds it now.
                    attributes = {k: list(v) for k, v in change.after.items() if v}
                    source_org, source_uid = change.source or (change.org, change.uid)
                    secret = hashes.get((source_org, change.kind, source_uid))
                    if secret:
                        attributes["userPassword"] = secret
                    yield _add_as_hopthu(change, dn, attributes), [change]
                else:
                    yield Delete(dn), [change]

    @staticmethod
    def _modifications(change: Change, passwords: dict[str, str]) -> list[tuple[str, str, list[str]]]:
        if change.op is Op.SET_PASSWORD:
            return [("userPassword", "replace", [passwords[change.uid]]), ("pwdReset", "replace", ["TRUE"])]
        if change.op is Op.UNLOCK:
            return [(attr, "replace", []) for attr in change.before]
        # MODIFY, MOVE, LOCK: set every changed attribute to its new values (none = remove it); object
        # classes are only ever added, so that a snapshot that missed one can never drop it.
        return [
            (attr, "add", [c for c in values if c not in change.before.get(attr, ())])
            if attr.lower() == "objectclass"
            else (attr, "replace", list(values))
            for attr, values in change.after.items()
        ]

    # --- audit records ----------------------------------------------------------------------------

    def _record(self, event: str, request: Request, **fields: Any) -> dict[str, Any]:
        return {
            "event": event,
            "request": request.id,
            "document": request.document.number,
            "org": self.org.code,
            **fields,
        }

    def _change_record(self, event: str, request: Request, change: Change, result=None) -> dict[str, Any]:
        record = self._record(
            event,
            request,
            op=change.op.value,
            uid=change.uid,
            dn=self._dn(change),
            group=change.group,
            result=result,
        )
        if event == "intent" or change.op not in (Op.CREATE, Op.MERGE_IN):
            record["before"] = {k: list(v) for k, v in change.before.items()} or None
            record["after"] = {k: list(v) for k, v in change.after.items()} or None
        else:  # a create's completion need not repeat the whole entry its intent carries
            record["after"] = None
        return record


def _add_as_hopthu(change: Change, dn: str, attributes: dict[str, list]) -> Add:
    """The add of an entry, with the entryUUID hopthu gives it (``entry_uuid``): every entry hopthu adds."""
    return Add(dn, {**attributes, "entryUUID": [entry_uuid(change, dn)]}, (RELAX_RULES,))


def _maybe_done(result: WriteResult, carried: list[Change]) -> bool:
    """True when the server refused a write in a way that may mean its changes are in effect already."""
    return result.code in MAYBE_DONE.get(carried[0].op, ())


def _describe(result: WriteResult) -> str:
    return f"{result.description} ({result.code}) {result.message}".strip()


def _phase(op: Op) -> str:
    return ENTRY_MODIFY if op in ENTRY_MODIFY_OPS else op.value


def _phases(changes: Iterable[Change]) -> Iterator[tuple[str, list[Change]]]:
    """Consecutive changes grouped by phase; the plan already sorted them into phase order."""
    current: list[Change] = []
    for change in changes:
        if current and _phase(change.op) != _phase(current[0].op):
            yield _phase(current[0].op), current
            current = []
        current.append(change)
    if current:
        yield _phase(current[0].op), current


def _grouped(changes: Iterable[Change], key: Callable[[Change], Any]) -> dict[Any, list[Change]]:
    """Changes by key, in first-seen order."""
    groups: dict[Any, list[Change]] = {}
    for change in changes:
        groups.setdefault(key(change), []).append(change)
    return groups


def _batches(changes: tuple[Change, ...], size: int) -> Iterator[list[Change]]:
    """At most ``size`` changes each, all in one organisation: a merger's writes in the source start only
    when every write before them, in the target, has been answered."""
    batch: list[Change] = []
    for change in changes:
        if len(batch) == size or (batch and batch[0].org != change.org):
            yield batch
            batch = []
        batch.append(change)
    if batch:
        yield batch
