"""Putting the page together from the inventory and a connections file, and serving it with Waitress.

The connections file names, per organisation, the directory's URI and the ``password-page`` identity
(``cn=password-page,ou=services,<base_dn>``, its password from an environment variable or a file, as in
``hopthu.endpoints``); ``hopthu server start`` writes one as ``page-directory.json``. The person binds
go to the same URI.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import urlsplit

from hopthu.audit import AuditLog, default_log_path
from hopthu.directory.selfservice import PageIdentity
from hopthu.endpoints import Endpoint
from hopthu.model import Inventory, Organisation
from hopthu.notices.smtp import SmtpSettings, is_loopback
from hopthu.web.flows import Journal, Mailer, OrgDirectory, Page

PAGE_LOG_ENV = "HOPTHU_PAGE_LOG"
DEFAULT_PAGE_LOG = Path("var/audit/password-page.jsonl")
_LISTEN = re.compile(r"(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(?P<port>[0-9]{1,5})")


class PageSetupError(Exception):
    """The page cannot be started as asked; the message says why and what to do."""


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) → (host, port)."""
    match = _LISTEN.fullmatch(text.strip())
    if not match or not 0 < int(match["port"]) < 65536:
        raise PageSetupError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    return match["host"].strip("[]"), int(match["port"])


def served_organisations(inventory: Inventory, codes: Sequence[str]) -> dict[str, Organisation]:
    """The organisations to serve (all that have a password page when ``codes`` is empty)."""
    known = inventory.organisations
    unknown = [code for code in codes if code not in known]
    if unknown:
        raise PageSetupError(f"--org {', '.join(unknown)}: not in the inventory (known: {', '.join(known)})")
    chosen = {code: known[code] for code in codes} if codes else dict(known)
    without = [code for code, org in chosen.items() if org.password_page is None]
    if codes and without:
        raise PageSetupError(
            f"organisation {', '.join(without)} has no password_page (url) in the inventory: add it first"
        )
    chosen = {code: org for code, org in chosen.items() if org.password_page is not None}
    if not chosen:
        raise PageSetupError("no organisation of the inventory has a password_page: add password_page.url")
    return chosen


def url_prefix(orgs: Mapping[str, Organisation]) -> str:
    """The path the page lives under behind the proxy (``/matkhau`` of https://ctu.edu.vn/matkhau/):
    the same for every served organisation, or the page cannot tell its own links."""
    paths = {urlsplit(org.password_page.url).path.rstrip("/") for org in orgs.values() if org.password_page}
    if len(paths) != 1:
        raise PageSetupError(
            "the served organisations' password_page urls have different paths "
            f"({', '.join(sorted(p or '/' for p in paths))}): run one page per path (--org)"
        )
    return paths.pop()


def secure_cookies(orgs: Mapping[str, Organisation]) -> bool:
    """The CSRF cookie is marked Secure unless a served page is plain http (the demo on loopback)."""
    pages = [org.password_page for org in orgs.values() if org.password_page]
    return all(urlsplit(page.url).scheme == "https" for page in pages)


def page_log_path(given: Path | None, env: Mapping[str, str]) -> Path:
    """The page's own log; never the apply's (an apply holds that one's lock while it runs)."""
    path = Path(given or env.get(PAGE_LOG_ENV) or DEFAULT_PAGE_LOG)
    apply_log = default_log_path()
    if path.resolve() == apply_log.resolve():
        raise PageSetupError(
            f"{path} is the apply's audit log: give the page a log of its own (--log, ${PAGE_LOG_ENV})"
        )
    return path


def smtp_mailer(smtp: SmtpSettings, sender: str) -> Mailer:
    """Send a reset link: plain text, STARTTLS unless the relay is on this machine (a link is a key)."""
    if not smtp.starttls and not is_loopback(smtp.host):
        raise PageSetupError(f"a reset link must not travel in clear text to {smtp.host}: use --starttls")

    def send(to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = sender, to, subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
        message.set_content(body)
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            client.send_message(message)

    return send


def build_page(
    orgs: Mapping[str, Organisation], endpoints: Mapping[str, Endpoint], log_path: Path, mailer: Mailer | None
) -> Page:
    """The page's shared state: one password-page identity per organisation, the journal (locked)."""
    missing = [code for code in orgs if code not in endpoints]
    if missing:
        raise PageSetupError(
            f"the connections file has no entry for {', '.join(missing)} "
            "(the URI and the password-page identity's bind DN)"
        )
    directories = {}
    for code in orgs:
        endpoint = endpoints[code]
        identity = PageIdentity(endpoint.uri, endpoint.bind_dn, endpoint.password)
        directories[code] = OrgDirectory(endpoint.uri, identity)
    journal_log = AuditLog(log_path, commit=None, ci=None)
    journal_log.open()  # held while the page runs: a second page on the same file fails at once
    return Page(orgs=dict(orgs), directories=directories, journal=Journal(journal_log), mailer=mailer)


def serve(app: object, host: str, port: int, *, prefix: str, threads: int, trusted_proxy: str | None) -> None:
    """Waitress on ``host:port`` only. Behind the reverse proxy, ``trusted_proxy`` is its address: only
    then are its X-Forwarded-For/-Proto headers believed (the rate limit counts the real client)."""
    import waitress

    options: dict[str, object] = {"threads": threads, "url_prefix": prefix, "ident": "hopthu"}
    if trusted_proxy:
        options |= {
            "trusted_proxy": trusted_proxy,
            "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
            "clear_untrusted_proxy_headers": True,
        }
    waitress.serve(app, listen=f"[{host}]:{port}" if ":" in host else f"{host}:{port}", **options)
