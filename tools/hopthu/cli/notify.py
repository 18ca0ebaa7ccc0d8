"""``hopthu notify``: send the result notice (thông báo kết quả) of every finished request, once."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from hopthu.audit import AuditError, AuditLog
from hopthu.cli.common import (
    audit_log_option,
    directory_option,
    file_problem,
    load_inventory_or_fail,
    outbox_option,
    repo_root_of,
    run_stage,
)
from hopthu.model import Inventory, Request
from hopthu.notices.deliver import DeliveryResult, NoticeSettings, Outcome, deliver_pending, load_outcomes
from hopthu.notices.ledger import LedgerError, NoticeLedger, ledger_path_for, locked
from hopthu.notices.records import RECORDS_ENV, RecordsStore, default_records_dir
from hopthu.notices.smtp import DEFAULT_PASSWORD_ENV, SmtpSettings
from hopthu.passwords import Outbox, OutboxError
from hopthu.requests import REQUESTS_DIR, GitError, load_requests
from hopthu.signing.keys import ENV_FILE as SIGNING_ENV
from hopthu.signing.keys import SigningKeyError, SigningSettings, load_signing_file, opened_signers
from hopthu.statestore import StateError, load_state_store
from hopthu.statestore import close as close_store

# The organisation's own notice templates sit beside inventory/ and requests/, not inside inventory/:
# Ansible parses every file under an inventory directory as an inventory source.
ORG_TEMPLATES = Path("templates") / "notices"


@click.command(short_help="Send the result notices (thông báo kết quả) to the units.")
@outbox_option("The credentials outbox (one-time passwords waiting for their notice).")
@audit_log_option("The audit log: requests with a final record (applied or refused) get a notice.")
@click.option(
    "--requests",
    "requests_dir",
    type=click.Path(exists=True, path_type=Path),
    help="Request files or folder (default: requests/ beside the inventory).",
)
@click.option(
    "--ledger",
    "ledger_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Notice numbers and deliveries (default: OUTBOX.notices.json beside the outbox).",
)
@click.option(
    "--templates",
    "templates_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help=f"The organisation's notice templates (default: {ORG_TEMPLATES}/ beside the inventory, if present).",
)
@click.option(
    "--smtp-host", envvar="HOPTHU_SMTP_HOST", metavar="HOST", help="SMTP server [$HOPTHU_SMTP_HOST]."
)
@click.option(
    "--smtp-port",
    envvar="HOPTHU_SMTP_PORT",
    type=click.IntRange(1, 65535),
    default=25,
    show_default=True,
    help="SMTP port [$HOPTHU_SMTP_PORT].",
)
@click.option("--starttls/--no-starttls", default=False, show_default=True, help="Encrypt with STARTTLS.")
@click.option(
    "--smtp-user",
    envvar="HOPTHU_SMTP_USER",
    metavar="LOGIN",
    help=f"SMTP login [$HOPTHU_SMTP_USER]; the password comes from ${DEFAULT_PASSWORD_ENV} only.",
)
@click.option(
    "--smtp-ca-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="CA certificate(s) to verify the SMTP server with (default: the system's).",
)
@click.option(
    "--allow-plaintext",
    is_flag=True,
    help="Allow passwords over an unencrypted connection to a server that is not on this machine.",
)
@click.option(
    "--sender",
    envvar="HOPTHU_NOTICE_SENDER",
    metavar="ADDRESS",
    help="From: address [$HOPTHU_NOTICE_SENDER].",
)
@click.option(
    "--signer-title",
    envvar="HOPTHU_SIGNER_TITLE",
    metavar="TITLE",
    help="Signer's title, default: the organisation's `signer` in the inventory, else GIÁM ĐỐC; '\\n' "
    "starts a new line (KT. GIÁM ĐỐC\\nPHÓ GIÁM ĐỐC) [$HOPTHU_SIGNER_TITLE].",
)
@click.option(
    "--signer-name",
    envvar="HOPTHU_SIGNER_NAME",
    metavar="NAME",
    help="Signer's full name, default: the organisation's `signer` in the inventory [$HOPTHU_SIGNER_NAME].",
)
@click.option(
    "--signing",
    "signing_file",
    envvar=SIGNING_ENV,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Signing settings (JSON or YAML): per organisation the key that signs its notices (a PKCS#12 file "
    "or a PKCS#11 token), where its passphrase or PIN comes from, and an RFC 3161 timestamp server. "
    f"Without it, or for an organisation it does not name, notices go unsigned [${SIGNING_ENV}].",
)
@click.option(
    "--records",
    "records_dir",
    envvar=RECORDS_ENV,
    type=click.Path(file_okay=False, path_type=Path),
    help="The records store (hồ sơ) of sent notices (default: records/ beside the audit log) "
    f"[${RECORDS_ENV}].",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Render to --output with passwords hidden, unsigned; send and delete nothing.",
)
@click.option(
    "--output",
    "output_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where --dry-run writes each notice (.txt, .html, .pdf, .eml).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@directory_option(
    "Connections file (default $HOPTHU_DIRECTORY): when it names a state organisation (state: {org: …}), "
    "the outbox and the notice ledger are also kept in that replicated directory."
)
@click.pass_context
def notify(
    ctx: click.Context,
    directory_file: Path | None,
    outbox: Path,
    audit_log: Path,
    requests_dir: Path | None,
    ledger_path: Path | None,
    templates_dir: Path | None,
    smtp_host: str | None,
    smtp_port: int,
    starttls: bool,
    smtp_user: str | None,
    smtp_ca_file: Path | None,
    allow_plaintext: bool,
    sender: str | None,
    signer_title: str | None,
    signer_name: str | None,
    signing_file: Path | None,
    records_dir: Path | None,
    dry_run: bool,
    output_dir: Path | None,
    as_json: bool,
) -> None:
    """Send each finished request's result notice to the unit's official mailbox.

    A notice goes out for every request with one-time passwords in the outbox and every request the
    audit log records as applied or refused, unless the ledger says it was sent. Its PDF is signed with
    the organisation's key (--signing), kept in the records store and recorded in the audit log with
    its SHA-256. After a successful delivery the credentials file is deleted; after a failure
    everything is kept for the next run. Exit 1 when any notice could not be sent.
    """
    if dry_run and output_dir is None:
        raise click.UsageError("--dry-run needs --output DIR")
    if not dry_run:
        missing = [name for name, value in (("--smtp-host", smtp_host), ("--sender", sender)) if not value]
        if missing:
            raise click.UsageError(f"{' and '.join(missing)} needed to send (or use --dry-run --output DIR)")

    inventory_path: Path = ctx.obj["inventory"]
    repo_root = repo_root_of(inventory_path)
    inventory = load_inventory_or_fail(inventory_path)
    settings = NoticeSettings(
        sender=sender or "hopthu@localhost",
        signer_title=(signer_title or "").replace("\\n", "\n"),
        signer_name=signer_name or "",
        templates_dir=templates_dir or _org_templates(repo_root),
    )
    requests = _requests(requests_dir or repo_root / REQUESTS_DIR, inventory)
    store = run_stage(lambda: load_state_store(directory_file, inventory)) if not dry_run else None
    try:
        outbox = Outbox(outbox, mirror=store)
        ledger_file = ledger_path or ledger_path_for(outbox.root)
        outcomes = _outcomes(audit_log, ledger_file)
        if dry_run:
            results = deliver_pending(
                outbox=outbox,
                ledger=NoticeLedger.load(ledger_file),  # read, never saved in a dry run
                inventory=inventory,
                requests=requests,
                outcomes=outcomes,
                settings=settings,
                dry_run_dir=output_dir,
            )
        else:
            smtp = SmtpSettings(
                host=smtp_host or "",
                port=smtp_port,
                starttls=starttls,
                username=smtp_user,
                allow_plaintext=allow_plaintext,
                ca_file=smtp_ca_file,
            )
            signing = _signing(signing_file)
            records = RecordsStore(records_dir or default_records_dir(audit_log))
            with (
                locked(ledger_file),
                opened_signers(signing) as signers,
                # held for the run: each sent notice is recorded at once (and copied to the directory)
                AuditLog(audit_log, mirror=store) as log,
            ):
                results = deliver_pending(
                    outbox=outbox,
                    ledger=NoticeLedger.load(ledger_file, mirror=store),
                    inventory=inventory,
                    requests=requests,
                    outcomes=outcomes,
                    settings=settings,
                    smtp=smtp,
                    signers=signers,
                    records=records,
                    audit=log,
                )
    except (OutboxError, LedgerError, AuditError, SigningKeyError, StateError) as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(file_problem(error)) from None
    finally:
        close_store(store)
    _report(results, as_json)
    if any(result.status == "failed" for result in results):
        ctx.exit(1)


def _signing(path: Path | None) -> dict[str, SigningSettings]:
    if path is None:
        return {}
    return load_signing_file(path)  # SigningKeyError: shown as one line by the caller


def _org_templates(repo_root: Path) -> Path | None:
    candidate = repo_root / ORG_TEMPLATES
    return candidate if candidate.is_dir() else None


def _requests(directory: Path, inventory: Inventory) -> dict[str, Request]:
    try:
        requests, _ = load_requests(
            [directory], inventory, repo_root=directory.resolve().parent, letters=False
        )
    except GitError as error:
        raise click.ClickException(str(error)) from None
    # Files with errors are left out here; their notices wait (and say so) until 'hopthu validate' passes.
    return {request.id: request for request in requests}


def _outcomes(audit_log: Path, ledger_file: Path) -> dict[str, Outcome]:
    if not audit_log.is_file():
        return {}
    try:
        return load_outcomes(AuditLog(audit_log), NoticeLedger.load(ledger_file))
    except (AuditError, LedgerError) as error:
        raise click.ClickException(str(error)) from None


def _report(results: list[DeliveryResult], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([asdict(result) for result in results], ensure_ascii=False, indent=1))
        return
    for result in results:
        line = f"{result.status:8} {result.request_id}"
        if result.number:
            line += f"  {result.number} -> {result.recipient}"
        if result.status == "sent":
            line += f"  (signed by {result.signed_by})" if result.signed_by else "  (unsigned)"
        if result.status == "failed":
            click.echo(f"{line}: {result.detail}", err=True)
        else:
            click.echo(line)
    counts = {
        status: sum(1 for r in results if r.status == status) for status in ("sent", "rendered", "failed")
    }
    summary = ", ".join(f"{count} {status}" for status, count in counts.items())
    click.echo(f"{len(results)} notice(s): {summary}", err=True)
