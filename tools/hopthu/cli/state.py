"""``hopthu state``: the pipeline's state (audit log, credentials outbox, notice ledger) and its replicated
copy (``hopthu.statestore``): bring it back after the apply host is lost, and the outbox key."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hopthu.cli.common import (
    audit_log_option,
    directory_option,
    load_inventory_or_fail,
    outbox_option,
    run_stage,
)


@click.group(short_help="The pipeline's state and its replicated copy; the outbox key.")
def state() -> None:
    """The audit log, the credentials outbox and the notice ledger of the apply host, and the copy the
    replicated directory keeps of them (state: {org: …} in the connections file)."""


@state.command("new-key")
def new_key() -> None:
    """Print a new random outbox key, to keep in the vault (vault_hopthu_outbox_key) or as the
    protected, masked CI variable HOPTHU_OUTBOX_KEY. It is shown once, here; hopthu never writes it."""
    from hopthu.passwords import new_outbox_key

    click.echo(new_outbox_key())


@state.command()
@outbox_option()
@directory_option(
    "Connections file (default $HOPTHU_DIRECTORY): the directory's copy is encrypted again too."
)
@click.pass_context
def rekey(ctx: click.Context, outbox: Path, directory_file: Path | None) -> None:
    """Encrypt every waiting credentials file again with the first key of $HOPTHU_OUTBOX_KEY.

    To rotate the key: put the new key first and the old one after it (space-separated), run this, then
    keep only the new key."""
    from hopthu.passwords import Outbox
    from hopthu.statestore import close, load_state_store

    inventory = load_inventory_or_fail(ctx.obj["inventory"])

    def work() -> list[str]:
        store = load_state_store(directory_file, inventory)
        try:
            return Outbox(outbox, mirror=store).rekey()
        finally:
            close(store)

    done = run_stage(work)
    click.echo(f"encrypted again with the first key: {len(done)} credentials file(s)")


@state.command()
@directory_option(
    "Connections file naming the state organisation (state: {org: …}); default $HOPTHU_DIRECTORY."
)
@audit_log_option("Where the audit log is written back.")
@outbox_option("Where the (encrypted) credentials files are written back.")
@click.option(
    "--ledger",
    "ledger_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where the notice ledger is written back (default: beside the outbox).",
)
@click.option(
    "--expect-head",
    metavar="SEQ:HASH",
    help="An anchor kept outside (the audit-head.txt of a CI job): the copy must still hold that record.",
)
@click.option("--check", is_flag=True, help="Only compare this host's state with the copy; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def restore(
    ctx: click.Context,
    directory_file: Path | None,
    audit_log: Path,
    outbox: Path,
    ledger_path: Path | None,
    expect_head: str | None,
    check: bool,
    as_json: bool,
) -> None:
    """Write the audit log, the credentials outbox and the notice ledger back from the replicated
    directory, on a new apply host after the old one was lost (docs/adopting.md).

    Nothing here is overwritten: a log that is not a beginning of the copy's, or a file that differs from
    its copy, stops the restore with the reason. The audit chain is verified (with --expect-head against
    the last anchor) before the log is written."""
    from hopthu.notices.ledger import ledger_path_for
    from hopthu.passwords import Outbox
    from hopthu.statestore import close, load_state_store, restore

    if directory_file is None:
        raise click.UsageError("no connections file: pass --directory FILE or set $HOPTHU_DIRECTORY")
    inventory = load_inventory_or_fail(ctx.obj["inventory"])

    def work():
        store = load_state_store(directory_file, inventory)
        if store is None:
            raise click.UsageError(
                f"{directory_file} names no state organisation: add state: {{org: CODE}} (the organisation "
                "whose directory keeps the pipeline's state)"
            )
        try:
            box = Outbox(outbox)
            ledger = ledger_path or ledger_path_for(box.root)
            return restore(store, audit_log, box, ledger, expect_head=expect_head, check=check)
        finally:
            close(store)

    done = run_stage(work)
    if as_json:
        click.echo(json.dumps(done.__dict__, ensure_ascii=False, indent=2))
        return
    verb = "would write" if check else "wrote"
    log = (
        f"{verb} the audit log ({done.records} records, head {done.head})"
        if done.log_written
        else f"the audit log here already holds the copy's {done.records} records"
    )
    click.echo(log)
    click.echo(
        f"{verb} {len(done.credentials)} credentials file(s); {len(done.waiting)} wait for their notice"
    )
    if done.ledger_written:
        click.echo("wrote the notice ledger")
    for request_id, number in sorted(done.unconfirmed.items()):
        click.echo(
            f"notice {number} of {request_id} was numbered but its delivery is not recorded: look for it in "
            "the relay's log before `hopthu notify` sends it (again)",
            err=True,
        )
