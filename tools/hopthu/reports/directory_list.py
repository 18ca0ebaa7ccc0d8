"""The directory list (danh bạ thư điện tử) an agency publishes: per unit, its unit mailboxes (with the
official who manages each) and its staff, in the columns of the published lists.

Pure: accounts → a ``Report`` (CSV, XLSX, HTML through ``formats``), vCard 4.0 (RFC 6350) or LDIF
(RFC 2849). Accounts without a mailbox (only ``tài khoản phần mềm``) are not in a list of mailboxes;
locked accounts (khóa) are left out unless asked for.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import unicodedata
import uuid
from collections.abc import Iterable, Iterator
from typing import IO

from hopthu.model import Organisation
from hopthu.reports.accounts import MAILBOX, Account
from hopthu.reports.tables import Column, Report, Section

FORMATS = ("csv", "xlsx", "html", "vcf", "ldif")
COLUMNS = (
    Column("number", "STT", 6),
    Column("address", "Tài khoản người dùng", 34),
    Column("name", "Họ và tên", 28),
    Column("title", "Chức vụ", 24),
    Column("backup_mail", "Email dự phòng", 30),
    Column("department", "Phòng, ban", 26),
    Column("unit", "Đơn vị", 32),
    Column("phone", "Điện thoại", 16),
    Column("manager", "Người quản lý hộp thư", 32),
)
STATE = Column("state", "Tình trạng", 14)
OTHER_UNIT = "Chưa xác định đơn vị"
_UUID_SPACE = uuid.UUID("6f1d3c52-34b4-5c1e-9a5e-8c0f2b1d7a40")  # hopthu's namespace for vCard UIDs


def listed(
    accounts: Iterable[Account], unit: str | None = None, include_locked: bool = False
) -> list[Account]:
    """The accounts of the list: with a mailbox, of ``unit`` when given, unlocked unless asked for."""
    return [
        account
        for account in accounts
        if account.mail and (unit is None or account.unit == unit) and (include_locked or not account.locked)
    ]


def sort_key(account: Account) -> tuple:
    """Unit mailboxes first, then people by given name and full name, as Vietnamese lists are ordered."""
    given = account.given or (account.name.split()[-1] if account.name.split() else "")
    return (account.kind != MAILBOX, _folded(given), _folded(account.name), account.uid)


def _folded(text: str) -> str:
    """Text without its marks, for sorting: Ánh with Anh, Đức after Dung (đ sorts as d)."""
    plain = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in plain if not unicodedata.combining(ch)).casefold()


def by_unit(org: Organisation, accounts: Iterable[Account]) -> list[tuple[str, str, list[Account]]]:
    """(unit code, unit name, its accounts sorted) in the inventory's order of units; accounts of no
    known unit last."""
    groups: dict[str, list[Account]] = {}
    for account in accounts:
        groups.setdefault(account.unit if account.unit in org.units else "", []).append(account)
    order = [code for code in org.units if code in groups] + ([""] if "" in groups else [])
    return [
        (code, org.units[code].name if code else OTHER_UNIT, sorted(groups[code], key=sort_key))
        for code in order
    ]


def manager_text(account: Account) -> str:
    manager = account.manager
    if manager is None:
        return ""
    details = ", ".join(part for part in (manager.title, manager.phone, manager.mail) if part)
    return f"{manager.name} ({details})" if details else manager.name


def _title(account: Account) -> str:
    return account.title or ("Hộp thư cơ quan, đơn vị" if account.kind == MAILBOX else "")


def report(
    org: Organisation, accounts: Iterable[Account], today: dt.date, include_locked: bool = False
) -> Report:
    """The danh bạ as a document: one section (one XLSX sheet) per unit."""
    columns = COLUMNS + ((STATE,) if include_locked else ())
    sections = []
    for _code, unit_name, members in by_unit(org, accounts):
        rows = []
        for number, account in enumerate(members, 1):
            row = [
                number,
                account.mail,
                account.name,
                _title(account),
                account.backup_mail,
                account.department or account.agency,
                unit_name,
                account.phone,
                manager_text(account),
            ]
            if include_locked:
                row.append("Đã khóa" if account.locked else "Đang sử dụng")
            rows.append(row)
        sections.append(Section(unit_name, columns, rows))
    total = sum(len(section.rows) for section in sections)
    notes = [f"Tổng số: {total} hộp thư."]
    return Report(org, "DANH BẠ THƯ ĐIỆN TỬ", org.name, today, sections, notes)


def as_json(org: Organisation, accounts: Iterable[Account]) -> Iterator[dict[str, object]]:
    for _code, unit_name, members in by_unit(org, accounts):
        for account in members:
            yield {
                "uid": account.uid,
                "kind": account.kind,
                "address": account.mail,
                "name": account.name,
                "title": account.title,
                "backup_mail": account.backup_mail or None,
                "department": account.department or account.agency or None,
                "unit": account.unit or None,
                "unit_name": unit_name,
                "phone": account.phone or None,
                "manager": account.manager._asdict() if account.manager else None,
                "locked": account.locked,
            }


# --- vCard 4.0 (RFC 6350) ------------------------------------------------------------------------------


def vcard_text(value: str) -> str:
    """A text value escaped (RFC 6350 3.4): backslash, comma, semicolon and line breaks."""
    return (
        value.replace("\\", "\\\\")
        .replace(",", "\\,")
        .replace(";", "\\;")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def fold(line: str) -> str:
    """A content line folded at 75 octets (RFC 6350 3.2), never inside a UTF-8 character, CRLF-ended."""
    data = line.encode("utf-8")
    if len(data) <= 75:
        return line + "\r\n"
    parts, start, limit = [], 0, 75
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # a continuation byte: step back
            end -= 1
        parts.append(data[start:end].decode("utf-8"))
        start, limit = end, 74  # continuation lines start with a space
    return "\r\n ".join(parts) + "\r\n"


def _name_parts(account: Account) -> tuple[str, str, str]:
    """(family, given, middle) of a Vietnamese full name: surname first, given name last."""
    words = account.name.split()
    family = account.surname or (words[0] if words else "")
    given = account.given or (words[-1] if len(words) > 1 else "")
    middle = words[1:-1] if len(words) > 2 and words[0] == family and words[-1] == given else []
    return family, given, " ".join(middle)


def vcard(org: Organisation, account: Account, unit_name: str) -> str:
    """One card: a person (KIND:individual), or a unit mailbox (KIND:org) with its manager."""
    lines = ["BEGIN:VCARD", "VERSION:4.0"]
    if account.kind == MAILBOX:
        lines += ["KIND:org", f"FN:{vcard_text(account.name)}", f"ORG:{vcard_text(account.name)}"]
    else:
        family, given, middle = _name_parts(account)
        lines += [
            "KIND:individual",
            f"FN:{vcard_text(account.name)}",
            f"N:{vcard_text(family)};{vcard_text(given)};{vcard_text(middle)};;",
            f"ORG:{vcard_text(org.name)};{vcard_text(unit_name)}"
            + (f";{vcard_text(account.department)}" if account.department else ""),
        ]
        if account.title:
            lines.append(f"TITLE:{vcard_text(account.title)}")
    lines.append(f"EMAIL;TYPE=work;PREF=1:{vcard_text(account.mail)}")
    if account.backup_mail:
        lines.append(f"EMAIL;TYPE=home:{vcard_text(account.backup_mail)}")
    if account.phone:
        lines.append(f"TEL;VALUE=text;TYPE=work,voice:{vcard_text(account.phone)}")
    if account.manager is not None:
        lines.append(f"NOTE:{vcard_text('Người quản lý hộp thư: ' + manager_text(account))}")
    lines.append(f"UID:urn:uuid:{uuid.uuid5(_UUID_SPACE, f'{org.code}/{account.uid}')}")
    lines.append("END:VCARD")
    return "".join(fold(line) for line in lines)


def write_vcards(org: Organisation, accounts: Iterable[Account], out: IO[str]) -> None:
    """One card per account, in the order of the list."""
    for _code, unit_name, members in by_unit(org, accounts):
        for account in members:
            out.write(vcard(org, account, unit_name))


# --- LDIF (RFC 2849) -----------------------------------------------------------------------------------

_SAFE = re.compile(r"[\x01-\x09\x0b\x0c\x0e-\x1f\x21-\x39\x3b\x3d-\x7f][\x01-\x09\x0b\x0c\x0e-\x7f]*")
LDIF_ATTRIBUTES = (
    ("uid", "uid"),
    ("cn", "name"),
    ("sn", "surname"),
    ("givenName", "given"),
    ("title", "title"),
    ("ou", "department"),
    ("o", "agency"),
    ("mail", "mail"),
    ("telephoneNumber", "phone"),
    ("departmentNumber", "unit"),
)


def ldif_line(attribute: str, value: str) -> str:
    """``attribute: value``, or ``attribute:: base64`` when the value is not a SAFE-STRING (non-ASCII,
    a leading space, colon or ``<``, a trailing space), folded at 76 columns."""
    if value and _SAFE.fullmatch(value) and not value.endswith(" "):
        line = f"{attribute}: {value}"
    else:
        line = f"{attribute}:: {base64.b64encode(value.encode('utf-8')).decode('ascii')}"
    if len(line) <= 76:  # every line is ASCII here: characters are octets
        return line + "\n"
    return "\n ".join([line[:76]] + [line[i : i + 75] for i in range(76, len(line), 75)]) + "\n"


def write_ldif(org: Organisation, accounts: Iterable[Account], out: IO[str]) -> None:
    """The listed accounts as LDIF content records: their public attributes, the backup address and a
    unit mailbox's manager (hopthu's schema) when present."""
    out.write("version: 1\n")
    first = True
    for _code, _unit_name, members in by_unit(org, accounts):
        for account in members:
            classes = ["top", "person", "organizationalPerson", "inetOrgPerson", "hopthuAccount"]
            if account.kind == MAILBOX:
                classes.append("hopthuUnitMailbox")
            # Records are separated by a blank line; the version line needs none after it (RFC 2849).
            parts = ["" if first else "\n", ldif_line("dn", account.dn)]
            first = False
            parts += [ldif_line("objectClass", name) for name in classes]
            parts += [
                ldif_line(attribute, getattr(account, field))
                for attribute, field in LDIF_ATTRIBUTES
                if getattr(account, field)
            ]
            if account.backup_mail:
                parts.append(ldif_line("hopthuBackupMail", account.backup_mail))
            if account.manager is not None:
                manager = account.manager
                for attribute, value in (
                    ("hopthuManagerName", manager.name),
                    ("hopthuManagerTitle", manager.title),
                    ("hopthuManagerPhone", manager.phone),
                    ("hopthuManagerMail", manager.mail),
                ):
                    if value:
                        parts.append(ldif_line(attribute, value))
            out.write("".join(parts))
