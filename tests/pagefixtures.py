"""The password page served for real: Waitress on a free 127.0.0.1 port, in a thread of the test
process, over a real slapd (``LocalDirectory``). ``served_page`` yields a ``Served`` and stops it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import waitress

from hopthu.audit import AuditLog
from hopthu.directory import dn
from hopthu.endpoints import load_endpoints
from hopthu.model import Organisation
from hopthu.web.app import create_app
from hopthu.web.flows import Mailer, Page
from hopthu.web.serve import build_page


@dataclass
class Served:
    url: str
    page: Page
    log_path: Path

    def journal(self) -> list[dict]:
        return list(AuditLog(self.log_path).records())


@contextlib.contextmanager
def served_page(
    directory,
    orgs: Mapping[str, Organisation],
    workdir: Path,
    *,
    mailer: Mailer | None = None,
    threads: int = 8,
    sleep=None,
) -> Iterator[Served]:
    """The page for ``orgs`` over ``directory``, bound as their password-page identities."""
    endpoints = load_endpoints(directory.workdir / "page-directory.json")
    assert all(endpoints[code].bind_dn == directory.service_dn(code, dn.PASSWORD_PAGE) for code in orgs)
    log_path = workdir / "password-page.jsonl"
    page = build_page(orgs, endpoints, log_path, mailer)
    if sleep is not None:
        page.sleep = sleep
    server = waitress.create_server(
        create_app(page, secure_cookies=False), host="127.0.0.1", port=0, threads=threads
    )
    closing = threading.Event()

    def run() -> None:
        # Closing the sockets from this thread can wake the loop's select() on a closed
        # descriptor (EBADF); that is the end of the run, not a failure (webtest does the same).
        try:
            server.run()
        except OSError:
            if not closing.is_set():
                raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.effective_port}/", page, log_path)
    finally:
        closing.set()
        server.close()
        thread.join(timeout=5)
        page.journal.close()
        for directory_of_org in page.directories.values():
            directory_of_org.identity.close()
