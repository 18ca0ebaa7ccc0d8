"""``hopthu mailbox retire``: archive and remove the mailboxes of deleted accounts, on one host that holds
both the audit log and the mailboxes. The pipeline does the same across hosts (``playbooks/apply.yml``),
with the same two halves: ``mail.retire`` on the audit host, ``mail.mailhost`` on the mail server."""

from __future__ import annotations

import platform
from pathlib import Path

import click

from hopthu.audit import AuditError, AuditLog
from hopthu.cli.common import audit_log_option, load_inventory_or_fail


@click.group(short_help="Archive and remove the mailboxes of deleted accounts.")
def mailbox() -> None:
    """Mailboxes on the mail host: archive and remove those of deleted accounts."""


@mailbox.command()
@click.option(
    "--mail-root",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="Where Dovecot keeps mailboxes: <mail-root>/<org>/<uid>.",
)
@click.option(
    "--archive-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Archive folder for organisations without `archive_dir` in the inventory.",
)
@click.option("--dry-run", is_flag=True, help="Only list what would be retired; change and record nothing.")
@audit_log_option(
    "The hash-chained audit log: which accounts were deleted (xóa); each archive is recorded there too."
)
@click.pass_context
def retire(
    ctx: click.Context, mail_root: Path, archive_dir: Path | None, dry_run: bool, audit_log: Path
) -> None:
    """Archive (tar.gz, verified) and then remove the mailbox of every account the audit log shows deleted
    (xóa). Safe to run again: an archived mailbox is not archived twice; a failure keeps the mailbox and is
    recorded."""
    from hopthu.mail import MailError
    from hopthu.mail.mailhost import retire_here
    from hopthu.mail.retire import RECORDS_OF_INTEREST, assign, mailboxes_to_retire, settle

    inventory = load_inventory_or_fail(ctx.obj["inventory"])
    here = platform.node() or "localhost"
    try:
        with AuditLog(audit_log) as audit:
            pending = mailboxes_to_retire(audit.records(*RECORDS_OF_INTEREST))
            assignment = assign(pending, inventory, {here: list(inventory.organisations)})
            outcomes = retire_here(mail_root, assignment.hosts.get(here, []), archive_dir, dry_run=dry_run)
            settlement = settle(assignment.pending, {here: outcomes})
            if not dry_run:
                audit.append(settlement.records)
    except (AuditError, MailError) as error:
        raise click.ClickException(str(error)) from None
    for line in settlement.done:
        click.echo(line)
    for line in settlement.problems:
        click.echo(line, err=True)
    if not pending:
        click.echo("no mailbox to retire")
    if settlement.problems:
        ctx.exit(1)
