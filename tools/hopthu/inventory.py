"""Inventory files → ``Inventory``: organisations, units, application groups, naming rules.

The inventory is Ansible's: hopthu reads the variables of the group ``all`` (``group_vars/all/*.yml``, or
``group_vars/all.yml``) next to the hosts files, so the playbooks and the CLI share one source of truth.
Variables read: ``hopthu_organisations`` (a list), ``hopthu_password_policy`` (optional default for all
organisations) and ``hopthu_calendar`` (optional: days closed or worked that the national holiday calendar
does not know, for every organisation). Other variables, vault files and ``!vault`` values are left to
Ansible.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hopthu.findings import Finding, field_name, render_text, schema_findings, schema_validator, sort_findings
from hopthu.model import (
    AppGroup,
    Inventory,
    Organisation,
    PasswordPage,
    PasswordPolicy,
    RateLimit,
    Requester,
    Unit,
)
from hopthu.naming import AGENCY_DEFAULT_RULE, DEFAULT_RULE, NamingError, PatternError, compile_rule
from hopthu.text import text_problems
from hopthu.yamlsafe import Document, FileRefused, YamlError, load, read_text

# tools/hopthu/schemas is a link to the top-level schemas/, so a built wheel carries them too.
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
ORGANISATIONS_VAR = "hopthu_organisations"
PASSWORD_POLICY_VAR = "hopthu_password_policy"
CALENDAR_VAR = "hopthu_calendar"
VARIABLES = (ORGANISATIONS_VAR, PASSWORD_POLICY_VAR, CALENDAR_VAR)
SATURDAY = 5

# Names no person or unit ever gets, whatever the inventory says (RFC 2142 role mailboxes and the like).
ALWAYS_RESERVED = frozenset(
    {
        "abuse",
        "admin",
        "administrator",
        "hostmaster",
        "info",
        "mailer-daemon",
        "noc",
        "no-reply",
        "noreply",
        "postmaster",
        "root",
        "security",
        "support",
        "webmaster",
    }
)
DEFAULTS: dict[str, Any] = {
    "retention_days": 90,
    "sla_working_days": 2,
    "mailbox_quota_mb": 2048,
    "locked_mail": "accept",
    "mass_change_cap": 50,
    "place": "",
    "issuer": "",
    "issuer_abbrev": "CNTT",
    "notice_retention_years": 10,
    "letter_required": False,
    "idle_days": 180,
}
_RDN = re.compile(r"^[A-Za-z][A-Za-z0-9-]*=[^,=+\\\"<>;#\s][^,=+\\\"<>;]*$")


class InventoryError(Exception):
    """The inventory cannot be used; ``findings`` says where and why."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = sort_findings(findings)
        super().__init__(render_text(self.findings).rstrip("\n"))


def inventory_dir(path: Path) -> Path:
    """The inventory directory: ``path`` itself, or the directory of a hosts file (inventory/dev.yml)."""
    return path if path.is_dir() else path.parent


def variable_file_names(names: Iterable[str]) -> list[str]:
    """Of ``names`` (paths relative to the inventory directory, ``/``-separated), the files holding the
    variables of group ``all``, in the order Ansible reads them: ``group_vars/all.yml`` (or ``.yaml``),
    then the files right inside ``group_vars/all/``, by name."""
    names = set(names)
    found = [name for name in ("group_vars/all.yml", "group_vars/all.yaml") if name in names]
    inside = [
        name
        for name in names
        if name.startswith("group_vars/all/")
        and "/" not in name[len("group_vars/all/") :]
        and name.endswith((".yml", ".yaml"))
    ]
    return found + sorted(inside)


def variable_files(directory: Path) -> list[Path]:
    """The files holding the variables of group ``all``, in the order Ansible reads them."""
    group_vars = directory / "group_vars"
    names = [f"group_vars/{p.name}" for p in group_vars.glob("all.y*ml") if p.is_file()]
    if (group_vars / "all").is_dir():
        names += [f"group_vars/all/{p.name}" for p in (group_vars / "all").iterdir() if p.is_file()]
    return [directory / name for name in variable_file_names(names)]


def load_inventory(path: Path) -> Inventory:
    """Read and check the inventory at ``path`` (a directory, or a hosts file inside it)."""
    path = Path(path)
    if not path.exists():
        raise InventoryError(
            [Finding(str(path), 1, 1, "no such inventory directory or hosts file", "inventory-missing")]
        )
    directory = inventory_dir(path)
    files = variable_files(directory)
    if not directory.is_dir() or not files:
        where = str(directory / "group_vars" / "all")
        raise InventoryError(
            [
                Finding(
                    where,
                    1,
                    1,
                    f"no inventory variables found: create {where}/hopthu.yml",
                    "inventory-missing",
                )
            ]
        )
    findings: list[Finding] = []
    texts = [(str(file), text) for file in files if (text := _read_text(file, findings)) is not None]
    return parse_inventory(texts, directory, findings)


