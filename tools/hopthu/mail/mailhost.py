"""The mail host's half of retiring mailboxes (xóa): one call with the whole list of the mailboxes this
host holds that are to be retired; each is archived (tar.gz, re-read), then removed, and what happened
comes back as data.

This half reads neither the audit log nor the directory: the audit host decided which mailboxes
(``mail/retire.py``) and records what this returns. Safe to run again for the same list: a mailbox that
is already archived and removed is reported as ``found`` (its newest archive, read back), not archived
twice. A mailbox is removed only after its archive was verified (``mailstore.remove_mailbox``); any
failure keeps it where it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from hopthu.mail import MailError
from hopthu.mail.mailstore import (
    LEFTOVER,
    archive_mailbox,
    count_messages,
    latest_archive,
    leftover_removal,
    mailbox_home,
    remove_mailbox,
)

ARCHIVED = "archived"  # archived now, verified, the mailbox removed
FOUND = "found"  # an archive from an earlier run, no mailbox left: done before, recorded now
FAILED = "failed"  # nothing removed; ``error`` says why
WOULD_ARCHIVE = "would-archive"  # check mode: would be archived and removed
DONE = frozenset({ARCHIVED, FOUND})


@dataclass(frozen=True)
class MailboxToRetire:
    """One mailbox the audit host asks this host to retire."""

    org: str
    uid: str
    archive_dir: str | None = None  # the organisation's (inventory); None: the host's default folder
    folder: str | None = None  # "<org>/<uid>" of the mailbox when not its own (kept by a merger)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MailboxToRetire:
        return cls(
            str(data["org"]), str(data["uid"]), data.get("archive_dir") or None, data.get("folder") or None
        )

    @property
    def home_parts(self) -> tuple[str, str]:
        """(organisation folder, mailbox folder) under the mail root."""
        if self.folder:
            org, _, uid = self.folder.partition("/")
            return org, uid
        return self.org, self.uid


@dataclass(frozen=True)
class Outcome:
    """What happened to one mailbox on this host."""

    org: str
    uid: str
    status: str  # ARCHIVED | FOUND | FAILED | WOULD_ARCHIVE
    archive: str | None = None
    sha256: str | None = None  # of the archive file
    messages: int = 0
    error: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.org, self.uid)

    @property
    def done(self) -> bool:
        return self.status in DONE

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Outcome:
        return cls(**{f.name: data.get(f.name) for f in fields(cls) if f.name in data})


def describe(outcome: Outcome) -> str:
    """One line for people reading a job log or a terminal (English, like every log)."""
    account = f"{outcome.org}/{outcome.uid}"
    if outcome.status == ARCHIVED:
        return (
            f"{account}: {outcome.messages} message(s) archived in {outcome.archive} "
            f"(sha256 {outcome.sha256}), verified; mailbox removed"
        )
    if outcome.status == FOUND:
        return (
            f"{account}: already archived in {outcome.archive} ({outcome.messages} message(s), "
            f"sha256 {outcome.sha256}), no mailbox left"
        )
    if outcome.status == WOULD_ARCHIVE:
        return f"{account}: would archive {outcome.messages} message(s), then remove the mailbox"
    return f"{account}: NOT retired: {outcome.error}"


def retire_here(
    mail_root: Path,
    mailboxes: Iterable[MailboxToRetire],
    default_archive: Path | str | None = None,
    *,
    dry_run: bool = False,
) -> list[Outcome]:
    """Archive, verify and remove each mailbox under ``mail_root`` (``<mail_root>/<org>/<uid>``); with
    ``dry_run`` only say what would happen. One outcome per mailbox, in order; never raises for one
    mailbox's problem."""
    return [_retire_one(Path(mail_root), box, default_archive, dry_run) for box in mailboxes]


def _retire_one(mail_root: Path, box: MailboxToRetire, default_archive, dry_run: bool) -> Outcome:
    try:
        return _retire(mail_root, box, default_archive, dry_run)
    except MailError as error:
        return Outcome(box.org, box.uid, FAILED, error=str(error))
    except OSError as error:  # reading the mailbox, a full disk…
        where = error.filename or mail_root
        return Outcome(box.org, box.uid, FAILED, error=f"{where}: {error.strerror}; nothing was removed")


def _retire(mail_root: Path, box: MailboxToRetire, default_archive, dry_run: bool) -> Outcome:
    folder = box.archive_dir or default_archive
    if not folder:
        raise MailError(
            f"no archive folder for {box.org}: set archive_dir of the organisation in the inventory "
            "(or the mail server's hopthu_mail_archive_dir, `--archive-dir`); nothing was removed"
        )
    home = mailbox_home(mail_root, *box.home_parts)
    if not home.parent.is_dir():
        # Most likely the wrong mail root or the wrong host: an empty archive would hide the real mailbox.
        raise MailError(
            f"{home.parent} does not exist: check hopthu_mail_root (--mail-root) and that this server "
            f"holds the mailboxes of {box.org} (create the folder if {box.org} never received mail "
            "here); nothing was archived"
        )
    aside = leftover_removal(home)
    if aside is not None:
        raise MailError(LEFTOVER.format(aside=aside))
    if not home.exists():
        earlier = latest_archive(Path(folder), org=box.org, uid=box.uid)
        if earlier is not None:
            return Outcome(box.org, box.uid, FOUND, str(earlier.path), earlier.sha256, earlier.messages)
    if dry_run:
        return Outcome(box.org, box.uid, WOULD_ARCHIVE, messages=count_messages(home))
    # A mailbox that was never created (no mail ever arrived) gets an empty archive: every deleted
    # account has one.
    archive = archive_mailbox(home, Path(folder), uid=box.uid, org=box.org)
    remove_mailbox(home, archive)
    return Outcome(box.org, box.uid, ARCHIVED, str(archive.path), archive.sha256, archive.messages)
