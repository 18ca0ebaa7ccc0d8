"""``hopthu mailbox retire``: archive and remove the mailboxes of deleted accounts (run on the mail host)."""

from __future__ import annotations

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
@audit_log_option(
    "The hash-chained audit log: which accounts were deleted (xóa); each archive is recorded there too."
)
@click.pass_context
def retire(ctx: click.Context, mail_root: Path, archive_dir: Path | None, audit_log: Path) -> None:
    """Archive (tar.gz, verified) and then remove the mailbox of every account the audit log shows deleted
    (xóa). Safe to run again: an archived mailbox is not archived twice; a failure keeps the mailbox."""
    from hopthu.mail.retire import retire_mailboxes

    inventory = load_inventory_or_fail(ctx.obj["inventory"])
    try:
        with AuditLog(audit_log) as audit:
            results = retire_mailboxes(audit, mail_root, inventory, archive_dir)
    except AuditError as error:
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
