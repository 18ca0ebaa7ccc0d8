"""Fixtures for tests that need real mail servers, and small helpers to use them.

- ``mail_directory`` (module): a ``LocalDirectory`` serving ``MAIL_ORGS``: Bình Thuận (mail domain
  binhthuan.gov.vn plus a unit sub-domain, ``locked_mail: accept``) and Gia Lai (``locked_mail:
  reject``, whose mail-lookup identity has a password with characters that configuration files treat
  specially).
- ``local_mail`` (module): a private Dovecot + Postfix (``LocalMail``) reading that directory as each
  organisation's mail-lookup identity (read only), as on a real mail host.
  Skipped, with the reason, when not root or when the Debian mail packages are missing.

conftest registers this module as a plugin. Tests that use them need the ``mail`` and ``slapd`` markers.
"""

from __future__ import annotations

import imaplib
import os
import shutil
import smtplib
import tempfile
import time
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path

import ldap3
import pytest

from hopthu.directory import dn
from hopthu.model import Organisation, PasswordPage, Unit


def _org(
    code: str,
    name: str,
    domain: str,
    base_dn: str,
    locked_mail: str,
    units: dict[str, Unit],
    page: PasswordPage | None = None,
) -> Organisation:
    return Organisation(
        code=code,
        name=name,
        parent=f"UBND TỈNH {name.upper()}",
        mail_domain=domain,
        base_dn=base_dn,
        naming_rule=("{given}{s}{m}",),
        reserved=frozenset(),
        retention_days=90,
        sla_working_days=2,
        units=units,
        app_groups={},
        mailbox_quota_mb=64,
        locked_mail=locked_mail,
        password_page=page,
    )


MAIL_ORGS = {
    "bt": _org(
        "bt",
        "Bình Thuận",
        "binhthuan.gov.vn",
        "dc=binhthuan,dc=gov,dc=vn",
        "accept",
        {"bdt": Unit("bdt", "Ban Dân tộc", "vanphong@bdt.binhthuan.gov.vn", (), "bdt.binhthuan.gov.vn")},
        PasswordPage("https://matkhau.binhthuan.gov.vn/"),
    ),
    "gl": _org("gl", "Gia Lai", "gialai.gov.vn", "dc=gialai,dc=gov,dc=vn", "reject", {}),
}
# Quotes, backslash, '#', '$' and '%': each means something in Dovecot's or Postfix's files.
SERVICE_PASSWORD = 'Mail$erver "ro" \\ #1 %u'
LOCKED = "000001010000Z"  # hopthu's lock (khóa): ppolicy treats it as permanent


