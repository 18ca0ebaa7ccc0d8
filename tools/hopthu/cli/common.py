"""Small pieces every sub-command shares: default paths and how failures are shown."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import click

from hopthu.findings import Finding, render_text


def request_paths(paths: Iterable[Path]) -> list[Path]:
    """The request files or folders named on the command line, default ``requests/``."""
    return list(paths) or [Path("requests")]


def fail_with_findings(message: str, findings: Iterable[Finding]) -> None:
    """Print located findings (``path:line:col: message``) and stop with exit 1."""
    findings = list(findings)
    if findings:
        click.echo(render_text(findings), err=True, nl=False)
    raise click.ClickException(message)
