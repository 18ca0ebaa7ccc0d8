"""Retiring the mailboxes of deleted accounts (xóa): the audit host's half — pure, no I/O.

The directory side of a ``delete`` removes the account, so no new mail can arrive for it; then its
mailbox is archived to the organisation's archive folder (``archive_dir`` in the inventory), the archive
re-read, and the mailbox removed only when every message is in the archive. The work is split across
hosts, decision from effect:

1. on the audit host, the audit log says which mailboxes still wait (``mailboxes_to_retire``: deleted,
   no successful ``archive-mailbox`` record yet), and ``assign`` gives each to the mail server that holds
   its organisation's mailboxes;
2. each mail server gets its whole list in one call and archives, verifies and removes
   (``mail/mailhost.py``), returning per mailbox the archive, its SHA-256 and message count, or the error;
3. back on the audit host ``settle`` turns those results into audit records, appended in one batch, so
   the log on the audit host is the one record of it.

A failure is recorded too (a ``change`` record whose result is the error) and leaves the mailbox in
place; the next run tries again. ``hopthu mailbox retire`` runs the three steps on one host that has
both the audit log and the mailboxes.

An ``archive-mailbox`` record carries, besides the request, document, org and uid of the delete, in
``after``: ``archive`` (path on the mail server), ``sha256``, ``messages`` and ``mail_host``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hopthu.audit import OK
from hopthu.mail import MailError
from hopthu.mail.mailhost import FAILED, MailboxToRetire, Outcome, describe
from hopthu.model import Inventory, Op

ARCHIVE_OP = "archive-mailbox"
# The only lines of the log the decision needs (a cheap filter: see AuditLog.records).
RECORDS_OF_INTEREST = (f'"op":"{Op.DELETE.value}"'.encode(), f'"op":"{ARCHIVE_OP}"'.encode())


@dataclass(frozen=True)
class Pending:
    """A deleted account whose mailbox is still to be retired."""

    request: str
    document: str | None
    org: str
    uid: str
    mail_host: str | None = None  # the mail server holding it (``assign``); None: none does
    folder: str | None = None  # the mailbox's folder when not <org>/<uid> (moved by a merger)

    @property
    def key(self) -> tuple[str, str]:
        return (self.org, self.uid)

    def as_dict(self) -> dict[str, Any]:
        return {
            "request": self.request,
            "document": self.document,
            "org": self.org,
            "uid": self.uid,
            "mail_host": self.mail_host,
            "folder": self.folder,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pending:
        return cls(
            str(data["request"]),
            data.get("document"),
            str(data["org"]),
            str(data["uid"]),
            data.get("mail_host"),
            data.get("folder") or None,
        )


def mailboxes_to_retire(
    records: Iterable[Mapping[str, Any]], planned: Iterable[Pending] = ()
) -> list[Pending]:
    """Accounts whose delete took effect and whose mailbox has no successful archive record yet, in log
    order; then the ``planned`` deletes (check mode: what this run would delete) not among them."""
    deleted: dict[tuple[str, str], Pending] = {}
    folders: dict[tuple[str, str], str] = {}  # from the delete's intent: a completion may not repeat it
    for record in records:
        if record.get("event") == "intent" and record.get("op") == Op.DELETE.value:
            folder = ((record.get("before") or {}).get("hopthumailbox") or [None])[0]
            if folder:
                folders[(record.get("org") or "", record.get("uid") or "")] = folder
        if record.get("event") != "change" or record.get("result") != OK:
            continue
        key = (record.get("org") or "", record.get("uid") or "")
        if record.get("op") == Op.DELETE.value:
            deleted[key] = Pending(record["request"], record.get("document"), *key, folder=folders.get(key))
        elif record.get("op") == ARCHIVE_OP:
            deleted.pop(key, None)
    for account in planned:
        deleted.setdefault(account.key, account)
    return list(deleted.values())


@dataclass(frozen=True)
class Assignment:
    pending: list[Pending]  # each with its mail_host (None when no mail server holds its organisation)
    hosts: dict[str, list[MailboxToRetire]]  # mail server → its whole list, for one call


def assign(
    pending: Iterable[Pending], inventory: Inventory, mail_hosts: Mapping[str, Iterable[str] | None]
) -> Assignment:
    """Give each pending mailbox to the mail server whose ``hopthu_mail_organisations`` name its
    organisation, with the organisation's archive folder. ``MailError`` when the servers' lists name an
    unknown organisation or one organisation twice: retiring on the wrong server would record an empty
    archive for a mailbox that exists elsewhere."""
    holder: dict[str, str] = {}
    for host, codes in mail_hosts.items():
        for code in codes or ():
            if code not in inventory.organisations:
                raise MailError(
                    f"mail server {host}: hopthu_mail_organisations names {code!r}, which is not an "
                    "organisation of the inventory"
                )
            if code in holder and holder[code] != host:
                raise MailError(
                    f"the mailboxes of {code} are on one mail server, but hopthu_mail_organisations of "
                    f"both {holder[code]} and {host} name it: keep it on the one that holds them"
                )
            holder[code] = host
    assigned, hosts = [], {}
    for account in pending:
        host = holder.get(account.org)
        assigned.append(replace(account, mail_host=host))
        if host is not None:
            archive_dir = inventory.organisations[account.org].archive_dir
            box = MailboxToRetire(account.org, account.uid, archive_dir, account.folder)
            hosts.setdefault(host, []).append(box)
    return Assignment(assigned, hosts)


@dataclass
class Settlement:
    """What the audit host does with the mail servers' results."""

    records: list[dict[str, Any]] = field(default_factory=list)  # to append, one batch
    done: list[str] = field(default_factory=list)  # one line per mailbox retired (or that would be)
    problems: list[str] = field(default_factory=list)  # one line per mailbox not retired, and why


