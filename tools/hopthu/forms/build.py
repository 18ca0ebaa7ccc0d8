"""Records of an annex → the accounts of one request, and the request file's text.

Each kind takes what it needs from a record and says, at the cell, what is missing or wrong: a person
without a name, a service or unit the organisation does not have, an address outside its domains. The
text is written in the layout of a hand-written request (schema line, a comment saying where it came
from, the fields in the usual order, one comment per account naming its row in the annex), so the
merge-request diff reads like any other; ``Rendered.lines`` maps each account's lines back to its row.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hopthu.forms.annex import (
    Annex,
    Cell,
    Record,
    ValueProblem,
    code_text,
    date_value,
    phone_text,
    split_list,
    text,
)
from hopthu.forms.headers import LABELS, key
from hopthu.forms.problems import Problem, shown
from hopthu.model import Kind, Organisation, Requester, Unit
from hopthu.naming import NamingError, parse_name
from hopthu.requests import NATIONAL_ID, own_domains

EMAIL = "email"
SCHEMA_LINE = "# yaml-language-server: $schema=../../../../schemas/request.schema.json"
# Default request ids: <date>-<unit>-<what>, as the shipped examples are named.
KIND_SLUGS = {
    Kind.CREATE: "cap-moi",
    Kind.UPDATE: "thay-doi",
    Kind.RESET_PASSWORD: "cap-lai-mat-khau",
    Kind.LOCK: "khoa",
    Kind.UNLOCK: "mo-khoa",
    Kind.DELETE: "xoa",
}
UNIT_MAILBOX_SLUG = "hop-thu-don-vi"
KIND_TITLES = {
    Kind.CREATE: "Cấp mới hộp thư",
    Kind.UPDATE: "Thay đổi thông tin tài khoản",
    Kind.RESET_PASSWORD: "Cấp lại mật khẩu",
    Kind.LOCK: "Khóa tài khoản",
    Kind.UNLOCK: "Mở khóa tài khoản",
    Kind.DELETE: "Xóa tài khoản",
}
# Words a unit writes for the mail service and for "an application account" in general.
_EMAIL_WORDS = frozenset(
    {"email", "e mail", "mail", "thu dien tu", "hop thu", "hop thu dien tu", "cap email"}
)
_SOFTWARE_WORDS = frozenset({"phan mem", "tai khoan phan mem", "ung dung", "tai khoan ung dung"})
_PHONE = re.compile(r"\+?[0-9][0-9 .()-]{5,22}[0-9]")
_EMAIL_ADDRESS = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,63}")


@dataclass(frozen=True)
class Draft:
    """One account of the request: its fields in file order, and the record it came from."""

    record: Record | None  # None for accounts not read from a row (none today; kept for the roster)
    fields: dict[str, Any]
    comment: str | None = None


@dataclass
class Built:
    drafts: list[Draft] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    unit_mailboxes: bool = False  # a create of unit mailboxes (hộp thư cơ quan/đơn vị)


def needs_birth_date(org: Organisation) -> bool:
    return any("{born" in pattern for pattern in org.naming_rule)


def build_accounts(annex: Annex, kind: Kind, org: Organisation, unit: Unit) -> Built:
    """The accounts of a ``kind`` request of ``unit`` from the annex's records, every problem located."""
    built = Built(unit_mailboxes=kind is Kind.CREATE and annex.header.column("unit_name") is not None)
    reader = _Reader(annex, org, unit, built.problems)
    if kind is not Kind.CREATE and annex.header.column("username") is None:
        built.problems.append(
            Problem(
                annex.grid.row_where(annex.header.first_row),
                f"a {kind.value} names existing accounts, but the header has no column of addresses "
                f"({LABELS['username']}): add one (the template has it)",
                "header-missing",
            )
        )
        return built
    if kind is Kind.CREATE and not built.unit_mailboxes and annex.header.column("full_name") is None:
        built.problems.append(
            Problem(
                annex.grid.row_where(annex.header.first_row),
                f"the header has no {LABELS['full_name']} column: a new account needs the person's full name",
                "header-missing",
            )
        )
        return built
    for column in annex.header.unknown:
        built.problems.append(
            Problem(
                annex.grid.where(annex.header.first_row, column.index),
                f"column '{shown(column.header)}' is not one hopthu knows: left out",
                "column-ignored",
                "note",
            )
        )
    if annex.header.column("national_id") is not None:
        built.problems.append(
            Problem(
                annex.grid.where(annex.header.first_row, annex.header.column("national_id").index),
                f"column '{annex.header.column('national_id').header}' left out: national ID numbers "
                "(CMND/CCCD) are never copied into a request",
                "national-id-left-out",
                "note",
            )
        )
    if annex.header.column("birth_date") is not None and not needs_birth_date(org):
        built.problems.append(
            Problem(
                annex.grid.where(annex.header.first_row, annex.header.column("birth_date").index),
                f"birth dates left out: the naming rule of {org.code} does not need them",
                "birth-date-left-out",
                "note",
            )
        )
    make = {
        Kind.CREATE: reader.unit_mailbox if built.unit_mailboxes else reader.new_person,
        Kind.UPDATE: reader.update,
    }.get(kind, reader.named)
    for record in annex.records:
        before = len(built.problems)
        fields = make(record)
        if fields is not None:
            _refuse_identity_numbers(annex, record, fields, built.problems)
        if fields is not None and len(_errors(built.problems[before:])) == 0:
            built.drafts.append(Draft(record, fields, f"phụ lục: {_row_name(annex, record)}"))
    return built


