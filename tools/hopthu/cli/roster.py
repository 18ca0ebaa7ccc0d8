"""``hopthu roster``: HR's staff list (danh sách nhân sự) against the directory → draft requests to review."""

from __future__ import annotations

from pathlib import Path

import click

from hopthu.cli.annex import _date
from hopthu.cli.common import (
    directory_option,
    load_inventory_or_fail,
    open_session,
    refuse_import,
    repo_root_of,
    run_stage,
)


@click.command(short_help="Compare HR's staff list with the directory; write draft requests.")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--org", required=True, metavar="ORG", help="Organisation code from the inventory.")
@click.option("--document-number", required=True, metavar="N", help="Number of HR's letter with the list.")
@click.option("--document-date", required=True, metavar="YYYY-MM-DD", help="Its date.")
@click.option("--signer", required=True, metavar="NAME", help="Who signed it.")
@click.option(
    "--sheet", metavar="NAME", help="The Excel sheet (default: the first with a recognised header)."
)
@click.option(
    "--partial",
    is_flag=True,
    help="The list names only some staff (new staff, leavers): accounts not on it are left alone.",
)
@directory_option("Connections file of the live directory (default: $HOPTHU_DIRECTORY), read once.")
@click.pass_context
def roster(
    ctx: click.Context,
    file: Path,
    org: str,
    document_number: str,
    document_date: str,
    signer: str,
    sheet: str | None,
    partial: bool,
    directory_file: Path | None,
) -> None:
    """Compare HR's staff list FILE (xlsx or csv: staff code, full name, unit, position, status) with the
    directory and write draft requests for IT to review: a create per unit for staff without an account,
    a lock per unit for people who left or are no longer on the list, an update for a changed unit or
    position. People are matched by staff code, then by full name within the unit; every match that is
    not certain is listed instead of guessed. Nothing is applied: the drafts go through review like any
    request. Prints the path of each draft.
    """
    from hopthu.directory.reader import DirectoryReader
    from hopthu.forms.importer import ImportRefused, roster_drafts

    inventory_path: Path = ctx.obj["inventory"]
    inventory = load_inventory_or_fail(inventory_path)
    organisation = inventory.organisations.get(org)
    if organisation is None:
        raise click.BadParameter(f"unknown organisation '{org}'", param_hint="--org")
    date = _date(document_date)

    def work():
        with open_session(directory_file) as session:
            accounts = DirectoryReader(session.connection(org)).accounts(organisation)
        return roster_drafts(
            file,
            organisation,
            inventory,
            repo_root_of(inventory_path),
            accounts,
            number=document_number,
            date=date,
            signer=signer,
            sheet=sheet,
            partial=partial,
        )

    try:
        result = run_stage(work)
    except ImportRefused as refused:
        refuse_import(refused.problems, "no draft written")
    for note in result.notes:
        click.echo(note.render(), err=True)
    for problem in result.ambiguous:
        click.echo(problem.render(), err=True)
    from hopthu.requests import shown_path

    for path, _kind, state in result.written:
        click.echo(f"{shown_path(path)}" + ("" if state == "written" else "  (unchanged)"))
    summary = f"{len(result.written)} draft request(s)"
    if result.ambiguous:
        summary += f"; {len(result.ambiguous)} uncertain match(es) above, left for IT to decide"
    if not result.written and not result.ambiguous:
        summary = "the directory already matches the roster: no draft"
    click.echo(summary, err=True)
