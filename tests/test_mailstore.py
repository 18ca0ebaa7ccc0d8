"""Archive before delete: a mailbox is removed only when every message in it is in a verified archive.

Plain files in a temp dir, shaped like Dovecot's Maildir; the real delivery path is in test_mail.py.
"""

from __future__ import annotations

import stat
import tarfile
from pathlib import Path

import pytest

from hopthu.mail import MailError
from hopthu.mail.mailstore import archive_mailbox, mailbox_home, remove_mailbox, verify_archive


def make_mailbox(home: Path) -> None:
    for folder in ("Maildir", "Maildir/.Sent"):
        for sub in ("cur", "new", "tmp"):
            (home / folder / sub).mkdir(parents=True)
    (home / "Maildir/new/1700000001.M1P1.host,S=20").write_bytes(b"Subject: 1\r\n\r\none\r\n")
    (home / "Maildir/cur/1700000002.M2P1.host,S=20:2,S").write_bytes(b"Subject: 2\r\n\r\ntwo\r\n")
    (home / "Maildir/.Sent/cur/1700000003.M3P1.host,S=22:2,S").write_bytes(b"Subject: 3\r\n\r\nthree\r\n")
    # Bookkeeping and a delivery in progress: archived, but not messages.
    (home / "Maildir/dovecot.index.log").write_bytes(b"\x00" * 64)
    (home / "Maildir/dovecot-uidlist").write_text("3 V1 N4\n")
    (home / "Maildir/tmp/1700000004.M4P1.host").write_bytes(b"Subject: partial")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = mailbox_home(tmp_path / "mail", "bt", "minhnv")
    make_mailbox(path)
    return path


def test_archive_holds_every_file_and_counts_only_messages(home, tmp_path):
    archive = archive_mailbox(home, tmp_path / "archive", uid="minhnv", org="bt")

    assert archive.messages == 3
    assert archive.path.parent == tmp_path / "archive" / "bt"
    assert archive.path.name.startswith("minhnv-") and archive.path.name.endswith(".tar.gz")
    assert stat.S_IMODE(archive.path.stat().st_mode) == 0o600  # personal mail
    with tarfile.open(archive.path) as tar:
        names = {m.name for m in tar if m.isreg()}
    assert names == {f"minhnv/{p.relative_to(home)}" for p in home.rglob("*") if p.is_file()}
    verify_archive(archive)


def test_removal_after_a_verified_archive_deletes_the_mailbox(home, tmp_path):
    archive = archive_mailbox(home, tmp_path / "archive", uid="minhnv", org="bt")
    remove_mailbox(home, archive)
    assert not home.exists()
    assert not home.with_name("minhnv.removing").exists()


def test_a_message_that_arrived_after_the_archive_stops_the_removal(home, tmp_path):
    archive = archive_mailbox(home, tmp_path / "archive", uid="minhnv", org="bt")
    late = home / "Maildir/new/1700000009.M9P1.host,S=21"
    late.write_bytes(b"Subject: late\r\n\r\nlate\r\n")

    with pytest.raises(MailError, match=r"1 message.*not in .*archive the mailbox again"):
        remove_mailbox(home, archive)
    assert late.exists()  # put back where it was, nothing lost
    assert len([p for p in home.rglob("*") if p.is_file()]) == 7


def test_flags_changed_after_the_archive_do_not_stop_the_removal(home, tmp_path):
    archive = archive_mailbox(home, tmp_path / "archive", uid="minhnv", org="bt")
    seen = home / "Maildir/new/1700000001.M1P1.host,S=20"
    seen.rename(home / "Maildir/cur/1700000001.M1P1.host,S=20:2,S")  # what Dovecot does on read
    remove_mailbox(home, archive)
    assert not home.exists()


def test_an_archive_changed_after_it_was_written_stops_the_removal(home, tmp_path):
    archive = archive_mailbox(home, tmp_path / "archive", uid="minhnv", org="bt")
    with archive.path.open("ab") as file:
        file.write(b"\x00")

    with pytest.raises(MailError, match="changed since it was written"):
        remove_mailbox(home, archive)
    assert home.exists()


def test_a_missing_archive_stops_the_removal(home, tmp_path):
    archive = archive_mailbox(home, tmp_path / "archive", uid="minhnv", org="bt")
    archive.path.unlink()
    with pytest.raises(MailError, match="missing"):
        remove_mailbox(home, archive)
    assert home.exists()


def test_an_account_that_never_received_mail_gets_an_empty_archive(tmp_path):
    home = mailbox_home(tmp_path / "mail", "bt", "chuanhan")
    archive = archive_mailbox(home, tmp_path / "archive", uid="chuanhan", org="bt")
    assert archive.messages == 0
    remove_mailbox(home, archive)  # nothing to remove, no error
    assert archive.path.exists()


def test_archives_of_the_same_second_do_not_overwrite_each_other(home, tmp_path):
    first = archive_mailbox(home, tmp_path / "archive", uid="minhnv", org="bt")
    second = archive_mailbox(home, tmp_path / "archive", uid="minhnv", org="bt")
    assert first.path != second.path
    assert first.path.exists() and second.path.exists()


@pytest.mark.parametrize("uid", ["../etc", "", ".hidden", "a/b", "Minh NV"])
def test_a_username_that_could_escape_the_mail_folder_is_refused(tmp_path, uid):
    with pytest.raises(MailError, match="cannot name a mailbox folder"):
        mailbox_home(tmp_path, "bt", uid)
