"""Retiring the mailboxes of deleted accounts (xóa): archive, verify, then remove — on the mail host.

The directory side of a ``delete`` removes the account, so no new mail can arrive for it; this step then
archives its mailbox to the organisation's archive folder (``archive_dir`` in the inventory), re-reads the
archive, removes the mailbox only when every message is in the archive, and records the archive (path,
SHA-256, message count) in the audit log. Nothing is lost silently: a failure leaves the mailbox where it is
and the next run tries again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hopthu.mail import MailError
from hopthu.mail.mailstore import archive_mailbox, mailbox_home, remove_mailbox
from hopthu.model import Inventory

ARCHIVE_OP = "archive-mailbox"


@dataclass(frozen=True)
class Deleted:
    request: str
    document: str | None
    org: str
    uid: str


@dataclass(frozen=True)
class Retired:
    account: Deleted
    result: str  # "archived" | the error
    archive: Path | None = None
    messages: int = 0


def mailboxes_to_retire(records: Iterable[Mapping[str, Any]]) -> list[Deleted]:
    """Pure: accounts whose delete took effect and whose mailbox has no completed archive record yet."""
    deleted: dict[tuple[str, str], Deleted] = {}
    for record in records:
        if record.get("event") != "change" or record.get("result") != "ok":
            continue
        key = (record.get("org") or "", record.get("uid") or "")
        if record.get("op") == "delete":
            deleted[key] = Deleted(record["request"], record.get("document"), *key)
        elif record.get("op") == ARCHIVE_OP:
            deleted.pop(key, None)
    return list(deleted.values())


def retire_mailboxes(
    audit, mail_root: Path, inventory: Inventory, default_archive: Path | None
) -> list[Retired]:
    """Archive and remove the mailbox of every deleted account; one audit record per archived mailbox."""
    results = []
    for account in mailboxes_to_retire(audit.records()):
        org = inventory.organisations.get(account.org)
        folder = (org.archive_dir if org and org.archive_dir else None) or default_archive
        if folder is None:
            results.append(
                Retired(account, f"no archive_dir for {account.org} in the inventory (or --archive-dir)")
            )
            continue
        try:
            home = mailbox_home(mail_root, account.org, account.uid)
            archive = archive_mailbox(home, Path(folder), uid=account.uid, org=account.org)
            remove_mailbox(home, archive)
        except (MailError, OSError) as error:
            results.append(Retired(account, str(error)))
            continue
        audit.append(
            [
                {
                    "event": "change",
                    "request": account.request,
                    "document": account.document,
                    "org": account.org,
                    "op": ARCHIVE_OP,
                    "uid": account.uid,
                    "result": "ok",
                    "reason": f"{archive.path} sha256:{archive.sha256} {archive.messages} message(s)",
                }
            ]
        )
        results.append(Retired(account, "archived", archive.path, archive.messages))
    return results
