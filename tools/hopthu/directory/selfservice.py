"""The directory as the password page sees it: a person proves the current password by binding, then
changes it with their own password-modify operation; a service identity reads what the checks need.

The narrow interface the web page asks (``hopthu.web`` never imports ldap3):

- ``bind_person(uri, dn, password)``: bind as the person with the Password Policy request control, so
  a refusal says *why* (``accountLocked``, ``passwordExpired``) and a success whether the one-time
  password is still unchanged (``changeAfterReset``);
- ``PersonSession.change_password(old, new)``: RFC 3062 password-modify *with* the old password, under
  the person's own identity: ppolicy checks length, history and age, hashes the new one and clears
  ``pwdReset``; with ``pwdSafeModify`` the directory itself refuses a change without the old password;
- ``PageIdentity``: the organisation's ``password-page`` identity (read only, except a reset by link):
  the names of an account, its backup e-mail and lock, and the temporary password of a reset.

The Password Policy response control (draft-behera-ldap-password-policy, OpenLDAP's ppolicy) is
decoded here with the BER reader of ``lookup.py``.
"""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Iterator
from dataclasses import dataclass

import ldap3
from ldap3.core.exceptions import LDAPException

from hopthu.directory import DirectoryError
from hopthu.directory.connection import connect
from hopthu.directory.lookup import _Malformed, _tlv

PPOLICY_OID = "1.3.6.1.4.1.42.2.27.8.5.1"
PPOLICY_REQUEST = (PPOLICY_OID, False, None)
# PasswordPolicyResponseValue error codes, in the draft's order.
PPOLICY_ERRORS = (
    "passwordExpired",
    "accountLocked",
    "changeAfterReset",
    "passwordModNotAllowed",
    "mustSupplyOldPassword",
    "insufficientPasswordQuality",
    "passwordTooShort",
    "passwordTooYoung",
    "passwordInHistory",
)
BACKUP_MAIL = "hopthuBackupMail"  # a person's backup e-mail (hopthu schema): where a reset link goes
NAME_ATTRIBUTES = ("cn", "sn", "givenName", "displayName")
INVALID_CREDENTIALS = 49


@dataclass(frozen=True)
class PolicyResponse:
    """A decoded Password Policy response control: the error (a name of ``PPOLICY_ERRORS``, or None)
    and the warning (``("timeBeforeExpiration" | "graceAuthNsRemaining", n)`` or None)."""

    error: str | None = None
    warning: tuple[str, int] | None = None


def decode_policy_response(value: bytes) -> PolicyResponse:
    """PasswordPolicyResponseValue ::= SEQUENCE { warning [0] CHOICE { timeBeforeExpiration [0] INTEGER,
    graceAuthNsRemaining [1] INTEGER } OPTIONAL, error [1] ENUMERATED OPTIONAL }.

    Raises ``ValueError`` for bytes that are not such a value."""
    try:
        if not value or value[0] != 0x30:
            raise _Malformed("not a SEQUENCE")
        start, end = _tlv(value, 0, len(value))
        if end != len(value):
            raise _Malformed("bytes after the value")
        error = warning = None
        pos = start
        while pos < end:
            tag = value[pos]
            item_start, item_end = _tlv(value, pos, end)
            if tag == 0xA0:  # warning: one context-tagged INTEGER inside
                inner_tag = value[item_start]
                inner_start, inner_end = _tlv(value, item_start, item_end)
                kind = {0x80: "timeBeforeExpiration", 0x81: "graceAuthNsRemaining"}.get(inner_tag)
                if kind is None:
                    raise _Malformed(f"unknown warning tag 0x{inner_tag:02x}")
                warning = (kind, int.from_bytes(value[inner_start:inner_end], "big"))
            elif tag == 0x81:
                code = int.from_bytes(value[item_start:item_end], "big")
                error = PPOLICY_ERRORS[code] if code < len(PPOLICY_ERRORS) else f"error{code}"
            else:
                raise _Malformed(f"unknown field tag 0x{tag:02x}")
            pos = item_end
    except (_Malformed, IndexError) as problem:
        raise ValueError(f"not a password policy response control: {problem}") from None
    return PolicyResponse(error, warning)


def _policy_of(result: dict | None) -> PolicyResponse | None:
    """The Password Policy response of an operation's result, None when the server sent none (as for a
    DN that does not exist)."""
    control = ((result or {}).get("controls") or {}).get(PPOLICY_OID)
    if control is None:
        return None
    return decode_policy_response(bytes(control["value"] or b""))


@dataclass(frozen=True)
class Outcome:
    """What the directory answered: LDAP result code (0 = success), its message, and the decoded
    Password Policy response (None: no control came back)."""

    code: int
    message: str = ""
    policy: PolicyResponse | None = None

    @property
    def ok(self) -> bool:
        return self.code == 0


