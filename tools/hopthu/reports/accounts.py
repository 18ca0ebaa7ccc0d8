"""The accounts of one organisation as the reports see them, read from the live directory in one pass.

Read as whoever the connections file names: the plan-reader identity (``plan-directory.json``,
``$HOPTHU_PLAN_DIRECTORY``) is enough and is what the reports should use — it reads every attribute of
the accounts but ``userPassword``, operational ones (``createTimestamp``, ``authTimestamp``) included,
and writes nothing. One streamed search per container (``hopthu.directory.lookup.stream_search``): a
100,000-account organisation is read in a few seconds and never held as LDAP messages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import ldap3

from hopthu.directory import dn, lookup
from hopthu.directory.reader import parse_generalized_time
from hopthu.model import Organisation
from hopthu.reports.progress import Progress

# The backup address (email dự phòng) of a person; absent where the directory does not have it yet.
BACKUP_MAIL = "hopthuBackupMail"
ATTRIBUTES = (
    "uid",
    "cn",
    "sn",
    "givenName",
    "title",
    "ou",
    "o",
    "mail",
    BACKUP_MAIL,
    "telephoneNumber",
    "departmentNumber",
    "employeeNumber",
    "hopthuManagerName",
    "hopthuManagerPhone",
    "hopthuManagerMail",
    "hopthuManagerTitle",
    "pwdAccountLockedTime",
    "hopthuLockedTime",
    "createTimestamp",
    "authTimestamp",  # the last successful bind: slapd's lastbind overlay (database.ldif.j2)
)
PERSON, MAILBOX = "person", "mailbox"


@dataclass(frozen=True)
class Manager:
    name: str
    phone: str = ""
    mail: str = ""
    title: str = ""


@dataclass(frozen=True)
class Account:
    """What a report shows of one account (empty text where the directory has nothing)."""

    uid: str
    kind: str  # person | mailbox (a unit mailbox, hộp thư cơ quan/đơn vị)
    dn: str
    name: str  # cn: the person's full name, or the unit's
    surname: str = ""
    given: str = ""
    title: str = ""  # chức vụ
    department: str = ""  # ou: phòng, khoa
    agency: str = ""  # o: a unit mailbox's parent agency
    mail: str = ""
    backup_mail: str = ""
    phone: str = ""
    unit: str = ""  # departmentNumber: the unit code of the inventory
    staff_code: str = ""
    manager: Manager | None = None  # of a unit mailbox
    locked: bool = False
    locked_at: dt.datetime | None = None
    created: dt.datetime | None = None
    last_login: dt.datetime | None = None


def read_accounts(
    conn: ldap3.Connection, org: Organisation, progress: Progress | None = None
) -> Iterator[Account]:
    """Every account of ``org`` (people, then unit mailboxes), as they come from the directory."""
    present = lookup.encode_present("uid")
    for ou, kind in ((dn.PEOPLE, PERSON), (dn.MAILBOXES, MAILBOX)):
        for entry in lookup.stream_search(conn, dn.container_dn(org, ou), ldap3.LEVEL, present, ATTRIBUTES):
            account = account_of(entry, kind)
            if account is not None:
                yield account
            if progress is not None:
                progress.advance()


def account_of(entry: dict, kind: str) -> Account | None:
    """An entry (``dn``, ``raw_attributes``) as an ``Account``; None without a uid."""
    raw = entry["raw_attributes"]

    def text(name: str) -> str:
        values = raw.get(name)
        return values[0].decode("utf-8", "replace") if values else ""

    uid = text("uid")
    if not uid:
        return None
    manager = None
    if kind == MAILBOX and raw.get("hopthuManagerName"):
        manager = Manager(
            text("hopthuManagerName"),
            text("hopthuManagerPhone"),
            text("hopthuManagerMail"),
            text("hopthuManagerTitle"),
        )
    return Account(
        uid=uid,
        kind=kind,
        dn=entry["dn"],
        name=text("cn"),
        surname=text("sn"),
        given=text("givenName"),
        title=text("title"),
        department=text("ou"),
        agency=text("o"),
        mail=text("mail"),
        backup_mail=text(BACKUP_MAIL),
        phone=text("telephoneNumber"),
        unit=text("departmentNumber"),
        staff_code=text("employeeNumber"),
        manager=manager,
        locked=bool(raw.get("pwdAccountLockedTime")),
        locked_at=_time(text("hopthuLockedTime")),
        created=_time(text("createTimestamp")),
        last_login=_time(text("authTimestamp")),
    )


def _time(value: str) -> dt.datetime | None:
    return parse_generalized_time(value) if value else None
