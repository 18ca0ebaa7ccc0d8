"""``hopthu password-page``: serve the first-login password page (trang đổi mật khẩu lần đầu)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from hopthu.cli.common import load_inventory_or_fail

PAGE_DIRECTORY_ENV = "HOPTHU_PAGE_DIRECTORY"


@click.command("password-page")
@click.option("--listen", required=True, metavar="HOST:PORT", help="Address to bind to, and only that one.")
@click.option(
    "--directory",
    "directory_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=lambda: os.environ.get(PAGE_DIRECTORY_ENV),
    help="Connections file binding as each organisation's password-page identity (the page-directory.json "
    f"of `hopthu server start`). Default: ${PAGE_DIRECTORY_ENV}.",
)
@click.option("--org", "org_codes", multiple=True, help="Serve only this organisation (repeatable).")
@click.option(
    "--log",
    "log_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The page's own hash-chained log of every attempt (never a password). "
    "Default: $HOPTHU_PAGE_LOG or var/audit/password-page.jsonl.",
)
@click.option("--threads", type=click.IntRange(1, 256), default=16, show_default=True)
@click.option("--trusted-proxy", metavar="ADDR", help="The reverse proxy's address (X-Forwarded-For counts).")
@click.option("--smtp-host", help="Relay for reset links (only where an organisation allows them).")
@click.option("--smtp-port", type=int, default=25, show_default=True)
@click.option("--starttls", is_flag=True, help="Encrypt the connection to the relay (required unless local).")
@click.option("--sender", help="From address of reset-link messages.")
@click.option(
    "--plain-http",
    is_flag=True,
    help="The page is reached without TLS (the demo on 127.0.0.1): its cookie goes without Secure.",
)
@click.pass_context
def password_page(
    ctx: click.Context,
    listen: str,
    directory_file: Path | None,
    org_codes: tuple[str, ...],
    log_file: Path | None,
    threads: int,
    trusted_proxy: str | None,
    smtp_host: str | None,
    smtp_port: int,
    starttls: bool,
    sender: str | None,
    plain_http: bool,
) -> None:
    """Serve the password page: a person changes a one-time password (and, where the organisation
    allows it, resets a forgotten one by a link to the backup e-mail)."""
    from hopthu.audit import AuditError
    from hopthu.endpoints import EndpointError, load_endpoints
    from hopthu.notices.smtp import SmtpSettings
    from hopthu.web import serve
    from hopthu.web.app import create_app

    inventory = load_inventory_or_fail(ctx.obj["inventory"])
    if directory_file is None:
        raise click.UsageError(
            f"no connections file: pass --directory FILE or set ${PAGE_DIRECTORY_ENV} (the local server's "
            "page-directory.json)"
        )
    if bool(smtp_host) != bool(sender):
        raise click.UsageError("--smtp-host and --sender go together")
    try:
        host, port = serve.parse_listen(listen)
        orgs = serve.served_organisations(inventory, org_codes)
        prefix = serve.url_prefix(orgs)
        smtp = SmtpSettings(smtp_host, smtp_port, starttls) if smtp_host else None
        mailer = serve.smtp_mailer(smtp, sender) if smtp and sender else None
        page = serve.build_page(
            orgs, load_endpoints(directory_file), serve.page_log_path(log_file, os.environ), mailer
        )
    except (serve.PageSetupError, EndpointError, AuditError) as error:
        raise click.ClickException(str(error)) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = create_app(page, secure_cookies=serve.secure_cookies(orgs) and not plain_http)
    click.echo(f"password page for {', '.join(orgs)} on http://{listen}{prefix}/ (stop: Ctrl-C)", err=True)
    try:
        serve.serve(app, host, port, prefix=prefix, threads=threads, trusted_proxy=trusted_proxy)
    except OSError as error:
        raise click.ClickException(f"cannot listen on {listen}: {error.strerror or error}") from None
    finally:
        page.journal.close()
