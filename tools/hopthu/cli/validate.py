"""``hopthu validate``: check request files and report every problem of every file in one run."""

from __future__ import annotations

from pathlib import Path

import click

from hopthu.findings import RENDERERS, Finding, has_errors, render, render_text
from hopthu.inventory import InventoryError, inventory_dir, load_inventory
from hopthu.requests import REQUESTS_DIR, GitError, load_requests, request_files, shown_path


def repo_root_of(inventory: Path) -> Path:
    """The repository the inventory belongs to: ``inventory/`` and ``requests/`` sit side by side."""
    return inventory_dir(inventory).resolve().parent


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--base",
    "base_ref",
    metavar="REF",
    help="Git ref of the merged state (e.g. origin/main): request files that existed there must not change.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(RENDERERS)),
    default="text",
    show_default=True,
    help="Report format: text (path:line:col: message [rule]), json, junit or codequality (GitLab).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to FILE (the text report still goes to standard output).",
)
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
        _report(error.findings, sorted({f.path for f in error.findings}), fmt, output)
        raise click.ClickException("the inventory has problems (above); fix it first") from None
    try:
        _, findings = load_requests(targets, inventory, base_ref=base_ref, repo_root=root)
    except GitError as error:
        raise click.ClickException(f"--base {base_ref}: {error}") from None
    files = [shown_path(path) for path in request_files(targets)]
    _report(findings, files, fmt, output)
    errors = sum(1 for finding in findings if finding.severity == "error")
    summary = f"{len(files)} request file(s) checked, {errors} problem(s)"
    click.echo(summary, err=True)
    if has_errors(findings):
        ctx.exit(1)


def _report(findings: list[Finding], files: list[str], fmt: str, output: Path | None) -> None:
    if output is not None:
        output.write_text(render(fmt, findings, files), encoding="utf-8")
        click.echo(render_text(findings, files), nl=False)
    else:
        click.echo(render(fmt, findings, files), nl=False)
