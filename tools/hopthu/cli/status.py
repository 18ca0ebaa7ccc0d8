"""``hopthu status``: the register of requests (sổ theo dõi) — pending and done, against the deadline."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hopthu.audit import AuditError, AuditLog
from hopthu.cli.common import (
    audit_log_option,
    fail_with_findings,
    file_problem,
    load_inventory_or_fail,
    paths_argument,
    request_paths,
)
from hopthu.model import Kind

DATE = click.DateTime(["%Y-%m-%d"])


@click.command(short_help="The register of requests: pending and done, in working days against the SLA.")
@paths_argument
@audit_log_option("The hash-chained audit log: which requests were applied or refused, and when.")
@click.option("--pending", "views", flag_value="pending", multiple=True, help="Show the pending requests.")
@click.option("--issued", "views", flag_value="issued", multiple=True, help="Show the requests done.")
@click.option("--org", "orgs", multiple=True, metavar="CODE", help="Only this organisation (repeatable).")
@click.option("--unit", "units", multiple=True, metavar="CODE", help="Only this unit (repeatable).")
@click.option(
    "--kind", "kinds", multiple=True, type=click.Choice([k.value for k in Kind]), help="Only this kind."
)
@click.option("--from", "since", type=DATE, metavar="YYYY-MM-DD", help="Documents dated on or after.")
@click.option("--to", "until", type=DATE, metavar="YYYY-MM-DD", help="Documents dated on or before.")
@click.option("--today", type=DATE, metavar="YYYY-MM-DD", help="Count ages up to this day (default: today).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines (English keys).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "csv", "xlsx", "html"]),
    default="text",
    show_default=True,
    help="text for the terminal; csv, xlsx or html: the register as a file an office can print.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write it to FILE.")
@click.pass_context
def status(ctx, paths, audit_log, views, orgs, units, kinds, since, until, today, as_json, fmt, output):
    """The register of requests the procedure asks IT to keep (sổ theo dõi): the pending ones, with their
    age in Vietnamese working days and whether they are past the organisation's SLA (quá hạn), and the
    ones done (applied or refused), with the working days they took and whether that was on time.

    Working days do not count weekends, public holidays, Tết, nghỉ bù nor the days the inventory's
    calendars close; a request counts from the day its merge request was opened when the audit log
    knows it, else from its document's date."""
    from hopthu.reports import formats, register
    from hopthu.reports.progress import Progress
    from hopthu.reports.sources import read_entries, read_outcomes, today_in_vietnam

    inventory = load_inventory_or_fail(ctx.obj["inventory"])
    for code in orgs:
        if code not in inventory.organisations:
            known = ", ".join(sorted(inventory.organisations))
            raise click.BadParameter(f"{code!r} is not in the inventory (known: {known})", param_hint="--org")
    entries, findings = read_entries(request_paths(paths), inventory, Progress("request files"))
    if any(f.severity == "error" for f in findings):
        message = f"{len(findings)} problem(s) in the request files: run `hopthu validate`"
        fail_with_findings(message, findings)
    day = today.date() if today else today_in_vietnam()
    try:
        outcomes = read_outcomes(AuditLog(audit_log))
    except AuditError as error:
        raise click.ClickException(str(error)) from None
    filters = register.Filters(
        frozenset(orgs),
        frozenset(units),
        frozenset(kinds),
        since.date() if since else None,
        until.date() if until else None,
    )
    views = tuple(views) or register.VIEWS
    rows = [
        row
        for row in register.rows([e for e in entries if filters.admit(e)], outcomes, inventory, day)
        if register.in_view(row, views)
    ]
    if as_json:
        # One row per line: readable, and json's C encoder (an indented dump is 5 times slower).
        lines = [json.dumps(register.as_json(row), ensure_ascii=False) for row in rows]
        click.echo("[\n" + ",\n".join(lines) + "\n]" if lines else "[]")
        return
    shown_orgs = sorted({row.entry.org for row in rows} | set(orgs))
    if fmt != "text":
        if len(shown_orgs) > 1 or (not shown_orgs and len(inventory.organisations) > 1):
            raise click.UsageError(
                f"a register file is one organisation's: add --org (of {', '.join(shown_orgs)})"
            )
        org = inventory.organisations[shown_orgs[0] if shown_orgs else next(iter(inventory.organisations))]
        if fmt == "xlsx" and output is None:
            raise click.UsageError("--format xlsx writes a file: add -o FILE")
        try:
            text = formats.write_report(register.report(rows, views, org, day), fmt, output)
        except OSError as error:
            raise click.ClickException(file_problem(error)) from None
        if text is not None:
            click.echo(text, nl=False)
        else:
            click.echo(f"wrote {output} ({len(rows)} request(s))", err=True)
        return
    for code in shown_orgs:
        org = inventory.organisations[code]
        mine = [row for row in rows if row.entry.org == code]
        click.echo(formats.render_text(register.report(mine, views, org, day)))
    counts = {state: sum(row.state == state for row in rows) for state in register.STATES}
    late = sum(row.late and row.pending for row in rows)
    summary = ", ".join(f"{n} {state}" for state, n in counts.items())
    click.echo(f"{summary}; {late} overdue", err=True)
