"""The notice ledger: which number each request's notice got and whether it has been sent.

Numbering (decided here, documented in docs/notices.md): an office numbers its documents from 01 each
calendar year. hopthu gives each request's notice the next number of its organisation's series for the year
the first time the notice is rendered for sending, and keeps it: a retry after a failed delivery sends the
same number and date, so what the unit receives always matches what the ledger says.
A dry run shows the number a notice *would* get and writes nothing.

The ledger is one small JSON file next to the outbox. It holds no secrets (numbers, dates, addresses).
With a ``mirror`` (``hopthu.statestore.StateStore``) every save is also kept in the replicated directory
before ``save`` returns.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any


class LedgerError(Exception):
    pass


@dataclass(frozen=True)
class LedgerEntry:
    request: str
    org: str
    sequence: int  # the number within the organisation's series of the year
    issued: str  # ISO date the number was given: the notice's date
    sent_at: str | None = None  # ISO timestamp of the successful delivery
    recipient: str | None = None
    message_id: str | None = None

    @property
    def issued_date(self) -> dt.date:
        return dt.date.fromisoformat(self.issued)


def ledger_path_for(outbox_dir: Path) -> Path:
    """``var/outbox`` → ``var/outbox.notices.json``: beside the outbox, not inside it."""
    return outbox_dir.with_name(outbox_dir.name + ".notices.json")


class NoticeLedger:
    def __init__(self, path: Path, entries: dict[str, LedgerEntry] | None = None, mirror: Any = None) -> None:
        self.path = path
        self.entries: dict[str, LedgerEntry] = entries or {}
        self.mirror = mirror

    @classmethod
    def load(cls, path: Path, mirror: Any = None) -> NoticeLedger:
        if not path.exists():
            return cls(path, mirror=mirror)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            entries = {key: LedgerEntry(**value) for key, value in raw["notices"].items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LedgerError(
                f"{path}: not a readable notice ledger ({exc}); restore it from a backup"
            ) from None
        return cls(path, entries, mirror)

    def save(self) -> None:
        notices = {key: asdict(entry) for key, entry in sorted(self.entries.items())}
        data = json.dumps({"version": 1, "notices": notices}, ensure_ascii=False, indent=1) + "\n"
        try:
            _write_atomically(self.path, data)
        except OSError as exc:
            raise LedgerError(f"{self.path}: cannot write the notice ledger ({exc})") from None
        if self.mirror is not None:
            self.mirror.put_ledger(data.encode("utf-8"))

    def is_sent(self, request_id: str) -> bool:
        entry = self.entries.get(request_id)
        return entry is not None and entry.sent_at is not None

    def assign(self, request_id: str, org: str, today: dt.date) -> LedgerEntry:
        """The request's entry; a new one gets the next number of ``org``'s series for ``today``'s year."""
        entry = self.entries.get(request_id)
        if entry is None:
            used = [
                other.sequence
                for other in self.entries.values()
                if other.org == org and other.issued_date.year == today.year
            ]
            sequence = max(used, default=0) + 1
            entry = LedgerEntry(request=request_id, org=org, sequence=sequence, issued=today.isoformat())
            self.entries[request_id] = entry
        return entry

    def mark_sent(self, request_id: str, *, recipient: str, message_id: str, at: dt.datetime) -> LedgerEntry:
        entry = replace(
            self.entries[request_id], sent_at=at.isoformat(), recipient=recipient, message_id=message_id
        )
        self.entries[request_id] = entry
        return entry

    def mark_group_sent(self, request_id: str, org: str, at: dt.datetime, parts: list[str]) -> LedgerEntry:
        """A request whose notices are several (a merger: one per unit, each numbered under its own key)
        is notified once all of them are sent: an entry without a number of its own (sequence 0) says so."""
        entry = LedgerEntry(
            request=request_id,
            org=org,
            sequence=0,
            issued=at.date().isoformat(),
            sent_at=at.isoformat(),
            recipient=", ".join(parts),
        )
        self.entries[request_id] = entry
        return entry


def _write_atomically(path: Path, data: str) -> None:
    """A crash leaves the old ledger or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """One ``hopthu notify`` at a time per ledger: two pipelines must not hand out the same number."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LedgerError(
                f"{path} is in use by another 'hopthu notify'; try again when it has finished"
            ) from None
        yield
