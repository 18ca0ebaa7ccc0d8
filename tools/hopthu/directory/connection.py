"""Opening a bound LDAP connection (ldap3, synchronous, errors as results rather than exceptions)."""

from __future__ import annotations

import contextlib

import ldap3
from ldap3.core.exceptions import LDAPException

from hopthu.directory import DirectoryError, DirectoryUnavailable

DEFAULT_TIMEOUT = 10  # seconds, for the TCP connect and for every answer the server owes

BIND_HINTS = {
    49: "wrong bind DN or password (or the account is locked)",
    32: "the bind DN does not exist",
    50: "the bind DN may not bind here",
}
# Result codes that say this server cannot serve now (busy, unavailable, shutting down): another provider
# of the same directory may.
UNAVAILABLE_CODES = frozenset({51, 52, 80})


def connect(uri: str, bind_dn: str, password: str, *, timeout: int = DEFAULT_TIMEOUT) -> ldap3.Connection:
    """A connection to ``uri`` bound as ``bind_dn``; raises ``DirectoryUnavailable`` when the server does not
    answer (refused, reset, or silent for ``timeout`` seconds) and ``DirectoryError`` when it refuses the
    bind, naming the server, the DN and the reason, never the password.

    ``timeout`` bounds the TCP connect and every later read on the socket, including the pipelined writer's
    and look-ups' (``hopthu.directory.writer``, ``lookup``): a server that accepts and then never answers
    fails within it instead of hanging.

    The connection does not raise on LDAP errors (``raise_exceptions=False``): check the return value and
    ``conn.result`` of each operation. The password is dropped from the object after the bind, so a
    ``repr`` of the connection cannot leak it (ldap3's own repr prints it).
    """
    uri = uri.rstrip("/")  # ldap3 rejects the trailing slash that ldap URLs may carry
    timeout = max(1, int(timeout))  # ldap3 packs the receive timeout as whole seconds
    conn = None
    try:
        server = ldap3.Server(uri, get_info=ldap3.NONE, connect_timeout=timeout)
        conn = ldap3.Connection(
            server,
            user=bind_dn,
            password=password,
            client_strategy=ldap3.SYNC,
            raise_exceptions=False,
            receive_timeout=timeout,
            auto_bind=ldap3.AUTO_BIND_NONE,
        )
        conn.open()
        bound = conn.bind()
    except LDAPException as error:
        if conn is not None:
            with contextlib.suppress(LDAPException, OSError):
                conn.strategy.close()
        raise DirectoryUnavailable(f"cannot reach the directory at {uri}: {error}") from None
    if not bound:
        result = dict(conn.result or {})
        conn.unbind()
        code = result.get("result")
        reason = BIND_HINTS.get(code) or result.get("message") or ""
        message = f"cannot bind to {uri} as {bind_dn}: {result.get('description')} ({code}) {reason}".rstrip()
        if code in UNAVAILABLE_CODES or code is None:
            raise DirectoryUnavailable(message)
        raise DirectoryError(message)
    conn.password = None
    return conn