def mail_servers_missing() -> str | None:
    """Why the mail servers cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root: Postfix's master runs only as root"
    for program in ("dovecot", "postfix", "slapd"):
        if not (shutil.which(program) or shutil.which(program, path="/usr/sbin")):
            return f"{program} is not installed (make setup)"
    if not Path("/usr/lib/dovecot/modules/auth/libauthdb_ldap.so").exists():
        return "dovecot-ldap is not installed (make setup)"
    if not Path("/usr/lib/postfix/postfix-ldap.so").exists():
        return "postfix-ldap is not installed (make setup)"
    return None


@pytest.fixture(scope="module")
def mail_workdir() -> Iterator[Path]:
    reason = mail_servers_missing()
    if reason:
        pytest.skip(reason)
    # Not pytest's tmp_path: its 0700 parents would keep Dovecot's mail user out of the mailboxes.
    workdir = Path(tempfile.mkdtemp(prefix="hopthu-mail-"))
    workdir.chmod(0o711)
    yield workdir
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def mail_directory(mail_workdir: Path) -> Iterator:
    from hopthu.directory.server import LocalDirectory

    server = LocalDirectory.start(mail_workdir / "ldap", MAIL_ORGS.values(), fresh=True)
    server.set_nosync(True)
    # Gia Lai's mail-lookup secret is changed (by its rootdn, as an IT department rotates it) to one that
    # the configuration files must escape, or write as it is, correctly.
    conn = server.connect("gl")
    try:
        change = {"userPassword": [(ldap3.MODIFY_REPLACE, [SERVICE_PASSWORD])]}
        assert conn.modify(server.service_dn("gl", dn.MAIL_LOOKUP), change), conn.result
    finally:
        conn.unbind()
    server.service_password_file("gl", dn.MAIL_LOOKUP).write_text(SERVICE_PASSWORD + "\n", encoding="utf-8")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def local_mail(mail_directory, mail_workdir: Path) -> Iterator:
    from hopthu.mail.server import LocalMail, orgs_for_directory

    orgs = orgs_for_directory(mail_directory, MAIL_ORGS.values())
    mail = LocalMail.start(mail_workdir / "mail", orgs, ldap_uri=mail_directory.uri)
    yield mail
    mail.stop()


# --- helpers --------------------------------------------------------------------------------------------


def add_account(
    directory,
    org: str,
    uid: str,
    *,
    password: str,
    domain: str | None = None,
    unit_mailbox: bool = False,
    one_time: bool = False,
    **attributes: str,
) -> str:
    """Add a person (or a unit mailbox) with a cleartext password. ``one_time``: as apply leaves it, the
    one-time password of the notice (pwdReset TRUE), which IMAP refuses until it is changed; otherwise
    as after the owner's first change.

    Returns its address.
    """
    address = f"{uid}@{domain or MAIL_ORGS[org].mail_domain}"
    classes = ["inetOrgPerson", "hopthuAccount"] + (["hopthuUnitMailbox"] if unit_mailbox else [])
    entry_dn = (dn.mailbox_dn if unit_mailbox else dn.person_dn)(MAIL_ORGS[org].base_dn, uid)
    values = {"uid": uid, "cn": uid, "sn": uid, "mail": address, "userPassword": password}
    if one_time:
        values["pwdReset"] = "TRUE"
    conn = directory.connect(org)
    try:
        assert conn.add(entry_dn, classes, {**values, **attributes}), conn.result
    finally:
        conn.unbind()
    return address


def modify(directory, org: str, uid: str, changes: dict, *, unit_mailbox: bool = False) -> None:
    entry_dn = (dn.mailbox_dn if unit_mailbox else dn.person_dn)(MAIL_ORGS[org].base_dn, uid)
    conn = directory.connect(org)
    try:
        assert conn.modify(entry_dn, changes), conn.result
    finally:
        conn.unbind()


def send(mail, to: str, subject: str, body: str = "Xin chào.") -> None:
    """Send one message through Postfix; raises smtplib.SMTPRecipientsRefused when refused."""
    message = EmailMessage()
    message["From"] = "vanphong@snv.example.gov.vn"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(mail.host, mail.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)


def can_log_in(mail, address: str, password: str) -> bool:
    return login_refusal(mail, address, password) is None


def login_refusal(mail, address: str, password: str) -> str | None:
    """None when the IMAP login works, else the server's answer (what a mail client shows)."""
    imap = imaplib.IMAP4(mail.host, mail.imap_port, timeout=10)
    try:
        imap.login(address, password)
    except imaplib.IMAP4.error as error:
        return str(error)
    finally:
        imap.logout()
    return None


def change_own_password(
    directory, org: str, uid: str, old: str, new: str, *, unit_mailbox: bool = False
) -> None:
    """The owner's own password-modify operation with the old password (what the password page does)."""
    entry_dn = (dn.mailbox_dn if unit_mailbox else dn.person_dn)(MAIL_ORGS[org].base_dn, uid)
    user = ldap3.Connection(ldap3.Server(directory.uri), entry_dn, old)
    try:
        assert user.bind(), user.result
        assert user.extend.standard.modify_password(entry_dn, old, new), user.result
    finally:
        user.unbind()


def subjects(mail, address: str, password: str) -> list[str]:
    """Subjects of the messages in the INBOX, read over IMAP with ``password``."""
    imap = imaplib.IMAP4(mail.host, mail.imap_port, timeout=10)
    try:
        imap.login(address, password)
        _, count = imap.select("INBOX", readonly=True)
        if count == [b"0"]:
            return []
        _, data = imap.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    except imaplib.IMAP4.error as error:
        raise AssertionError(f"IMAP as {address}: {error}") from None
    finally:
        imap.logout()
    parser = BytesHeaderParser(policy=policy.default)  # decodes =?utf-8?…?= subjects
    return [str(parser.parsebytes(part[1])["Subject"]) for part in data if isinstance(part, tuple)]


def wait_for(mail, address: str, password: str, subject: str, timeout: float = 10.0) -> list[str]:
    """Wait until a message with ``subject`` is in the INBOX (delivery through Postfix is queued)."""
    deadline = time.monotonic() + timeout
    while True:
        found = subjects(mail, address, password)
        if subject in found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def delivered_files(mail, org: str, uid: str) -> list[Path]:
    home = mail.home(org, uid)
    return sorted(p for p in home.glob("Maildir/*/*") if p.parent.name in ("cur", "new") and p.is_file())


def wait_for_files(mail, org: str, uid: str, count: int, timeout: float = 10.0) -> list[Path]:
    """Wait until ``count`` messages are on disk in the mailbox (for accounts that cannot log in)."""
    deadline = time.monotonic() + timeout
    while len(found := delivered_files(mail, org, uid)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return found
