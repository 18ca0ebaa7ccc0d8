"""Mail keeps flowing through a merger (sáp nhập), with real Postfix and Dovecot reading two slapd servers.

800 accounts of Bình Thuận's units move to Lâm Đồng (3 % renamed). While `hopthu apply` runs, and while
it lies killed half-way (some accounts added in Lâm Đồng and still in Bình Thuận, some already gone from
Bình Thuận), and after the re-run, messages go to the OLD addresses: Postfix accepts every one (it
serves both organisations' domains throughout) and each lands in the account's one mailbox, which stays
in its folder; the owner reads them all at the new address with the password it always had.
"""

from __future__ import annotations

import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailfixtures import mail_servers_missing, subjects, wait_for_files
from workspace import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import mergeload
from merge_recovery import phases

pytestmark = [pytest.mark.mail, pytest.mark.slapd, pytest.mark.slow]


class World:
    def __init__(self, load, mail, state: Path) -> None:
        self.load, self.mail, self.state = load, mail, state
        self.sent: dict[str, list[tuple[str, str]]] = {}  # old address → (subject, moment) in order

    def old_address(self, account) -> str:
        org = self.load.source
        return f"{account.uid}@{org.mail_domain if account.mailbox else org.domain_of(account.unit)}"

    def new_address(self, account) -> str:
        org, uid = self.load.target, self.load.new_uid(account)
        unit = mergeload.UNITS[account.unit]
        return f"{uid}@{org.mail_domain if account.mailbox else org.domain_of(unit)}"

    def send(self, account, moment: str) -> None:
        address = self.old_address(account)
        subject = f"{moment} {len(self.sent.get(address, []))} {account.uid}"
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "vanphong@ubnd.lamdong.gov.vn", address, subject
        message.set_content("Thư gửi địa chỉ cũ trong khi sáp nhập.")
        with smtplib.SMTP(self.mail.host, self.mail.smtp_port, timeout=10) as smtp:
            smtp.send_message(message)  # refused at RCPT: SMTPRecipientsRefused
        self.sent.setdefault(address, []).append((subject, moment))


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    reason = mail_servers_missing()
    if reason:
        pytest.skip(reason)
    from hopthu.mail.server import LocalMail, orgs_for_directory

    tmp = Path(tempfile.mkdtemp(prefix="hopthu-merge-mail-"))
    tmp.chmod(0o711)  # Dovecot's mail user must pass through to the mailboxes
    load = mergeload.build(tmp, 800, two_servers=True)
    mail = None
    try:
        mergeload.assign(load)
        orgs = [
            mail_org
            for server in load.servers
            for mail_org in orgs_for_directory(server, _orgs(load, server))
        ]
        mail = LocalMail.start(tmp / "mail", orgs, ldap_uri=load.servers[0].uri)
        state = tmp / "state"
        state.mkdir()
        yield World(load, mail, state)
    finally:
        if mail is not None:
            mail.stop()
        for server in load.servers:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _orgs(load, server):
    return [org for org in (load.source, load.target) if org.code in server.base_dns]


def watched(load) -> list:
    """A renamed person, a locked one, a unit mailbox, the first and the last to move."""
    persons = sorted((a for a in load.accounts if not a.mailbox), key=lambda a: a.uid)
    renamed = next(a for a in persons if a.uid in load.renames and not a.locked)
    locked = next(a for a in persons if a.locked and a.uid not in load.renames)
    box = next(a for a in load.accounts if a.mailbox)
    return [renamed, locked, box, persons[0], persons[-1]]


def test_mail_to_the_old_addresses_arrives_before_during_a_killed_apply_and_after(world):
    load, accounts = world.load, watched(world.load)
    for account in accounts:
        world.send(account, "before")
    command = load.apply_command(world.state)
    process = subprocess.Popen(command, cwd=load.repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # while it runs: until the removals out of Bình Thuận start, then it is killed there
    assert kill_when_sending(world, accounts, process), "the apply ended before it could be killed"
    during = sum(moment == "during" for sent in world.sent.values() for _, moment in sent)
    assert during >= len(accounts)  # at least one round while both organisations held accounts
    # killed half-way: some accounts are in both organisations, some only in Lâm Đồng
    source = world.load.connect(load.source.code)
    assert source.search(load.source.base_dn, "(uid=*)", attributes=["1.1"])
    left = sum(",ou=people," in e.entry_dn or ",ou=mailboxes," in e.entry_dn for e in source.entries)
    source.unbind()
    assert 0 < left < len(load.accounts)
    for account in accounts:
        world.send(account, "killed")
    rerun = subprocess.run(command, cwd=load.repo, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    for account in accounts:
        world.send(account, "after")

    for account in accounts:
        wanted = [subject for subject, _ in world.sent[world.old_address(account)]]
        home = world.mail.home(load.source.code, account.uid)  # the folder it always had
        assert len(wait_for_files(world.mail, load.source.code, account.uid, len(wanted), timeout=30)) == len(
            wanted
        ), home
        if account.locked:
            continue  # no login for a locked account (khóa); its mail is kept, as Lâm Đồng decides
        found = wait_subjects(world, world.new_address(account), account.password, wanted)
        assert sorted(found) == sorted(wanted), world.new_address(account)
    assert not list(world.mail.home(load.target.code, load.new_uid(accounts[0])).parent.glob("*/Maildir"))


def kill_when_sending(world, accounts, process) -> bool:
    """Send a round of messages to the old addresses again and again while the apply runs, from its
    first add in Lâm Đồng on; SIGKILL it as soon as the first account has left Bình Thuận. True when it
    was killed (not ended) then."""
    ready = phases(world)
    conns = {code: world.load.connect(code) for code in (world.load.source.code, world.load.target.code)}
    try:
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline and not ready["merge-out"](conns):
            if ready["merge-in"](conns):
                for account in accounts:
                    world.send(account, "during")
            time.sleep(0.05)
    finally:
        for conn in conns.values():
            conn.unbind()
    process.send_signal(signal.SIGKILL)
    return process.wait() == -signal.SIGKILL


def wait_subjects(world, address: str, password: str, wanted: list[str], timeout: float = 30.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        found = subjects(world.mail, address, password)
        if set(wanted) <= set(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)
