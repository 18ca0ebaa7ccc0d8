"""``hopthu report``: the yearly report (báo cáo) of an organisation's mail system, as PDF or XLSX."""

from __future__ import annotations

from pathlib import Path

import click

from hopthu.audit import AuditError, AuditLog
from hopthu.cli.common import (
    audit_log_option,
    fail_with_findings,
    file_problem,
    known_organisation,
    load_inventory_or_fail,
    organisation_option,
    reader_connection,
    reader_directory_option,
    repo_root_of,
    request_paths,
)

DATE = click.DateTime(["%Y-%m-%d"])
ORG_TEMPLATES = Path("templates") / "notices"  # as hopthu notify: beside inventory/, an organisation's own


@click.command(short_help="The yearly report (báo cáo) of the mail system, as PDF or XLSX.")
@organisation_option()
@click.option("--year", type=click.IntRange(2000, 2200), required=True, help="The year reported on.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["pdf", "xlsx", "html"]),
    default="pdf",
    show_default=True,
    help="pdf: the report to sign and send (A4, Decree 30 layout); xlsx: its tables; html: the page.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write it to FILE (default: bao-cao-<org>-<year>.<format>).",
)
@click.option(
    "--number", metavar="TEXT", help="The document number, e.g. 12/BC-STTTT (default: blank for the clerk)."
)
@click.option("--date", "issued", type=DATE, metavar="YYYY-MM-DD", help="The report's date (default: today).")
@click.option(
    "--idle-days", type=click.IntRange(min=1), help="Idle after this many days (default: idle_days)."
)
@click.option(
    "--requests",
    "requests_dir",
    type=click.Path(exists=True, path_type=Path),
    help="Request files or folder (default: requests/).",
)
@click.option(
    "--templates",
    "templates_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help=f"The organisation's templates (default: {ORG_TEMPLATES}/ beside the inventory, if present).",
)
@audit_log_option(
    "The audit log: when each request was done, and which accounts were created, locked, deleted."
)
@reader_directory_option()
@click.pass_context
def report(
    ctx,
    org_code,
    year,
    fmt,
    output,
    number,
    issued,
    idle_days,
    requests_dir,
    templates_dir,
    audit_log,
    directory_file,
):
    """The yearly report to the body the organisation reports to (its report_to, else its parent): the
    requests of the year by kind and by unit, on time or late (in working days against the SLA); the
    accounts created, locked, unlocked and deleted; the accounts in use, never used and idle (the usage
    review, from the live directory). Rendered with the notices' templates and PDF printer."""
    from hopthu.reports import register, usage, yearly
    from hopthu.reports.accounts import USAGE_ATTRIBUTES, read_accounts
    from hopthu.reports.formats import write_xlsx
    from hopthu.reports.progress import Progress
    from hopthu.reports.sources import read_account_changes, read_entries, read_outcomes, today_in_vietnam

    inventory = load_inventory_or_fail(ctx.obj["inventory"])
    org = known_organisation(inventory, org_code)
    day = issued.date() if issued else today_in_vietnam()
    days = idle_days or org.idle_days
    output = output or Path(f"bao-cao-{org.code}-{year}.{fmt}")
    entries, findings = read_entries(
        request_paths([requests_dir] if requests_dir else []), inventory, Progress("request files")
    )
    if any(f.severity == "error" for f in findings):
        fail_with_findings(
            f"{len(findings)} problem(s) in the request files: run `hopthu validate`", findings
        )
    try:
        log = AuditLog(audit_log)
        outcomes = read_outcomes(log)
        changes = read_account_changes(log, org.code, year)
    except AuditError as error:
        raise click.ClickException(str(error)) from None
    rows = register.rows([e for e in entries if e.org == org.code], outcomes, inventory, day)
    with reader_connection(directory_file, org.code) as conn:
        accounts = list(read_accounts(conn, org, Progress("accounts", every=20_000), USAGE_ATTRIBUTES))
    data = yearly.build(
        org,
        year,
        rows,
        changes,
        usage.review(accounts, day, days),
        issued=day,
        number=number or "",
        idle_days=days,
    )
    try:
        if fmt == "xlsx":
            write_xlsx(data.as_report(), output)
        else:
            from hopthu.notices.render import NoticeTemplateError, render_document

            if templates_dir is None:
                own = repo_root_of(ctx.obj["inventory"]) / ORG_TEMPLATES
                templates_dir = own if own.is_dir() else None
            try:
                html = render_document(yearly.TEMPLATE, yearly.context(data), templates_dir=templates_dir)
            except NoticeTemplateError as error:
                raise click.ClickException(str(error)) from None
            if fmt == "html":
                output.write_text(html, encoding="utf-8")
            else:
                from hopthu.notices.pdf import PdfError, html_to_pdf

                try:
                    output.write_bytes(html_to_pdf(html))
                except PdfError as error:
                    raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(file_problem(error)) from None
    t = data.totals
    click.echo(
        f"wrote {output}: {org.code} {year}: {t['received']} request(s) ({t['on_time']} on time, "
        f"{t['late']} late, {t['pending']} pending); {t['created']} created, {t['locked']} locked, "
        f"{t['deleted']} deleted; "
        f"{t['active']} active, {t['never_used']} never used, {t['idle']} idle",
        err=True,
    )
