"""One organisation's directory when it has several providers (multi-provider replication): hopthu uses
one provider at a time and moves on to the next when it stops answering.

The rules, each tested against real servers (tests/test_failover.py):

- providers are tried in the order the connections file lists them (``Endpoint.uris``);
- every connect and every answer waits at most the endpoint's ``timeout``: a provider that refuses the
  connection, resets it, or accepts it and then says nothing is left within that time;
- a provider that failed is not tried again in the same run: a run moves forward through the list and
  ends with an error naming every provider and why it was left, never an endless retry; the next run
  starts from the first provider again (ldap3's ``ServerPool`` is not used: a server it marks down once
  is never tried again in that pool, and its active strategy can retry forever);
- a provider that answers but refuses the bind (a wrong password, a locked identity) is not a reason to
  move on: that is a configuration error, said as it is.

Which provider a change was written to matters only while replication catches up; ``hopthu.pipeline``
re-reads what it needs from the next provider and resumes (see ``pipeline.apply``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import ldap3
from ldap3.core.exceptions import LDAPException

from hopthu.directory import DirectoryUnavailable
from hopthu.directory.connection import connect
from hopthu.endpoints import Endpoint

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class NoProviderLeft(DirectoryUnavailable):
    """Every provider of a directory failed in this run; the message says why, for each."""


class Providers:
    """The providers of one organisation's directory, used one at a time."""

    def __init__(self, endpoint: Endpoint, opener: Callable[..., ldap3.Connection] = connect) -> None:
        self.endpoint = endpoint
        self.opener = opener
        self.failures: dict[str, str] = {}  # URI → why it was left in this run
        self.current: str | None = None  # the URI of the open connection
        self._conn: ldap3.Connection | None = None

    def connection(self) -> ldap3.Connection:
        """The open connection, or one to the first provider that has not failed in this run."""
        if self._conn is not None:
            return self._conn
        for uri in self.endpoint.uris:
            if uri in self.failures:
                continue
            try:
                self._conn = self.opener(
                    uri, self.endpoint.bind_dn, self.endpoint.password, timeout=self.endpoint.timeout
                )
            except DirectoryUnavailable as error:
                self.failures[uri] = str(error)
                continue
            self.current = uri
            return self._conn
        raise NoProviderLeft(self.why())

    def fail(self, error: BaseException) -> str:
        """The current provider stopped answering: close its connection and leave it for this run.
        Returns its URI."""
        uri = self.current or "?"
        self.failures[uri] = str(error)
        self._close()
        return uri

    def why(self) -> str:
        reasons = "; ".join(f"{uri}: {reason}" for uri, reason in self.failures.items())
        count = len(self.endpoint.uris)
        which = "the directory" if count == 1 else f"none of the {count} directory providers"
        return f"{self.endpoint.org}: {which} answered ({reasons})"

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(LDAPException, OSError):
                self._conn.unbind()
        self._conn = None
        self.current = None

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(LDAPException, OSError):
                self._conn.strategy.close()  # no unbind: the server may not be there to read it
        self._conn = None
        self.current = None


# --- reading every provider (the usage review, drift between providers) ----------------------------------


@dataclass
class Readings(Generic[T]):
    """What one read gave on each provider that answered, and why the others did not."""

    values: dict[str, T] = field(default_factory=dict)  # URI → result, in the connections file's order
    unreachable: dict[str, str] = field(default_factory=dict)  # URI → why


def read_every_provider(
    endpoint: Endpoint,
    read: Callable[[ldap3.Connection], T],
    opener: Callable[..., ldap3.Connection] = connect,
) -> Readings[T]:
    """``read(conn)`` on each provider of ``endpoint`` in turn, each on its own bounded connection.

    For what a provider keeps of its own, or may not have received yet from the others: the usage review
    takes each account's latest successful bind over every provider (``latest``), and ``hopthu drift``
    compares the providers' accounts. A refused bind is an error (``DirectoryError``), as for one provider.
    """
    readings: Readings[T] = Readings()
    for uri in endpoint.uris:
        try:
            conn = opener(uri, endpoint.bind_dn, endpoint.password, timeout=endpoint.timeout)
        except DirectoryUnavailable as error:
            readings.unreachable[uri] = str(error)
            continue
        try:
            readings.values[uri] = read(conn)
        except DirectoryUnavailable as error:
            readings.unreachable[uri] = str(error)
        finally:
            with contextlib.suppress(LDAPException, OSError):
                conn.unbind()
    return readings


def latest(readings: Iterable[Mapping[K, dt.datetime | None]]) -> dict[K, dt.datetime | None]:
    """Per key, the latest time any reading has (None when none has one): e.g. each account's last
    successful bind (lastbind's ``authTimestamp``) over every provider."""
    merged: dict[K, dt.datetime | None] = {}
    for reading in readings:
        for key, moment in reading.items():
            known = merged.get(key)
            if key not in merged or (moment is not None and (known is None or moment > known)):
                merged[key] = moment
    return merged
