"""Delivering notices: ``send`` against a real SMTP server (aiosmtpd on 127.0.0.1), the notify flow with a
real credentials outbox, and the ``hopthu notify`` command."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from hopthu.audit import AuditLog
from hopthu.cli import main
from hopthu.model import AccountChange, Inventory, Kind, NewPerson, PasswordPolicy
from hopthu.notices import (
    DeliveryError,
    NoticeLedger,
    NoticeSettings,
    Outcome,
    SmtpSettings,
    deliver_pending,
    render,
    send,
)
from hopthu.passwords import Outbox
from hopthu.refusals import Refusal
from smtpfixtures import free_port
from test_notices import PASSWORDS, make_data, make_org, make_request
from workspace import copy_of_repo

REPO = Path(__file__).resolve().parents[1]
SENDER = "hopthu@stttt.cantho.gov.vn"
NOW = dt.datetime(2026, 2, 5, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=7)))


@pytest.fixture(scope="module")
def notice():
    return render(make_data())


# --- send() --------------------------------------------------------------------------------------


def test_send_delivers_text_html_and_pdf_to_the_recipient(smtp_server, notice):
    message_id = send(
        notice, smtp=SmtpSettings("127.0.0.1", smtp_server.port), sender=SENDER, recipient="bdt@cantho.gov.vn"
    )
    (received,) = smtp_server.received
    assert received.rcpt_tos == ["bdt@cantho.gov.vn"] and received.mail_from == SENDER
    message = received.message
    assert message["Message-ID"] == message_id
    assert message["Subject"] == notice.subject
    assert [part.get_content_type() for part in message.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "application/pdf",
    ]
    assert PASSWORDS[0] in received.text()


def test_send_uses_starttls_and_logs_in_with_the_password_from_the_environment(
    tls_smtp_server, notice, monkeypatch
):
    monkeypatch.setenv("HOPTHU_SMTP_PASSWORD", "s3cret-relay")
    smtp = SmtpSettings(
        "127.0.0.1", tls_smtp_server.port, starttls=True, username="notify", ca_file=tls_smtp_server.ca_file
    )
    send(notice, smtp=smtp, sender=SENDER, recipient="bdt@cantho.gov.vn")
    (received,) = tls_smtp_server.received
    assert received.tls and received.login == "notify"


def test_send_rejects_a_server_certificate_it_cannot_verify(tls_smtp_server, notice):
    smtp = SmtpSettings("127.0.0.1", tls_smtp_server.port, starttls=True)  # system CAs: self-signed fails
    with pytest.raises(DeliveryError, match=r"TLS with 127\.0\.0\.1"):
        send(notice, smtp=smtp, sender=SENDER, recipient="bdt@cantho.gov.vn")
    assert not tls_smtp_server.received


def test_wrong_smtp_password_is_reported_without_the_password(tls_smtp_server, notice, monkeypatch):
    monkeypatch.setenv("HOPTHU_SMTP_PASSWORD", "wrong-one")
    smtp = SmtpSettings(
        "127.0.0.1", tls_smtp_server.port, starttls=True, username="notify", ca_file=tls_smtp_server.ca_file
    )
    with pytest.raises(DeliveryError, match="535") as error:
        send(notice, smtp=smtp, sender=SENDER, recipient="bdt@cantho.gov.vn")
    assert "wrong-one" not in str(error.value)


def test_missing_smtp_password_variable_is_named(notice, monkeypatch, smtp_server):
    monkeypatch.delenv("HOPTHU_SMTP_PASSWORD", raising=False)
    smtp = SmtpSettings("127.0.0.1", smtp_server.port, username="notify")
    with pytest.raises(DeliveryError, match="HOPTHU_SMTP_PASSWORD"):
        send(notice, smtp=smtp, sender=SENDER, recipient="bdt@cantho.gov.vn")


def test_passwords_never_go_unencrypted_to_another_host(notice):
    # 192.0.2.0/24 is TEST-NET-1: the refusal comes before any connection is attempted.
    with pytest.raises(DeliveryError, match="without encryption"):
        send(
            notice,
            smtp=SmtpSettings("192.0.2.10", 25, timeout=0.5),
            sender=SENDER,
            recipient="bdt@cantho.gov.vn",
        )
    with pytest.raises(DeliveryError, match="without encryption"):
        send(
            notice, smtp=SmtpSettings("mail.cantho.gov.vn", 25), sender=SENDER, recipient="bdt@cantho.gov.vn"
        )


def test_starttls_demanded_but_not_offered_fails_closed(smtp_server, notice):
    with pytest.raises(DeliveryError, match="does not offer STARTTLS"):
        send(
            notice,
            smtp=SmtpSettings("127.0.0.1", smtp_server.port, starttls=True),
            sender=SENDER,
            recipient="bdt@cantho.gov.vn",
        )
    assert not smtp_server.received


def test_a_temporary_failure_is_a_delivery_error(smtp_server, notice):
    smtp_server.reply = "451 4.3.0 Mailbox temporarily unavailable"
    with pytest.raises(DeliveryError, match="451"):
        send(
            notice,
            smtp=SmtpSettings("127.0.0.1", smtp_server.port),
            sender=SENDER,
            recipient="bdt@cantho.gov.vn",
        )


def test_nobody_listening_is_a_delivery_error(notice):
    with pytest.raises(DeliveryError, match="cannot deliver"):
        send(
            notice, smtp=SmtpSettings("127.0.0.1", free_port()), sender=SENDER, recipient="bdt@cantho.gov.vn"
        )


# --- the notify flow -------------------------------------------------------------------------------

CREATE_ID = "2026-01-20-bdt-cap-moi"


def create_request():
    people = [
        ("Nguyễn Văn Minh", "minhnv", "Văn phòng Ban"),
        ("Võ Thị Thu Ân", "anvtt", "Phòng Chính sách dân tộc"),
        ("Trương Hoàng Tiến Minh", "tienminhth", "Phòng Chính sách dân tộc"),
    ]
    accounts = [
        NewPerson(name, f"00{i}", "Chuyên viên", department, "0292 000 000", ("email",), uid)
        for i, (name, uid, department) in enumerate(people)
    ]
    return make_request(Kind.CREATE, CREATE_ID, accounts)


@dataclass
class Flow:
    outbox: Outbox
    ledger_path: Path
    org: object
    requests: dict
    passwords: dict
    outcomes: dict = field(default_factory=dict)

    def run(self, smtp_port: int | None, *, dry_run_dir: Path | None = None, org=None):
        org = org or self.org
        return deliver_pending(
            outbox=self.outbox,
            ledger=NoticeLedger.load(self.ledger_path),
            inventory=Inventory({org.code: org}),
            requests=self.requests,
            outcomes=self.outcomes,
            settings=NoticeSettings(sender=SENDER, signer_title="GIÁM ĐỐC", signer_name="Trần Thị Hồng"),
            smtp=SmtpSettings("127.0.0.1", smtp_port) if smtp_port else None,
            dry_run_dir=dry_run_dir,
            now=NOW,
        )


@pytest.fixture
def flow(tmp_path):
    org = make_org()
    outbox = Outbox(tmp_path / "outbox")
    request = create_request()
    uids = [account.username for account in request.accounts]
    passwords = outbox.reserve(
        CREATE_ID, uids, PasswordPolicy(), org="cantho", unit="bdt", recipient=org.units["bdt"].mailbox
    )
    return Flow(outbox, tmp_path / "outbox.notices.json", org, {CREATE_ID: request}, passwords)


def test_notify_sends_the_passwords_once_then_deletes_the_credentials(flow, smtp_server):
    (result,) = flow.run(smtp_server.port)
    assert (result.status, result.recipient, result.number) == ("sent", "bdt@cantho.gov.vn", "01/TB-STTTT")
    (received,) = smtp_server.received
    body = received.text()
    for uid, password in flow.passwords.items():
        assert f"{uid}@cantho.gov.vn" in body and password in body
    assert flow.outbox.pending() == []
    assert NoticeLedger.load(flow.ledger_path).is_sent(CREATE_ID)
    for password in flow.passwords.values():
        assert password not in flow.ledger_path.read_text(encoding="utf-8")

    assert flow.run(smtp_server.port) == []  # nothing left: no second notice
    assert len(smtp_server.received) == 1


def test_a_failed_delivery_keeps_everything_and_the_retry_sends_the_same_number(flow, smtp_server):
    smtp_server.reply = "451 4.3.0 try again later"
    (failed,) = flow.run(smtp_server.port)
    assert failed.status == "failed" and "451" in failed.detail
    assert flow.outbox.pending() == [CREATE_ID]
    ledger = NoticeLedger.load(flow.ledger_path)
    assert not ledger.is_sent(CREATE_ID)
    assert ledger.entries[CREATE_ID].sequence == 1  # the number is kept before the attempt

    smtp_server.reply = None
    (sent,) = flow.run(smtp_server.port)
    assert sent.status == "sent" and sent.number == "01/TB-STTTT"
    assert "Số: 01/TB-STTTT" in smtp_server.received[0].text()
    assert flow.outbox.pending() == []


def test_passwords_are_not_sent_when_the_unit_mailbox_changed(flow, smtp_server):
    moved = make_org(mailbox="banDT.moi@cantho.gov.vn")
    (result,) = flow.run(smtp_server.port, org=moved)
    assert result.status == "failed"
    assert "bdt@cantho.gov.vn" in result.detail and "banDT.moi@cantho.gov.vn" in result.detail
    assert smtp_server.received == []
    assert flow.outbox.pending() == [CREATE_ID]


def test_passwords_for_accounts_the_request_does_not_list_are_not_dropped(flow, smtp_server):
    flow.outbox.reserve(CREATE_ID, ["stranger"], PasswordPolicy(), org="cantho", unit="bdt", recipient="x")
    (result,) = flow.run(smtp_server.port)
    assert result.status == "failed" and "stranger" in result.detail
    assert smtp_server.received == [] and flow.outbox.pending() == [CREATE_ID]


def test_a_request_file_that_is_gone_keeps_its_credentials_waiting(flow, smtp_server):
    flow.requests.clear()
    (result,) = flow.run(smtp_server.port)
    assert result.status == "failed" and "no request file" in result.detail
    assert flow.outbox.pending() == [CREATE_ID]


def test_a_crash_after_sending_does_not_send_twice(flow, smtp_server):
    flow.run(smtp_server.port)
    # the run stopped after recording the delivery but before deleting the file: put the file back
    flow.outbox.reserve(
        CREATE_ID, list(flow.passwords), PasswordPolicy(), org="cantho", unit="bdt", recipient="x"
    )
    (result,) = flow.run(smtp_server.port)
    assert result.status == "cleaned"
    assert len(smtp_server.received) == 1 and flow.outbox.pending() == []


def test_finished_requests_without_passwords_get_their_notice_too(flow, smtp_server):
    flow.outbox.remove(CREATE_ID)
    lock = make_request(
        Kind.LOCK, "2026-02-01-bdt-khoa", [AccountChange("minhnv", full_name="Nguyễn Văn Minh")]
    )
    refused = make_request(Kind.RESET_PASSWORD, "2026-02-02-bdt-cap-lai", [AccountChange("anvtt")])
    flow.requests = {lock.id: lock, refused.id: refused}
    flow.outcomes = {
        lock.id: Outcome(lock.id, "applied"),
        refused.id: Outcome(
            refused.id,
            "refused",
            "1 account(s) are locked (khóa): unlock them before a password reset (anvtt)",
            (Refusal("reset-locked", {"org": "cantho"}, ({"uid": "anvtt"},)),),
        ),
    }
    results = flow.run(smtp_server.port)
    assert [(r.request_id, r.status, r.number) for r in results] == [
        (lock.id, "sent", "01/TB-STTTT"),
        (refused.id, "sent", "02/TB-STTTT"),
    ]
    lock_text, refused_text = (received.text() for received in smtp_server.received)
    assert "Kết quả khóa tài khoản" in lock_text and "minhnv@cantho.gov.vn" in lock_text
    assert "không thực hiện yêu cầu cấp lại mật khẩu" in refused_text
    assert "1 tài khoản đang bị khóa: cần có đề nghị mở khóa trước khi cấp lại mật khẩu." in refused_text
    assert "Tài khoản: anvtt" in refused_text and "unlock" not in refused_text
    assert flow.run(smtp_server.port) == []


def test_dry_run_writes_previews_without_passwords_and_changes_nothing(flow, smtp_server, tmp_path):
    out = tmp_path / "preview"
    (result,) = flow.run(None, dry_run_dir=out)
    assert result.status == "rendered" and result.number == "01/TB-STTTT"
    files = sorted(path.name for path in out.iterdir())
    assert files == [
        f"{CREATE_ID}.eml",
        f"{CREATE_ID}.html",
        f"{CREATE_ID}.txt",
        f"TB-STTTT-01-2026_{CREATE_ID}.pdf",
    ]
    for path in out.iterdir():
        content = path.read_bytes()
        for password in flow.passwords.values():
            assert password.encode() not in content
    assert "minhnv@cantho.gov.vn" in (out / f"{CREATE_ID}.txt").read_text(encoding="utf-8")
    assert flow.outbox.pending() == [CREATE_ID] and not flow.ledger_path.exists()
    assert smtp_server.received == []


# --- the command ---------------------------------------------------------------------------------

CLI_REQUEST = """\
id: 2025-03-04-cit-cap-moi
org: ctu
unit: cit
kind: create
document:
  number: 125/CNTT&TT-VP
  date: 2025-03-04
  signer: Trương Minh Thái