def parse_inventory(
    texts: Sequence[tuple[str, str]], directory: Path, findings: Iterable[Finding] = ()
) -> Inventory:
    """The inventory from the text of its variable files: (path as findings show it, text), in the order
    of ``variable_files``. The files may come from the work tree or from a git commit (they are never
    written out for that). ``findings`` are problems already found (unreadable files): they fail too."""
    findings = list(findings)
    found: dict[str, tuple[str, Document]] = {}  # variable → (file, document) that defines it
    for shown, text in texts:
        document = _parse_variables(shown, text, findings)
        if document is None:
            continue
        findings += schema_findings(schema_validator(SCHEMA_DIR / "inventory.schema.json"), document, shown)
        for variable in VARIABLES:
            if variable not in document.data:
                continue
            earlier = found.get(variable)
            if earlier is not None:
                line, col = document.locate((variable,))
                findings.append(
                    Finding(
                        shown,
                        line,
                        col,
                        f"{variable} is also defined in {earlier[0]}: Ansible keeps only one of them; "
                        "define it in one file",
                        "inventory-duplicate-variable",
                        field=variable,
                    )
                )
            else:
                found[variable] = (shown, document)
    organisations_doc = found.get(ORGANISATIONS_VAR)
    if organisations_doc is None and not findings:
        first = texts[0][0] if texts else str(directory / "group_vars" / "all")
        findings.append(
            Finding(
                first,
                1,
                1,
                f"{ORGANISATIONS_VAR} is not defined in {directory}/group_vars/all",
                "inventory-missing",
            )
        )
    if findings:
        raise InventoryError(findings)
    assert organisations_doc is not None
    policy_doc = found.get(PASSWORD_POLICY_VAR)
    default_policy = _password_policy(
        policy_doc[1].data[PASSWORD_POLICY_VAR] if policy_doc else None, PasswordPolicy()
    )
    national: tuple[dict[dt.date, str], dict[dt.date, str]] = ({}, {})
    if CALENDAR_VAR in found:
        calendar_shown, calendar_doc = found[CALENDAR_VAR]
        national = _calendar(calendar_doc, (CALENDAR_VAR,), calendar_shown, findings)
    shown, document = organisations_doc
    findings += check_organisations(document, shown)
    calendars = [
        _calendar(document, (ORGANISATIONS_VAR, index, "calendar"), shown, findings)
        for index in range(len(document.data[ORGANISATIONS_VAR]))
    ]
    if findings:
        raise InventoryError(findings)
    organisations = [
        _organisation(raw, default_policy, national, own)
        for raw, own in zip(document.data[ORGANISATIONS_VAR], calendars, strict=True)
    ]
    return Inventory({org.code: org for org in organisations}, path=directory)


def unit_locations(path: Path) -> dict[tuple[str, str], tuple[str, int, int, str]]:
    """(org code, unit code) → (file, line, col, field path) of the unit's ``requesters`` in the inventory
    at ``path``.

    For messages about a unit; best effort: a file that cannot be read or parsed locates nothing (loading
    the inventory reports why).
    """
    locations: dict[tuple[str, str], tuple[str, int, int, str]] = {}
    for file in variable_files(inventory_dir(Path(path))):
        text = _read_text(file, [])
        document = _parse_variables(str(file), text, []) if text is not None else None
        organisations = document.data.get(ORGANISATIONS_VAR) if document is not None else None
        if not isinstance(organisations, list):
            continue
        for index, org in enumerate(organisations):
            units = org.get("units") if isinstance(org, dict) else None
            for unit_index, unit in enumerate(units if isinstance(units, list) else []):
                if isinstance(unit, dict) and "code" in unit and "code" in org:
                    where = (ORGANISATIONS_VAR, index, "units", unit_index, "requesters")
                    line, col = document.locate(where)
                    locations[(str(org["code"]), str(unit["code"]))] = (
                        str(file),
                        line,
                        col,
                        field_name(where),
                    )
    return locations


def _read_text(file: Path, findings: list[Finding]) -> str | None:
    """The file's text, or None (unreadable: then a finding says why)."""
    try:
        return read_text(file)
    except FileRefused as refused:
        findings.append(Finding(str(file), 1, 1, refused.message, refused.rule))
        return None
    except (OSError, UnicodeDecodeError) as error:
        findings.append(
            Finding(str(file), 1, 1, f"cannot read the file as UTF-8 text: {error}", "file-unreadable")
        )
        return None


