"""``hopthu mailbox retire``: archive and remove the mailboxes of deleted accounts (run on the mail host)."""

from __future__ import annotations

from pathlib import Path

import click

from hopthu.audit import AuditError, AuditLog, default_log_path
from hopthu.inventory import InventoryError, load_inventory


@click.group()
def mailbox() -> None:
    """Mailboxes on the mail host."""


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
@click.option(
    "--audit-log",
    type=click.Path(path_type=Path, dir_okay=False),
    default=default_log_path,
    show_default="$HOPTHU_AUDIT_LOG or var/audit/audit.jsonl",
)
@click.pass_context
def retire(ctx: click.Context, mail_root: Path, archive_dir: Path | None, audit_log: Path) -> None:
    """Archive (tar.gz, verified) and then remove the mailbox of every account the audit log shows deleted
    (xóa). Safe to run again: an archived mailbox is not archived twice; a failure keeps the mailbox."""
    from hopthu.mail.retire import retire_mailboxes

    try:
        inventory = load_inventory(ctx.obj["inventory"])
        with AuditLog(audit_log) as audit:
            results = retire_mailboxes(audit, mail_root, inventory, archive_dir)
    except (InventoryError, AuditError) as error:
        raise click.ClickException(str(error)) from None
    for item in results:
        account = f"{item.account.org}/{item.account.uid}"
        if item.archive:
            click.echo(f"archived {account}: {item.messages} message(s) in {item.archive}; mailbox removed")
        else:
            click.echo(f"NOT archived {account}: {item.result}", err=True)
    if not results:
        click.echo("no mailbox to retire")
    if any(item.archive is None for item in results):
        ctx.exit(1)
