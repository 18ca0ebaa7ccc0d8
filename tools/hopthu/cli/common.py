"""Small pieces the sub-commands share: options, default paths, and how failures are shown.

Kept light: the pipeline (and with it ldap3) is imported by ``open_session`` and ``run_stage`` when they
run, so that commands which never touch the directory do not pay for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import click

from hopthu.audit import AuditError, default_log_path
from hopthu.directory import DirectoryError
from hopthu.endpoints import ENV_FILE, EndpointError, load_endpoints
from hopthu.findings import RENDERERS, Finding, render, render_text
from hopthu.inventory import InventoryError, inventory_dir, load_inventory
from hopthu.model import Inventory

if TYPE_CHECKING:
    from hopthu.pipeline import Session

T = TypeVar("T")

INVENTORY_PROBLEMS = "the inventory has problems (above); fix it first"

# --- options shared by several sub-commands ------------------------------------------------------------

paths_argument = click.argument("paths", nargs=-1, type=click.Path(path_type=Path))


def audit_log_option(help_text: str = "The hash-chained audit log; it also records what is already done."):
    return click.option(
        "--audit-log",
        type=click.Path(path_type=Path, dir_okay=False),
        default=default_log_path,
        show_default="$HOPTHU_AUDIT_LOG or var/audit/audit.jsonl",
        help=help_text,
    )


def outbox_option(
    help_text: str = "Where one-time passwords wait for the result notice (outside the repository, 0600).",
):
    """``--outbox DIR``: the credentials outbox, default ``$HOPTHU_OUTBOX``."""
    from hopthu.passwords import default_outbox_root

    return click.option(
        "--outbox",
        type=click.Path(path_type=Path, file_okay=False),
        default=default_outbox_root,
        show_default="$HOPTHU_OUTBOX or ~/.local/state/hopthu/outbox",
        help=help_text,
    )


def directory_option(
    help_text: str = "Connections file: per organisation the LDAP URI, bind DN and where the bind password "
    "comes from (the directory.json of `hopthu server start`). Default: $HOPTHU_DIRECTORY.",
):
    """``--directory FILE``: the connections file (directory.json), default ``$HOPTHU_DIRECTORY``."""
    return click.option(
        "--directory",
        "directory_file",
        type=click.Path(path_type=Path, dir_okay=False),
        default=lambda: os.environ.get(ENV_FILE),
        help=help_text,
    )


def reader_directory_option():
    """``--directory FILE`` of the read-only reports: the plan-reader's connections file by default."""
    return click.option(
        "--directory",
        "directory_file",
        type=click.Path(path_type=Path, dir_okay=False),
        default=lambda: os.environ.get("HOPTHU_PLAN_DIRECTORY") or os.environ.get(ENV_FILE),
        show_default="$HOPTHU_PLAN_DIRECTORY, else $HOPTHU_DIRECTORY",
        help="Connections file. Bind as the read-only plan-reader identity (the plan-directory.json of "
        "`hopthu server start`): it reads every account attribute but passwords, and writes nothing.",
    )


def reader_endpoint(directory_file: Path | None, org: str):
    """``org``'s endpoint (every provider) in the connections file of a read-only report."""
    if directory_file is None:
        raise click.UsageError(
            "no directory connections: pass --directory FILE or set $HOPTHU_PLAN_DIRECTORY "
            "(the local server's: <dir>/plan-directory.json)"
        )
    try:
        endpoint = load_endpoints(directory_file).get(org)
    except EndpointError as error:
        raise click.ClickException(str(error)) from None
    if endpoint is None:
        raise click.ClickException(f"{directory_file}: no connection for organisation {org!r}")
    return endpoint


@contextmanager
def reader_connection(directory_file: Path | None, org: str) -> Iterator:
    """One bound connection to ``org``'s directory for a read-only report (the first of its providers that
    answers, within the connections file's timeout); failures are one message."""
    from hopthu.directory.failover import Providers

    endpoint = reader_endpoint(directory_file, org)
    try:
        conn = Providers(endpoint).connection()
    except DirectoryError as error:
        raise click.ClickException(str(error)) from None
    try:
        yield conn
    except DirectoryError as error:
        raise click.ClickException(str(error)) from None
    finally:
        if not conn.closed:
            conn.unbind()


def organisation_option(help_text: str = "The organisation (its code in the inventory)."):
    return click.option("--org", "org_code", required=True, metavar="CODE", help=help_text)


def refuse_import(problems: Sequence, nothing: str) -> NoReturn:
    """A refused import or roster: every problem on stderr, then how many, and ``nothing`` (what was
    not written) as the command's error."""
    for problem in problems:
        click.echo(problem.render(), err=True)
    count = sum(1 for problem in problems if problem.severity == "error")
    raise click.ClickException(f"{count} problem(s): {nothing}") from None


