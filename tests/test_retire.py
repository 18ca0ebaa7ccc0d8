"""Retiring the mailboxes of deleted accounts, half by half: the audit host's decision and records (plain
data), the mail host's archive-verify-remove (plain files shaped like Dovecot's Maildir). The real
playbook across hosts, with real servers, is tests/test_ansible_retire.py."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from builders import organisation
from hopthu.audit import AuditLog
from hopthu.cli import main
from hopthu.mail import MailError
from hopthu.mail.mailhost import (
    ARCHIVED,
    FAILED,
    FOUND,
    WOULD_ARCHIVE,
    MailboxToRetire,
    Outcome,
    retire_here,
)
from hopthu.mail.mailstore import latest_archive, mailbox_home
from hopthu.mail.retire import (
    ARCHIVE_OP,
    RECORDS_OF_INTEREST,
    Pending,
    assign,
    mailboxes_to_retire,
    settle,
)
from hopthu.model import Inventory
from test_mailstore import make_mailbox
from workspace import copy_of_repo


def change(op: str, uid: str, result: str = "ok", org: str = "bt", request: str = "R-xoa") -> dict:
    record = {"event": "change", "request": request, "document": "68/BDT-VP", "org": org, "op": op}
    return record | {"uid": uid, "result": result}


def inventory(*codes: str, archive_dir: str | None = "/srv/mail-archive") -> Inventory:
    orgs = {code: organisation(code=code, archive_dir=archive_dir) for code in codes}
    return Inventory(organisations=orgs)


# --- the audit host: which mailboxes wait ---------------------------------------------------------------


def test_a_delete_waits_for_its_mailbox_until_an_archive_record_says_ok():
    log = [change("delete", "thodn"), change("delete", "anvtt"), change(ARCHIVE_OP, "anvtt")]
    assert [p.uid for p in mailboxes_to_retire(log)] == ["thodn"]
    failed = [change("delete", "thodn"), change(ARCHIVE_OP, "thodn", result="cannot write the archive")]
    assert [p.uid for p in mailboxes_to_retire(failed)] == ["thodn"]  # a failure is retried
    assert mailboxes_to_retire([change("delete", "thodn", result="insufficientAccessRights")]) == []


def test_check_mode_adds_the_planned_deletes_once():
    planned = [Pending("R2", "70/BDT-VP", "bt", "anvtt"), Pending("R-xoa", "68/BDT-VP", "bt", "thodn")]
    pending = mailboxes_to_retire([change("delete", "thodn")], planned)
    assert [(p.request, p.uid) for p in pending] == [("R-xoa", "thodn"), ("R2", "anvtt")]


def test_each_mailbox_goes_to_the_server_holding_its_organisation_with_the_archive_folder():
    pending = [
        Pending("R1", None, "bt", "thodn"),
        Pending("R2", None, "dn", "hoalt"),
        Pending("R3", None, "ct", "x"),
    ]
    assignment = assign(pending, inventory("bt", "dn", "ct"), {"mail1": ["bt", "dn"], "relay": None})
    assert assignment.hosts == {
        "mail1": [
            MailboxToRetire("bt", "thodn", "/srv/mail-archive"),
            MailboxToRetire("dn", "hoalt", "/srv/mail-archive"),
        ]
    }
    assert [p.mail_host for p in assignment.pending] == ["mail1", "mail1", None]


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        ({"mail1": ["bt"], "mail2": ["bt"]}, "both mail1 and mail2 name it"),
        ({"mail1": ["nowhere"]}, "'nowhere', which is not an organisation"),
    ],
)
def test_an_organisation_on_two_servers_or_unknown_stops_before_any_server_acts(hosts, message):
    with pytest.raises(MailError, match=message):
        assign([Pending("R1", None, "bt", "thodn")], inventory("bt"), hosts)


# --- the audit host: what is recorded --------------------------------------------------------------------

ARCHIVE = "/srv/mail-archive/bt/thodn-20250401T000000Z.tar.gz"


def test_each_reported_mailbox_is_recorded_once_with_its_archive_or_its_error():
    pending = [
        Pending("R1", "68/BDT-VP", "bt", "thodn", "mail1"),
        Pending("R2", None, "bt", "anvtt", "mail1"),
    ]
    outcomes = [
        Outcome("bt", "thodn", ARCHIVED, ARCHIVE, "ab" * 32, 3),
        Outcome("bt", "anvtt", FAILED, error="cannot write the archive; nothing was removed"),
        Outcome("bt", "someone-else", ARCHIVED, ARCHIVE, "cd" * 32, 1),  # not asked for: ignored
    ]
    settlement = settle(pending, {"mail1": outcomes})
    ok, failed = settlement.records
    assert ok["op"] == ARCHIVE_OP and (ok["request"], ok["uid"], ok["result"]) == ("R1", "thodn", "ok")
    assert ok["after"] == {
        "mail_host": ["mail1"],
        "archive": [ARCHIVE],
        "sha256": ["ab" * 32],
        "messages": ["3"],
    }
    assert failed["result"] == "cannot write the archive; nothing was removed"
    assert len(settlement.done) == 1 and "3 message(s) archived" in settlement.done[0]
    assert settlement.problems == [
        "bt/anvtt: NOT retired: cannot write the archive; nothing was removed (on mail1)"
    ]

    again = settle(pending, {"mail1": outcomes}, still_pending={("bt", "anvtt")})
    assert [r["uid"] for r in again.records] == ["anvtt"]  # thodn was recorded meanwhile


def test_a_mailbox_without_a_result_is_a_problem_and_not_recorded():
    pending = [Pending("R1", None, "bt", "thodn", "mail1"), Pending("R2", None, "dn", "hoalt", None)]
    settlement = settle(pending, {"mail1": None})
    assert settlement.records == []
    assert "mail server mail1 gave no result" in settlement.problems[0]
    assert "no mail server holds the mailboxes of dn" in settlement.problems[1]


def test_the_log_filter_finds_exactly_the_records_the_decision_reads(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl", commit=None, ci=None)
    log.append(
        [
            change("create", "thodn"),
            change("delete", "thodn"),
            {**change("lock", "anvtt"), "reason": 'a value that says "op":"delete"'},
            change(ARCHIVE_OP, "thodn"),
        ]
    )
    assert [r["op"] for r in log.records(*RECORDS_OF_INTEREST)] == ["delete", ARCHIVE_OP]


# --- the mail host: archive, verify, remove ------------------------------------------------------------


@pytest.fixture
def mail_root(tmp_path: Path) -> Path:
    make_mailbox(mailbox_home(tmp_path / "mail", "bt", "thodn"))
    return tmp_path / "mail"


def box(tmp_path: Path, uid: str = "thodn") -> MailboxToRetire:
    return MailboxToRetire("bt", uid, str(tmp_path / "archive"))


def test_a_mailbox_is_archived_verified_and_removed_and_the_archive_is_described(mail_root, tmp_path):
    (outcome,) = retire_here(mail_root, [box(tmp_path)])
    assert outcome.status == ARCHIVED and outcome.messages == 3
    archive = Path(outcome.archive)
    assert outcome.sha256 == hashlib.sha256(archive.read_bytes()).hexdigest()
    with tarfile.open(archive) as tar:
        assert sum(1 for m in tar if m.isreg() and ("/cur/" in m.name or "/new/" in m.name)) == 3
    assert not (mail_root / "bt" / "thodn").exists()


def test_run_again_the_archived_and_removed_mailbox_is_found_not_archived_twice(mail_root, tmp_path):
    (first,) = retire_here(mail_root, [box(tmp_path)])
    (again,) = retire_here(mail_root, [box(tmp_path)])
    assert again == Outcome("bt", "thodn", FOUND, first.archive, first.sha256, 3)
    assert len(list((tmp_path / "archive" / "bt").iterdir())) == 1


def test_an_unwritable_archive_folder_keeps_the_mailbox_and_says_so(mail_root, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")  # even root cannot make a folder inside a file
    (outcome,) = retire_here(mail_root, [MailboxToRetire("bt", "thodn", str(blocker / "archive"))])
    assert outcome.status == FAILED
    assert f"cannot write the archive of {mail_root / 'bt' / 'thodn'}" in outcome.error
    assert "nothing was removed" in outcome.error
    assert len([p for p in (mail_root / "bt" / "thodn").rglob("*") if p.is_file()]) == 6  # all still there


def test_a_mail_root_without_the_organisation_archives_nothing(tmp_path):
    (tmp_path / "mail").mkdir()
    (outcome,) = retire_here(tmp_path / "mail", [box(tmp_path)])
    assert outcome.status == FAILED and "check hopthu_mail_root" in outcome.error
    assert not (tmp_path / "archive").exists()


def test_an_interrupted_removal_is_left_for_a_person_to_look_at(mail_root, tmp_path):
    home = mail_root / "bt" / "thodn"
    home.rename(home.with_name("thodn.removing"))
    (outcome,) = retire_here(mail_root, [box(tmp_path)])
    assert outcome.status == FAILED and "left from an earlier removal" in outcome.error


def test_an_account_that_never_received_mail_gets_an_empty_archive(mail_root, tmp_path):
    (outcome,) = retire_here(mail_root, [box(tmp_path, "chuanhan")])
    assert outcome.status == ARCHIVED and outcome.messages == 0 and Path(outcome.archive).is_file()


def test_dry_run_counts_the_messages_and_writes_nothing(mail_root, tmp_path):
    (outcome,) = retire_here(mail_root, [box(tmp_path)], dry_run=True)
    assert (outcome.status, outcome.messages) == (WOULD_ARCHIVE, 3)
    assert (mail_root / "bt" / "thodn").is_dir() and not (tmp_path / "archive").exists()


def test_the_host_default_archive_folder_serves_organisations_without_one(mail_root, tmp_path):
    (outcome,) = retire_here(mail_root, [MailboxToRetire("bt", "thodn")], tmp_path / "default")
    assert outcome.status == ARCHIVED and outcome.archive.startswith(str(tmp_path / "default" / "bt"))
    (none,) = retire_here(mail_root, [MailboxToRetire("bt", "anvtt")])
    assert none.status == FAILED and "no archive folder for bt" in none.error


def test_the_newest_archive_counts_even_when_two_share_a_second(tmp_path):
    folder = tmp_path / "archive" / "bt"
    folder.mkdir(parents=True)
    for name, body in [
        ("thodn-20250401T000000Z.tar.gz", b"old"),
        ("thodn-20250401T000000Z-2.tar.gz", b"newer"),
        ("thodn-x-20250502T000000Z.tar.gz", b"another account"),
    ]:
        with tarfile.open(folder / name, "w:gz") as tar:
            path = tmp_path / "m"
            path.write_bytes(body)
            tar.add(path, arcname="thodn/Maildir/cur/1")
    found = latest_archive(tmp_path / "archive", org="bt", uid="thodn")
    assert found.path.name == "thodn-20250401T000000Z-2.tar.gz" and found.messages == 1
    assert latest_archive(tmp_path / "archive", org="bt", uid="nobody") is None


# --- both halves on one host: hopthu mailbox retire ---------------------------------------------------


def test_a_mailbox_retired_by_a_run_whose_record_was_lost_is_recorded_once_as_found(tmp_path, monkeypatch):
    copy_of_repo(tmp_path / "repo", "inventory")
    hosts = tmp_path / "repo/inventory/group_vars/all/hopthu.yml"
    hosts.write_text(hosts.read_text().replace("/srv/mail-archive", str(tmp_path / "archive")))
    make_mailbox(mailbox_home(tmp_path / "mail", "binhthuan", "thodn"))
    log = AuditLog(tmp_path / "audit.jsonl", commit=None, ci=None)
    log.append([change("delete", "thodn", org="binhthuan")])
    # The mail host archived and removed it, then the run died before the audit host recorded it.
    (earlier,) = retire_here(
        tmp_path / "mail", [MailboxToRetire("binhthuan", "thodn", str(tmp_path / "archive"))]
    )
    monkeypatch.setenv("HOPTHU_AUDIT_LOG", str(log.path))
    command = [
        "-i",
        str(tmp_path / "repo/inventory"),
        "mailbox",
        "retire",
        "--mail-root",
        str(tmp_path / "mail"),
    ]

    first = CliRunner().invoke(main, command)
    assert first.exit_code == 0, first.output
    assert f"binhthuan/thodn: already archived in {earlier.archive} (3 message(s)" in first.output
    (record,) = [r for r in log.records() if r["op"] == ARCHIVE_OP]
    assert record["after"]["sha256"] == [earlier.sha256] and record["result"] == "ok"

    again = CliRunner().invoke(main, command)
    assert again.exit_code == 0 and "no mailbox to retire" in again.output
    assert len([r for r in log.records() if r["op"] == ARCHIVE_OP]) == 1
