"""Real mail servers: Postfix takes the message, Dovecot delivers it and serves it over IMAP, both
reading the accounts from slapd as apply leaves them. One Dovecot + Postfix + slapd per module."""

from __future__ import annotations

import imaplib
import smtplib
import stat
import tarfile

import ldap3
import pytest

from hopthu.directory import dn
from hopthu.mail import MailError
from hopthu.mail.config import MailOrg
from hopthu.mail.mailstore import archive_mailbox, remove_mailbox
from hopthu.mail.server import LocalMail
from mailfixtures import (
    LOCKED,
    MAIL_ORGS,
    SERVICE_PASSWORD,
    add_account,
    can_log_in,
    change_own_password,
    login_refusal,
    mail_servers_missing,
    modify,
    send,
    subjects,
    wait_for,
    wait_for_files,
)

pytestmark = [pytest.mark.mail, pytest.mark.slapd]


def test_a_one_time_password_does_not_open_the_mailbox_but_mail_arrives_and_the_refusal_names_the_page(
    local_mail, mail_directory
):
    address = add_account(
        mail_directory,
        "bt",
        "minhnv",
        password="Mot-lan-8426xyz",
        domain="bdt.binhthuan.gov.vn",
        one_time=True,
    )
    send(local_mail, address, "Chào mừng")

    # Delivery goes on (the userdb does not look at pwdReset); the mailbox sits under the uid.
    assert len(wait_for_files(local_mail, "bt", "minhnv", 1)) == 1
    refusal = login_refusal(local_mail, address, "Mot-lan-8426xyz")
    assert refusal is not None and "https://matkhau.binhthuan.gov.vn/" in refusal, refusal
    assert "Mat khau lan dau chua duoc doi" in refusal  # Vietnamese, 7-bit as IMAP wants it
    # A wrong password learns nothing of the page: the usual failure.
    wrong = login_refusal(local_mail, address, "Sai-mat-khau-1x")
    assert wrong is not None and "matkhau" not in wrong

    change_own_password(mail_directory, "bt", "minhnv", "Mot-lan-8426xyz", "Rieng-tu-24680y")
    assert "Chào mừng" in wait_for(local_mail, address, "Rieng-tu-24680y", "Chào mừng")
    # The address as people type it.
    assert can_log_in(local_mail, "MinhNV@BDT.binhthuan.gov.vn", "Rieng-tu-24680y")


def test_the_owner_changes_the_one_time_password_and_only_the_new_one_opens_the_mailbox(
    local_mail, mail_directory
):
    address = add_account(mail_directory, "bt", "lanptt", password="Mot-lan-1357abc", one_time=True)
    person = dn.person_dn(MAIL_ORGS["bt"].base_dn, "lanptt")
    user = ldap3.Connection(ldap3.Server(mail_directory.uri), person, "Mot-lan-1357abc")
    assert user.bind()
    # The directory wants the current password with the change (pwdSafeModify): none, no change.
    assert not user.extend.standard.modify_password(person, None, "Rieng-tu-97531x")
    assert user.extend.standard.modify_password(person, "Mot-lan-1357abc", "Rieng-tu-97531x"), user.result
    user.unbind()

    assert can_log_in(local_mail, address, "Rieng-tu-97531x")
    assert not can_log_in(local_mail, address, "Mot-lan-1357abc")


def test_after_a_password_reset_the_new_password_works_and_the_old_one_does_not(local_mail, mail_directory):
    address = add_account(mail_directory, "bt", "hungld", password="Cu-mat-khau-246x")
    assert can_log_in(local_mail, address, "Cu-mat-khau-246x")

    modify(mail_directory, "bt", "hungld", {"userPassword": [(ldap3.MODIFY_REPLACE, ["Moi-mat-khau-864y"])]})

    # A reset gives a one-time password (pwdReset): it opens the mailbox once it is changed.
    assert not can_log_in(local_mail, address, "Cu-mat-khau-246x")
    assert "matkhau.binhthuan.gov.vn" in (login_refusal(local_mail, address, "Moi-mat-khau-864y") or "")
    change_own_password(mail_directory, "bt", "hungld", "Moi-mat-khau-864y", "Cua-rieng-toi-135z")
    assert can_log_in(local_mail, address, "Cua-rieng-toi-135z")
    assert not can_log_in(local_mail, address, "Moi-mat-khau-864y")


