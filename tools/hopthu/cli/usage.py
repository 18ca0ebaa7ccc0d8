"""``hopthu usage``: the usage review (kiểm tra sử dụng) — accounts never used, and idle for N days."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hopthu.cli.common import (
    file_problem,
    known_organisation,
    load_inventory_or_fail,
    organisation_option,
    reader_connection,
    reader_directory_option,
    reader_endpoint,
)

DATE = click.DateTime(["%Y-%m-%d"])


@click.command(short_help="The usage review: accounts never used, or idle for N days (kiểm tra sử dụng).")
@organisation_option()
@click.option(
    "--idle-days",
    type=click.IntRange(min=1),
    help="An account not used for this many days is idle (default: the organisation's idle_days, 180).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "csv", "xlsx", "html"]),
    default="text",
    show_default=True,
    help="text for the terminal, json for machines; csv, xlsx or html: the review as a file.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write it to FILE.")
@click.option(
    "--draft-locks",
    is_flag=True,
    help="Also write a draft lock request per unit for the accounts proposed "
    "(requests/<org>/<unit>/<year>/), "
    "for IT to review in a merge request; nothing is locked.",
)
@click.option(
    "--requests-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("requests"),
    show_default=True,
    help="Where the requests tree is, for --draft-locks.",
)
@click.option(
    "--today", type=DATE, metavar="YYYY-MM-DD", help="Count idle days up to this day (default: today)."
)
@reader_directory_option()
@click.pass_context
def usage(ctx, org_code, idle_days, fmt, output, draft_locks, requests_dir, today, directory_file):
    """The yearly check of who uses the mail system: per unit, the accounts never used since they were
    made and those not used for --idle-days days, with the date each was made and last logged in (the
    directory's lastbind overlay records every successful login, IMAP included). Locked accounts are
    counted, not reviewed. Read-only; --draft-locks writes draft requests, never a change."""
    from hopthu.reports import formats
    from hopthu.reports import usage as review
    from hopthu.reports.accounts import USAGE_ATTRIBUTES, read_accounts
    from hopthu.reports.progress import Progress
    from hopthu.reports.sources import today_in_vietnam

    inventory = load_inventory_or_fail(ctx.obj["inventory"])
    org = known_organisation(inventory, org_code)
    days = idle_days or org.idle_days
    day = today.date() if today else today_in_vietnam()
    if fmt == "xlsx" and output is None:
        raise click.UsageError("--format xlsx writes a file: add -o FILE")
    endpoint = reader_endpoint(directory_file, org.code)
    if len(endpoint.uris) == 1:
        with reader_connection(directory_file, org.code) as conn:
            accounts = list(read_accounts(conn, org, Progress("accounts", every=20_000), USAGE_ATTRIBUTES))
    else:
        accounts = _accounts_of_every_provider(endpoint, org)
    rows = review.review(accounts, day, days)
    try:
        if fmt == "json":
            text = json.dumps([review.as_json(row) for row in rows], ensure_ascii=False, indent=1) + "\n"
            if output is None:
                click.echo(text, nl=False)
            else:
                output.write_text(text, encoding="utf-8")
        elif fmt == "text":
            text = formats.render_text(review.report(org, rows, day, days))
            if output is None:
                click.echo(text, nl=False)
            else:
                output.write_text(text, encoding="utf-8")
        else:
            text = formats.write_report(review.report(org, rows, day, days), fmt, output)
            if text is not None:
                click.echo(text, nl=False)
        written = _write_drafts(review.drafts(org, rows, day, days), requests_dir) if draft_locks else []
    except OSError as error:
        raise click.ClickException(file_problem(error)) from None
    counts = {
        state: sum(row.state == state for row in rows) for state in ("never-used", "idle", "active", "locked")
    }
    summary = ", ".join(f"{n} {state}" for state, n in counts.items())
    click.echo(f"{org.code}: {len(rows)} account(s): {summary} (idle: {days} days or more)", err=True)
    for path, usernames in written:
        click.echo(
            f"draft lock request (review it, nothing is locked): {path} — {len(usernames)} account(s)",
            err=True,
        )


def _accounts_of_every_provider(endpoint, org) -> list:
    """The accounts as the first provider that answers has them, each with its latest login over every
    provider: a login is recorded (authTimestamp) on the provider it was made on, and reaches the others
    only by replication, which a provider cut off for a while has not had."""
    from hopthu.directory import DirectoryError
    from hopthu.directory.failover import latest, read_every_provider
    from hopthu.reports.accounts import USAGE_ATTRIBUTES, read_accounts

    try:
        readings = read_every_provider(
            endpoint, lambda conn: list(read_accounts(conn, org, None, USAGE_ATTRIBUTES))
        )
    except DirectoryError as error:
        raise click.ClickException(str(error)) from None
    if not readings.values:
        reasons = "; ".join(f"{uri}: {why}" for uri, why in readings.unreachable.items())
        raise click.ClickException(f"{org.code}: no directory provider answered ({reasons})")
    for uri, why in readings.unreachable.items():
        click.echo(f"provider {uri} does not answer, its logins are not counted: {why}", err=True)
    logins = latest({a.uid: a.last_login for a in accounts} for accounts in readings.values.values())
    first = next(iter(readings.values.values()))
    return [account._replace(last_login=logins.get(account.uid)) for account in first]


def _write_drafts(drafts, requests_dir: Path) -> list[tuple[Path, tuple[str, ...]]]:
    """Each draft into the requests tree; one that exists already is kept, never overwritten."""
    written = []
    for draft in drafts:
        path = requests_dir / draft.relative_path.removeprefix("requests/")
        if path.exists():
            raise click.ClickException(
                f"{path} exists already: review or remove it first (it is never overwritten)"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(draft.text, encoding="utf-8")
        written.append((path, draft.usernames))
    return written