def _parse_variables(shown: str, text: str, findings: list[Finding]) -> Document | None:
    """The variables of one file, or None (vault file, empty, or not YAML: then a finding says why)."""
    if text.startswith("$ANSIBLE_VAULT"):
        return None  # an encrypted vault file holds secrets, never hopthu's organisations
    try:
        document = load(text, allowed_tags=frozenset({"!vault"}))
    except YamlError as error:
        findings += [Finding(shown, p.line, p.col, p.message, f"yaml-{p.rule}") for p in error.problems]
        return None
    if document.data is None:
        return None
    if not isinstance(document.data, dict):
        findings.append(
            Finding(shown, 1, 1, "inventory variables must be a mapping (name: value)", "schema-type")
        )
        return None
    return document


def check_organisations(document: Document, shown: str) -> list[Finding]:
    """What the schema cannot say: unique codes, valid naming rules and LDAP suffixes."""
    findings: list[Finding] = []

    def finding(path: tuple[str | int, ...], message: str, rule: str) -> None:
        line, col = document.locate(path)
        findings.append(Finding(shown, line, col, message, rule, field=field_name(path)))

    organisations = document.data[ORGANISATIONS_VAR]
    base = (ORGANISATIONS_VAR,)
    # Names and titles reach the directory and the notices; only a signer's title prints on several lines.
    for where, message, rule in text_problems(organisations, multiline={"title"}, here=base):
        finding(where, f"{field_name(where)}: {message}", rule)
    for field in ("code", "base_dn", "mail_domain"):
        for index, first in _duplicates(org[field] for org in organisations):
            finding(
                (*base, index, field),
                f"{field} '{organisations[index][field]}' is already used by {field_name((*base, first))}",
                "inventory-duplicate",
            )
    for index, org in enumerate(organisations):
        here = (*base, index)
        if not _is_dn(org["base_dn"]):
            finding(
                (*here, "base_dn"),
                "base_dn is not an LDAP DN such as dc=binhthuan,dc=gov,dc=vn",
                "inventory-base-dn",
            )
        try:
            compile_rule(org.get("naming_rule", DEFAULT_RULE))
        except NamingError as error:
            at = (*here, "naming_rule")
            if isinstance(error, PatternError):
                at = (*at, error.index)  # the offending pattern's own line
            finding(at, f"{field_name(at[len(here) :])}: {error}", "inventory-naming-rule")
        try:
            compile_rule(org.get("mailbox_rule", AGENCY_DEFAULT_RULE), agency=True)
        except NamingError as error:
            finding((*here, "mailbox_rule"), f"mailbox_rule: {error}", "inventory-naming-rule")
        for collection in ("units", "app_groups"):
            items = org.get(collection, [])
            for item_index, first in _duplicates(item["code"] for item in items):
                finding(
                    (*here, collection, item_index, "code"),
                    f"code '{items[item_index]['code']}' is already used by "
                    f"{field_name((*here, collection, first))}",
                    "inventory-duplicate",
                )
        for group_index, group in enumerate(org.get("app_groups", [])):
            if group["code"] == "email":
                finding(
                    (*here, "app_groups", group_index, "code"),
                    "'email' is the mail service itself, not an application group: choose another code",
                    "inventory-duplicate",
                )
    return findings


def _calendar(
    document: Document, where: tuple[str | int, ...], shown: str, findings: list[Finding]
) -> tuple[dict[dt.date, str], dict[dt.date, str]]:
    """(closed days, worked days) of a calendar list (``hopthu_calendar`` or an organisation's
    ``calendar``), each with its reason; a date that is not real, a range that ends before it starts, or
    a worked day that is no weekend day is a finding at its line."""
    closed: dict[dt.date, str] = {}
    worked: dict[dt.date, str] = {}
    items = document.data
    for part in where:
        items = items[part] if isinstance(items, dict) and part in items else None
        if items is None:
            return closed, worked
    if not isinstance(items, list):
        return closed, worked

    def finding(path: tuple[str | int, ...], message: str) -> None:
        line, col = document.locate(path)
        findings.append(Finding(shown, line, col, message, "inventory-calendar", field=field_name(path)))

    for index, item in enumerate(items):
        here = (*where, index)
        dates: dict[str, dt.date] = {}
        for key in ("closed", "until", "worked"):
            if key in item:
                try:
                    dates[key] = dt.date.fromisoformat(item[key])
                except ValueError:
                    finding((*here, key), f"{key}: {item[key]!r} is not a real date (YYYY-MM-DD)")
        reason = item["reason"]
        if "until" in dates and "closed" in dates and dates["until"] < dates["closed"]:
            finding((*here, "until"), "until: the last closed day comes before the first (closed)")
            continue
        if "worked" in dates and dates["worked"].weekday() < SATURDAY:
            finding(
                (*here, "worked"),
                f"worked: {dates['worked']} is a weekday, a working day anyway; give the Saturday or Sunday "
                "worked instead of a day off (làm bù)",
            )
            continue
        if "closed" in dates:
            day = dates["closed"]
            while day <= dates.get("until", dates["closed"]):
                closed[day] = reason
                day += dt.timedelta(days=1)
        if "worked" in dates:
            worked[dates["worked"]] = reason
    return closed, worked


