"""``hopthu notices``: the sent notices kept in the records store (hồ sơ), given back as they were sent."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import asdict
from pathlib import Path

import click

from hopthu.audit import AuditError, AuditLog
from hopthu.cli.common import audit_log_option
from hopthu.notices.records import (
    RECORDS_ENV,
    REGISTER_HEADINGS,
    SEND_OP,
    NoticeRecord,
    RecordsError,
    RecordsStore,
    default_records_dir,
    integrity_problem,
    past_retention,
    recorded_hashes,
    register_row,
)

records_option = click.option(
    "--records",
    "records_dir",
    envvar=RECORDS_ENV,
    type=click.Path(file_okay=False, path_type=Path),
    help=f"The records store (default: records/ beside the audit log) [${RECORDS_ENV}].",
)


@click.group(short_help="The sent notices kept in the records store (hồ sơ).")
def notices() -> None:
    """The result notices as they were sent: the signed PDF, number, recipient, time and Message-ID, each
    checked against the SHA-256 the audit log recorded when it was sent."""


@notices.command(short_help="One request's sent notice (or a number such as 01/TB-STTTT).")
@click.argument("key", metavar="ID")
@audit_log_option("The audit log whose send-notice records hold each PDF's SHA-256.")
@records_option
@click.option("--pdf", "pdf_out", type=click.Path(dir_okay=False, path_type=Path), help="Write the PDF here.")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
def show(key: str, audit_log: Path, records_dir: Path | None, pdf_out: Path | None, as_json: bool) -> None:
    """Show the sent notice of request ID (or with number ID); exit 1 when its PDF is not the one sent."""
    store = RecordsStore(records_dir or default_records_dir(audit_log))
    try:
        found = store.find(key)
        if not found:
            raise click.ClickException(f"no sent notice of {key!r} in {store.root}")
        hashes = _hashes(audit_log)
        checked = [(record, store.pdf(record)) for record in found]
    except RecordsError as error:
        raise click.ClickException(str(error)) from None
    problems = [problem for record, pdf in checked if (problem := integrity_problem(record, pdf, hashes))]
    if as_json:
        click.echo(json.dumps([asdict(record) for record, _ in checked], ensure_ascii=False, indent=1))
    else:
        for record, _ in checked:
            _print(record, store)
    if pdf_out is not None:
        if len(checked) > 1:
            raise click.ClickException(f"{key!r} names {len(checked)} notices: give the request id")
        pdf_out.write_bytes(checked[0][1])
        click.echo(f"PDF written to {pdf_out}", err=True)
    if problems:
        raise click.ClickException("; ".join(problems))
    click.echo("the kept PDF is the one sent: its SHA-256 is the audit log's", err=True)


@notices.command(short_help="Every notice sent in a year: the PDFs and the register, in one zip.")
@click.option("--year", type=click.IntRange(2000, 9999), required=True, help="The notices' year.")
@click.option("--org", "org", metavar="CODE", help="Only this organisation's notices.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The .zip to write.",
)
@audit_log_option("The audit log whose send-notice records hold each PDF's SHA-256.")
@records_option
def export(year: int, org: str | None, output: Path, audit_log: Path, records_dir: Path | None) -> None:
    """Write a zip of every notice sent in YEAR (each PDF as sent) with the register of outgoing documents
    (sổ đăng ký văn bản đi, CSV for Excel). Every PDF is checked against the audit log first: one that is
    not as sent stops the export, and nothing is written."""
    store = RecordsStore(records_dir or default_records_dir(audit_log))
    try:
        found = list(store.records(year=year, org=org))
        hashes = _hashes(audit_log)
        checked = [(record, store.pdf(record)) for record in found]
    except RecordsError as error:
        raise click.ClickException(str(error)) from None
    problems = [problem for record, pdf in checked if (problem := integrity_problem(record, pdf, hashes))]
    if problems:
        raise click.ClickException("not exported: " + "; ".join(problems))
    register = io.StringIO()
    writer = csv.writer(register)
    writer.writerow(REGISTER_HEADINGS)
    for record, _ in checked:
        writer.writerow(register_row(record))
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        # UTF-8 with a byte order mark: how Excel recognises UTF-8 in a CSV
        archive.writestr(f"so-dang-ky-van-ban-di-{year}.csv", "\ufeff" + register.getvalue())
        for record, pdf in checked:
            archive.writestr(record.file, pdf)
    click.echo(f"{len(checked)} notice(s) of {year} written to {output}", err=True)


@notices.command(short_help="The notices whose retention period has ended (nothing is deleted).")
@click.option(
    "--on",
    "on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    help="Count the retention periods up to this day (default: today in Vietnam).",
)
@click.option("--org", "org", metavar="CODE", help="Only this organisation's notices.")
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON.")
@audit_log_option("The audit log beside which the records store is.")
@records_option
def expired(on, org: str | None, as_json: bool, audit_log: Path, records_dir: Path | None) -> None:
    """List the sent notices kept past their organisation's notice_retention_years, for the archives'
    appraisal. hopthu deletes none: destroying records is the organisation's decision (its appraisal
    council, under the archives law), made outside this tool."""
    from hopthu.reports.sources import today_in_vietnam

    store = RecordsStore(records_dir or default_records_dir(audit_log))
    day = on.date() if on else today_in_vietnam()
    try:
        due = past_retention(store.records(org=org), day)
    except RecordsError as error:
        raise click.ClickException(str(error)) from None
    if as_json:
        click.echo(json.dumps([asdict(record) for record in due], ensure_ascii=False, indent=1))
    else:
        for record in due:
            click.echo(f"{record.keep_until}  {record.number}  {record.request}  {store.root / record.file}")
    click.echo(f"{len(due)} notice(s) past their retention period on {day}; none deleted", err=True)


def _hashes(audit_log: Path) -> dict[str, str]:
    try:
        return recorded_hashes(AuditLog(audit_log).records(f'"op":"{SEND_OP}"'.encode()))
    except AuditError as error:
        raise click.ClickException(str(error)) from None


def _print(record: NoticeRecord, store: RecordsStore) -> None:
    copies = f" (Cc {', '.join(record.copies)})" if record.copies else ""
    click.echo(f"{record.number}  {record.request}")
    click.echo(f"  subject:    {record.subject}")
    click.echo(f"  sent:       {record.sent_at} to {record.recipient}{copies}")
    click.echo(f"  message id: {record.message_id}")
    click.echo(f"  signed by:  {record.signed_by or '(unsigned)'}")
    click.echo(f"  pdf:        {store.root / record.file} ({record.size} bytes, sha256 {record.sha256})")
    click.echo(f"  kept until: {record.keep_until}")
