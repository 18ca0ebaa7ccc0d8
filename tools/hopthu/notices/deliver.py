"""``hopthu notify``'s flow: every request that is done (or refused) gets its notice, exactly once.

Work comes from two places: the credentials outbox (requests whose one-time passwords wait for their notice)
and the audit log (requests with a final record: applied or refused, most without passwords). For each:
render, sign the PDF with the organisation's key when one is configured (``hopthu.signing``), keep it in the
records store (``records.py``), send it to the unit's official mailbox, then record the delivery in the
audit log (its PDF's SHA-256) and the notice ledger, and only then delete the credentials file. A failure
keeps everything for the next run; a notice whose key cannot sign is not sent unsigned. A credentials file
addressed to another mailbox than the unit's current one is never sent: passwords go only where the
request said they would go when the accounts were made.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from hopthu.audit import OK, AuditError, AuditLog, DoneChange
from hopthu.model import (
    AccountChange,
    Inventory,
    Kind,
    NewPerson,
    NewUnitMailbox,
    Organisation,
    Request,
    Unit,
)
from hopthu.notices.ledger import NoticeLedger
from hopthu.notices.merger import requester_unit, unit_notices
from hopthu.notices.pdf import PdfError
from hopthu.notices.records import SEND_OP, NoticeRecord, RecordsError, RecordsStore
from hopthu.notices.render import (
    NoticeData,
    NoticeRow,
    NoticeTemplateError,
    RenderedNotice,
    notice_number,
    render,
)
from hopthu.notices.smtp import VIETNAM_TIME, DeliveryError, SmtpSettings, build_message, transmit
from hopthu.passwords import Outbox, OutboxError
from hopthu.refusals import Refusal
from hopthu.signing.appearance import appearance_for
from hopthu.signing.keys import SignerPool, SigningKeyError
from hopthu.signing.sign import SigningError, sign_pdf


@dataclass(frozen=True)
class Outcome:
    """How a request ended: the final ``request`` record of the audit log (hopthu.audit.RequestOutcome),
    and what took effect (``hopthu.audit.done_changes``)."""

    request_id: str
    outcome: Literal["applied", "refused"]
    reason: str | None = None  # English, as the log says it
    refusals: tuple[Refusal, ...] = ()  # why it was refused, as data: the notice says it in Vietnamese
    changes: tuple[DoneChange, ...] = ()
    time: dt.datetime | None = None  # when the final record was written: when the change took effect


# --- settings and results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeSettings:
    sender: str
    signer_title: str
    signer_name: str
    templates_dir: Path | None = None


Status = Literal["sent", "rendered", "failed", "cleaned"]


@dataclass(frozen=True)
class DeliveryResult:
    request_id: str
    status: Status  # rendered: dry run; cleaned: already sent earlier, leftover credentials file removed
    recipient: str | None = None
    number: str | None = None
    detail: str = ""
    signed_by: str | None = None  # the signer certificate's name; None: sent unsigned


class NoticeError(Exception):
    """This request's notice cannot be made or must not be sent; the message says what to do."""


# --- decisions (no I/O) ------------------------------------------------------------------------------


def rows_for(
    request: Request, org: Organisation, passwords: Mapping[str, str], changes: Iterable[DoneChange] = ()
) -> list[NoticeRow]:
    """The accounts table. Every password in ``passwords`` must land on a row: a password that matched no
    account of the request would otherwise be lost without anyone noticing. ``changes`` (what took effect)
    give a transferred account's old address and the application accounts given and taken away."""
    unit = org.units[request.unit]
    by_uid: dict[str, list[DoneChange]] = {}
    for change in changes:
        by_uid.setdefault(change.uid, []).append(change)
    rows: list[NoticeRow] = []
    for account in request.accounts:
        uid = account.username
        if uid is None:
            if request.kind.value == "create" and passwords:
                raise NoticeError(
                    f"request {request.id}: an account has no username; run 'hopthu assign' first"
                )
            address = "(chưa cấp)"
        else:
            address = _address(uid, account, request, org)
        password = passwords.get(uid) if uid else None
        done = by_uid.get(uid or "", [])
        extras = {
            "granted": _applications(done, "add-member", org),
            "removed": _applications(done, "remove-member", org),
        }
        if isinstance(account, NewPerson):
            rows.append(
                NoticeRow(account.full_name, account.department or unit.name, address, password, **extras)
            )
        elif isinstance(account, NewUnitMailbox):
            rows.append(
                NoticeRow(account.unit_name, account.parent_agency, address, password, unit_mailbox=True)
            )
        else:
            target = org.units.get(account.unit) if account.unit else None
            unit_name = account.department or (target.name if target else unit.name)
            name = account.full_name or account.unit_name or uid or ""
            mailbox = account.manager is not None or account.unit_name is not None
            old = _old_address(done)
            rows.append(
                NoticeRow(name, unit_name, address, password, old_address=old, unit_mailbox=mailbox, **extras)
            )
    listed = {account.username for account in request.accounts}
    stray = sorted(set(passwords) - listed)
    if stray:
        raise NoticeError(
            f"request {request.id}: the credentials hold passwords for {', '.join(stray)}, which the request "
            "does not list; the file is kept, check the request against the outbox"
        )
    return rows


