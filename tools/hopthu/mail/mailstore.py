"""Mailboxes on disk: where one lives, and archiving it (verified) before it is removed (delete, xóa).

A mailbox is the home folder ``<mail_root>/<org>/<uid>`` that Dovecot fills (Maildir under
``Maildir/``). A *message* is a regular file in a Maildir ``cur`` or ``new`` folder; ``tmp`` holds
deliveries in progress and the rest (indexes, uid lists) is Dovecot's bookkeeping: all of it goes into
the archive, only messages are counted and compared.

The order that keeps mail from being lost silently: ``archive_mailbox`` writes a tar.gz and re-reads it
before returning; ``remove_mailbox`` takes that ``Archive``, checks it again, moves the mailbox aside and
removes it only if every message in it is in the archive. Call both after the account is gone from the
directory (or locked with ``locked_mail: reject``), so no new mail arrives for it. ``latest_archive``
finds an account's newest archive again (a run that archived and removed, then could not report it).
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import io
import os
import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from hopthu.mail import MailError

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
_MESSAGE_FOLDERS = {"cur", "new"}
_CHUNK = 1 << 20
LEFTOVER = "{aside} is left from an earlier removal: check it and remove or restore it by hand"


@dataclass(frozen=True)
class Archive:
    """A verified archive of one mailbox."""

    path: Path
    sha256: str  # of the archive file, for the audit record
    messages: int


def mailbox_home(mail_root: Path, org: str, uid: str) -> Path:
    """The mailbox folder of account ``uid`` of organisation ``org`` (the layout Dovecot is set up with)."""
    for what, value in (("organisation code", org), ("username", uid)):
        if not _NAME.fullmatch(value):
            raise MailError(f"{what} {value!r} cannot name a mailbox folder (letters, digits, '.', '_', '-')")
    return Path(mail_root) / org / uid


def archive_mailbox(home: Path, archive_dir: Path, *, uid: str, org: str) -> Archive:
    """Write ``home`` into ``<archive_dir>/<org>/<uid>-<UTC time>.tar.gz`` (mode 0600), re-read it and
    return it once every message is found in it, byte for byte.

    A mailbox that was never created (the account never received mail) gives an archive with no
    message, so that every deleted account has one. Nothing is removed here.
    """
    home = Path(home)
    mailbox_home(Path("/"), org, uid)  # the same naming rules as the folder itself
    folder = Path(archive_dir) / org
    target = _free_name(folder, f"{uid}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}")
    partial = target.with_name(target.name + ".partial")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        out = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise MailError(
            f"cannot write the archive of {home} into {folder} ({error.strerror}): check the archive "
            "folder (archive_dir of the organisation); nothing was removed"
        ) from None
    try:
        written = _write_tar(home, out, top=uid)
        found = _read_messages(partial)
        if found != written:
            raise MailError(
                f"the archive of {home} does not hold what was written "
                f"({_describe_difference(written, found)}); nothing was removed"
            )
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return Archive(target, _file_sha256(target), sum(written.values()))


def verify_archive(archive: Archive) -> collections.Counter[str]:
    """Check that ``archive`` is intact (same file hash, readable to the end, same message count);
    the digests of its messages."""
    if not archive.path.is_file():
        raise MailError(f"archive {archive.path} is missing")
    if _file_sha256(archive.path) != archive.sha256:
        raise MailError(f"archive {archive.path} changed since it was written (sha256 differs)")
    found = _read_messages(archive.path)
    count = sum(found.values())
    if count != archive.messages:
        raise MailError(f"archive {archive.path} holds {count} messages, not {archive.messages}")
    return found


def latest_archive(archive_dir: Path, *, org: str, uid: str) -> Archive | None:
    """The newest archive ``archive_mailbox`` wrote for the account, read back to its end (its messages
    counted, its SHA-256 taken); ``None`` when there is none."""
    mailbox_home(Path("/"), org, uid)
    folder = Path(archive_dir) / org
    # <uid>-<UTC time>[-<n>].tar.gz as _free_name makes them; a uid has no upper case, so no other
    # account's archive matches.
    name = re.compile(re.escape(uid) + r"-(\d{8}T\d{6}Z)(?:-(\d+))?\.tar\.gz")
    try:
        found = [(m[1], int(m[2] or 1), m[0]) for m in map(name.fullmatch, os.listdir(folder)) if m]
    except FileNotFoundError:
        return None
    if not found:
        return None
    path = folder / max(found)[2]
    return Archive(path, _file_sha256(path), sum(_read_messages(path).values()))


def leftover_removal(home: Path) -> Path | None:
    """The folder an interrupted ``remove_mailbox`` left (the mailbox moved aside), if there is one."""
    aside = _aside(Path(home))
    return aside if aside.exists() else None


def count_messages(home: Path) -> int:
    """Messages in the mailbox ``home`` (0 when it does not exist)."""
    home = Path(home)
    return sum(
        1
        for file in _walk(home)
        if _is_message(PurePosixPath(file.relative_to(home).as_posix())) and file.is_file()
    )


def remove_mailbox(home: Path, archive: Archive) -> None:
    """Remove the mailbox ``home`` after checking ``archive`` again and finding every message of the
    mailbox in it. A message that arrived after the archive was written stops the removal (the mailbox
    is left in place) with an error saying to archive again."""
    home = Path(home)
    archived = verify_archive(archive)
    if not home.exists():
        return
    # Moved aside first: a delivery racing with us creates a fresh folder instead of being deleted.
    aside = _aside(home)
    if aside.exists():
        raise MailError(LEFTOVER.format(aside=aside))
    home.rename(aside)
    present = _messages_on_disk(aside)
    missing = present - archived
    if missing:
        if not home.exists():
            aside.rename(home)
        where = home if not aside.exists() else aside
        raise MailError(
            f"{sum(missing.values())} message(s) in {where} are not in {archive.path}: "
            "archive the mailbox again before removing it; nothing was removed"
        )
    shutil.rmtree(aside)


# --- helpers -------------------------------------------------------------------------------------------


def _aside(home: Path) -> Path:
    return home.with_name(home.name + ".removing")


def _is_message(relative: PurePosixPath) -> bool:
    return len(relative.parts) >= 2 and relative.parent.name in _MESSAGE_FOLDERS


def _free_name(folder: Path, stem: str) -> Path:
    candidate, n = folder / f"{stem}.tar.gz", 1
    while candidate.exists() or candidate.with_name(candidate.name + ".partial").exists():
        n += 1
        candidate = folder / f"{stem}-{n}.tar.gz"
    return candidate


class _HashingReader:
    """A file read once: what tarfile copies into the archive is exactly what gets hashed."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self.raw, self.digest = raw, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        return data