def test_the_same_username_in_two_organisations_gets_two_separate_mailboxes(local_mail, mail_directory):
    in_bt = add_account(mail_directory, "bt", "anvtt", password="Binh-thuan-1111a")
    in_gl = add_account(mail_directory, "gl", "anvtt", password="Gia-lai-2222b")
    send(local_mail, in_bt, "Gửi Bình Thuận")
    send(local_mail, in_gl, "Gửi Gia Lai")

    assert wait_for(local_mail, in_gl, "Gia-lai-2222b", "Gửi Gia Lai") == ["Gửi Gia Lai"]
    assert wait_for(local_mail, in_bt, "Binh-thuan-1111a", "Gửi Bình Thuận") == ["Gửi Bình Thuận"]
    assert not can_log_in(local_mail, in_gl, "Binh-thuan-1111a")
    assert local_mail.home("bt", "anvtt") != local_mail.home("gl", "anvtt")


def test_a_locked_account_cannot_log_in_but_keeps_its_mail_when_the_org_accepts(local_mail, mail_directory):
    assert MAIL_ORGS["bt"].locked_mail == "accept"
    address = add_account(mail_directory, "bt", "thuyvt", password="Dang-khoa-3579z")
    modify(mail_directory, "bt", "thuyvt", {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, [LOCKED])]})

    assert not can_log_in(local_mail, address, "Dang-khoa-3579z")
    send(local_mail, address, "Gửi khi đang khóa")
    assert len(wait_for_files(local_mail, "bt", "thuyvt", 1)) == 1

    modify(mail_directory, "bt", "thuyvt", {"pwdAccountLockedTime": [(ldap3.MODIFY_DELETE, [])]})
    assert subjects(local_mail, address, "Dang-khoa-3579z") == ["Gửi khi đang khóa"]


def test_mail_to_a_locked_account_is_refused_when_the_org_rejects(local_mail, mail_directory):
    assert MAIL_ORGS["gl"].locked_mail == "reject"
    address = add_account(mail_directory, "gl", "tuannm", password="Bi-khoa-8642q")
    modify(mail_directory, "gl", "tuannm", {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, [LOCKED])]})

    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(local_mail, address, "Không tới")
    assert refused.value.recipients[address][0] == 550
    assert not can_log_in(local_mail, address, "Bi-khoa-8642q")

    modify(mail_directory, "gl", "tuannm", {"pwdAccountLockedTime": [(ldap3.MODIFY_DELETE, [])]})
    send(local_mail, address, "Đã mở khóa")
    assert wait_for(local_mail, address, "Bi-khoa-8642q", "Đã mở khóa") == ["Đã mở khóa"]


def test_failed_logins_by_someone_else_do_not_make_mail_bounce(local_mail, mail_directory):
    # ppolicy locks an account for a while after 5 wrong passwords; anyone can cause that, so only
    # hopthu's own lock may refuse mail.
    address = add_account(mail_directory, "gl", "baotq", password="Dung-mat-khau-1a")
    person = dn.person_dn(MAIL_ORGS["gl"].base_dn, "baotq")
    for _ in range(6):
        assert not ldap3.Connection(ldap3.Server(mail_directory.uri), person, "doan-mo").bind()
    conn = mail_directory.connect("gl")
    conn.search(person, "(pwdAccountLockedTime=*)", ldap3.BASE, attributes=["pwdAccountLockedTime"])
    assert conn.entries, "ppolicy did not lock the account after failed binds"
    conn.unbind()

    send(local_mail, address, "Vẫn nhận thư")
    assert len(wait_for_files(local_mail, "gl", "baotq", 1)) == 1


def test_a_unit_mailbox_receives_and_serves_mail(local_mail, mail_directory):
    address = add_account(
        mail_directory,
        "bt",
        "bdt",
        password="Hop-thu-co-quan-5a",
        unit_mailbox=True,
        hopthuManagerName="Nguyễn Văn Minh",
        hopthuManagerPhone="0912345678",
    )
    send(local_mail, address, "Công văn đến")
    assert wait_for(local_mail, address, "Hop-thu-co-quan-5a", "Công văn đến") == ["Công văn đến"]


