"""Opening a bound LDAP connection (ldap3, synchronous, errors as results rather than exceptions)."""

from __future__ import annotations

import ldap3
from ldap3.core.exceptions import LDAPException

from hopthu.directory import DirectoryError

BIND_HINTS = {
    49: "wrong bind DN or password (or the account is locked)",
    32: "the bind DN does not exist",
    50: "the bind DN may not bind here",
}


def connect(uri: str, bind_dn: str, password: str, *, timeout: int = 10) -> ldap3.Connection:
    """A connection to ``uri`` bound as ``bind_dn``; raises ``DirectoryError`` naming the server, the
    DN and the reason, never the password.

    The connection does not raise on LDAP errors (``raise_exceptions=False``): check the return value and
    ``conn.result`` of each operation. The password is dropped from the object after the bind, so a
    ``repr`` of the connection cannot leak it (ldap3's own repr prints it).
    """
    uri = uri.rstrip("/")  # ldap3 rejects the trailing slash that ldap URLs may carry
    try:
        server = ldap3.Server(uri, get_info=ldap3.NONE, connect_timeout=timeout)
        conn = ldap3.Connection(
            server,
            user=bind_dn,
            password=password,
            client_strategy=ldap3.SYNC,
            raise_exceptions=False,
            receive_timeout=int(timeout * 6),  # whole seconds: ldap3 packs it as an integer
            auto_bind=ldap3.AUTO_BIND_NONE,
        )
        conn.open()
        bound = conn.bind()
    except LDAPException as error:
        raise DirectoryError(f"cannot reach the directory at {uri}: {error}") from None
    if not bound:
        result = dict(conn.result or {})
        conn.unbind()
        code = result.get("result")
        reason = BIND_HINTS.get(code) or result.get("message") or ""
        raise DirectoryError(
            f"cannot bind to {uri} as {bind_dn}: {result.get('description')} ({code}) {reason}".rstrip()
        )
    conn.password = None
    return conn
