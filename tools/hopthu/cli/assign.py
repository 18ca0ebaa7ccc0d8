"""``hopthu assign``: write generated usernames into request files (comments and layout kept)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import click

from hopthu.assign import assign_usernames
from hopthu.cli.validate import repo_root_of
from hopthu.directory import DirectoryError
from hopthu.directory.connection import connect
from hopthu.directory.reader import DirectoryReader
from hopthu.endpoints import ENV_FILE, EndpointError, load_endpoints
from hopthu.findings import render_text
from hopthu.inventory import InventoryError, load_inventory
from hopthu.requests import REQUESTS_DIR


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--directory",
    "directory_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=lambda: os.environ.get(ENV_FILE),
    help="Connections file of the live directory (default: $HOPTHU_DIRECTORY): every username it holds "
    "counts as taken. Without it, only request files and reserved names do.",
)
@click.pass_context
def assign(ctx: click.Context, paths: tuple[Path, ...], directory_file: Path | None) -> None:
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
    taken = _directory_names(directory_file) if directory_file else None
    result = assign_usernames(
        list(paths) or [root / REQUESTS_DIR], inventory, repo_root=root, taken_from_directory=taken
    )
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


def _directory_names(directory_file: Path) -> Callable:
    """Usernames in use in the live directory, read once per organisation (one paged search of uid)."""
    try:
        endpoints = load_endpoints(directory_file)
    except EndpointError as error:
        raise click.ClickException(str(error)) from None

    def taken(org) -> frozenset[str]:
        endpoint = endpoints.get(org.code)
        if endpoint is None:
            raise click.ClickException(f"{directory_file}: no connection for organisation {org.code}")
        try:
            conn = connect(endpoint.uri, endpoint.bind_dn, endpoint.password)
        except DirectoryError as error:
            raise click.ClickException(str(error)) from None
        try:
            return DirectoryReader(conn).taken(org)
        finally:
            conn.unbind()

    return taken