def _refuse_identity_numbers(
    annex: Annex, record: Record, fields: dict[str, Any], problems: list[Problem]
) -> None:
    """A CMND/CCCD number typed into any column never reaches a request file, not even a staging copy."""
    values = [(name, value) for name, value in fields.items() if isinstance(value, str)]
    values += [("manager", value) for value in fields.get("manager", {}).values()]
    for name, value in values:
        if NATIONAL_ID.search(value):
            source = {"proposed_username": "username", "unit_name": "unit_name"}.get(name, name)
            problems.append(
                Problem(
                    annex.where(record, source),
                    "this looks like a national ID number (CMND/CCCD): identity numbers are never copied "
                    "into a request; remove it (a staff code is enough)",
                    "national-id",
                )
            )


def _errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def _row_name(annex: Annex, record: Record) -> str:
    grid = annex.grid
    if grid.kind == "xlsx":
        return f"{grid.name}, dòng {record.row}"
    if grid.kind == "docx":
        return f"bảng {grid.name.removeprefix('table ')}, dòng {record.row}"
    return f"dòng {record.row}"


@dataclass
class _Reader:
    """Turns one record into the fields of one account; problems go to ``problems``."""

    annex: Annex
    org: Organisation
    unit: Unit
    problems: list[Problem]

    def problem(self, record: Record, name: str | None, message: str, rule: str) -> None:
        self.problems.append(Problem(self.annex.where(record, name), message, rule))

    def text(self, record: Record, name: str) -> str | None:
        cell = record.get(name)
        value = text(cell) if cell is not None else ""
        return value or None

    # --- create (cấp mới) ---------------------------------------------------------------------------

    def new_person(self, record: Record) -> dict[str, Any] | None:
        name = self.text(record, "full_name")
        if name is None:
            self.problem(
                record, "full_name", f"no full name ({LABELS['full_name']}): fill it in", "name-missing"
            )
            return None
        try:
            parse_name(name)
        except NamingError as error:
            self.problem(record, "full_name", f"'{shown(name)}': {error}", "name-invalid")
        department = self.text(record, "department")
        if department is None and self.unit_is_department(record):
            department = self.text(record, "unit")  # the city's form: "Đơn vị" beside "Tên cơ quan cấp trên"
        else:
            self.check_unit(record)
        fields: dict[str, Any] = {"full_name": name}
        if record.get("staff_code") is not None:
            fields["staff_code"] = code_text(record.get("staff_code"))
        fields["position"] = self.text(record, "position")
        fields["department"] = department or record.group or self.unit.name
        fields["phone"] = self.phone(record, "phone")
        fields["services"] = self.services(record) or [EMAIL]
        fields["backup_email"] = self.backup_email(record)
        if needs_birth_date(self.org) and record.get("birth_date") is not None:
            fields["birth_date"] = self.date(record, "birth_date")
        proposed = self.proposed_username(record)
        if proposed:
            fields["proposed_username"] = proposed
        return {k: v for k, v in fields.items() if v is not None}

    def unit_mailbox(self, record: Record) -> dict[str, Any] | None:
        name = self.text(record, "unit_name")
        if name is None:
            self.problem(
                record, "unit_name", f"no unit name ({LABELS['unit_name']}): fill it in", "name-missing"
            )
            return None
        manager = self.manager(record)
        phone = self.phone(record, "unit_phone") or self.phone(record, "phone")
        if phone is None:
            self.problem(
                record,
                "unit_phone",
                f"no phone number of the unit ({LABELS['unit_phone']}): a unit mailbox needs one",
                "phone-missing",
            )
        fields: dict[str, Any] = {"type": "unit", "unit_name": name}
        proposed = self.proposed_username(record)
        if proposed:
            fields["proposed_username"] = proposed
        fields["parent_agency"] = self.text(record, "parent_agency") or self.unit.name
        fields["phone"] = phone
        fields["manager"] = manager
        return fields if manager is not None and phone is not None else None

    def manager(self, record: Record) -> dict[str, str] | None:
        """The mailbox's manager: from sub-columns (name, phone, address), or one cell holding them all
        (*Họ tên, điện thoại, địa chỉ hộp thư liên lạc*, by line or comma)."""
        name = self.text(record, "manager_name")
        phone = self.phone(record, "manager_phone")
        email = self.text(record, "manager_email")
        position = self.text(record, "manager_position")
        cell = record.get("manager")
        if cell is not None:
            parts = [p.strip() for p in re.split(r"[\n,;]", str(cell.value)) if p.strip()]
            for part in parts:
                if email is None and (found := _EMAIL_ADDRESS.search(part)):
                    email = found.group()
                elif phone is None and _PHONE.fullmatch(_phone_label(part)):
                    phone = _phone_label(part)
                elif name is None:
                    name = " ".join(part.split())
                elif position is None:
                    position = " ".join(part.split())
        if name is None or phone is None:
            missing = "name" if name is None else "phone number"
            self.problem(
                record,
                "manager" if cell is not None else "manager_name",
                f"the official who will manage the mailbox has no {missing}: write the name, phone and "
                "contact address of the manager",
                "manager-missing",
            )
            return None
        manager = {"name": name, "position": position, "phone": phone, "email": email}
        return {k: v for k, v in manager.items() if v}

    # --- accounts named by username ----------------------------------------------------------------

    def named(self, record: Record) -> dict[str, Any] | None:
        username = self.username(record, required=True)
        if username is None:
            return None
        fields: dict[str, Any] = {"username": username}
        if (name := self.text(record, "full_name")) is not None:
            fields["full_name"] = name
        return fields

    def update(self, record: Record) -> dict[str, Any] | None:
        fields = self.named(record)
        if fields is None:
            return None
        values = {
            "position": self.text(record, "position"),
            "department": self.text(record, "department"),
            "phone": self.phone(record, "phone"),
            "unit": self.check_unit(record, transfer=True),
            "services": self.services(record),
            "backup_email": self.backup_email(record),
        }
        if record.get("manager") is not None or record.get("manager_name") is not None:
            values["manager"] = self.manager(record)
        fields.update({k: v for k, v in values.items() if v})
        return fields

    # --- values ------------------------------------------------------------------------------------------

    def phone(self, record: Record, name: str) -> str | None:
        cell = record.get(name)
        if cell is None:
            return None
        value = _phone_label(phone_text(cell))
        if not _PHONE.fullmatch(value):
            self.problem(
                record,
                name,
                f"'{shown(value)}' is not one phone number: write digits (spaces, dots and '-' allowed), "
                "one number per cell",
                "phone-invalid",
            )
            return None
        return value

    def date(self, record: Record, name: str) -> str | None:
        try:
            return date_value(record.get(name)).isoformat()
        except ValueProblem as problem:
            self.problem(record, name, str(problem), "date-invalid")
            return None

    def backup_email(self, record: Record) -> str | None:
        value = self.text(record, "backup_email")
        if value is None:
            return None
        value = value.removeprefix("mailto:").strip()
        if not _EMAIL_ADDRESS.fullmatch(value):
            self.problem(
                record, "backup_email", f"'{shown(value)}' is not an e-mail address", "email-invalid"
            )
            return None
        return value

    def services(self, record: Record) -> list[str] | None:
        """``email`` and application group codes from the service and note columns, in the order the
        organisation lists them; None when the row names none."""
        found: set[str] = set()
        for cell in (*record.all("services"), *record.all("note")):
            for item in split_list(text(cell)):
                code = self.service(record, cell, item)
                if code:
                    found.add(code)
        if not found:
            return None
        order = [EMAIL, *self.org.app_groups]
        return [code for code in order if code in found]

    def service(self, record: Record, cell: Cell, item: str) -> str | None:
        words = key(item)
        groups = self.org.app_groups
        if words in _EMAIL_WORDS:
            return EMAIL
        for code, group in groups.items():
            if words in (code, key(group.name)) or (len(words) > 3 and words in key(group.name)):
                return code
        known = ", ".join([EMAIL, *(f"{code} ({group.name})" for code, group in groups.items())])
        where = self.annex.grid.where(record.row, cell.column)
        if words in _SOFTWARE_WORDS:
            if len(groups) == 1:
                return next(iter(groups))
            self.problems.append(
                Problem(
                    where,
                    f"'{shown(item)}': {self.org.code} has several applications; name the one wanted: "
                    f"{known}",
                    "service-ambiguous",
                )
            )
            return None
        self.problems.append(
            Problem(
                where,
                f"unknown service '{shown(item)}' for {self.org.code}: write {known}",
                "service-unknown",
            )
        )
        return None

    def unit_is_department(self, record: Record) -> bool:
        """A form without a department column whose *Đơn vị* is not one of the organisation's units
        names the person's department (phòng, khoa) inside the requesting unit."""
        cell = record.get("unit")
        return (
            cell is not None
            and self.annex.header.column("department") is None
            and unit_code(self.org, text(cell)) is None
            and not any(unit_code(self.org, text(c)) for r in self.annex.records if (c := r.get("unit")))
        )

    def check_unit(self, record: Record, *, transfer: bool = False) -> str | None:
        """The unit a row names (code or name), which must be the organisation's; for a new account it
        must be the requesting unit (a unit asks only for its own staff)."""
        cell = record.get("unit")
        if cell is None:
            return None
        written = text(cell)
        code = unit_code(self.org, written)
        if code is None:
            known = ", ".join(f"{u.code} ({u.name})" for u in self.org.units.values())
            self.problem(
                record,
                "unit",
                f"unknown unit '{shown(written)}' of {self.org.code}: write one of {known}",
                "unit-unknown",
            )
            return None
        if not transfer and code != self.unit.code:
            self.problem(
                record,
                "unit",
                f"this row is for unit {code}, but the request is for {self.unit.code}: a unit asks only for "
                f"its own staff; send this row in {code}'s annex",
                "unit-other",
            )
            return None
        return code if transfer and code != self.unit.code else None

    def username(self, record: Record, *, required: bool) -> str | None:
        cell = record.get("username")
        if cell is None:
            if required:
                self.problem(
                    record,
                    "username",
                    f"no account ({LABELS['username']}): write the username or address",
                    "username-missing",
                )
            return None
        value = text(cell).lower().removeprefix("mailto:")
        local, at, domain = value.partition("@")
        if at and domain not in self.domains():
            self.problem(
                record,
                "username",
                f"'{shown(value)}' is not an address of {self.org.code} "
                f"({', '.join(sorted(self.domains()))})",
                "username-domain",
            )
            return None
        return local.strip()

    def proposed_username(self, record: Record) -> str | None:
        return self.username(record, required=False) if record.get("username") is not None else None

    def domains(self) -> set[str]:
        return own_domains(self.org)