def _applications(changes: Iterable[DoneChange], op: str, org: Organisation) -> tuple[str, ...]:
    """The names of the application groups that ``op`` (add-member / remove-member) changed."""
    codes = [change.group for change in changes if change.op == op and change.group]
    return tuple(org.app_groups[code].name if code in org.app_groups else code for code in codes)


def _old_address(changes: Iterable[DoneChange]) -> str | None:
    """The address a transfer (move) replaced: it stays an alias of the same mailbox."""
    for change in changes:
        before, after = change.before.get("mail") or [], change.after.get("mail") or []
        if change.op == "move" and before and after and before != after:
            return before[0]
    return None


def copies_for(request: Request, org: Organisation) -> tuple[Unit, ...]:
    """The units, other than the requesting one, that accounts were transferred to: they get the notice too
    (it names them under "Nơi nhận")."""
    targets = []
    for account in request.accounts:
        unit = org.units.get(account.unit) if isinstance(account, AccountChange) and account.unit else None
        if unit is not None and unit.code != request.unit and unit not in targets:
            targets.append(unit)
    return tuple(targets)


def _address(
    uid: str, account: NewPerson | NewUnitMailbox | AccountChange, request: Request, org: Organisation
) -> str:
    if isinstance(account, NewPerson) and "email" not in account.services:
        return uid  # an application-only account: the login name is what the person needs
    unit_code = account.unit if isinstance(account, AccountChange) and account.unit else request.unit
    return f"{uid}@{org.domain_of(unit_code)}"


def signer_organisation(subject: Mapping[str, object], org: Organisation) -> str:
    """The organisation the visible signature names: the certificate's (O, else CN), else the issuer's."""
    for key in ("organization_name", "common_name"):
        value = subject.get(key)
        if isinstance(value, list | tuple):
            value = value[0] if value else None
        if value:
            return str(value)
    return org.issuer or org.name


def audit_record(request: Request, record: NoticeRecord) -> dict[str, object]:
    """The audit log's record of a sent notice: what was sent to whom, and the kept PDF's SHA-256."""
    return {
        "event": "change",
        "request": request.id,
        "document": request.document.number,
        "org": request.org,
        "op": SEND_OP,
        "result": OK,
        "reason": f"notice {record.number} sent to {', '.join([record.recipient, *record.copies])}",
        "after": {
            "number": [record.number],
            "recipient": [record.recipient],
            "copies": list(record.copies),
            "message_id": [record.message_id],
            "record": [record.file],
            "sha256": [record.sha256],
            "signed_by": [record.signed_by] if record.signed_by else [],
            "sent_at": [record.sent_at or ""],
        },
    }


def work_list(pending: Iterable[str], outcomes: Iterable[str], ledger: NoticeLedger) -> list[str]:
    """Requests that need a notice (or a leftover credentials file cleaned up), in a stable order."""
    waiting = {request_id for request_id in outcomes if not ledger.is_sent(request_id)}
    return sorted(waiting | set(pending))


# --- effects ---------------------------------------------------------------------------------------


def load_outcomes(log: AuditLog, ledger: NoticeLedger) -> dict[str, Outcome]:
    """How each finished request ended (the audit log's final records), with what took effect for the
    requests whose notice is not sent yet."""
    finished = log.ledger().outcomes
    waiting = {request_id for request_id in finished if not ledger.is_sent(request_id)}
    changes = log.done_changes(waiting) if waiting else {}
    return {
        request_id: Outcome(
            request_id,
            outcome.result,  # type: ignore[arg-type]
            outcome.reason,
            tuple(Refusal.from_record(data) for data in outcome.refusals),
            tuple(changes.get(request_id, ())),
            outcome.time,
        )
        for request_id, outcome in finished.items()
    }


