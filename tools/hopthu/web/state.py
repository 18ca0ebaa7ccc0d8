"""What the password page keeps between requests, and where: all of it in the memory of its one process.

The page runs in one Waitress process with a pool of threads (``hopthu password-page``), so one lock per
structure is all the coordination needed:

- CSRF tokens keep no state at all: a token is an HMAC of the form's cookie and its issue time under a
  key of the process (or of ``--secret-file``, for several processes behind one proxy);
- the rate limits count attempts per login and per client address over the inventory's windows; a
  restart forgets them (an attacker gains one window, and ppolicy's lockout still counts failures);
- reset links live as the SHA-256 of their token with the account and the deadline: single use, one
  hour, and a restart invalidates them all (the person asks for a new one).
Several processes (Gunicorn's forked workers) would each count and hold their own: not supported.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from hopthu.model import RateLimit
from hopthu.web.rules import AttemptLog, wait_seconds

CSRF_LIFETIME = 2 * 3600  # seconds a form stays valid
RESET_LIFETIME = 3600  # a reset link: one hour


class CsrfTokens:
    """Double-submit tokens bound to a random cookie: ``token = issued . HMAC(key, cookie | issued)``.

    A cross-site form cannot read the cookie (SameSite=Strict, HttpOnly), so it cannot make a token that
    matches it; an old token expires after ``CSRF_LIFETIME``."""

    def __init__(self, key: bytes | None = None, clock: Callable[[], float] = time.time) -> None:
        self._key = key or secrets.token_bytes(32)
        self._clock = clock

    @staticmethod
    def new_cookie() -> str:
        return secrets.token_urlsafe(32)

    def _mac(self, cookie: str, issued: str) -> str:
        digest = hmac.new(self._key, f"{cookie}|{issued}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def token(self, cookie: str) -> str:
        issued = str(int(self._clock()))
        return f"{issued}.{self._mac(cookie, issued)}"

    def valid(self, cookie: str | None, token: str | None) -> bool:
        if not cookie or not token or "." not in token:
            return False
        issued, _, mac = token.partition(".")
        if not issued.isdigit() or not 0 <= self._clock() - int(issued) <= CSRF_LIFETIME:
            return False
        return hmac.compare_digest(mac, self._mac(cookie, issued))


class RateLimiter:
    """Attempts per key within each key's window; ``try_once`` records an attempt when it is allowed."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._log = AttemptLog()
        self._lock = threading.Lock()
        self._clock = clock
        self._longest = 0.0
        self._next_sweep = 0.0

    def try_once(self, limits: list[tuple[str, RateLimit]]) -> float:
        """0 when every (key, limit) allows one more attempt (then it is counted under every key), else
        the seconds to wait (nothing counted)."""
        now = self._clock()
        with self._lock:
            waits = [wait_seconds(self._log.times(key), now, limit) for key, limit in limits]
            if any(waits):
                return max(waits)
            for key, limit in limits:
                self._log.add(key, now)
                self._longest = max(self._longest, limit.minutes * 60.0)
            if now >= self._next_sweep:  # now and then, forget what no window can see any more
                self._log.forget_before(now - self._longest)
                self._next_sweep = now + 60
        return 0.0


@dataclass(frozen=True)
class ResetLink:
    org: str
    uid: str
    dn: str
    expires: float


class ResetLinks:
    """One-time reset links: the token is only in the e-mail; here its hash, the account and a deadline."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._links: dict[str, ResetLink] = {}
        self._lock = threading.Lock()
        self._clock = clock

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def issue(self, org: str, uid: str, dn: str) -> str:
        """A new link's token for the account; earlier links of the same account stop working."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            for key, link in list(self._links.items()):
                if link.expires <= now or (link.org, link.uid) == (org, uid):
                    del self._links[key]
            self._links[self._key(token)] = ResetLink(org, uid, dn, now + RESET_LIFETIME)
        return token

    def peek(self, token: str) -> ResetLink | None:
        """The link's account while it is valid, else None."""
        with self._lock:
            link = self._links.get(self._key(token))
        return link if link is not None and link.expires > self._clock() else None

    def consume(self, token: str) -> None:
        """The link has been used: never again."""
        with self._lock:
            self._links.pop(self._key(token), None)