def test_the_mail_quota_comes_from_the_directory(local_mail, mail_directory):
    with_quota = add_account(
        mail_directory, "bt", "quota5m", password="Han-muc-5mb-xyz", hopthuMailQuota="5242880"
    )
    default = add_account(mail_directory, "bt", "quotadef", password="Han-muc-mac-dinh")

    def limit_kib(address: str, password: str) -> str:
        imap = imaplib.IMAP4(local_mail.host, local_mail.imap_port)
        try:
            imap.login(address, password)
            _, data = imap.getquotaroot("INBOX")
        finally:
            imap.logout()
        return data[1][0].decode().split()[-1].rstrip(")")

    assert limit_kib(with_quota, "Han-muc-5mb-xyz") == "5120"
    assert limit_kib(default, "Han-muc-mac-dinh") == str(MAIL_ORGS["bt"].mailbox_quota_mb * 1024)


def test_unknown_addresses_and_other_domains_are_refused(local_mail, mail_directory):
    for address in ("khongco@gialai.gov.vn", "ai-do@example.com"):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            send(local_mail, address, "Thử")
        assert refused.value.recipients[address][0] == 550
    assert not can_log_in(local_mail, "minhnv@example.com", "Mot-lan-8426xyz")
    assert not can_log_in(local_mail, "minhnv", "Mot-lan-8426xyz")


def test_an_extra_address_delivers_into_the_account(local_mail, mail_directory):
    # After a transfer the old address can stay as mailLocalAddress (misc schema) and keep delivering.
    address = add_account(
        mail_directory,
        "bt",
        "chuyencv",
        password="Chuyen-cong-tac-7",
        domain="bdt.binhthuan.gov.vn",
        objectClass=["inetOrgPerson", "hopthuAccount", "inetLocalMailRecipient"],
        mailLocalAddress="chuyencv@binhthuan.gov.vn",
    )
    send(local_mail, "chuyencv@binhthuan.gov.vn", "Gửi địa chỉ cũ")
    assert wait_for(local_mail, address, "Chuyen-cong-tac-7", "Gửi địa chỉ cũ") == ["Gửi địa chỉ cũ"]


def test_bind_passwords_stay_in_private_files(local_mail, mail_directory):
    add_account(mail_directory, "bt", "logcheck", password="Nhat-ky-0000abc")
    send(local_mail, "logcheck@binhthuan.gov.vn", "Ghi nhật ký")
    wait_for(local_mail, "logcheck@binhthuan.gov.vn", "Nhat-ky-0000abc", "Ghi nhật ký")
    # Every secret of the directory: the mail-lookup ones the servers hold, and those they must never see.
    secrets = [SERVICE_PASSWORD] + [
        secret
        for org in MAIL_ORGS
        for secret in (
            mail_directory.bind_password(org),
            *(mail_directory.service_password(org, name) for name in dn.SERVICE_IDENTITIES),
        )
    ]
    for folder in (local_mail.setup.dovecot_dir, local_mail.setup.postfix_dir):
        text = "".join(p.read_text(encoding="utf-8") for p in folder.iterdir() if p.is_file())
        # They bind as the mail-lookup identities, and hold no rootdn or plan-reader secret.
        assert all(mail_directory.service_dn(org, dn.MAIL_LOOKUP) in text for org in MAIL_ORGS)
        assert "cn=admin," not in text
        assert not any(mail_directory.bind_password(org) in text for org in MAIL_ORGS)
        plan_reader = [mail_directory.service_password(org, dn.PLAN_READER) for org in MAIL_ORGS]
        assert not any(secret in text for secret in plan_reader)

    for folder in (local_mail.setup.dovecot_dir, local_mail.setup.postfix_dir):
        for path in folder.iterdir():
            if not path.is_file():
                continue
            text, mode = path.read_text(encoding="utf-8"), path.stat()
            if any(secret in text for secret in secrets) or "ldap" in path.name:
                assert stat.S_IMODE(mode.st_mode) == 0o600, path
                assert mode.st_uid == 0, path
    for log in (local_mail.dovecot_log, local_mail.postfix_log, local_mail.workdir / "console.log"):
        text = log.read_text(encoding="utf-8", errors="replace")
        assert not any(secret in text for secret in [*secrets, "Nhat-ky-0000abc"]), log


