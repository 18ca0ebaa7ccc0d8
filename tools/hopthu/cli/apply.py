"""``hopthu plan`` and ``hopthu apply``: what must change in the directory, and doing exactly that."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hopthu import pipeline
from hopthu.cli.common import (
    audit_log_option,
    directory_option,
    load_inventory_or_fail,
    open_session,
    outbox_option,
    paths_argument,
    request_paths,
    run_stage,
)
from hopthu.passwords import Outbox
from hopthu.plan import Plan
from hopthu.planview import plan_as_dict, plan_as_json, plan_as_table
from hopthu.statestore import close as close_store
from hopthu.statestore import load_state_store


def report_done(loaded: pipeline.Loaded) -> None:
    if loaded.already_done:
        done = loaded.already_done
        click.echo(f"{done} request(s) already done (recorded in the audit log): not read again", err=True)


@click.command(short_help="Show what applying the requests would change; writes nothing.")
@paths_argument
@directory_option()
@audit_log_option()
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
        with open_session(directory_file) as session:
            return pipeline.plan(loaded, session, audit_log)

    the_plan = run_stage(work)
    click.echo(plan_as_json(the_plan) if as_json else plan_as_table(the_plan))
    if markdown_file or report_file:
        from hopthu.summary import write_plan_reports

        inventory = load_inventory_or_fail(ctx.obj["inventory"])
        run_stage(lambda: write_plan_reports(plan_as_dict(the_plan), inventory, markdown_file, report_file))


@click.command(short_help="Apply the requests to the directory, recorded in the audit log.")
@paths_argument
@directory_option()
@audit_log_option()
@outbox_option()
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
        with open_session(directory_file) as session:
            store = load_state_store(directory_file, loaded.inventory)
            try:
                box = Outbox(outbox, mirror=store)
                if not show_progress:
                    return pipeline.apply(loaded, session, audit_log, box, on_plan=on_plan, mirror=store)
                with click.progressbar(length=0, label="applying", file=sys.stderr) as bar:

                    def plan_and_size(the_plan: Plan) -> None:
                        on_plan(the_plan)
                        bar.length = max(1, len(the_plan.changes))

                    return pipeline.apply(
                        loaded,
                        session,
                        audit_log,
                        box,
                        on_plan=plan_and_size,
                        on_progress=bar.update,
                        mirror=store,
                    )
            finally:
                close_store(store)

    the_plan, report = run_stage(work)
    failovers = [{"org": f.org, "uri": f.uri, "reason": f.reason} for f in report.failovers]
    if as_json:
        summary = {
            "plan": json.loads(plan_as_json(the_plan)),
            "applied": report.applied,
            "refused": report.refused,
            "changes": report.changes,
            "recovered": report.recovered,
            "failovers": failovers,
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
        for failover in failovers:
            click.echo(
                f"{failover['org']}: left the directory provider {failover['uri']} ({failover['reason']}); "
                "went on with the next one",
                err=True,
            )