def known_organisation(inventory: Inventory, code: str):
    """The organisation ``code``, or a usage error naming the known ones."""
    if code not in inventory.organisations:
        known = ", ".join(sorted(inventory.organisations))
        raise click.BadParameter(f"{code!r} is not in the inventory (known: {known})", param_hint="--org")
    return inventory.organisations[code]


# Reports a run can also write, each to its own file, besides the one of --format (GitLab wants two).
EXTRA_REPORTS = ("junit", "codequality")


def report_options(command: Callable) -> Callable:
    """``--format`` and ``-o/--output`` of a findings report: for people (text) or GitLab (junit,
    codequality); ``--junit FILE`` and ``--codequality FILE`` write those reports too, from the same run.
    See ``show_report``."""
    for fmt in reversed(EXTRA_REPORTS):
        command = click.option(
            f"--{fmt}",
            f"{fmt}_file",
            type=click.Path(dir_okay=False, path_type=Path),
            help=f"Also write the {fmt} report to FILE (from the same run as the others).",
        )(command)
    command = click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write the report to FILE (the text report still goes to standard output).",
    )(command)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(sorted(RENDERERS)),
        default="text",
        show_default=True,
        help="Report format: text (path:line:col: message [rule]), json, junit or codequality (GitLab).",
    )(command)


# --- where things are ----------------------------------------------------------------------------------


def repo_root_of(inventory: Path) -> Path:
    """The repository the inventory belongs to: ``inventory/`` and ``requests/`` sit side by side."""
    return inventory_dir(inventory).resolve().parent


def request_paths(paths: Iterable[Path]) -> list[Path]:
    """The request files or folders named on the command line, default ``requests/``."""
    return list(paths) or [Path("requests")]


# --- failures: one clear message and exit 1, never a traceback -----------------------------------------


def fail_with_findings(message: str, findings: Iterable[Finding]) -> NoReturn:
    """Print located findings (``path:line:col: message``) and stop with exit 1."""
    findings = list(findings)
    if findings:
        click.echo(render_text(findings), err=True, nl=False)
    raise click.ClickException(message)


def load_inventory_or_fail(inventory_path: Path) -> Inventory:
    """The inventory; when it has problems, each one located on stderr and exit 1."""
    try:
        return load_inventory(inventory_path)
    except InventoryError as error:
        fail_with_findings(INVENTORY_PROBLEMS, error.findings)


@contextmanager
def open_session(directory_file: Path | None) -> Iterator[Session]:
    """Connections to the organisations' directories, opened on first use and closed at the end."""
    from hopthu import pipeline

    if directory_file is None:
        raise click.UsageError(
            "no directory connections: pass --directory FILE or set $HOPTHU_DIRECTORY "
            "(for the local demo directory: var/demo/directory/directory.json)"
        )
    session = pipeline.Session(load_endpoints(directory_file))
    try:
        yield session
    finally:
        session.close()


def run_stage(work: Callable[[], T]) -> T:
    """Run a pipeline stage; the failures it expects become one clear message and exit 1, never a
    traceback."""
    from hopthu import pipeline
    from hopthu.directory.applier import ApplyError
    from hopthu.directory.writer import DirectoryUnavailable
    from hopthu.passwords import OutboxError

    try:
        return work()
    except pipeline.PipelineError as error:
        fail_with_findings(str(error), error.findings)
    except InventoryError as error:
        fail_with_findings(INVENTORY_PROBLEMS, error.findings)
    except DirectoryUnavailable as error:
        message = f"{error}; what was acknowledged is recorded: run the same command again"
        raise click.ClickException(message) from None
    except (EndpointError, DirectoryError, ApplyError, AuditError, OutboxError) as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(file_problem(error)) from None


# --- output --------------------------------------------------------------------------------------------


def show_report(
    findings: list[Finding],
    fmt: str,
    output: Path | None,
    files: Sequence[str] = (),
    extra: dict[str, Path | None] | None = None,
) -> None:
    """The report in ``fmt`` on standard output, or with ``output`` into that file and as text on stdout;
    each report of ``extra`` (format → file, from ``--junit``/``--codequality``) into its file."""
    for extra_fmt, path in (extra or {}).items():
        if path is not None:
            write_output(path, render(extra_fmt, findings, files))
    if output is not None:
        write_output(output, render(fmt, findings, files))
        click.echo(render_text(findings, files), nl=False)
    else:
        click.echo(render(fmt, findings, files), nl=False)


def write_output(path: Path, text: str) -> None:
    """Write a report or generated file (its folder made if missing); failure is one message, exit 1."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except FileExistsError:  # from mkdir: the folder's name is taken by a file
        raise click.ClickException(f"cannot write {path}: {path.parent} is a file, not a folder") from None
    except OSError as error:
        raise click.ClickException(file_problem(error)) from None


def file_problem(error: OSError) -> str:
    """A file a command reads or writes cannot be used (a missing folder, permissions, a full disk)."""
    where = f"cannot use {error.filename}: " if error.filename else ""
    return f"{where}{error.strerror or error}"