def test_a_deleted_account_s_mailbox_is_archived_verified_then_removed(local_mail, mail_directory, tmp_path):
    address = add_account(mail_directory, "bt", "nghihuu", password="Nghi-huu-2026ab")
    for subject in ("Thư 1", "Thư 2"):
        send(local_mail, address, subject)
    on_disk = sorted(path.read_bytes() for path in wait_for_files(local_mail, "bt", "nghihuu", 2))
    assert len(on_disk) == 2
    home = local_mail.home("bt", "nghihuu")

    archive = archive_mailbox(home, tmp_path / "archive", uid="nghihuu", org="bt")

    assert archive.messages == 2
    with tarfile.open(archive.path) as tar:
        messages = [m for m in tar if m.isreg() and m.name.split("/")[-2] in ("cur", "new")]
        assert sorted(tar.extractfile(m).read() for m in messages) == on_disk
    remove_mailbox(home, archive)
    assert not home.exists()
    assert archive.path.exists()


def test_a_work_dir_the_mail_user_cannot_enter_is_refused_before_anything_starts(tmp_path):
    if reason := mail_servers_missing():
        pytest.skip(reason)
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    password_file = tmp_path / "bind.password"
    password_file.write_text("unused\n")
    org = MailOrg.from_organisation(
        MAIL_ORGS["bt"], bind_dn="cn=admin,dc=binhthuan,dc=gov,dc=vn", bind_password_file=password_file
    )

    with pytest.raises(MailError, match=r"mail user dovecot cannot enter .*chmod o\+x"):
        LocalMail.start(closed / "mail", [org], ldap_uri="ldap://127.0.0.1:9")


def test_imap_refuses_the_one_time_password_until_it_is_changed_on_the_page_then_takes_the_new_one(
    local_mail, mail_directory, tmp_path
):
    from hopthu.web.client import PageClient
    from pagefixtures import served_page

    address = add_account(mail_directory, "bt", "hoapt", password="Mot-lan-7531qrs", one_time=True)
    assert "matkhau.binhthuan.gov.vn" in (login_refusal(local_mail, address, "Mot-lan-7531qrs") or "")
    send(local_mail, address, "Thư đến trước khi đổi mật khẩu")
    assert len(wait_for_files(local_mail, "bt", "hoapt", 1)) == 1  # delivery did not wait

    with served_page(mail_directory, {"bt": MAIL_ORGS["bt"]}, tmp_path) as page:
        answer = PageClient(page.url).change_password(address, "Mot-lan-7531qrs", "Cua-rieng-Hoa-8642")
    assert "Đã đổi mật khẩu" in answer.body, answer.body

    assert "Thư đến trước khi đổi mật khẩu" in subjects(local_mail, address, "Cua-rieng-Hoa-8642")
    assert not can_log_in(local_mail, address, "Mot-lan-7531qrs")


def test_the_demo_s_last_step_changes_a_one_time_password_on_the_page_and_reads_mail_with_the_new_one(
    local_mail, mail_directory, tmp_path, capsys
):
    import importlib.util

    from pagefixtures import served_page

    spec = importlib.util.spec_from_file_location("demo_check", "scripts/demo_check.py")
    demo_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo_check)
    address = add_account(mail_directory, "bt", "lannt", password="Mot-lan-2468tuv", one_time=True)
    send(local_mail, address, "Chào mừng đồng chí đến với hệ thống thư điện tử công vụ")
    assert len(wait_for_files(local_mail, "bt", "lannt", 1)) == 1

    with served_page(mail_directory, {"bt": MAIL_ORGS["bt"]}, tmp_path) as page:
        demo_check.wait_for_page(page.url)
        demo_check.first_login_through_the_page(
            page.url, local_mail.imap_port, address, "Mot-lan-2468tuv", demo_check.own_password()
        )

    shown = capsys.readouterr().out
    assert shown.count("[ok]") == 3 and "[FAILED]" not in shown, shown