def _duplicates(values: Iterable[str]) -> list[tuple[int, int]]:
    """(index, index of the first occurrence) of every repeated value."""
    first: dict[str, int] = {}
    repeated = []
    for index, value in enumerate(values):
        if value in first:
            repeated.append((index, first[value]))
        else:
            first[value] = index
    return repeated


def _is_dn(text: str) -> bool:
    return all(_RDN.match(rdn.strip()) for rdn in text.split(","))


def _password_policy(raw: dict[str, Any] | None, default: PasswordPolicy) -> PasswordPolicy:
    if not raw:
        return default
    return PasswordPolicy(
        length=raw.get("length", default.length),
        classes=tuple(raw.get("classes", default.classes)),
        min_length=raw.get("min_length", default.min_length),
        min_classes=raw.get("min_classes", default.min_classes),
        history=raw.get("history", default.history),
        min_age_hours=raw.get("min_age_hours", default.min_age_hours),
    )


def _password_page(raw: dict[str, Any] | None) -> PasswordPage | None:
    if raw is None:
        return None
    default = PasswordPage(raw["url"])
    limits = {
        name: RateLimit(**raw[name]) if name in raw else getattr(default, name)
        for name in ("per_login", "per_address")
    }
    return PasswordPage(raw["url"], reset_by_link=raw.get("reset_by_link", False), **limits)


def _requester(raw: dict[str, Any]) -> Requester:
    return Requester(
        name=raw["name"], position=raw["position"], phone=raw.get("phone"), email=raw.get("email")
    )


def _organisation(
    raw: dict[str, Any],
    default_policy: PasswordPolicy,
    national: tuple[dict[dt.date, str], dict[dt.date, str]],
    own: tuple[dict[dt.date, str], dict[dt.date, str]],
) -> Organisation:
    values = {**DEFAULTS, **raw}
    units = {
        unit["code"]: Unit(
            code=unit["code"],
            name=unit["name"],
            mailbox=unit["mailbox"],
            requesters=tuple(_requester(r) for r in unit["requesters"]),
            mail_domain=unit.get("mail_domain"),
        )
        for unit in raw["units"]
    }
    return Organisation(
        code=raw["code"],
        name=raw["name"],
        parent=raw["parent"],
        mail_domain=raw["mail_domain"],
        base_dn=raw["base_dn"],
        naming_rule=tuple(raw.get("naming_rule", DEFAULT_RULE)),
        mailbox_rule=tuple(raw.get("mailbox_rule", AGENCY_DEFAULT_RULE)),
        reserved=ALWAYS_RESERVED | frozenset(raw.get("reserved", ())),
        retention_days=values["retention_days"],
        sla_working_days=values["sla_working_days"],
        units=units,
        app_groups={g["code"]: AppGroup(g["code"], g["name"]) for g in raw.get("app_groups", [])},
        password_policy=_password_policy(raw.get("password_policy"), default_policy),
        mailbox_quota_mb=values["mailbox_quota_mb"],
        locked_mail=values["locked_mail"],
        mass_change_cap=values["mass_change_cap"],
        place=values["place"],
        issuer=values["issuer"],
        issuer_abbrev=values["issuer_abbrev"],
        signer_name=raw.get("signer", {}).get("name", ""),
        signer_title=raw.get("signer", {}).get("title", ""),
        archive_dir=raw.get("archive_dir"),
        notice_retention_years=values["notice_retention_years"],
        letter_required=values["letter_required"],
        letter_trust=raw.get("letter_trust"),
        password_page=_password_page(raw.get("password_page")),
        closed_days={**national[0], **own[0]},
        worked_days={**national[1], **own[1]},
        idle_days=values["idle_days"],
        report_to=raw.get("report_to", ""),
    )
