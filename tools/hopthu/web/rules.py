"""The password page's decisions, pure: which account a login names, whether a new password may be
sent, what a ppolicy refusal means for the reader, and whether a client may try again yet.

No I/O here: ``flows.py`` asks the directory and hands the answers to these functions.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hopthu.directory import dn
from hopthu.model import Organisation, PasswordPolicy, RateLimit
from hopthu.naming import NamingError
from hopthu.naming.normalise import ascii_words
from hopthu.web.messages import Message

# An address's local part as hopthu gives them (README "Usernames"), and a domain.
_UID = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
MAX_LOGIN = 254
MAX_PASSWORD = 256  # longer is no password a person types, and bounds the work a request can cause
NAME_PART_MIN = 3  # shorter name parts (An, Vũ) occur inside too many words to forbid


@dataclass(frozen=True)
class Account:
    """Who a login names: the organisation, the username, and the DNs it may have (a person or a unit
    mailbox: usernames are unique across both), computed from the inventory without a search."""

    org: str
    uid: str
    dns: tuple[str, ...]


def resolve_login(login: str, orgs: Mapping[str, Organisation]) -> Account | Message:
    """The account ``login`` (a username or a whole address) names among the served ``orgs``, or why
    it names none. The answer depends on the text and the inventory only, never on the directory: it
    cannot tell anyone whether an account exists."""
    text = unicodedata.normalize("NFC", login).strip().lower()
    if not text or len(text) > MAX_LOGIN:
        return Message("fields-missing") if not text else Message("login-invalid")
    local, at, domain = text.partition("@")
    if not _UID.fullmatch(local) or ".." in local or (at and not _DOMAIN.fullmatch(domain)):
        return Message("login-invalid")
    if at:
        found = [code for code, org in orgs.items() if domain in domains(org)]
        if not found:
            return Message("login-domain-unknown", {"domain": domain})
        code = found[0]
    elif len(orgs) == 1:
        code = next(iter(orgs))
    else:
        example = next(iter(orgs.values())).mail_domain
        return Message("login-needs-domain", {"example": f"{local}@{example}"})
    org = orgs[code]
    return Account(code, local, (dn.person_dn(org, local), dn.mailbox_dn(org, local)))


def domains(org: Organisation) -> frozenset[str]:
    """Every mail domain of the organisation: its own and its units'."""
    return frozenset({org.mail_domain} | {u.mail_domain for u in org.units.values() if u.mail_domain})


def character_classes(password: str) -> int:
    """How many of the four classes (lower, upper, digit, symbol) ``password`` mixes. Letters with
    diacritics count as letters of their case."""
    lower = upper = digit = symbol = False
    for char in password:
        if char.isdigit():
            digit = True
        elif char.islower():
            lower = True
        elif char.isupper():
            upper = True
        else:
            symbol = True
    return lower + upper + digit + symbol


def _folded(text: str) -> str:
    """Lower case ASCII letters and digits only: 'Nguyễn-Văn' and 'nguyenvan' fold the same."""
    table = {ord("đ"): "d", ord("Đ"): "d"}
    decomposed = unicodedata.normalize("NFKD", text.translate(table))
    return "".join(c for c in decomposed.lower() if c.isascii() and c.isalnum())


def check_new_password(policy: PasswordPolicy, uid: str, old: str, new: str, confirm: str) -> list[Message]:
    """What is wrong with ``new`` whatever account it is for (so the answer tells nothing about the
    account): the organisation's policy, the confirmation, the old password, the username."""
    problems: list[Message] = []
    if new != confirm:
        problems.append(Message("confirm-mismatch"))
    if new == old:
        problems.append(Message("same-as-old"))
    if len(new) < policy.min_length:
        problems.append(Message("too-short", {"min_length": policy.min_length}))
    if character_classes(new) < policy.min_classes:
        problems.append(Message("too-few-classes", {"min_classes": policy.min_classes}))
    if uid and _folded(uid) and _folded(uid) in _folded(new):
        problems.append(Message("contains-username"))
    return problems


def name_parts(names: Iterable[str]) -> set[str]:
    """The words of a person's (or unit's) names, folded to ASCII, that a password must not contain."""
    parts: set[str] = set()
    for name in names:
        try:
            words = ascii_words(name, unit_name=True)
        except NamingError:
            words = [_folded(word) for word in name.split()]
        parts.update(word for word in words if len(word) >= NAME_PART_MIN)
    return parts


def check_names(new: str, names: Iterable[str]) -> Message | None:
    """``contains-name`` when ``new`` contains a part of the account's names (checked only after the
    current password was proven: the names are the account's own data)."""
    folded = _folded(new)
    return Message("contains-name") if any(part in folded for part in name_parts(names)) else None


# What each Password Policy error means for the reader. accountLocked reads as login-failed on
# purpose: slapd reports a lock whether or not the password was right, so telling it apart would say
# to anyone that the account exists (and is locked); the login-failed sentence names the lock instead.
PPOLICY_MESSAGES = {
    "passwordExpired": "expired",
    "accountLocked": "login-failed",
    "changeAfterReset": "failed",
    "passwordModNotAllowed": "not-allowed",
    "mustSupplyOldPassword": "old-required",
    "insufficientPasswordQuality": "quality",
    "passwordTooShort": "too-short",
    "passwordTooYoung": "too-young",
    "passwordInHistory": "in-history",
}


def ppolicy_message(error: str | None, policy: PasswordPolicy) -> Message:
    """The reader's message for a refused change (or bind) whose Password Policy error is ``error``."""
    code = PPOLICY_MESSAGES.get(error or "", "failed")
    params = {
        "too-short": {"min_length": policy.min_length},
        "too-young": {"min_age_hours": policy.min_age_hours},
        "in-history": {"history": policy.history},
    }.get(code, {})
    return Message(code, params)


# --- rate limits ---------------------------------------------------------------------------------------


def wait_seconds(times: Sequence[float], now: float, limit: RateLimit) -> float:
    """0 when one more attempt is allowed at ``now`` given the earlier ones (``times``, oldest first),
    else how many seconds until the oldest of the window's attempts leaves it."""
    window = limit.minutes * 60
    recent = [t for t in times if now - t < window]
    if len(recent) < limit.attempts:
        return 0.0
    return recent[-limit.attempts] + window - now


def wait_minutes(seconds: float) -> int:
    """Whole minutes to tell the reader (at least 1)."""
    return max(1, math.ceil(seconds / 60))


class AttemptLog:
    """The attempts of each key (a login or a client address) within the longest window in use.

    Not thread-safe by itself: the page's ``RateLimiter`` holds a lock around it.
    """

    def __init__(self) -> None:
        self._times: dict[str, deque[float]] = {}

    def times(self, key: str) -> Sequence[float]:
        return self._times.get(key, ())

    def add(self, key: str, now: float) -> None:
        self._times.setdefault(key, deque()).append(now)

    def forget_before(self, moment: float) -> None:
        """Drop attempts older than ``moment`` and keys left empty: memory stays bounded by the window."""
        for key in list(self._times):
            times = self._times[key]
            while times and times[0] < moment:
                times.popleft()
            if not times:
                del self._times[key]

    def __len__(self) -> int:
        return len(self._times)
