"""A private Dovecot + Postfix on 127.0.0.1 for tests and the demo, in one work directory::

    <workdir>/mail.json            how to reach it: host and ports (no secret)
    <workdir>/dovecot/             dovecot.conf, dovecot-ldap-<org>.conf.ext (0600), run/, state/, log
    <workdir>/postfix/etc/         main.cf, master.cf, ldap-<org>-*.cf (0600)
    <workdir>/postfix/{spool,data,log}/
    <workdir>/mail/<org>/<uid>/    the mailboxes (owned by the mail user)

Postfix's master only runs as root, so ``LocalMail`` needs root. Dovecot refuses to touch mail as root:
mailboxes belong to ``mail_user`` (the ``dovecot`` system user by default), and every parent folder of
the work directory must let that user through (``chmod o+x``); pytest's own temp folders do not.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hopthu.directory.dn import MAIL_LOOKUP
from hopthu.mail import MailError
from hopthu.mail.config import MailOrg, MailSetup, dovecot_files, postfix_files, write_files
from hopthu.mail.mailstore import mailbox_home
from hopthu.model import Organisation

if TYPE_CHECKING:
    from hopthu.directory.server import LocalDirectory

HOST = "127.0.0.1"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
INFO_FILE = "mail.json"
# Nothing leaves a local instance: mail for any other domain is refused at RCPT time.
NO_OUTBOUND = "error:5.7.1 outbound mail is disabled on this local instance"


def find_program(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise MailError(
            f"{name} is not installed: run `make setup` (Debian packages dovecot-imapd, dovecot-lmtpd, "
            "dovecot-ldap, postfix, postfix-ldap)"
        )
    return found


def free_ports(count: int) -> list[int]:
    """``count`` different free ports on HOST (all probes open at once, so none is given twice)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind((HOST, 0))
        return [probe.getsockname()[1] for probe in probes]


