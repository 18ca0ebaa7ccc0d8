"""``hopthu status``: every request with its state and age in working days."""

from __future__ import annotations

import datetime as dt
import json

import click

from hopthu.audit import AuditError, AuditLog
from hopthu.cli.common import (
    audit_log_option,
    fail_with_findings,
    load_inventory_or_fail,
    paths_argument,
    request_paths,
)
from hopthu.requests import load_requests
from hopthu.status import request_statuses


@click.command(short_help="Each request's state and age in working days; overdue (quá hạn).")
@paths_argument
@audit_log_option("The hash-chained audit log: which requests were applied or refused, and when.")
@click.option(
    "--today",
    type=click.DateTime(["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    help="Count ages up to this day (default: today).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_context
def status(ctx, paths, audit_log, today, as_json):
    """Every request with its state (pending, applied, refused, failed — with the reason) and its age in
    Vietnamese working days; pending requests past the organisation's SLA are marked OVERDUE (quá hạn)."""
    inventory = load_inventory_or_fail(ctx.obj["inventory"])
    requests, findings = load_requests(request_paths(paths), inventory)
    if findings:
        message = f"{len(findings)} problem(s) in the request files: run `hopthu validate`"
        fail_with_findings(message, findings)
    day = today.date() if today else dt.date.today()
    try:
        ledger = AuditLog(audit_log).ledger()
    except AuditError as error:
        raise click.ClickException(str(error)) from None
    rows = request_statuses(requests, ledger, inventory, day)
    if as_json:
        data = [
            {
                "id": row.request.id,
                "org": row.request.org,
                "unit": row.request.unit,
                "kind": row.request.kind.value,
                "document": row.request.document.number,
                "state": row.state,
                "reason": row.reason,
                "age_working_days": row.age_working_days,
                "overdue": row.overdue,
            }
            for row in rows
        ]
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for row in rows:
        flag = "  OVERDUE (quá hạn)" if row.overdue else ""
        reason = f"  — {row.reason}" if row.reason else ""
        where = f"{row.request.org}/{row.request.unit}"
        click.echo(
            f"{row.request.id:<28} {row.request.kind.value:<15} {where:<20} "
            f"{row.state:<8} {row.age_working_days:>3} working day(s){flag}{reason}"
        )
    states = ("pending", "applied", "refused", "failed")
    counts = {state: sum(r.state == state for r in rows) for state in states}
    click.echo(", ".join(f"{n} {state}" for state, n in counts.items()), err=True)
