"""``hopthu validate``: check request files and report every problem of every file in one run."""

from __future__ import annotations

from pathlib import Path

import click

from hopthu.cli.common import INVENTORY_PROBLEMS, paths_argument, repo_root_of, report_options, show_report
from hopthu.findings import has_errors
from hopthu.inventory import InventoryError, load_inventory
from hopthu.requests import REQUESTS_DIR, GitError, load_requests, request_files, shown_path


@click.command(short_help="Check request files and report every problem, located.")
@paths_argument
@click.option(
    "--base",
    "base_ref",
    metavar="REF",
    help="Git ref of the merged state (e.g. origin/main): request files that existed there must not change.",
)
@report_options
@click.pass_context
def validate(
    ctx: click.Context, paths: tuple[Path, ...], base_ref: str | None, fmt: str, output: Path | None
) -> None:
    """Check request files (default: all of requests/). Exit 1 when there is any problem.

    Checks YAML (plain only), the request schema, the inventory (organisation, unit, requester,
    application groups), the file's place (requests/ORG/UNIT/YEAR/ID.yaml), usernames (present, admitted
    by the naming rule, not reserved, not given twice), duplicate ids and people, national ID numbers
    and, with --base, that merged requests were not changed.
    """
    inventory_path: Path = ctx.obj["inventory"]
    root = repo_root_of(inventory_path)
    targets = list(paths) or [root / REQUESTS_DIR]
    try:
        inventory = load_inventory(inventory_path)
    except InventoryError as error:
        show_report(error.findings, fmt, output, sorted({f.path for f in error.findings}))
        raise click.ClickException(INVENTORY_PROBLEMS) from None
    try:
        _, findings = load_requests(targets, inventory, base_ref=base_ref, repo_root=root)
    except GitError as error:
        raise click.ClickException(f"--base {base_ref}: {error}") from None
    files = [shown_path(path) for path in request_files(targets)]
    show_report(findings, fmt, output, files)
    errors = sum(1 for finding in findings if finding.severity == "error")
    summary = f"{len(files)} request file(s) checked, {errors} problem(s)"
    click.echo(summary, err=True)
    if has_errors(findings):
        ctx.exit(1)
