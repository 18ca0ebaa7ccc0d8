"""``hopthu validate``: check request files and report every problem of every file in one run."""

from __future__ import annotations

from pathlib import Path

import click

from hopthu.cli.common import INVENTORY_PROBLEMS, paths_argument, repo_root_of, report_options, show_report
from hopthu.findings import has_errors
from hopthu.inventory import InventoryError, load_inventory
from hopthu.mergerequest import validate as validate_requests
from hopthu.requests import REQUESTS_DIR, GitError


@click.command(short_help="Check request files and report every problem, located.")
@paths_argument
@click.option(
    "--base",
    "base_ref",
    metavar="REF",
    help="Git ref of the merged state (e.g. origin/main): check as a merge request. Request files that "
    "existed at the merge base must not change; only the files added or changed since are checked in "
    "full, the others for their ids and usernames (all in full when anything outside requests/ changed).",
)
@report_options
@click.pass_context
def validate(
    ctx: click.Context,
    paths: tuple[Path, ...],
    base_ref: str | None,
    fmt: str,
    output: Path | None,
    junit_file: Path | None,
    codequality_file: Path | None,
) -> None:
    """Check request files (default: all of requests/). Exit 1 when there is any problem.

    Checks YAML (plain only, within size limits), the request schema, the inventory (organisation, unit,
    requester, application groups), the file's place (requests/ORG/UNIT/YEAR/ID.yaml), usernames
    (present, admitted by the naming rule, not reserved, not given twice), duplicate ids and people,
    national ID numbers, the signed letter (document.file: signed by document.signer, intact, whole,
    chaining to the organisation's letter_trust) and, with --base, that merged requests and their
    letters were not changed.
    """
    inventory_path: Path = ctx.obj["inventory"]
    root = repo_root_of(inventory_path)
    targets = list(paths) or [root / REQUESTS_DIR]
    extra = {"junit": junit_file, "codequality": codequality_file}
    try:
        inventory = load_inventory(inventory_path)
    except InventoryError as error:
        show_report(error.findings, fmt, output, sorted({f.path for f in error.findings}), extra)
        raise click.ClickException(INVENTORY_PROBLEMS) from None
    try:
        result = validate_requests(targets, inventory, base_ref=base_ref, repo_root=root)
    except GitError as error:
        raise click.ClickException(f"--base {base_ref}: {error}") from None
    show_report(result.findings, fmt, output, result.files, extra)
    errors = sum(1 for finding in result.findings if finding.severity == "error")
    if result.everything_because:
        because = result.everything_because
        click.echo(f"--base {base_ref}: {because}: every request file checked in full", err=True)
    summary = f"{len(result.files)} request file(s) checked"
    if base_ref is not None and not result.everything_because:
        summary += f" (changed since the merge base), {result.others} more for their ids and usernames"
    warnings = len(result.findings) - errors
    click.echo(f"{summary}, {errors} problem(s)" + (f", {warnings} warning(s)" if warnings else ""), err=True)
    if has_errors(result.findings):
        ctx.exit(1)
