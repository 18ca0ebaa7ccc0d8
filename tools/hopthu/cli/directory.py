"""``hopthu directory export``: the directory list (danh bạ) of an organisation, from the live directory."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import click

from hopthu.cli.common import (
    file_problem,
    known_organisation,
    load_inventory_or_fail,
    organisation_option,
    reader_connection,
    reader_directory_option,
)


@contextlib.contextmanager
def _text_out(path: Path | None) -> Iterator[IO[str]]:
    """The file to write (its line ends as written: vCard's are CRLF), or standard output."""
    if path is None:
        yield click.get_text_stream("stdout")
        return
    with path.open("w", encoding="utf-8", newline="") as out:
        yield out


@click.group(short_help="The directory list (danh bạ) an agency publishes.")
def directory():
    """Views of the live directory for people."""


@directory.command(short_help="Export the danh bạ: CSV, XLSX, HTML, vCard or LDIF.")
@organisation_option()
@click.option("--unit", metavar="CODE", help="Only this unit (its code in the inventory).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "xlsx", "html", "vcf", "ldif", "json"]),
    default="csv",
    show_default=True,
    help="csv (UTF-8 with BOM, for Excel), xlsx (a sheet per unit), html (a page to print), vcf (vCard 4.0, "
    "a card per account), ldif, json.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write it to FILE.")
@click.option("--all", "include_locked", is_flag=True, help="Also list locked accounts (khóa), marked so.")
@reader_directory_option()
@click.pass_context
def export(ctx, org_code, unit, fmt, output, include_locked, directory_file):
    """The danh bạ of an organisation from the live directory: per unit, its unit mailboxes with the
    official who manages each, then its staff — address (tài khoản người dùng), full name, position,
    backup e-mail, department, unit and phone. Locked accounts are left out unless --all. Writes nothing
    to the directory."""
    from hopthu.reports import directory_list, formats
    from hopthu.reports.accounts import read_accounts
    from hopthu.reports.progress import Progress
    from hopthu.reports.sources import today_in_vietnam

    inventory = load_inventory_or_fail(ctx.obj["inventory"])
    org = known_organisation(inventory, org_code)
    if unit is not None and unit not in org.units:
        raise click.BadParameter(f"{unit!r} is not a unit of {org.code}", param_hint="--unit")
    if fmt == "xlsx" and output is None:
        raise click.UsageError("--format xlsx writes a file: add -o FILE")
    with reader_connection(directory_file, org.code) as conn:
        everyone = list(read_accounts(conn, org, Progress("accounts", every=20_000)))
    accounts = directory_list.listed(everyone, unit, include_locked)
    try:
        if fmt in ("csv", "xlsx", "html"):
            report = directory_list.report(org, accounts, today_in_vietnam(), include_locked)
            text = formats.write_report(report, fmt, output)
            if text is not None:
                click.echo(text, nl=False)
        else:
            with _text_out(output) as out:
                if fmt == "vcf":
                    directory_list.write_vcards(org, accounts, out)
                elif fmt == "ldif":
                    directory_list.write_ldif(org, accounts, out)
                else:
                    rows = [
                        json.dumps(row, ensure_ascii=False) for row in directory_list.as_json(org, accounts)
                    ]
                    out.write("[\n" + ",\n".join(rows) + "\n]\n" if rows else "[]\n")
    except OSError as error:
        raise click.ClickException(file_problem(error)) from None
    click.echo(
        f"{org.code}: {len(accounts)} account(s) in the danh bạ"
        + (f" written to {output}" if output else "")
        + ("" if include_locked else f" ({sum(a.locked for a in everyone)} locked left out)"),
        err=True,
    )
