"""Mail follows the replicated directory: Dovecot and Postfix list every provider, so a lock written on
one provider refuses the IMAP login whichever provider the mail server asks, and mail keeps working while
a provider is down. Two real slapd providers, a real Dovecot and Postfix."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path

import ldap3
import pytest

from hopthu.mail.server import LocalMail, orgs_for_directory
from mailfixtures import LOCKED, MAIL_ORGS, add_account, can_log_in, modify, send

pytestmark = [pytest.mark.mail, pytest.mark.slapd]


@pytest.fixture(scope="module")
def providers(mail_workdir: Path) -> Iterator:
    from hopthu.directory.replicas import LocalProviders

    started = LocalProviders.start(mail_workdir / "ldap", MAIL_ORGS.values(), 2)
    started.set_nosync(True)
    yield started
    started.stop()


def mail_asking(workdir: Path, providers, name: str, uris: list[str]) -> LocalMail:
    orgs = orgs_for_directory(providers, MAIL_ORGS.values())
    return LocalMail.start(workdir / name, orgs, ldap_uri=uris)


def test_a_lock_written_on_one_provider_refuses_the_login_through_a_dovecot_that_asks_the_other(
    mail_workdir: Path, providers
) -> None:
    second = providers.uris[1]
    mail = mail_asking(mail_workdir, providers, "mail-second", [second])  # never asks the first
    try:
        dovecot = mail_workdir / "mail-second/dovecot/dovecot-ldap-bt.conf.ext"
        assert f"uris = {second}\n" in dovecot.read_text()
        address = add_account(providers, "bt", "thuyvt", password="Dang-khoa-3579z")  # on the first
        providers.wait_converged()
        assert can_log_in(mail, address, "Dang-khoa-3579z")

        modify(providers, "bt", "thuyvt", {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, [LOCKED])]})
        providers.wait_converged()
        assert not can_log_in(mail, address, "Dang-khoa-3579z")

        modify(providers, "bt", "thuyvt", {"pwdAccountLockedTime": [(ldap3.MODIFY_DELETE, [])]})
        providers.wait_converged()
        assert can_log_in(mail, address, "Dang-khoa-3579z")
    finally:
        mail.stop()


def test_with_the_first_provider_down_logins_locks_and_delivery_go_through_the_second(
    mail_workdir: Path, providers
) -> None:
    mail = mail_asking(mail_workdir, providers, "mail-both", providers.uris)
    first = providers.providers[0]
    listed = " ".join(providers.uris)
    both = mail_workdir / "mail-both"
    assert f"uris = {listed}\n" in (both / "dovecot/dovecot-ldap-gl.conf.ext").read_text()
    assert f"server_host = {listed}\n" in (both / "postfix/etc/ldap-gl-mailboxes.cf").read_text()
    try:
        open_one = add_account(providers, "gl", "hoanv", password="Van-mo-1357a")
        locked = add_account(providers, "gl", "tuannm", password="Bi-khoa-8642q")
        modify(providers, "gl", "tuannm", {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, [LOCKED])]})
        providers.wait_converged()
        first.stop()
        assert can_log_in(mail, open_one, "Van-mo-1357a")
        assert not can_log_in(mail, locked, "Bi-khoa-8642q")
        send(mail, open_one, "Khi máy chủ thứ nhất dừng")  # Postfix finds the mailbox on the second
        with pytest.raises(smtplib.SMTPRecipientsRefused):  # Gia Lai rejects mail to a locked account
            send(mail, locked, "Không tới")
    finally:
        mail.stop()
        if first.pid is None:
            first.relaunch()
