"""End to end with real servers: the shipped example requests applied by `hopthu apply` to a real slapd,
mail through a real Postfix into a real Dovecot, read over IMAP, result notices sent by `hopthu notify`.

The tests of this module share one world, in file order: the delete test runs last because it removes
the account the lock test looks at.
"""

from __future__ import annotations

import base64
import dataclasses
import email
import imaplib
import io
import json
import os
import shutil
import smtplib
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from pypdf import PdfReader

from hopthu.audit import AuditLog
from hopthu.inventory import load_inventory
from hopthu.notices.records import RecordsStore
from hopthu.passwords import Outbox
from hopthu.signing.verify import check_signatures, load_trust_roots
from mailfixtures import mail_servers_missing
from testca import TestCA
from workspace import ROOT, copy_of_repo

pytestmark = [pytest.mark.mail, pytest.mark.slapd]
HOPTHU = str(Path(sys.executable).with_name("hopthu"))
CREATE = "2025-03-03-bdt-cap-moi"
SIGNER_ORG = "Sở Thông tin và Truyền thông tỉnh Bình Thuận"
P12_PASSPHRASE = "e2e-p12-secret-9c41"


@dataclass
class World:
    workdir: Path
    repo: Path
    directory: object
    mail: object
    env: dict[str, str]
    passwords: dict[str, dict[str, str]]  # request id -> uid -> one-time password, as applied
    own: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)  # the owners' choices

    def first_login(self, address: str, one_time: str) -> str:
        """The owner's own password after the first-login change of ``one_time`` (done once, as the
        password page does it: the person's password-modify with the old password); IMAP refuses a
        one-time password."""
        if (address, one_time) not in self.own:
            from hopthu.directory.selfservice import bind_person
            from hopthu.web.rules import resolve_login

            account = resolve_login(address, load_inventory(self.repo / "inventory").organisations)
            new = "Rieng-" + one_time[::-1]
            for candidate in account.dns:
                session, _ = bind_person(self.directory.uri, candidate, one_time)
                if session is not None:
                    with session:
                        assert session.change_password(one_time, new).ok
                    break
            else:
                raise AssertionError(f"{address} cannot bind with its one-time password")
            self.own[address, one_time] = new
        return self.own[address, one_time]

    def run(self, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([HOPTHU, *args], cwd=self.repo, env=self.env, capture_output=True, text=True)
        assert result.returncode == 0, f"hopthu {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result

    def imap(self, address: str, password: str) -> imaplib.IMAP4 | None:
        imap = imaplib.IMAP4(self.mail.host, self.mail.imap_port)
        try:
            imap.login(address, password)
        except imaplib.IMAP4.error:
            imap.logout()
            return None
        return imap

    def inbox(self, address: str, password: str, until: str | None = None) -> list[EmailMessage]:
        deadline = time.monotonic() + 15
        while True:
            imap = self.imap(address, password)
            assert imap is not None, f"{address} cannot log in"
            imap.select("INBOX", readonly=True)
            _, numbers = imap.search(None, "ALL")
            messages = []
            for number in numbers[0].split():
                _, data = imap.fetch(number, "(RFC822)")
                messages.append(email.message_from_bytes(data[0][1], policy=policy.default))
            imap.logout()
            if (
                until is None
                or any(until in str(m["Subject"]) for m in messages)
                or time.monotonic() > deadline
            ):
                return messages
            time.sleep(0.2)

    def send(self, to: str, subject: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "vanphong@binhthuan.gov.vn", to, subject
        message.set_content("Thư thử nghiệm.")
        with smtplib.SMTP(self.mail.host, self.mail.smtp_port) as smtp:
            smtp.send_message(message)


@pytest.fixture(scope="module")
def world():
    reason = mail_servers_missing()
    if reason:
        pytest.skip(reason)
    from hopthu.directory.server import LocalDirectory
    from hopthu.mail.server import LocalMail, orgs_for_directory

    workdir = Path(tempfile.mkdtemp(prefix="hopthu-e2e-"))
    workdir.chmod(0o711)  # Dovecot's mail user must pass through to the mailboxes
    repo = workdir / "repo"
    copy_of_repo(repo, "inventory", "requests", "schemas")
    # Bình Thuận keeps locked accounts 0 days here, so the shipped delete example can be applied, and
    # archives into the test's folder.
    inventory_file = repo / "inventory/group_vars/all/hopthu.yml"
    text = inventory_file.read_text().replace("retention_days: 90", "retention_days: 0", 1)
    text = text.replace("/srv/mail-archive", str(workdir / "archive"))
    inventory_file.write_text(text)
    organisations = load_inventory(repo / "inventory").organisations.values()

    directory = LocalDirectory.start(workdir / "ldap", organisations, fresh=True)
    directory.set_nosync(True)
    mail = LocalMail.start(
        workdir / "mail", orgs_for_directory(directory, organisations), ldap_uri=directory.uri
    )
    # Bình Thuận signs its notices with a certificate of a throw-away CA; the others send them unsigned.
    ca = TestCA.make(workdir / "pki")
    p12 = ca.pkcs12(ca.issue(SIGNER_ORG, SIGNER_ORG), workdir / "pki" / "binhthuan.p12", P12_PASSPHRASE)
    (workdir / "signing.json").write_text(json.dumps({"organisations": {"binhthuan": {"pkcs12": str(p12)}}}))
    env = {
        **os.environ,
        "HOPTHU_DIRECTORY": str(directory.workdir / "directory.json"),
        "HOPTHU_AUDIT_LOG": str(workdir / "audit.jsonl"),
        "HOPTHU_OUTBOX": str(workdir / "outbox"),
        "HOPTHU_NOTICE_SENDER": "hopthu@stttt.binhthuan.gov.vn",
        "HOPTHU_SIGNING": str(workdir / "signing.json"),
        "HOPTHU_SIGNING_PASSPHRASE_BINHTHUAN": P12_PASSPHRASE,
    }
    world = World(workdir, repo, directory, mail, env, {})
    try:
        everything_but_delete = [
            str(p) for p in sorted((repo / "requests").rglob("*.yaml")) if "-xoa" not in p.name
        ]
        world.run("apply", "--quiet", *everything_but_delete)
        box = Outbox(workdir / "outbox")
        world.passwords = {rid: dict(box.credentials(rid).passwords) for rid in box.pending()}
        yield world
    finally:
        mail.stop()
        directory.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_a_created_person_reads_mail_sent_to_the_new_address_once_the_one_time_password_is_changed(world):
    world.send("minhnv@bdt.binhthuan.gov.vn", "Chào mừng đồng chí")
    messages = world.inbox(
        "minhnv@bdt.binhthuan.gov.vn",
        world.first_login("minhnv@bdt.binhthuan.gov.vn", world.passwords[CREATE]["minhnv"]),
        until="Chào mừng",
    )
    assert [str(m["Subject"]) for m in messages] == ["Chào mừng đồng chí"]


def test_a_locked_account_cannot_log_in_and_its_mail_is_kept_as_the_org_decides(world):
    # thodn was locked (khóa) by 2025-03-17-bdt-khoa; Bình Thuận's locked_mail is "accept".
    address = "thodn@bdt.binhthuan.gov.vn"
    assert world.imap(address, world.passwords[CREATE]["thodn"]) is None
    world.send(address, "Thư gửi người đã chuyển công tác")
    home = world.mail.home("binhthuan", "thodn")
    deadline = time.monotonic() + 10
    while not list(home.glob("Maildir/new/*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(list(home.glob("Maildir/new/*"))) == 1


def test_after_a_reset_the_new_password_works_and_the_old_one_does_not(world):
    old = world.passwords["2025-03-04-cit-cap-moi"]["thviet"]
    new = world.passwords["2025-03-12-cit-cap-lai-mat-khau"]["thviet"]
    assert old != new
    assert world.imap("thviet@ctu.edu.vn", old) is None
    assert world.imap("thviet@ctu.edu.vn", new) is None  # a one-time password: change it first
    session = world.imap("thviet@ctu.edu.vn", world.first_login("thviet@ctu.edu.vn", new))
    assert session is not None
    session.logout()


def test_a_handed_over_unit_mailbox_gets_a_new_password(world):
    old = world.passwords["2025-03-05-snv-hop-thu-don-vi"]["ccvtlt"]
    new = world.passwords["2025-03-25-snv-ban-giao"]["ccvtlt"]
    assert world.imap("ccvtlt@danang.gov.vn", old) is None
    assert world.imap("ccvtlt@danang.gov.vn", new) is None  # a one-time password: change it first
    session = world.imap("ccvtlt@danang.gov.vn", world.first_login("ccvtlt@danang.gov.vn", new))
    assert session is not None
    session.logout()


def test_the_demo_s_merger_step_binds_the_moved_person_and_delivers_to_its_old_addresses(world, capsys):
    """make demo's proof of the shipped merger (scripts/demo_check.py), on the same requests: before the
    person changes the one-time password, which it kept through the merger."""
    import importlib.util

    from hopthu.endpoints import load_endpoints

    spec = importlib.util.spec_from_file_location("demo_check", ROOT / "scripts/demo_check.py")
    demo_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo_check)
    request_id, uid, new_uid, _ = demo_check.MERGED
    one_time = world.passwords[request_id][uid]
    assert (f"{new_uid}@snv.lamdong.gov.vn", one_time) not in world.own  # still the one-time password
    endpoints = load_endpoints(world.directory.workdir / "directory.json")
    mail = json.loads((world.mail.workdir / "mail.json").read_text())
    demo_check.merged_person(endpoints, mail, world.mail.mail_root, one_time)
    shown = capsys.readouterr().out
    assert shown.count("[ok]") == 3 and "[FAILED]" not in shown, shown


def test_mail_to_the_old_addresses_of_a_transferred_then_merged_person_reaches_the_same_mailbox(world):
    """anvtt moved from bdt to snv (2025-03-10-bdt-chuyen-cong-tac), then Bình Thuận's snv merged into Lâm
    Đồng's (2025-06-30-sap-nhap-snv-binhthuan), where anvtt was taken: anvtt2@snv.lamdong.gov.vn. Both old
    addresses keep delivering to the same mailbox, read with the password the account always had."""
    subjects = {
        "anvtt@bdt.binhthuan.gov.vn": "Thư gửi địa chỉ trước khi chuyển công tác",
        "anvtt@snv.binhthuan.gov.vn": "Thư gửi địa chỉ trước khi sáp nhập",
        "anvtt2@snv.lamdong.gov.vn": "Thư gửi địa chỉ mới",
    }
    for address, subject in subjects.items():
        world.send(address, subject)
    password = world.passwords[CREATE]["anvtt"]
    assert world.imap("anvtt@snv.binhthuan.gov.vn", password) is None  # the login is the new address
    deadline = time.monotonic() + 15
    while True:
        own = world.first_login("anvtt2@snv.lamdong.gov.vn", password)
        found = {str(m["Subject"]) for m in world.inbox("anvtt2@snv.lamdong.gov.vn", own)}
        if set(subjects.values()) <= found or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert set(subjects.values()) <= found
    # in the mailbox it always had: nothing of the mail moved
    assert len(list(world.mail.home("binhthuan", "anvtt").glob("Maildir/*/*"))) >= 3


def ldapsearch(world, org: str, search_filter: str, *attributes: str) -> dict[str, list[str]]:
    """One entry's attributes as the OpenLDAP client prints them (base64 values decoded)."""
    done = subprocess.run(
        [
            "ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", world.directory.uri,
            "-D", world.directory.bind_dn(org), "-y", str(world.directory.password_file(org)),
            "-b", world.directory.base_dn(org), search_filter, *attributes,
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found: dict[str, list[str]] = {}
    for line in done.stdout.splitlines()[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        if value.startswith(":"):
            value = base64.b64decode(value[1:].strip()).decode("utf-8")
        found.setdefault(name, []).append(value.strip())
    return found


def test_a_handover_replaces_every_field_of_the_manager(world):
    """The old manager had an e-mail and a position; the new one (2025-03-25-snv-ban-giao) has a position
    but no e-mail: nothing of the old manager is left."""
    fields = ("hopthuManagerName", "hopthuManagerPhone", "hopthuManagerMail", "hopthuManagerTitle")
    entry = ldapsearch(world, "danang", "(uid=ccvtlt)", *fields)
    assert entry == {
        "hopthuManagerName": ["Trịnh Văn Khoa"],
        "hopthuManagerPhone": ["0905 771 308"],
        "hopthuManagerTitle": ["Phó Chánh Văn phòng Chi cục"],
    }


def test_the_unit_reads_the_result_notice_of_its_3_person_create_and_the_pdf_opens(world):
    smtp = ["--smtp-host", world.mail.host, "--smtp-port", str(world.mail.smtp_port)]
    world.run("notify", *smtp)
    unit_password = world.passwords["2025-03-01-bdt-hop-thu-don-vi"]["bdt"]
    messages = world.inbox(
        "bdt@binhthuan.gov.vn",
        world.first_login("bdt@binhthuan.gov.vn", unit_password),
        until="cấp mới hộp thư",
    )
    (notice,) = [m for m in messages if "45/BDT-VP" in m.get_body(("plain",)).get_content()]
    text = notice.get_body(("plain",)).get_content()
    for expected in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "THÔNG BÁO",
        "Kính gửi",
        "Ban Dân tộc tỉnh Bình Thuận",
        "45/BDT-VP",
        "Nơi nhận",
        "Nguyễn Thanh Sơn",  # the organisation's signer, from the inventory
    ):
        assert expected in text, expected
    people = {"Nguyễn Văn Minh": "minhnv", "Võ Thị Thu An": "anvtt", "Đàng Năng Thọ": "thodn"}
    for name, uid in people.items():
        assert name in text
        assert world.passwords[CREATE][uid] in text  # the one-time password, in the notice only
    (attachment,) = list(notice.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    pages = PdfReader(io.BytesIO(attachment.get_content())).pages
    pdf = "".join("".join(page.extract_text() for page in pages).split())  # the PDF wraps lines anywhere
    for name, uid in people.items():
        assert "".join(name.split()) in pdf
        assert f"{uid}@bdt.binhthuan.gov.vn" in pdf
        assert world.passwords[CREATE][uid] not in pdf  # the signed, filed document holds no password
    # signed with Bình Thuận's certificate, and kept exactly as it arrived, its hash in the audit log
    received = attachment.get_content()
    (signature,) = check_signatures(received, load_trust_roots(world.workdir / "pki" / "root.pem"))
    assert signature.signer_name == SIGNER_ORG and signature.intact and signature.whole and signature.trusted
    (record,) = RecordsStore(world.workdir / "records").find(CREATE)
    assert RecordsStore(world.workdir / "records").pdf(record) == received
    assert record.message_id == notice["Message-ID"] and record.recipient == "bdt@binhthuan.gov.vn"
    shown = world.run("notices", "show", CREATE)
    assert record.number in shown.stdout and "the kept PDF is the one sent" in shown.stderr
    for secret in [P12_PASSPHRASE, *world.passwords[CREATE].values()]:
        assert secret not in (world.workdir / "audit.jsonl").read_text()
        assert all(
            secret.encode() not in path.read_bytes() for path in (world.workdir / "records").rglob("*.*")
        )
    # delivered: the passwords are gone from the outbox, and a handover notice reached its unit too
    assert CREATE not in Outbox(world.workdir / "outbox").pending()
    snv = world.inbox(
        "snv@danang.gov.vn",
        world.first_login("snv@danang.gov.vn", world.passwords["2025-03-01-snv-hop-thu-co-quan"]["snv"]),
    )
    handover = [m for m in snv if "905/SNV-VP" in m.get_body(("plain",)).get_content()]
    assert handover and "Trịnh Văn Khoa" in handover[0].get_body(("plain",)).get_content()
    # the application accounts (tài khoản phần mềm) given with the mailboxes are listed
    assert "Tài khoản phần mềm được cấp: Hệ thống quản lý văn bản và điều hành" in text
    # the transfer's notice: old → new address, and the new unit among the recipients, which gets it too
    (transfer,) = [m for m in messages if m["X-Hopthu-Request"] == "2025-03-10-bdt-chuyen-cong-tac"]
    body = transfer.get_body(("plain",)).get_content()
    assert "anvtt@snv.binhthuan.gov.vn" in body
    assert "Địa chỉ cũ (vẫn nhận thư): anvtt@bdt.binhthuan.gov.vn" in body
    assert "địa chỉ thư điện tử không thay đổi" not in " ".join(body.split())
    recipients = body.split("Nơi nhận:")[1]
    assert "- Sở Nội vụ tỉnh Bình Thuận;" in recipients
    # Bình Thuận's snv mailbox moved to Lâm Đồng as snv2 (snv was taken there): its old address, where the
    # copy went, still delivers to it, and it opens with its password under the new address
    box_password = world.passwords["2025-03-01-snv-hop-thu-don-vi"]["snv"]
    copy_box = world.inbox(
        "snv2@lamdong.gov.vn", world.first_login("snv2@lamdong.gov.vn", box_password), until="sáp nhập"
    )
    assert any(m["X-Hopthu-Request"] == "2025-03-10-bdt-chuyen-cong-tac" for m in copy_box)
    # the merger's notice to the unit: each of its people, old → new address, from when
    (merged,) = [m for m in copy_box if m["X-Hopthu-Request"] == "2025-06-30-sap-nhap-snv-binhthuan"]
    notice = merged.get_body(("plain",)).get_content()
    assert "Kính gửi: Sở Nội vụ tỉnh Bình Thuận" in notice
    assert "1507/QĐ-UBND" in notice and "chuyển sang Hệ thống thư điện tử công vụ tỉnh Lâm Đồng" in notice
    assert "Địa chỉ thư điện tử: anvtt2@snv.lamdong.gov.vn" in notice
    assert "Địa chỉ cũ (vẫn nhận thư): anvtt@snv.binhthuan.gov.vn" in notice
    assert "Địa chỉ thư điện tử: snv2@lamdong.gov.vn" in notice
    assert "- Sở Nội vụ tỉnh Lâm Đồng;" in notice.split("Nơi nhận:")[1]
    lamdong_password = world.passwords["2025-03-05-snv-cap-moi"]["snv"]
    lamdong_box = world.inbox("snv@lamdong.gov.vn", world.first_login("snv@lamdong.gov.vn", lamdong_password))
    assert any(m["X-Hopthu-Request"] == "2025-06-30-sap-nhap-snv-binhthuan" for m in lamdong_box)


def test_delete_archives_the_mailbox_verifies_it_then_removes_it(world):
    home = world.mail.home("binhthuan", "thodn")
    world.send("thodn@bdt.binhthuan.gov.vn", "Thư cuối cùng")
    deadline = time.monotonic() + 10
    while len(list(home.glob("Maildir/new/*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    kept = len(list(home.glob("Maildir/new/*")))
    assert kept >= 1

    world.run("apply", "--quiet")  # now the delete example: retention (0 days here) has passed
    conn = world.directory.connect("binhthuan")
    conn.search("dc=binhthuan,dc=gov,dc=vn", "(uid=thodn)")
    assert conn.entries == []
    conn.unbind()

    retire = ("mailbox", "retire", "--mail-root", str(world.mail.mail_root))
    dry = world.run(*retire, "--dry-run").stdout
    assert f"binhthuan/thodn: would archive {kept} message(s), then remove the mailbox" in dry
    assert home.exists() and not (world.workdir / "archive").exists()

    out = world.run(*retire).stdout
    assert f"binhthuan/thodn: {kept} message(s) archived in" in out and "mailbox removed" in out
    assert not home.exists()
    (archive,) = (world.workdir / "archive" / "binhthuan").glob("thodn-*.tar.gz")
    with tarfile.open(archive) as tar:
        messages = [m for m in tar.getmembers() if "/new/" in m.name or "/cur/" in m.name]
    assert len(messages) == kept
    records = [r for r in AuditLog(world.workdir / "audit.jsonl").records() if r["op"] == "archive-mailbox"]
    assert [(r["uid"], r["result"]) for r in records] == [("thodn", "ok")]
    assert "no mailbox to retire" in world.run(*retire).stdout