@dataclass
class LocalMail:
    """A running private Dovecot (IMAP, LMTP) and Postfix (SMTP) serving ``setup.orgs``."""

    workdir: Path
    setup: MailSetup
    smtp_port: int
    _children: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)

    @property
    def host(self) -> str:
        return HOST

    @property
    def imap_port(self) -> int:
        return self.setup.imap_port

    @property
    def lmtp_port(self) -> int:
        return self.setup.lmtp_port

    @property
    def mail_root(self) -> Path:
        return self.setup.mail_root

    def home(self, org: str, uid: str) -> Path:
        """Where the mailbox of account ``uid`` of organisation ``org`` lives."""
        return mailbox_home(self.mail_root, org, uid)

    @property
    def dovecot_log(self) -> Path:
        return self.workdir / "dovecot" / "dovecot.log"

    @property
    def postfix_log(self) -> Path:
        return self.workdir / "postfix" / "log" / "postfix.log"

    # --- life cycle ---------------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        workdir: Path,
        orgs: Iterable[MailOrg],
        *,
        ldap_uri: str | Sequence[str],
        mail_user: str = "dovecot",
    ) -> LocalMail:
        """Configure and start both servers in ``workdir`` on free ports; return when all three
        listeners (IMAP, LMTP, SMTP) greet. A previous instance in ``workdir`` is stopped first."""
        if os.geteuid() != 0:
            raise MailError(
                "the local mail servers need root: Postfix's master runs only as root "
                "(run the mail tests and the demo as root, as CI does)"
            )
        dovecot, postfix = find_program("dovecot"), find_program("postfix")
        workdir = Path(workdir).resolve()
        stop_workdir(workdir)
        user = _system_user(mail_user)
        imap_port, lmtp_port, smtp_port = free_ports(3)
        setup = MailSetup(
            ldap_uri=ldap_uri if isinstance(ldap_uri, str) else tuple(ldap_uri),
            orgs=tuple(orgs),
            mail_root=workdir / "mail",
            mail_user=user.pw_name,
            mail_group=grp.getgrgid(user.pw_gid).gr_name,
            dovecot_dir=workdir / "dovecot",
            postfix_dir=workdir / "postfix" / "etc",
            imap_port=imap_port,
            lmtp_port=lmtp_port,
            smtp_listen=f"{HOST}:{smtp_port}",
            hostname="mail.hopthu.test",
            runtime_dir=workdir,
            outbound_transport=NO_OUTBOUND,
            fast_auth_failures=True,
        )
        server = cls(workdir, setup, smtp_port)
        server._prepare(user)
        server._launch(dovecot, postfix)
        return server

    def _prepare(self, user: pwd.struct_passwd) -> None:
        for folder in ("dovecot", "postfix/spool", "postfix/log"):
            (self.workdir / folder).mkdir(parents=True, exist_ok=True)
        _check_reachable(self.mail_root, user)
        write_files(self.setup.dovecot_dir, dovecot_files(self.setup))
        write_files(self.setup.postfix_dir, postfix_files(self.setup))
        # Postfix re-reads a main.cf changed in the last 2 s until it is older (300 ms naps, ~2 s in all):
        # the files were complete the moment they were renamed into place, so date them back.
        a_minute_ago = time.time() - 60
        for file in self.setup.postfix_dir.iterdir():
            os.utime(file, (a_minute_ago, a_minute_ago))
        # Postfix wants its data directory owned by its own user; the queue is set up by postfix itself.
        data = self.workdir / "postfix" / "data"
        data.mkdir(mode=0o700, exist_ok=True)
        postfix_user = _system_user("postfix")
        os.chown(data, postfix_user.pw_uid, postfix_user.pw_gid)
        self.mail_root.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.mail_root, user.pw_uid, user.pw_gid)

    def _launch(self, dovecot: str, postfix: str) -> None:
        logs = self.workdir / "console.log"
        with logs.open("ab") as console:
            # Both run in the foreground as our children, so stop() can wait for them and reap them.
            self._children.append(
                subprocess.Popen(
                    [dovecot, "-F", "-c", str(self.setup.dovecot_dir / "dovecot.conf")],
                    stdin=subprocess.DEVNULL,
                    stdout=console,
                    stderr=console,
                )
            )
            self._children.append(
                subprocess.Popen(
                    [postfix, "-c", str(self.setup.postfix_dir), "start-fg"],
                    stdin=subprocess.DEVNULL,
                    stdout=console,
                    stderr=console,
                )
            )
        try:
            for name, port, greeting in (
                ("Dovecot IMAP", self.imap_port, b"* OK"),
                ("Dovecot LMTP", self.lmtp_port, b"220"),
                ("Postfix SMTP", self.smtp_port, b"220"),
            ):
                self._wait_for_greeting(name, port, greeting)
        except MailError:
            self.stop()
            raise
        info = {
            "host": HOST,
            "imap_port": self.imap_port,
            "lmtp_port": self.lmtp_port,
            "smtp_port": self.smtp_port,
            "mail_root": str(self.mail_root),
        }
        (self.workdir / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")

    def _wait_for_greeting(self, name: str, port: int, greeting: bytes) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not _greets(port, greeting):
            ended = [child for child in self._children if child.poll() is not None]
            if ended or time.monotonic() > deadline:
                why = "exited" if ended else f"did not answer within {START_TIMEOUT:.0f} s"
                raise MailError(
                    f"{name} on {HOST}:{port} {why}; see {self.workdir / 'console.log'}, "
                    f"{self.dovecot_log} and {self.postfix_log}"
                )
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop both servers and wait until they are gone (~1 s: Dovecot's master waits for its children)."""
        _terminate_masters(self.workdir)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in self._children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self._children.clear()
        (self.workdir / INFO_FILE).unlink(missing_ok=True)

    def __enter__(self) -> LocalMail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def orgs_for_directory(directory: LocalDirectory, organisations: Iterable[Organisation]) -> list[MailOrg]:
    """The mail view of ``organisations`` served by a local directory, bound as their mail-lookup
    identity (read only, and only what mail needs: see the olcAccess rules of database.ldif.j2)."""
    return [
        MailOrg.from_organisation(
            org,
            bind_dn=directory.service_dn(org, MAIL_LOOKUP),
            bind_password_file=directory.service_password_file(org, MAIL_LOOKUP),
            # One server's URI; providers replicating each other have no single one: the setup lists them.
            ldap_uri=getattr(directory, "uri", None),
        )
        for org in organisations
    ]


def stop_workdir(workdir: Path) -> None:
    """Stop an instance left running in ``workdir`` (by this or another process) and wait for it."""
    pids = _terminate_masters(workdir)
    deadline = time.monotonic() + STOP_TIMEOUT
    while any(_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            raise MailError(f"the mail servers in {workdir} did not stop within {STOP_TIMEOUT:.0f} s")
        time.sleep(0.02)
    (workdir / INFO_FILE).unlink(missing_ok=True)


def _terminate_masters(workdir: Path) -> list[int]:
    """Send SIGTERM to the Dovecot and Postfix masters of ``workdir``; their pids.

    Each master is recognised by what it was started with, so a pid file left behind by a server that
    died (its pid now another process's) is never acted on.
    """
    found = []
    dovecot = _read_pid(workdir / "dovecot" / "run" / "master.pid")
    if dovecot is not None and _alive(dovecot) and str(workdir).encode() in _proc(dovecot, "cmdline"):
        found.append(dovecot)
    postfix = _read_pid(workdir / "postfix" / "spool" / "pid" / "master.pid")
    mail_config = b"MAIL_CONFIG=" + str(workdir / "postfix" / "etc").encode()
    if postfix is not None and _alive(postfix) and mail_config in _proc(postfix, "environ").split(b"\0"):
        found.append(postfix)
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    return found


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _proc(pid: int, name: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    """Running, not a zombie (an orphan's zombie stays when nothing reaps it, as in some containers)."""
    stat_line = _proc(pid, "stat")
    return bool(stat_line) and stat_line.rsplit(b")", 1)[1].split()[0] != b"Z"


def _greets(port: int, greeting: bytes) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as conn:
            return conn.recv(64).startswith(greeting)
    except OSError:
        return False


def _system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise MailError(f"system user {name!r} does not exist (the Debian mail packages create it)") from None


def _check_reachable(path: Path, user: pwd.struct_passwd) -> None:
    """Every parent of ``path`` must be searchable by ``user``, or Dovecot cannot reach the mailboxes."""
    groups = {user.pw_gid} | {g.gr_gid for g in grp.getgrall() if user.pw_name in g.gr_mem}
    for parent in path.parents:
        info = parent.stat()
        if info.st_uid == user.pw_uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            raise MailError(
                f"the mail user {user.pw_name} cannot enter {parent} (mode {stat.filemode(info.st_mode)}): "
                f"choose a work directory whose parents all allow it (e.g. one made by tempfile.mkdtemp "
                f"and chmod 0711), or chmod o+x {parent}"
            )
