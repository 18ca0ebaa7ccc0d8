"""The data types of hopthu, in one place.

Untrusted YAML becomes these types once, at the edge (``inventory.py``, ``requests.py``); everything
downstream trusts them. All are immutable. ``None`` means "not given / don't care", never "empty".
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

# --- inventory -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PasswordPolicy:
    """How initial and reset passwords are generated, and what a password a person chooses must be.

    ``length`` and ``classes`` are for the generated one-time passwords. ``min_length``, ``history`` and
    ``min_age_hours`` become the directory's ppolicy (pwdMinLength, pwdInHistory, pwdMinAge), which
    refuses any change that breaks them; the password page checks ``min_length`` and ``min_classes``
    before sending, so a person reads why at once.
    """

    length: int = 14
    # Character classes every password must contain at least one of: lower, upper, digit, symbol.
    classes: tuple[str, ...] = ("lower", "upper", "digit", "symbol")
    min_length: int = 12  # of a password a person chooses
    min_classes: int = 3  # of the four classes (lower, upper, digit, symbol) it must mix
    history: int = 5  # earlier passwords that cannot be chosen again
    min_age_hours: int = 0  # hours before a changed password may be changed again (not after a reset)


@dataclass(frozen=True)
class RateLimit:
    """At most ``attempts`` within ``minutes``."""

    attempts: int
    minutes: int


@dataclass(frozen=True)
class PasswordPage:
    """The first-login password page (hopthu password-page) of an organisation.

    ``url`` is its public address: the notices and the IMAP refusal name it, and a reset link is built
    on it, never on the Host header of a request.
    """

    url: str
    per_login: RateLimit = field(default_factory=lambda: RateLimit(3, 15))
    per_address: RateLimit = field(default_factory=lambda: RateLimit(60, 15))
    reset_by_link: bool = False  # a forgotten password may be reset by a link to the backup e-mail


@dataclass(frozen=True)
class Requester:
    """A person who may sign requests for a unit, or who signed one."""

    name: str
    position: str
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    mailbox: str  # the unit's official mailbox: result notices go here
    requesters: tuple[Requester, ...]
    mail_domain: str | None = None  # staff of this unit get addresses here (sub-domain per agency)


@dataclass(frozen=True)
class AppGroup:
    """An application group ("tài khoản phần mềm"): membership grants access to one application."""

    code: str
    name: str


@dataclass(frozen=True)
class Organisation:
    code: str
    name: str
    parent: str  # the parent body, printed above the issuer on notices
    mail_domain: str
    base_dn: str
    naming_rule: tuple[str, ...]  # ordered candidate patterns, see hopthu.naming
    reserved: frozenset[str]
    retention_days: int  # days between lock (khóa) and the earliest delete (xóa)
    sla_working_days: int
    units: dict[str, Unit]
    app_groups: dict[str, AppGroup]
    password_policy: PasswordPolicy = field(default_factory=PasswordPolicy)
    mailbox_quota_mb: int = 2048
    locked_mail: str = "accept"  # "accept": a locked (khóa) account still receives mail; "reject"
    place: str = ""  # place name on notices ("Cần Thơ, ngày …")
    issuer: str = ""  # the IT body that issues notices (e.g. "TRUNG TÂM CÔNG NGHỆ THÔNG TIN")
    issuer_abbrev: str = "CNTT"
    signer_name: str = ""  # who signs result notices (người ký), e.g. the director of the IT body
    signer_title: str = ""  # "GIÁM ĐỐC", or "KT. GIÁM ĐỐC\nPHÓ GIÁM ĐỐC"
    archive_dir: str | None = None  # mail host folder; a deleted account's mailbox goes to <dir>/<org>/
    notice_retention_years: int = 10  # sent notices stay in the records store (hồ sơ) this many years
    letter_required: bool = False  # a request must point to its signed letter (document.file)
    letter_trust: str | None = None  # trust store for request letters: path from the repository's top
    mailbox_rule: tuple[str, ...] = (
        "{initials}",
    )  # unit-mailbox candidates ({initials}, {slug}, {place}, {n})
    # The mass-change guard: accounts one pipeline run may lock, delete or move out of this organisation
    # unless the request states the exact number (``confirm_count``).
    mass_change_cap: int = 50
    password_page: PasswordPage | None = None  # None: the organisation has no password page
    # Days the national holiday calendar does not know (hopthu_calendar and the organisation's calendar):
    # weekdays closed and weekend days worked (làm bù), each with its reason (hopthu.reports.workdays).
    closed_days: dict[dt.date, str] = field(default_factory=dict)
    worked_days: dict[dt.date, str] = field(default_factory=dict)
    idle_days: int = 180  # the usage review (kiểm tra sử dụng): an account unused this long is idle
    report_to: str = ""  # who the yearly report (báo cáo) goes to; default: the parent body

    def domain_of(self, unit_code: str) -> str:
        unit = self.units.get(unit_code)
        return (unit.mail_domain if unit and unit.mail_domain else None) or self.mail_domain


@dataclass(frozen=True)
class Inventory:
    organisations: dict[str, Organisation]
    path: Path | None = None


# --- requests --------------------------------------------------------------------------------------


class Kind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    RESET_PASSWORD = "reset-password"
    LOCK = "lock"
    UNLOCK = "unlock"
    DELETE = "delete"
    MERGE = "merge"  # sáp nhập: every account of some units moves to another organisation (or unit)


MERGE_FOLDER = "_merge"  # requests/<target org>/_merge/<year>/<id>.yaml: no unit's folder, only IT's


@dataclass(frozen=True)
class Document:
    """The official document (văn bản đề nghị) that asked for the request."""

    number: str
    date: dt.date
    signer: str
    file: str | None = None  # the signed letter (PDF) beside the request file, relative to it
    sha256: str | None = None  # the letter's SHA-256 (when the PDF stays outside git)


@dataclass(frozen=True)
class Manager:
    """The named official who manages a unit mailbox."""

    name: str
    phone: str
    email: str | None = None
    position: str | None = None


@dataclass(frozen=True)
class NewPerson:
    """A person account to create (cấp mới hộp thư cá nhân). Staff code, position and phone are what the
    unit's form has: some forms carry no staff code (Đà Nẵng) or no phone (Cần Thơ University)."""

    full_name: str
    staff_code: str | None
    position: str | None
    department: str
    phone: str | None
    services: tuple[str, ...]  # "email" and/or application group codes
    username: str | None
    birth_date: dt.date | None = None
    backup_email: str | None = None  # email dự phòng: an address outside the organisation's domains