requester:
  name: Lâm Thị Ngọc Hân
  position: Chuyên viên Văn phòng
  phone: "0292 3734 713"
  email: ltnhan@ctu.edu.vn
reason: Giảng viên mới tiếp nhận.
accounts:
  - full_name: Trần Hoàng Việt
    staff_code: "002871"
    position: Giảng viên
    department: Khoa Công nghệ phần mềm
    phone: "0939 512 604"
    services: [email, elearning]
    username: thviet
"""
LOCK_REQUEST = "2025-03-13-cit-khoa"


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """The example inventory, a create request with passwords waiting, a lock request in the audit log."""
    root = tmp_path / "repo"
    copy_of_repo(root, "inventory")
    requests = root / "requests" / "ctu" / "cit" / "2025"
    requests.mkdir(parents=True)
    (requests / "2025-03-04-cit-cap-moi.yaml").write_text(CLI_REQUEST, encoding="utf-8")
    shutil.copy(REPO / "requests" / "ctu" / "cit" / "2025" / f"{LOCK_REQUEST}.yaml", requests)
    outbox = Outbox(tmp_path / "state" / "outbox")
    password = outbox.reserve(
        "2025-03-04-cit-cap-moi",
        ["thviet"],
        PasswordPolicy(16),
        org="ctu",
        unit="cit",
        recipient="cit@ctu.edu.vn",
    )["thviet"]
    log = tmp_path / "state" / "audit.jsonl"
    AuditLog(log, commit=None, ci=None).append(
        [{"event": "request", "request": LOCK_REQUEST, "result": "applied"}]
    )
    monkeypatch.chdir(root)
    monkeypatch.delenv("HOPTHU_SMTP_PASSWORD", raising=False)
    return {"root": root, "outbox": outbox, "password": password, "log": log}


def notify_args(repo, *extra):
    return [
        "-i",
        str(repo["root"] / "inventory"),
        "notify",
        "--outbox",
        str(repo["outbox"].root),
        "--audit-log",
        str(repo["log"]),
        "--signer-name",
        "Trần Văn Lâm",
        *extra,
    ]


def test_cli_dry_run_renders_every_pending_notice(repo, tmp_path):
    out = tmp_path / "preview"
    result = CliRunner().invoke(main, notify_args(repo, "--dry-run", "--output", str(out)))
    assert result.exit_code == 0, result.output
    assert "rendered 2025-03-04-cit-cap-moi  01/TB-ĐHCT -> cit@ctu.edu.vn" in result.output
    assert f"rendered {LOCK_REQUEST}  02/TB-ĐHCT" in result.output
    text = (out / "2025-03-04-cit-cap-moi.txt").read_text(encoding="utf-8")
    assert "thviet@ctu.edu.vn" in text and "Trần Hoàng Việt" in text
    assert repo["password"] not in text and repo["password"] not in result.output
    assert repo["outbox"].pending() == ["2025-03-04-cit-cap-moi"]


def test_cli_sends_and_reports(repo, smtp_server):
    args = notify_args(
        repo, "--smtp-host", "127.0.0.1", "--smtp-port", str(smtp_server.port), "--sender", "cntt@ctu.edu.vn"
    )
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert repo["password"] not in result.output
    assert [received.rcpt_tos for received in smtp_server.received] == [
        ["cit@ctu.edu.vn"],
        ["cit@ctu.edu.vn"],
    ]
    assert repo["password"] in smtp_server.received[0].text()
    assert repo["outbox"].pending() == []


def test_cli_exits_1_when_a_notice_could_not_be_sent(repo, smtp_server):
    smtp_server.reply = "451 4.3.0 try again later"
    args = notify_args(
        repo, "--smtp-host", "127.0.0.1", "--smtp-port", str(smtp_server.port), "--sender", "cntt@ctu.edu.vn"
    )
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "451" in result.output and "Traceback" not in result.output
    assert repo["outbox"].pending() == ["2025-03-04-cit-cap-moi"]


def test_cli_needs_a_server_and_sender_unless_dry_run(repo):
    result = CliRunner().invoke(main, notify_args(repo))
    assert result.exit_code == 2
    assert "--smtp-host and --sender needed" in result.output
