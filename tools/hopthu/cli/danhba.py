"""``hopthu directory``: the published list of staff mailboxes (danh bạ), from the directory."""

from __future__ import annotations

from pathlib import Path

import click

from hopthu.cli.common import directory_option, load_inventory_or_fail, open_session, run_stage


@click.command("directory", short_help="Export the staff mailbox list (danh bạ) as CSV or XLSX.")
@click.option("--org", required=True, metavar="ORG", help="Organisation code from the inventory.")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), help="Default: from -o, else xlsx.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path, dir_okay=False), help="File.")
@directory_option()
@click.pass_context
def danhba(ctx: click.Context, org: str, fmt: str | None, output: Path, directory_file: Path | None) -> None:
    """Write the list of staff mailboxes of ORG, grouped by unit: STT, account (address), full name,
    position, backup e-mail (email dự phòng). Locked accounts are not listed. One read of the directory."""
    from hopthu.directory.reader import DirectoryReader
    from hopthu.reports.danhba import phonebook, write_csv, write_xlsx

    inventory = load_inventory_or_fail(ctx.obj["inventory"])
    organisation = inventory.organisations.get(org)
    if organisation is None:
        raise click.BadParameter(f"unknown organisation '{org}'", param_hint="--org")
    fmt = fmt or ("csv" if output.suffix.lower() == ".csv" else "xlsx")

    def work() -> int:
        with open_session(directory_file) as session:
            accounts = DirectoryReader(session.connection(org)).accounts(organisation)
        groups = phonebook(organisation, accounts)
        output.parent.mkdir(parents=True, exist_ok=True)
        (write_csv if fmt == "csv" else write_xlsx)(output, organisation, groups)
        return sum(len(entries) for _, entries in groups)

    listed = run_stage(work)
    click.echo(f"{listed} account(s) listed", err=True)
    click.echo(str(output))
