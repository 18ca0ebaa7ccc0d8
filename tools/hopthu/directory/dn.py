"""Distinguished names and search filters, escaped: every value that reaches LDAP goes through here.

The server answers with DNs in its own spelling (``\\2C`` hex escapes, upper/lower case), so DNs are
never compared as strings: :func:`parse_dn` turns one into normalised RDNs, and accounts are keyed on
``uid``, not on their DN.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from ldap3.utils.conv import escape_filter_chars

if TYPE_CHECKING:
    from hopthu.model import Organisation

PEOPLE = "people"  # ou=people: person accounts, flat, rdn uid=<username>
MAILBOXES = "mailboxes"  # ou=mailboxes: unit mailboxes (hộp thư cơ quan/đơn vị)
GROUPS = "groups"  # ou=groups: application groups, cn=<code>
POLICIES = "policies"  # ou=policies: the ppolicy password policies
SERVICES = "services"  # ou=services: the read-only service identities, cn=<name>

# The service identities of every organisation (ldif/base.ldif.j2 creates them, ldif/database.ldif.j2
# says what each may read): Dovecot and Postfix, the plan job of merge requests, the password page.
MAIL_LOOKUP = "mail-lookup"
PLAN_READER = "plan-reader"
PASSWORD_PAGE = "password-page"  # hopthu password-page: names, locks, backup e-mail; a reset by link
SERVICE_IDENTITIES = (MAIL_LOOKUP, PLAN_READER, PASSWORD_PAGE)
# Only in a directory with several providers: the identity the providers bind as to replicate each
# other (reads everything, writes nothing; ldif/base.ldif.j2, ldif/database.ldif.j2).
REPLICATOR = "replicator"

# groupOfNames must have a member; every group keeps this one (the empty DN, which memberof
# ignores) so that removing its last real member never violates the schema. Readers skip it.
PLACEHOLDER_MEMBER = ""

_RDN_SPECIAL = frozenset(',+"\\<>;=')
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9._@-]+")  # needs no escape anywhere in an RDN value
_RDN_NEEDS_ESCAPE = re.compile(r'[,+"\\<>;=\x00]|\A[# ]| \Z')  # what escape_rdn_value escapes


class DNError(ValueError):
    """A DN that cannot be parsed (only DNs from outside hopthu's own helpers can be malformed)."""


def escape_rdn_value(value: str) -> str:
    """Escape an attribute value for use in an RDN (RFC 4514 section 2.4): ``, + " \\ < > ; =``
    anywhere, ``#`` or space at the start, space at the end, and NUL as ``\\00``."""
    if _RDN_NEEDS_ESCAPE.search(value) is None:
        return value  # the usual username: nothing to escape, no loop over its characters
    out: list[str] = []
    last = len(value) - 1
    for i, char in enumerate(value):
        if char in _RDN_SPECIAL or (i == 0 and char in "# ") or (i == last and char == " "):
            out.append("\\" + char)
        elif char == "\0":
            out.append("\\00")
        else:
            out.append(char)
    return "".join(out)


def escape_filter_value(value: str) -> str:
    """Escape a value for an assertion in a search filter (RFC 4515): ``* ( ) \\ NUL``."""
    return escape_filter_chars(value)


def eq_filter(attr: str, value: str) -> str:
    return f"({attr}={escape_filter_value(value)})"


def any_of(attr: str, values: list[str] | tuple[str, ...]) -> str:
    """``(|(attr=v1)(attr=v2)…)`` with every value escaped."""
    if len(values) == 1:
        return eq_filter(attr, values[0])
    return "(|" + "".join(eq_filter(attr, value) for value in values) + ")"


def first_rdn_value(dn: str, attr: str) -> str:
    """The value of ``attr=`` in the first RDN of ``dn`` (e.g. ``dc`` of a suffix)."""
    rdn = parse_dn(dn)[0]
    for rdn_attr, value in rdn:
        if rdn_attr == attr.lower():
            return value
    raise DNError(f"{dn!r} does not start with {attr}=")


# --- DNs of hopthu's tree (docs/architecture.md); ``org`` is an Organisation or its base DN ---------


def base_of(org: Organisation | str) -> str:
    return org if isinstance(org, str) else org.base_dn


def container_dn(org: Organisation | str, ou: str) -> str:
    return f"ou={ou},{base_of(org)}"


def person_dn(org: Organisation | str, uid: str) -> str:
    return f"uid={escape_rdn_value(uid)},ou={PEOPLE},{base_of(org)}"


def mailbox_dn(org: Organisation | str, uid: str) -> str:
    return f"uid={escape_rdn_value(uid)},ou={MAILBOXES},{base_of(org)}"


def group_dn(org: Organisation | str, code: str) -> str:
    return f"cn={escape_rdn_value(code)},ou={GROUPS},{base_of(org)}"


def policy_dn(org: Organisation | str) -> str:
    return f"cn=default,ou={POLICIES},{base_of(org)}"


def service_dn(org: Organisation | str, name: str) -> str:
    """A service identity (``MAIL_LOOKUP``, ``PLAN_READER``) of an organisation."""
    return f"cn={escape_rdn_value(name)},ou={SERVICES},{base_of(org)}"


def admin_dn(org: Organisation | str) -> str:
    """The rootdn of an organisation's database."""
    return f"cn=admin,{base_of(org)}"


# --- parsing, for DNs the server returns ----------------------------------------------------------

RDN = tuple[tuple[str, str], ...]  # ((attribute type lower case, value unescaped), …), sorted


def parse_dn(dn: str) -> tuple[RDN, ...]:
    """Split a DN (RFC 4514 string form) into RDNs of (type, unescaped value) pairs.

    Types are lower-cased and the AVAs of a multi-valued RDN sorted, so that two spellings of one DN
    parse the same up to value case (see :func:`same_dn`). Values in ``#hex`` BER form are rejected:
    hopthu's tree never uses them.
    """
    rdns: list[RDN] = []
    if not dn.strip():
        return ()
    i, n = 0, len(dn)
    avas: list[tuple[str, str]] = []
    while i <= n:
        eq = dn.find("=", i)
        if eq < 0:
            raise DNError(f"malformed DN {dn!r}: missing '=' after position {i}")
        attr = dn[i:eq].strip().lower()
        if not attr:
            raise DNError(f"malformed DN {dn!r}: empty attribute type at position {i}")
        value, i = _read_value(dn, eq + 1)
        avas.append((attr, value))
        if i >= n or dn[i] == ",":
            rdns.append(tuple(sorted(avas)))
            avas = []
            if i >= n:
                break
        i += 1  # skip ',' or '+'
    return tuple(rdns)


def _read_value(dn: str, i: int) -> tuple[str, int]:
    """Read one escaped value starting at ``i``; return it unescaped and the index of its end."""
    n = len(dn)
    while i < n and dn[i] == " ":
        i += 1
    if i < n and dn[i] == "#":
        raise DNError(f"DN {dn!r} has a BER-encoded value, which hopthu does not use")
    raw = bytearray()
    trailing_spaces = 0  # unescaped spaces at the end are not part of the value
    while i < n and dn[i] not in ",+":
        char = dn[i]
        if char == "\\":
            if i + 1 >= n:
                raise DNError(f"malformed DN {dn!r}: lone backslash at the end")
            pair = dn[i + 1 : i + 3]
            if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                raw.append(int(pair, 16))
                i += 3
            else:
                raw.extend(dn[i + 1].encode())
                i += 2
            trailing_spaces = 0
            continue
        raw.extend(char.encode())
        trailing_spaces = trailing_spaces + 1 if char == " " else 0
        i += 1
    if trailing_spaces:
        raw = raw[:-trailing_spaces]
    try:
        return raw.decode(), i
    except UnicodeDecodeError as error:
        raise DNError(f"DN {dn!r} has a value that is not UTF-8") from error


def normalised_dn(dn: str) -> tuple[RDN, ...]:
    """The parsed DN with values case-folded: hopthu's tree uses case-insensitive attributes only
    (dc, ou, cn, uid), so two DNs name the same entry exactly when these are equal."""
    return tuple(tuple((attr, value.casefold()) for attr, value in rdn) for rdn in parse_dn(dn))


def same_dn(a: str, b: str) -> bool:
    return normalised_dn(a) == normalised_dn(b)


def child_value(dn: str, parent_dn: str, attr: str) -> str | None:
    """If ``dn`` is ``attr=<value>,<parent_dn>``, return the (unescaped) value, else None.

    ``child_value("CN=van\\2Cban,ou=groups,dc=x", "ou=Groups,dc=X", "cn")`` is ``"van,ban"``.
    """
    # Fast paths for the common case, the server spelling the parent as it was given: a plain value
    # (every username hopthu gives) is read as it is; else the first RDN alone is parsed. A value
    # ending in an escaped "\," makes that prefix malformed and takes the slow path.
    if len(dn) > len(parent_dn) + 1 and dn[-len(parent_dn) - 1 :].lower() == "," + parent_dn.lower():
        head, start = dn[: -len(parent_dn) - 1], len(attr) + 1
        if head[:start].lower() == attr.lower() + "=" and _PLAIN_VALUE.fullmatch(head, start):
            return head[start:]
        try:
            rdns = parse_dn(dn[: -len(parent_dn) - 1])
        except DNError:
            pass
        else:
            return _single_value(rdns, attr)
    try:
        rdns = parse_dn(dn)
    except DNError:
        return None
    rest = tuple(tuple((a, v.casefold()) for a, v in rdn) for rdn in rdns[1:])
    return _single_value(rdns[:1], attr) if rest == _normalised_cached(parent_dn) else None


def _single_value(rdns: tuple[RDN, ...], attr: str) -> str | None:
    if len(rdns) != 1 or len(rdns[0]) != 1 or rdns[0][0][0] != attr.lower():
        return None
    return rdns[0][0][1]


@functools.lru_cache(maxsize=64)
def _normalised_cached(dn: str) -> tuple[RDN, ...]:
    return normalised_dn(dn)