@dataclass(frozen=True)
class NewUnitMailbox:
    """A unit mailbox to create (cấp mới hộp thư cơ quan/đơn vị)."""

    unit_name: str
    parent_agency: str
    manager: Manager
    phone: str
    username: str | None


@dataclass(frozen=True)
class AccountChange:
    """An existing account named by username, with what an ``update`` changes (None = unchanged).

    For lock, unlock, delete and reset-password only ``username`` (and optionally ``full_name``,
    which the plan checks against the directory as a safety net) is used.
    """

    username: str
    full_name: str | None = None
    position: str | None = None
    department: str | None = None
    phone: str | None = None
    unit: str | None = None  # transfer (chuyển công tác) to another unit of the same organisation
    services: tuple[str, ...] | None = None  # the complete new set of services
    manager: Manager | None = None  # handover (bàn giao) of a unit mailbox: new manager + new password
    unit_name: str | None = None  # a unit mailbox's new name (the unit was renamed)
    backup_email: str | None = None


Account = NewPerson | NewUnitMailbox | AccountChange


@dataclass(frozen=True)
class MergeSource:
    """One organisation whose units merge into the request's organisation: source unit → target unit,
    and source application group → target application group. The same organisation as the target is a
    merger of units within it (Sở TT&TT into Sở KH&CN): a transfer of every account of the unit."""

    org: str
    units: dict[str, str]
    groups: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rename:
    """An account whose username is taken in the target organisation: the new one, given by the target's
    rule (``hopthu assign --directory`` writes it; None until then). ``name`` is the holder's name as the
    directory has it (a person's full name, a unit mailbox's unit name), checked by the plan."""

    org: str
    username: str
    name: str
    new_username: str | None
    unit_mailbox: bool = False


