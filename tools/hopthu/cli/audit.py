"""``hopthu audit``: check and read the hash-chained audit log (nhật ký kiểm tra)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from hopthu.audit import AuditError, AuditLog, Head, Problem, default_log_path

LOG_OPTION = click.option(
    "--log",
    "--audit-log",  # the name the other sub-commands use
    "log_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=default_log_path,
    show_default="$HOPTHU_AUDIT_LOG or var/audit/audit.jsonl",
    help="The audit log file.",
)


@click.group(short_help="Check and read the audit log (nhật ký): verify, head, show.")
def audit() -> None:
    """Check and read the audit log: every change made, by which request, merge request and pipeline."""


def _existing(log_path: Path) -> AuditLog:
    if not log_path.is_file():
        raise click.ClickException(
            f"{log_path}: no audit log here (give --log PATH or set $HOPTHU_AUDIT_LOG)"
        )
    return AuditLog(log_path)


@audit.command()
@LOG_OPTION
@click.option(
    "--expect-head",
    metavar="SEQ:HASH",
    help="An anchor kept outside the log (from `hopthu audit head`): that record must still be in the log. "
    "Detects records removed from the end and a rewritten log.",
)
def verify(log_path: Path, expect_head: str | None) -> None:
    """Check the hash chain; exit 1 and name each edited, removed, inserted or reordered record."""
    if expect_head is not None:
        try:
            Head.parse(expect_head)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--expect-head") from None
    log = _existing(log_path)
    problems = log.verify(expect_head=expect_head)
    for problem in problems:
        click.echo(_located(log_path, problem), err=True)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        click.echo(f"{log_path}: {len(errors)} problem(s): the audit log cannot be trusted", err=True)
        raise SystemExit(1)
    head = log.head()
    anchored = " and contains the expected head" if expect_head else ""
    if head is None:
        click.echo(f"{log_path}: empty, nothing to check")
    else:
        click.echo(f"{log_path}: {head.seq} record(s), chain intact{anchored}; head {head}")


def _located(log_path: Path, problem: Problem) -> str:
    where = f"{log_path}:{problem.line}" if problem.line is not None else str(log_path)
    level = "" if problem.severity == "error" else f"{problem.severity}: "
    seq = f"seq {problem.seq}: " if problem.seq is not None else ""
    return f"{where}: {level}{seq}{problem.message}"


@audit.command()
@LOG_OPTION
def head(log_path: Path) -> None:
    """Print SEQ:HASH of the last record: keep it outside the log (CI job log) as an anchor for verify."""
    try:
        last = _existing(log_path).head()
    except AuditError as error:
        raise click.ClickException(str(error)) from None
    if last is None:
        raise click.ClickException(f"{log_path}: the audit log is empty")
    click.echo(str(last))


@audit.command()
@LOG_OPTION
@click.option("--request", "request_id", metavar="ID", help="Only the records of this request.")
@click.option("--account", metavar="UID", help="Only the records of this account (username).")
@click.option("--json", "as_json", is_flag=True, help="One JSON record a line, as stored.")
def show(log_path: Path, request_id: str | None, account: str | None, as_json: bool) -> None:
    """Show audit records, all or those of one request or account (a table by default)."""
    log = _existing(log_path)
    try:
        records = list(log.show(request=request_id, account=account))
    except AuditError as error:
        raise click.ClickException(str(error)) from None
    if as_json:
        for record in records:
            click.echo(json.dumps(record, sort_keys=True, ensure_ascii=False))
        return
    if not records:
        click.echo("no matching records")
        return
    click.echo(_table(records))


COLUMNS = ("seq", "time", "event", "request", "op", "uid", "result")


def _table(records: list[dict[str, Any]]) -> str:
    rows = [[_cell(record, column) for column in COLUMNS] for record in records]
    widths = [max(len(column), *(len(row[i]) for row in rows)) for i, column in enumerate(COLUMNS)]
    lines = ["  ".join(column.upper().ljust(width) for column, width in zip(COLUMNS, widths, strict=True))]
    for record, row in zip(records, rows, strict=True):
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        details = _details(record)
        lines.append(line + (f"  {details}" if details else ""))
    return "\n".join(lines)


def _cell(record: dict[str, Any], column: str) -> str:
    value = record.get(column)
    if column == "time" and isinstance(value, str):
        return value[:19].replace("T", " ")  # to the second, UTC
    if column == "uid" and record.get("group"):
        return f"{value or ''} → {record['group']}"
    return "" if value is None else str(value)


def _details(record: dict[str, Any]) -> str:
    parts = []
    if record.get("reason"):
        parts.append(f"reason: {record['reason']}")
    if record.get("after") and record.get("event") != "intent":
        parts.append("set " + ", ".join(sorted(record["after"])))
    return "; ".join(parts)