def deliver_pending(
    *,
    outbox: Outbox,
    ledger: NoticeLedger,
    inventory: Inventory,
    requests: Mapping[str, Request],
    outcomes: Mapping[str, Outcome],
    settings: NoticeSettings,
    smtp: SmtpSettings | None = None,
    dry_run_dir: Path | None = None,
    now: dt.datetime | None = None,
    signers: SignerPool | None = None,
    records: RecordsStore | None = None,
    audit: AuditLog | None = None,
) -> list[DeliveryResult]:
    """Send every pending notice (or, with ``dry_run_dir``, write them there with placeholder passwords,
    unsigned: a preview needs no key).

    ``signers`` open the organisations' keys (an organisation without one sends unsigned notices);
    ``records`` keeps each sent notice, ``audit`` (open for writing) records it. The caller holds
    ``hopthu.notices.ledger.locked(ledger.path)`` around this call when sending.
    """
    if dry_run_dir is None and smtp is None:
        raise ValueError("deliver_pending needs SMTP settings unless it is a dry run")
    now = now or dt.datetime.now(VIETNAM_TIME)
    pending = set(outbox.pending())
    results = []
    for request_id in work_list(pending, outcomes, ledger):
        try:
            results.append(
                _deliver_one(
                    request_id,
                    in_outbox=request_id in pending,
                    outbox=outbox,
                    ledger=ledger,
                    inventory=inventory,
                    requests=requests,
                    outcomes=outcomes,
                    settings=settings,
                    smtp=smtp,
                    dry_run_dir=dry_run_dir,
                    now=now,
                    signers=signers,
                    records=records,
                    audit=audit,
                )
            )
        except (
            NoticeError,
            DeliveryError,
            NoticeTemplateError,
            PdfError,
            OutboxError,
            SigningError,
            SigningKeyError,
            RecordsError,
        ) as exc:
            results.append(DeliveryResult(request_id, "failed", detail=str(exc)))
    return results


def _deliver_one(
    request_id: str,
    *,
    in_outbox: bool,
    outbox: Outbox,
    ledger: NoticeLedger,
    inventory: Inventory,
    requests: Mapping[str, Request],
    outcomes: Mapping[str, Outcome],
    settings: NoticeSettings,
    smtp: SmtpSettings | None,
    dry_run_dir: Path | None,
    now: dt.datetime,
    signers: SignerPool | None = None,
    records: RecordsStore | None = None,
    audit: AuditLog | None = None,
) -> DeliveryResult:
    dry_run = dry_run_dir is not None
    if ledger.is_sent(request_id) and in_outbox:
        # Sent on an earlier run that stopped before removing the file: nothing to send again.
        if dry_run:
            return DeliveryResult(request_id, "cleaned", detail="notice already sent; file would be removed")
        outbox.remove(request_id)
        return DeliveryResult(request_id, "cleaned", detail="notice already sent; credentials file removed")

    request = requests.get(request_id)
    if request is None:
        raise NoticeError(
            f"request {request_id}: no request file with this id; the notice waits until it is back"
        )
    org = inventory.organisations.get(request.org)
    if org is not None and request.kind is Kind.MERGE and not in_outbox:
        return _deliver_merger(
            request, org, inventory, outcomes, ledger, settings, smtp, dry_run_dir, now,
            signers=signers, records=records, audit=audit,
        )  # fmt: skip
    unit = org.units.get(request.unit) if org else None
    if org is None or unit is None:
        raise NoticeError(
            f"request {request_id}: organisation {request.org!r} / unit {request.unit!r} not in the inventory"
        )

    passwords: Mapping[str, str] = {}
    if in_outbox:
        credentials = outbox.credentials(request_id)
        if credentials is None:
            raise NoticeError(f"request {request_id}: its credentials file disappeared while notify ran")
        if (credentials.org, credentials.unit) != (request.org, request.unit):
            raise NoticeError(
                f"request {request_id}: the credentials file is for {credentials.org}/{credentials.unit}, "
                f"the request for {request.org}/{request.unit}; the file is kept"
            )
        if credentials.recipient != unit.mailbox:
            raise NoticeError(
                f"request {request_id}: the passwords were issued for {credentials.recipient}, but unit "
                f"{unit.code}'s mailbox is now {unit.mailbox}; not sending passwords to a different address. "
                "The file is kept: restore the mailbox in the inventory, "
                "or reset the passwords with a new request"
            )
        passwords = credentials.passwords

    outcome = outcomes.get(request_id)
    if outcome is None:
        if not in_outbox:
            raise NoticeError(f"request {request_id}: no final audit record")
        # Credentials are written only for accounts whose passwords were set: the request was applied.
        outcome = Outcome(request_id, "applied")
    if outcome.outcome == "refused" and passwords:
        raise NoticeError(
            f"request {request_id}: refused in the audit log but has passwords in the outbox; check it"
        )

    rows = rows_for(request, org, passwords, outcome.changes)
    entry = ledger.assign(request_id, org.code, now.date())
    refused = outcome.outcome == "refused"
    data = NoticeData(
        org=org,
        unit=unit,
        request=request,
        outcome=outcome.outcome,
        reason=outcome.reason if refused else None,
        refusals=outcome.refusals if refused else (),
        # A notice with passwords goes to the requesting unit only; any other goes to the units it concerns.
        copies=() if passwords or refused else copies_for(request, org),
        rows=rows,
        number=notice_number(entry.sequence, org),
        issued=entry.issued_date,
        # The organisation's own signer (inventory) unless the command names one.
        signer_title=settings.signer_title or org.signer_title or "GIÁM ĐỐC",
        signer_name=settings.signer_name or org.signer_name,
    )
    rendered = render(data, dry_run=dry_run, templates_dir=settings.templates_dir)

    copies = [copy.mailbox for copy in data.copies]
    if dry_run_dir is not None:
        _write_preview(dry_run_dir, rendered, sender=settings.sender, recipient=unit.mailbox, copies=copies)
        return DeliveryResult(request_id, "rendered", unit.mailbox, data.number, detail=str(dry_run_dir))

    assert smtp is not None
    message_id, rendered = _send_kept(
        request, data, rendered, copies, settings=settings, smtp=smtp, ledger=ledger, signers=signers,
        records=records, audit=audit, now=now,
    )  # fmt: skip
    ledger.mark_sent(request_id, recipient=unit.mailbox, message_id=message_id, at=now)
    ledger.save()
    if in_outbox:
        outbox.remove(request_id)  # the notice was the only place the passwords were to go
    return DeliveryResult(
        request_id, "sent", unit.mailbox, data.number, detail=message_id, signed_by=rendered.signed_by
    )


