"""``hopthu plan`` and ``hopthu apply``: what must change in the directory, and doing exactly that."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from hopthu import pipeline
from hopthu.audit import AuditError, default_log_path
from hopthu.cli.common import fail_with_findings, request_paths
from hopthu.directory import DirectoryError
from hopthu.directory.applier import ApplyError
from hopthu.directory.writer import DirectoryUnavailable
from hopthu.endpoints import ENV_FILE, EndpointError, load_endpoints
from hopthu.inventory import InventoryError, load_inventory
from hopthu.passwords import Outbox, OutboxError, default_outbox_root
from hopthu.plan import Plan
from hopthu.planview import plan_as_dict, plan_as_json, plan_as_table

EXPECTED = (
    pipeline.PipelineError,
    EndpointError,
    DirectoryError,
    ApplyError,
    AuditError,
    OutboxError,
    InventoryError,
)

paths_argument = click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
directory_option = click.option(
    "--directory",
    "directory_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=lambda: os.environ.get(ENV_FILE),
    help="Connections file: per organisation the LDAP URI, bind DN and where the bind password comes from "
    "(the directory.json of `hopthu server start`). Default: $HOPTHU_DIRECTORY.",
)
audit_option = click.option(
    "--audit-log",
    type=click.Path(path_type=Path, dir_okay=False),
    default=default_log_path,
    show_default="$HOPTHU_AUDIT_LOG or var/audit/audit.jsonl",
    help="The hash-chained audit log; it also records what is already done.",
)


def report_done(loaded: pipeline.Loaded) -> None:
    if loaded.already_done:
        done = loaded.already_done
        click.echo(f"{done} request(s) already done (recorded in the audit log): not read again", err=True)


def _session(directory_file: Path | None) -> pipeline.Session:
    if directory_file is None:
        raise click.UsageError(
            "no directory connections: pass --directory FILE or set $HOPTHU_DIRECTORY "
            "(for the local demo directory: var/demo/directory/directory.json)"
        )
    return pipeline.Session(load_endpoints(directory_file))


def _run(ctx: click.Context, work):
    """Run a stage; expected failures become one clear message and exit 1, never a traceback."""
    try:
        return work()
    except pipeline.PipelineError as error:
        fail_with_findings(str(error), error.findings)
    except InventoryError as error:
        fail_with_findings(str(error), getattr(error, "findings", []))
    except DirectoryUnavailable as error:
        message = f"{error}; what was acknowledged is recorded: run the same command again"
        raise click.ClickException(message) from None
    except EXPECTED as error:
        raise click.ClickException(str(error)) from None


@click.command()
@paths_argument
@directory_option
@audit_option
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON for machines.")
@click.option(
    "--markdown",
    "markdown_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the plan as a Markdown summary in Vietnamese (for the merge request).",
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help='Also write the counts as GitLab\'s Terraform report: {"create": N, "update": N, "delete": N}.',
)
@click.pass_context
def plan(ctx, paths, directory_file, audit_log, as_json, markdown_file, report_file):
    """Show what applying the requests would change (one read of the directory, no write).

    PATHS are request files or folders (default: requests/). Requests already applied plan nothing; a
    request that cannot be applied is shown as refused with its reason. Passwords never appear.
    """

    def work() -> Plan:
        finished = pipeline.finished_requests(audit_log)
        loaded = pipeline.load(ctx.obj["inventory"], request_paths(paths), finished)
        report_done(loaded)
        session = _session(directory_file)
        try:
            return pipeline.plan(loaded, session, audit_log)
        finally:
            session.close()

    the_plan = _run(ctx, work)
    click.echo(plan_as_json(the_plan) if as_json else plan_as_table(the_plan))
    if markdown_file or report_file:
        from hopthu.summary import write_plan_reports

        inventory = _run(ctx, lambda: load_inventory(ctx.obj["inventory"]))
        write_plan_reports(plan_as_dict(the_plan), inventory, markdown_file, report_file)


@click.command()
@paths_argument
@directory_option
@audit_option
@click.option(
    "--outbox",
    type=click.Path(path_type=Path, file_okay=False),
    default=default_outbox_root,
    show_default="$HOPTHU_OUTBOX or ~/.local/state/hopthu/outbox",
    help="Where one-time passwords wait for the result notice (outside the repository, mode 0600).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan and the result as JSON.")
@click.option("--quiet", is_flag=True, help="Do not print the plan before applying it.")
@click.pass_context
def apply(ctx, paths, directory_file, audit_log, outbox, as_json, quiet):
    """Apply the requests: execute exactly the plan, record every change in the audit log.

    Safe to run again at any time: what is done is not redone, an interrupted run converges. A refused
    request (từ chối) is a result, not a failure: it is recorded with its reason and the unit gets a notice
    saying why; the exit code is 0. Exit 1 when the run could not finish (fix the cause, run again).
    """
    show_progress = sys.stderr.isatty() and not as_json

    def on_plan(the_plan: Plan) -> None:
        if not quiet and not as_json:
            click.echo(plan_as_table(the_plan))

    def work():
        finished = pipeline.finished_requests(audit_log)
        loaded = pipeline.load(ctx.obj["inventory"], request_paths(paths), finished)
        report_done(loaded)
        session = _session(directory_file)
        try:
            box = Outbox(outbox)
            if not show_progress:
                return pipeline.apply(loaded, session, audit_log, box, on_plan=on_plan)
            with click.progressbar(length=0, label="applying", file=sys.stderr) as bar:

                def plan_and_size(the_plan: Plan) -> None:
                    on_plan(the_plan)
                    bar.length = max(1, len(the_plan.changes))

                return pipeline.apply(
                    loaded, session, audit_log, box, on_plan=plan_and_size, on_progress=bar.update
                )
        finally:
            session.close()

    the_plan, report = _run(ctx, work)
    if as_json:
        summary = {
            "plan": json.loads(plan_as_json(the_plan)),
            "applied": report.applied,
            "refused": report.refused,
            "changes": report.changes,
            "recovered": report.recovered,
        }
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        click.echo(
            f"applied {len(report.applied)} request(s), {report.changes} change(s)"
            + (f", {report.recovered} completed from an interrupted run" if report.recovered else "")
            + (f"; refused {len(report.refused)}" if report.refused else "")
        )
        for request_id, reason in report.refused.items():
            click.echo(f"refused (từ chối) {request_id}: {reason}", err=True)