def _write_tar(home: Path, fd: int, *, top: str) -> collections.Counter[str]:
    """Write ``home`` as ``top/…`` as a gzip tar into the new file ``fd`` (closed here); the digests of
    the messages."""
    messages: collections.Counter[str] = collections.Counter()
    with os.fdopen(fd, "wb") as out:
        with tarfile.open(fileobj=out, mode="w:gz") as tar:
            for file in _walk(home) if home.is_dir() else []:
                relative = PurePosixPath(file.relative_to(home).as_posix())
                try:
                    info = tar.gettarinfo(str(file), arcname=str(PurePosixPath(top) / relative))
                    if not info.isreg():
                        tar.addfile(info)
                        continue
                    with file.open("rb") as raw:
                        reader = _HashingReader(raw)
                        tar.addfile(info, reader)
                except FileNotFoundError:
                    raise MailError(
                        f"{file} vanished while {home} was being archived: the mailbox is in use; "
                        "archive it again when the account can no longer receive or read mail"
                    ) from None
                if _is_message(relative):
                    messages[reader.digest.hexdigest()] += 1
        out.flush()
        os.fsync(out.fileno())
    return messages


def _walk(home: Path) -> list[Path]:
    """Every folder and file below ``home`` in a stable order (folders before what they hold)."""
    found = []
    for folder, subfolders, files in os.walk(home):
        subfolders.sort()
        base = Path(folder)
        found += [base / name for name in subfolders] + [base / name for name in sorted(files)]
    return found


def _read_messages(path: Path) -> collections.Counter[str]:
    """Read an archive to its end (gzip checks its CRC there); the digests of its messages."""
    messages: collections.Counter[str] = collections.Counter()
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                if not member.isreg():
                    continue
                stream = tar.extractfile(member)
                digest = hashlib.sha256()
                while stream is not None and (chunk := stream.read(_CHUNK)):
                    digest.update(chunk)
                relative = PurePosixPath(member.name)
                if _is_message(PurePosixPath(*relative.parts[1:])):
                    messages[digest.hexdigest()] += 1
    except (OSError, tarfile.TarError, EOFError) as error:
        raise MailError(f"archive {path} cannot be read back: {error}") from None
    return messages


def _messages_on_disk(home: Path) -> collections.Counter[str]:
    messages: collections.Counter[str] = collections.Counter()
    for file in _walk(home):
        relative = PurePosixPath(file.relative_to(home).as_posix())
        if _is_message(relative) and file.is_file() and not file.is_symlink():
            messages[_file_sha256(file)] += 1
    return messages


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _describe_difference(expected: collections.Counter[str], found: collections.Counter[str]) -> str:
    lost, extra = expected - found, found - expected
    return f"{sum(lost.values())} message(s) missing, {sum(extra.values())} unexpected"