def unit_code(org: Organisation, written: str) -> str | None:
    """The code of the unit ``written`` names: its code, its name, or "code - name"."""
    words = key(written)
    for unit in org.units.values():
        if words in (unit.code, key(unit.name)) or words.startswith(f"{unit.code} "):
            return unit.code
    return None


def _phone_label(value: str) -> str:
    """``ĐT: 0912 345 601`` / ``Điện thoại 0912…`` → the number."""
    return re.sub(r"^\D*?(?=\+?\d)", "", value.strip()) if re.search(r"\d", value) else value.strip()


# --- the file ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestHead:
    id: str
    org: str
    unit: str
    kind: Kind
    number: str
    date: dt.date
    signer: str
    requester: Requester
    reason: str
    comments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rendered:
    text: str
    # account index → (first line, last line, {field: line}); lines are 1-based
    lines: tuple[tuple[int, int, dict[str, int]], ...]


PERSON_ORDER = (
    "full_name",
    "username",
    "staff_code",
    "position",
    "department",
    "phone",
    "services",
    "backup_email",
    "birth_date",
)
UNIT_ORDER = ("type", "unit_name", "username", "parent_agency", "phone", "manager")
CHANGE_ORDER = (
    "username",
    "full_name",
    "position",
    "department",
    "phone",
    "unit",
    "services",
    "backup_email",
    "manager",
)
MANAGER_ORDER = ("name", "position", "phone", "email")


