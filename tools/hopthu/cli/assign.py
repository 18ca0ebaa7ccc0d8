"""``hopthu assign``: write generated usernames into request files (comments and layout kept)."""

from __future__ import annotations

from pathlib import Path

import click

from hopthu.assign import assign_usernames
from hopthu.cli.validate import repo_root_of
from hopthu.findings import render_text
from hopthu.inventory import InventoryError, load_inventory
from hopthu.requests import REQUESTS_DIR


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def assign(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Give each new account without a username the first free address of its organisation's rule.

    PATHS are request files or directories (default: all of requests/). Usernames other requests give
    and reserved names are never chosen. A file that does not validate is left untouched (exit 1).
    Prints each assignment as "path: full name -> username".
    """
    inventory_path: Path = ctx.obj["inventory"]
    root = repo_root_of(inventory_path)
    try:
        inventory = load_inventory(inventory_path)
    except InventoryError as error:
        click.echo(render_text(error.findings), err=True, nl=False)
        raise click.ClickException("the inventory has problems (above); fix it first") from None
    result = assign_usernames(list(paths) or [root / REQUESTS_DIR], inventory, repo_root=root)
    for assignment in result.assigned:
        click.echo(f"{assignment.shown}: {assignment.name} -> {assignment.username}")
    if result.refused:
        click.echo(render_text(result.refused), err=True, nl=False)
        files = len({finding.path for finding in result.refused})
        raise click.ClickException(
            f"{files} file(s) left untouched: fix the problems above, then run assign again"
        )
    if not result.assigned:
        click.echo("nothing to assign: every new account has a username", err=True)