def settle(
    pending: Sequence[Pending],
    results: Mapping[str, Sequence[Outcome] | None],
    still_pending: Collection[tuple[str, str]] | None = None,
) -> Settlement:
    """Audit records (and lines for people) from the mail servers' ``results`` (server → its outcomes,
    ``None`` when it gave none). Only accounts of ``pending`` are recorded, each once; with
    ``still_pending`` (keys the log still shows pending, read under its lock) those recorded meanwhile
    are left out, so nothing is recorded twice."""
    by_key = {(host, o.key): o for host, outcomes in results.items() for o in outcomes or ()}
    settlement = Settlement()
    for account in pending:
        if still_pending is not None and account.key not in still_pending:
            continue
        where = f"{account.org}/{account.uid}"
        if account.mail_host is None:
            settlement.problems.append(
                f"{where}: no mail server holds the mailboxes of {account.org}: add it to "
                "hopthu_mail_organisations of the one that does; retried by the next run"
            )
            continue
        outcome = by_key.get((account.mail_host, account.key))
        if outcome is None:
            settlement.problems.append(
                f"{where}: mail server {account.mail_host} gave no result (unreachable or failed, see "
                "above); retried by the next run"
            )
            continue
        line = f"{describe(outcome)} (on {account.mail_host})"
        (settlement.problems if outcome.status == FAILED else settlement.done).append(line)
        if outcome.done or outcome.status == FAILED:
            settlement.records.append(_record(account, outcome))
    return settlement


def _record(account: Pending, outcome: Outcome) -> dict[str, Any]:
    after = {"mail_host": [account.mail_host or ""]}
    if outcome.done:
        after |= {
            "archive": [outcome.archive],
            "sha256": [outcome.sha256],
            "messages": [str(outcome.messages)],
        }
    return {
        "event": "change",
        "request": account.request,
        "document": account.document,
        "org": account.org,
        "op": ARCHIVE_OP,
        "uid": account.uid,
        "result": OK if outcome.done else (outcome.error or "failed"),
        "reason": describe(outcome) if outcome.done else None,
        "after": after,
    }
