"""``hopthu drift``: does the directory still hold what the applied requests say? (read-only)"""

from __future__ import annotations

from pathlib import Path

import click

from hopthu import pipeline
from hopthu.cli.common import (
    audit_log_option,
    directory_option,
    open_session,
    paths_argument,
    request_paths,
    run_stage,
)
from hopthu.drift import check_drift, render_json, render_text


@click.command(short_help="Compare the directory with the applied requests (read-only).")
@paths_argument
@directory_option()
@audit_log_option()
@click.option(
    "--org",
    "orgs",
    multiple=True,
    metavar="CODE",
    help="Only this organisation (repeatable). Default: every organisation of the inventory.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
@click.pass_context
def drift(
    ctx, paths: tuple[Path, ...], directory_file, audit_log: Path, orgs: tuple[str, ...], as_json: bool
):
    """Compare the directory with the requests the audit log records as applied; exit 1 on any difference.

    Reports accounts deleted, created, changed, locked or unlocked outside hopthu (by hand), group
    memberships that differ and, when the directory has several providers, any account the providers
    hold differently (or a provider that does not answer). PATHS are the request files or folders
    (default: requests/). Writes nothing.
    """

    def work():
        loaded = pipeline.load(ctx.obj["inventory"], request_paths(paths))
        unknown = sorted(set(orgs) - set(loaded.inventory.organisations))
        if unknown:
            raise click.BadParameter(f"not in the inventory: {', '.join(unknown)}", param_hint="--org")
        with open_session(directory_file) as session:
            return check_drift(
                loaded.requests,
                loaded.inventory,
                audit_log,
                session.connection,
                list(orgs) or None,
                endpoints=session.endpoints,
            )

    differences, expected = run_stage(work)
    click.echo((render_json if as_json else render_text)(differences, expected), nl=False)
    if differences:
        ctx.exit(1)