@dataclass(frozen=True)
class Merge:
    sources: tuple[MergeSource, ...]
    renames: tuple[Rename, ...] = ()

    def rename_of(self, org: str, username: str) -> Rename | None:
        return self._renames.get((org, username))

    @functools.cached_property
    def _renames(self) -> dict[tuple[str, str], Rename]:
        """(org, username) → its rename, the first when written twice (validation refuses that)."""
        found: dict[tuple[str, str], Rename] = {}
        for rename in self.renames:
            found.setdefault((rename.org, rename.username), rename)
        return found


@dataclass(frozen=True)
class Request:
    id: str
    org: str
    unit: str  # MERGE_FOLDER for a merger, which no unit asks for
    kind: Kind
    document: Document
    requester: Requester
    reason: str
    accounts: tuple[Account, ...]
    path: Path | None = None
    merge: Merge | None = None  # the sources and renames of a merger (kind merge)
    # The exact number of accounts the request locks, deletes or moves, stated for the mass-change guard.
    confirm_count: int | None = None


# --- directory state -------------------------------------------------------------------------------


class EntryKind(StrEnum):
    PERSON = "person"
    MAILBOX = "mailbox"  # unit mailbox


@dataclass(frozen=True)
class DirectoryAccount:
    """What the directory holds about one account, as the planner needs it.

    ``attrs`` maps LDAP attribute names (lower case) to tuples of string values.
    """

    uid: str
    dn: str
    kind: EntryKind
    attrs: dict[str, tuple[str, ...]]
    groups: frozenset[str]  # application group codes the account is a member of
    locked_at: dt.datetime | None  # when it was locked (khóa), None when not locked
    password_reset_pending: bool = False  # ppolicy pwdReset: must change the password at next login

    def first(self, attr: str) -> str | None:
        values = self.attrs.get(attr.lower(), ())
        return values[0] if values else None


@dataclass(frozen=True)
class Snapshot:
    """One consistent read of the accounts a set of requests touches, per organisation."""

    accounts: dict[tuple[str, str], DirectoryAccount]  # (org code, uid) -> account
    # org code -> every name in use (uids, local parts of addresses) -> the holder's cn (None: unknown);
    # read for the target of a merger, whose movers' usernames must be free there
    taken: dict[str, dict[str, str | None]] = field(default_factory=dict)


# --- plan ------------------------------------------------------------------------------------------


class Op(StrEnum):
    """One change to one account. The order of the members is the order the applier executes a request in."""

    CREATE = "create"
    MERGE_IN = "merge-in"  # a merger: the account's entry added in the target organisation, hash kept
    ADD_MEMBER = "add-member"
    MODIFY = "modify"
    MOVE = "move"  # transfer to another unit (chuyển công tác): departmentNumber and mail domain
    SET_PASSWORD = "set-password"  # one-time password (mật khẩu lần đầu), never shown anywhere
    LOCK = "lock"
    UNLOCK = "unlock"
    REMOVE_MEMBER = "remove-member"
    DELETE = "delete"
    MERGE_OUT = "merge-out"  # a merger: the account's entry removed from the source, after it is in


@dataclass(frozen=True)
class Change:
    """A change the plan decided on, with the values before and after (attribute → values).

    ``after`` of a CREATE is the whole new entry. Passwords are never part of a change: the applier takes
    them from the credentials outbox at the moment it writes.
    """

    request: str
    org: str
    op: Op
    uid: str
    kind: EntryKind
    before: dict[str, tuple[str, ...]] = field(default_factory=dict)
    after: dict[str, tuple[str, ...]] = field(default_factory=dict)
    group: str | None = None  # application group code of ADD_MEMBER / REMOVE_MEMBER
    # A merger's change: (source org, username there). ``uid`` is the account's username in the target
    # (unique there, so it keys the change); a change with ``org`` = the source org writes the source
    # entry (uid=<source username>), the others the target's.
    source: tuple[str, str] | None = None

    @property
    def entry_uid(self) -> str:
        """The username in the entry's DN of the organisation the change writes in."""
        return self.source[1] if self.source and self.org == self.source[0] else self.uid

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identifies the change across runs: what the audit log's intent and completion records share."""
        return (self.request, self.op.value, self.uid, self.group or "")
