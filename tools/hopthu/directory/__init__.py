"""The LDAP side of hopthu: the slapd configuration (``ldif/``), a throw-away local server
(``server``, and several replicating each other: ``replicas``), connections (``connection``, and fail-over
between an organisation's providers: ``failover``), escaping (``dn``), the snapshot reader (``reader``)
and the writers that execute a plan (``writer``, ``applier``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hopthu.directory.writer import LdapOp, WriteResult


class DirectoryError(Exception):
    """The directory cannot be reached or refused an operation; the message says which and what to do.

    Messages never contain a password.
    """


class DirectoryUnavailable(DirectoryError):
    """The directory server stopped answering: the connection was refused, reset or closed, or an answer
    did not come within the timeout. Another provider of the same directory may answer.

    After a write stream broke (``hopthu.directory.writer``): every operation whose result was yielded
    before this exception is settled. ``unconfirmed`` were sent but never answered: each may or may not
    have been applied. ``later_results`` were answered, but after an unconfirmed one (the server runs
    operations concurrently), so they could not be yielded in order. Operations of the input after these
    were never sent.
    """

    def __init__(
        self,
        reason: str,
        unconfirmed: Sequence[LdapOp] = (),
        later_results: Sequence[WriteResult] = (),
    ) -> None:
        self.reason = reason
        self.unconfirmed = tuple(unconfirmed)
        self.later_results = tuple(later_results)
        detail = f"{len(self.unconfirmed)} operation(s) sent without an answer, their outcome is unknown"
        super().__init__(f"{reason}; {detail}" if self.unconfirmed else reason)
