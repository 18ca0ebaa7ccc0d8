"""``hopthu import``: an annex list (phụ lục) from Excel, Word or CSV → one request file, validated;
``hopthu import template``: the blank annex a unit fills."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from hopthu.cli.common import (
    directory_option,
    load_inventory_or_fail,
    open_session,
    refuse_import,
    repo_root_of,
    run_stage,
)
from hopthu.model import Kind, Organisation

KINDS = [kind.value for kind in Kind]


class _FileOrTemplate(click.Group):
    """``import FILE …`` runs the import; ``import template …`` the template command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["file", *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "FILE OPTIONS… | template OPTIONS…")


def _date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"'{value}' is not a date written YYYY-MM-DD", param_hint="--document-date"
        ) from None


@click.group(
    "import",
    cls=_FileOrTemplate,
    short_help="Read an annex list (xlsx, docx, csv) into a request file.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
def import_group() -> None:
    """Read the annex list a unit sent (Excel, Word table or CSV) into one request file.

    \b
      hopthu import FILE --org ORG --unit UNIT --kind KIND --document-number N \\
          --document-date YYYY-MM-DD --signer NAME --requester-email EMAIL [--reason TEXT] [--id ID]
      hopthu import template --org ORG --kind KIND [--type person|unit] [--format xlsx|docx] -o FILE

    `hopthu import FILE --help` and `hopthu import template --help` tell more.
    """


@import_group.command("file", short_help="Import FILE (the default: `hopthu import FILE …`).")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--org", required=True, metavar="ORG", help="Organisation code from the inventory.")
@click.option("--unit", required=True, metavar="UNIT", help="The requesting unit's code.")
@click.option("--kind", required=True, type=click.Choice(KINDS), help="What the request asks for.")
@click.option("--document-number", required=True, metavar="N", help="The letter's number (số văn bản).")
@click.option("--document-date", required=True, metavar="YYYY-MM-DD", help="The letter's date.")
@click.option("--signer", required=True, metavar="NAME", help="Who signed the letter.")
@click.option(
    "--requester-email",
    required=True,
    metavar="EMAIL",
    help="The requester, as the inventory lists them for the unit (by e-mail).",
)
@click.option(
    "--reason", metavar="TEXT", help="Why (lý do); default: the annex's 'Lý do …:' line, or the letter."
)
@click.option("--id", "request_id", metavar="ID", help="Request id; default <date>-<unit>-<kind> (cap-moi…).")
@click.option(
    "--sheet", metavar="NAME", help="The Excel sheet (default: the first with a recognised header)."
)
@click.option(
    "--table",
    type=click.IntRange(min=1),
    metavar="N",
    help="The Word table, 1-based (default: the first with a recognised header).",
)
@directory_option(
    "Connections file of the live directory (default: $HOPTHU_DIRECTORY): its usernames count as taken."
)
@click.pass_context
def import_file(ctx: click.Context, file: Path, directory_file: Path | None, **options) -> None:
    """Read FILE (.xlsx, .docx or .csv) and write requests/ORG/UNIT/YEAR/ID.yaml, then validate it.

    Usernames are assigned by the organisation's rule. Every problem of every row is reported as
    FILE:SHEET!CELL (FILE:table N row R for Word, FILE:line L for CSV) and nothing is written. A column
    of national ID numbers (Số CMND/CCCD) is never copied. Prints the path of the request file.
    """
    from hopthu.forms.importer import ImportRefused, Spec, import_annex

    inventory_path: Path = ctx.obj["inventory"]
    root = repo_root_of(inventory_path)
    inventory = load_inventory_or_fail(inventory_path)
    spec = Spec(
        org=options["org"],
        unit=options["unit"],
        kind=Kind(options["kind"]),
        document_number=options["document_number"],
        document_date=_date(options["document_date"]),
        signer=options["signer"],
        requester_email=options["requester_email"],
        reason=options["reason"],
        request_id=options["request_id"],
        sheet=options["sheet"],
        table=options["table"],
    )

    def work():
        if directory_file is None:
            return import_annex(file, spec, inventory, root)
        with open_session(directory_file) as session:

            def taken(org: Organisation) -> dict[str, str | None]:
                from hopthu.directory.reader import DirectoryReader

                # the names in use, and who holds each (for rules with conditions on the holder)
                return DirectoryReader(session.connection(org.code)).holders(org)

            return import_annex(file, spec, inventory, root, taken_from_directory=taken)

    try:
        result = run_stage(work)
    except ImportRefused as refused:
        refuse_import(refused.problems, "nothing written")
    for note in result.notes:
        click.echo(note.render(), err=True)
    state = "unchanged (already imported)" if result.state == "unchanged" else "written"
    click.echo(f"{len(result.accounts)} account(s), {state}, validated", err=True)
    click.echo(result.shown)


@import_group.command("template", short_help="Write the blank annex of a kind for units to fill.")
@click.option(
    "--org", required=True, metavar="ORG", help="Organisation code: its units and services are offered."
)
@click.option("--kind", required=True, type=click.Choice(KINDS), help="The request kind the annex is for.")
@click.option(
    "--type",
    "account_type",
    type=click.Choice(["person", "unit"]),
    default="person",
    show_default=True,
    help="For --kind create: person accounts, or unit mailboxes (hộp thư cơ quan/đơn vị).",
)
@click.option("--unit", metavar="UNIT", help="The unit whose annex it is: its name goes into the heading.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["xlsx", "docx"]),
    help="Excel (with drop-down lists) or Word; default: from the -o file name, else xlsx.",
)
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path, dir_okay=False), help="File.")
@click.pass_context
def import_template(
    ctx: click.Context,
    org: str,
    kind: str,
    account_type: str,
    unit: str | None,
    fmt: str | None,
    output: Path,
) -> None:
    """Write the blank annex (phụ lục) of KIND: the heading of an administrative document, the header row
    `hopthu import` reads, a worked example row, drop-down lists of the organisation's units and services
    (Excel) and the signature block."""
    from hopthu.forms.template import write_docx, write_xlsx

    inventory = load_inventory_or_fail(ctx.obj["inventory"])
    organisation = inventory.organisations.get(org)
    if organisation is None:
        raise click.BadParameter(f"unknown organisation '{org}'", param_hint="--org")
    unit_name = None
    if unit is not None:
        if unit not in organisation.units:
            raise click.BadParameter(f"unknown unit '{unit}' of {org}", param_hint="--unit")
        unit_name = organisation.units[unit].name
    if account_type == "unit" and kind != Kind.CREATE.value:
        raise click.BadParameter("unit mailboxes are created with --kind create", param_hint="--type")
    fmt = fmt or ("docx" if output.suffix.lower() == ".docx" else "xlsx")
    write = write_docx if fmt == "docx" else write_xlsx

    def work() -> None:
        output.parent.mkdir(parents=True, exist_ok=True)
        write(output, Kind(kind), account_type == "unit", organisation, unit_name)

    run_stage(work)
    click.echo(str(output))