class PersonSession:
    """A connection bound as a person, who may only change their own password (until then ppolicy
    refuses everything else when ``pwdReset`` is TRUE)."""

    def __init__(self, conn: ldap3.Connection, dn: str, outcome: Outcome) -> None:
        self._conn = conn
        self.dn = dn
        self.bound = outcome

    @property
    def must_change(self) -> bool:
        """True when the password is a one-time password that must be changed (``pwdReset``)."""
        return self.bound.policy is not None and self.bound.policy.error == "changeAfterReset"

    def change_password(self, old: str, new: str) -> Outcome:
        """The person's own password-modify extended operation (RFC 3062) with the old password."""
        try:
            self._conn.extend.standard.modify_password(self.dn, old, new, controls=[PPOLICY_REQUEST])
        except LDAPException as error:
            raise DirectoryError(f"password change of {self.dn} failed: {type(error).__name__}") from None
        result = self._conn.result or {}
        return Outcome(int(result.get("result", 1)), str(result.get("message") or ""), _policy_of(result))

    def close(self) -> None:
        with contextlib.suppress(LDAPException, OSError):
            self._conn.unbind()

    def __enter__(self) -> PersonSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def bind_person(
    uri: str, dn: str, password: str, *, timeout: int = 10
) -> tuple[PersonSession | None, Outcome]:
    """Bind as ``dn`` with the Password Policy control: (session, outcome) on success, (None, outcome)
    otherwise. An empty password is refused here: an LDAP simple bind with one is an unauthenticated
    bind that "succeeds" (RFC 4513 5.1.2), the root of many bind-check bugs."""
    if not password:
        return None, Outcome(INVALID_CREDENTIALS, "empty password")
    try:
        server = ldap3.Server(uri.rstrip("/"), get_info=ldap3.NONE, connect_timeout=timeout)
        conn = ldap3.Connection(
            server,
            user=dn,
            password=password,
            client_strategy=ldap3.SYNC,
            raise_exceptions=False,
            receive_timeout=timeout,
            auto_bind=ldap3.AUTO_BIND_NONE,
        )
        conn.open()
        bound = conn.bind(controls=[PPOLICY_REQUEST])
    except LDAPException as error:
        raise DirectoryError(f"cannot reach the directory at {uri}: {type(error).__name__}") from None
    result = conn.result or {}
    conn.password = None  # a repr of the connection must never show it
    outcome = Outcome(int(result.get("result", 1)), str(result.get("message") or ""), _policy_of(result))
    if bound is not True or not outcome.ok:
        with contextlib.suppress(LDAPException, OSError):
            conn.unbind()
        return None, outcome
    return PersonSession(conn, dn, outcome), outcome


@dataclass(frozen=True)
class AccountView:
    """What the password-page identity reads of one account."""

    dn: str
    names: tuple[str, ...]  # cn, sn, givenName, displayName values
    backup_mail: str | None
    locked: bool


class PageIdentity:
    """The organisation's ``password-page`` identity, on a few reused connections (one per thread in
    flight, opened on demand, dropped when broken)."""

    def __init__(self, uri: str, bind_dn: str, password: str, *, size: int = 8) -> None:
        self.uri = uri
        self.bind_dn = bind_dn
        self._password = password
        self._idle: queue.LifoQueue[ldap3.Connection] = queue.LifoQueue(maxsize=size)

    def __repr__(self) -> str:
        return f"PageIdentity({self.uri!r}, {self.bind_dn!r})"

    @contextlib.contextmanager
    def _connection(self) -> Iterator[ldap3.Connection]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = connect(self.uri, self.bind_dn, self._password)
        try:
            yield conn
        except BaseException:
            with contextlib.suppress(LDAPException, OSError):
                conn.unbind()
            raise
        if conn.closed:
            return
        try:
            self._idle.put_nowait(conn)
        except queue.Full:
            conn.unbind()

    def account(self, dn: str) -> AccountView | None:
        """The account at ``dn``, or None when there is none."""
        attributes = [*NAME_ATTRIBUTES, BACKUP_MAIL, "pwdAccountLockedTime"]
        with self._connection() as conn:
            try:
                conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=attributes)
            except LDAPException as error:
                conn.strategy.close()
                raise DirectoryError(f"cannot read {dn} as {self.bind_dn}: {type(error).__name__}") from None
            code = (conn.result or {}).get("result")
            if code == 32:  # noSuchObject
                return None
            if code != 0 or not conn.response:
                raise DirectoryError(f"cannot read {dn} as {self.bind_dn}: {conn.result.get('description')}")
            raw = {name.lower(): values for name, values in conn.response[0]["raw_attributes"].items()}
        text = {name: [v.decode("utf-8", "replace") for v in values] for name, values in raw.items()}
        names = tuple(value for name in NAME_ATTRIBUTES for value in text.get(name.lower(), []))
        backup = (text.get(BACKUP_MAIL.lower()) or [None])[0]
        return AccountView(dn, names, backup, bool(text.get("pwdaccountlockedtime")))

    def set_temporary_password(self, dn: str, password: str) -> Outcome:
        """An administrative password change (ppolicy then sets ``pwdReset``): the first half of a reset
        by link, whose second half is the person's own change."""
        with self._connection() as conn:
            try:
                conn.extend.standard.modify_password(dn, None, password)
            except LDAPException as error:
                conn.strategy.close()
                raise DirectoryError(f"cannot reset the password of {dn}: {type(error).__name__}") from None
            result = conn.result or {}
            return Outcome(int(result.get("result", 1)), str(result.get("message") or ""))

    def close(self) -> None:
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return
            with contextlib.suppress(LDAPException, OSError):
                conn.unbind()