def _send_kept(
    request: Request,
    data: NoticeData,
    rendered: RenderedNotice,
    copies: list[str],
    *,
    settings: NoticeSettings,
    smtp: SmtpSettings,
    ledger: NoticeLedger,
    signers: SignerPool | None,
    records: RecordsStore | None,
    audit: AuditLog | None,
    now: dt.datetime,
) -> tuple[str, RenderedNotice]:
    """Sign, keep, send and record one notice (its number already in ``ledger``): the Message-ID and
    the notice as sent."""
    org, unit = data.org, data.unit
    rendered = _signed(rendered, data, signers)
    ledger.save()  # the number is given before the send, so a retry sends the same number
    message = build_message(rendered, sender=settings.sender, recipient=unit.mailbox, copies=copies)
    kept = None
    if records is not None:  # kept as it is about to go: no sent notice is without its record
        kept = records.stage(
            request=request.id,
            org=org.code,
            unit=unit.code,
            number=data.number,
            issued=data.issued,
            subject=rendered.subject,
            recipient=unit.mailbox,
            copies=tuple(copies),
            message_id=str(message["Message-ID"]),
            file_name=rendered.attachment_name,
            pdf=rendered.attachment_bytes,
            retention_years=org.notice_retention_years,
            signed_by=rendered.signed_by,
        )
    message_id = transmit(
        message, rendered, smtp=smtp, sender=settings.sender, recipients=[unit.mailbox, *copies]
    )
    try:
        if records is not None and kept is not None:
            kept = records.mark_sent(kept, now)
            if audit is not None:  # the PDF's hash in the hash chain: the log vouches for the store
                audit.append([audit_record(request, kept)])
    except (RecordsError, AuditError, OSError) as error:
        raise NoticeError(
            f"request {request.id}: notice {data.number} was delivered ({message_id}) but not recorded "
            f"({error}); the next run sends it again and records it"
        ) from None
    return message_id, rendered


def _signed(rendered: RenderedNotice, data: NoticeData, signers: SignerPool | None) -> RenderedNotice:
    """The notice with its PDF signed by the organisation's key, or as it is when none is configured."""
    found = signers.signer_for(data.org.code) if signers is not None else None
    if found is None or not rendered.attachment_bytes:
        return rendered
    config, signer = found
    subject = signer.signing_cert.subject.native
    appearance = appearance_for(
        signer_name=data.signer_name,
        signer_title=data.signer_title,
        organisation=signer_organisation(subject, data.org),
        signed_at=dt.datetime.now(VIETNAM_TIME),  # the real moment, whatever date the notice carries
        box=rendered.signature_box,
    )
    signed = sign_pdf(
        rendered.attachment_bytes,
        signer,
        appearance=appearance,
        reason=f"Thông báo số {data.number}",
        location=data.org.place,
        timestamp_url=config.timestamp_url,
    )
    return replace(rendered, attachment_bytes=signed, signed_by=str(subject.get("common_name") or ""))