def render_request(head: RequestHead, accounts: list[dict[str, Any]], comments: list[str | None]) -> Rendered:
    lines = [SCHEMA_LINE, *(f"# {c}" for c in head.comments)]
    lines += [
        f"id: {head.id}",
        f"org: {head.org}",
        f"unit: {head.unit}",
        f"kind: {head.kind.value}",
        "document:",
        f"  number: {scalar(head.number)}",
        f"  date: {head.date.isoformat()}",
        f"  signer: {scalar(head.signer)}",
        "requester:",
        f"  name: {scalar(head.requester.name)}",
        f"  position: {scalar(head.requester.position)}",
        f"  phone: {quoted(head.requester.phone or '')}",
        f"  email: {scalar(head.requester.email or '')}",
        f"reason: {scalar(head.reason)}",
        "accounts:",
    ]
    spans = []
    for account, comment in zip(accounts, comments, strict=True):
        if comment:
            lines.append(f"  # {comment}")
        first = len(lines) + 1
        at: dict[str, int] = {}
        order = UNIT_ORDER if account.get("type") == "unit" else PERSON_ORDER
        if head.kind is not Kind.CREATE:
            order = CHANGE_ORDER
        for position, name in enumerate(k for k in order if k in account):
            prefix = "  - " if position == 0 else "    "
            at[name] = len(lines) + 1
            value = account[name]
            if name == "manager":
                lines.append(f"{prefix}manager:")
                lines += [f"      {k}: {_value(k, value[k])}" for k in MANAGER_ORDER if k in value]
            else:
                lines.append(f"{prefix}{name}: {_value(name, value)}")
        spans.append((first, len(lines), at))
    return Rendered("\n".join(lines) + "\n", tuple(spans))


def _value(name: str, value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]"  # codes: always plain
    if name in ("phone", "staff_code"):
        return quoted(value)
    if name in ("birth_date", "username", "type", "unit"):
        return str(value)
    return scalar(value)


_PLAIN = re.compile(r"[^\W\d_][^\n\r\t\"'#:\\]*")
_YAML_WORDS = frozenset({"yes", "no", "on", "off", "y", "n", "true", "false", "null"})


def scalar(value: str) -> str:
    """A YAML scalar that reads back as exactly ``value``, as a string: plain when that is safe, else
    double-quoted (JSON's escaping is valid YAML)."""
    plain = (
        _PLAIN.fullmatch(value) is not None
        and value == value.strip()
        and value.lower() not in _YAML_WORDS
        and value.isprintable()
    )
    return value if plain else quoted(value)


def quoted(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)
