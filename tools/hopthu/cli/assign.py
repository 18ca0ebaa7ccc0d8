"""``hopthu assign``: write generated usernames into request files (comments and layout kept)."""

from __future__ import annotations

from pathlib import Path

import click

from hopthu.assign import AssignResult, assign_usernames
from hopthu.cli.common import (
    directory_option,
    fail_with_findings,
    load_inventory_or_fail,
    open_session,
    paths_argument,
    repo_root_of,
    run_stage,
)
from hopthu.directory.reader import DirectoryReader
from hopthu.model import Organisation
from hopthu.requests import REQUESTS_DIR


@click.command(short_help="Write generated usernames into the request files.")
@paths_argument
@directory_option(
    "Connections file of the live directory (default: $HOPTHU_DIRECTORY): every username it holds "
    "counts as taken, held by the entry's cn (for rules with 'unless same-full-name'). Without it, only "
    "request files and reserved names do."
)
@click.pass_context
def assign(ctx: click.Context, paths: tuple[Path, ...], directory_file: Path | None) -> None:
    """Give each new account without a username the first free address of its organisation's rule.

    PATHS are request files or directories (default: all of requests/). Usernames other requests give
    and reserved names are never chosen. A file that does not validate is left untouched (exit 1).
    Prints each assignment as "path: full name -> username".

    A merger (kind: merge) needs --directory: each of its accounts whose username is taken in the
    target organisation gets the name the target's rule gives, written into the file's renames.
    """
    inventory_path: Path = ctx.obj["inventory"]
    root = repo_root_of(inventory_path)
    inventory = load_inventory_or_fail(inventory_path)
    targets = list(paths) or [root / REQUESTS_DIR]

    def work() -> AssignResult:
        if directory_file is None:
            return assign_usernames(targets, inventory, repo_root=root)
        with open_session(directory_file) as session:

            def taken(org: Organisation) -> dict[str, str | None]:
                """Usernames in use in the live directory and their holders' names (one paged search of
                uid and cn per container and organisation)."""
                return DirectoryReader(session.connection(org.code)).holders(org)

            def units(code: str, unit_codes) -> dict:
                """A merger's accounts: every account of those units (one search)."""
                org = inventory.organisations[code]
                return DirectoryReader(session.connection(code)).accounts_in_units(org, unit_codes)

            return assign_usernames(
                targets, inventory, repo_root=root, taken_from_directory=taken, units_from_directory=units
            )

    result = run_stage(work)
    for assignment in result.assigned:
        click.echo(f"{assignment.shown}: {assignment.name} -> {assignment.username}")
    if result.refused:
        files = len({finding.path for finding in result.refused})
        fail_with_findings(
            f"{files} file(s) left untouched: fix the problems above, then run assign again", result.refused
        )
    if not result.assigned:
        click.echo("nothing to assign: every new account has a username", err=True)