def _deliver_merger(
    request: Request,
    org: Organisation,
    inventory: Inventory,
    outcomes: Mapping[str, Outcome],
    ledger: NoticeLedger,
    settings: NoticeSettings,
    smtp: SmtpSettings | None,
    dry_run_dir: Path | None,
    now: dt.datetime,
    *,
    signers: SignerPool | None = None,
    records: RecordsStore | None = None,
    audit: AuditLog | None = None,
) -> DeliveryResult:
    """A merger's notices: one per source unit (applied), or one to IT, who filed it (refused). Each is
    numbered and recorded on its own; the request counts as notified when all of them are sent."""
    outcome = outcomes.get(request.id)
    if outcome is None:
        raise NoticeError(f"request {request.id}: no final audit record")
    refused = outcome.outcome == "refused"
    effective = outcome.time.astimezone(VIETNAM_TIME).date() if outcome.time else None
    if refused:
        unit = requester_unit(request)
        if not unit.mailbox:
            raise NoticeError(f"request {request.id}: the merger's requester has no e-mail for its notice")
        jobs = [(request.id, unit, [], ())]
    else:
        jobs = [
            (notice.key, notice.unit, list(notice.rows), notice.copies)
            for notice in unit_notices(request, inventory, outcome.changes)
        ]
    sent, numbers = [], []
    for key, unit, rows, copies in jobs:
        if key != request.id and ledger.is_sent(key):
            continue
        entry = ledger.assign(key, org.code, now.date())
        data = NoticeData(
            org=org,
            unit=unit,
            request=request,
            outcome=outcome.outcome,
            reason=outcome.reason if refused else None,
            refusals=outcome.refusals if refused else (),
            copies=copies,
            rows=rows,
            number=notice_number(entry.sequence, org),
            issued=entry.issued_date,
            signer_title=settings.signer_title or org.signer_title or "GIÁM ĐỐC",
            signer_name=settings.signer_name or org.signer_name,
            effective=effective,
        )
        rendered = render(data, dry_run=dry_run_dir is not None, templates_dir=settings.templates_dir)
        copy_to = [copy.mailbox for copy in copies]
        numbers.append(data.number)
        sent.append(unit.mailbox)
        if dry_run_dir is not None:
            preview = dry_run_dir / key.replace("#", "--").replace("/", "-")
            _write_preview(preview, rendered, sender=settings.sender, recipient=unit.mailbox, copies=copy_to)
            continue
        assert smtp is not None
        message_id, _ = _send_kept(
            request, data, rendered, copy_to, settings=settings, smtp=smtp, ledger=ledger,
            signers=signers, records=records, audit=audit, now=now,
        )  # fmt: skip
        ledger.mark_sent(key, recipient=unit.mailbox, message_id=message_id, at=now)
        ledger.save()
    if dry_run_dir is not None:
        return DeliveryResult(request.id, "rendered", ", ".join(sent), ", ".join(numbers), str(dry_run_dir))
    if not refused:
        ledger.mark_group_sent(request.id, org.code, now, [notice for notice, *_ in jobs])
        ledger.save()
    return DeliveryResult(request.id, "sent", ", ".join(sent), ", ".join(numbers), f"{len(jobs)} notice(s)")


def _write_preview(
    directory: Path, rendered: RenderedNotice, *, sender: str, recipient: str, copies: list[str]
) -> None:
    """A dry run's output: what the unit would receive, passwords replaced by placeholders."""
    if rendered.has_secrets:  # render(dry_run=True) never lets one through; this keeps it that way
        raise NoticeError(f"request {rendered.request_id}: a preview must not contain passwords")
    directory.mkdir(parents=True, exist_ok=True)
    stem = rendered.request_id
    (directory / f"{stem}.txt").write_text(rendered.text, encoding="utf-8")
    (directory / f"{stem}.html").write_text(rendered.html, encoding="utf-8")
    (directory / rendered.attachment_name).write_bytes(rendered.attachment_bytes)
    message = build_message(rendered, sender=sender, recipient=recipient, copies=copies)
    (directory / f"{stem}.eml").write_bytes(message.as_bytes())
