"""The LDAP side of hopthu: the slapd configuration (``ldif/``), a throw-away local server
(``server``), connections (``connection``), escaping (``dn``), the snapshot reader (``reader``) and the
writers that execute a plan (``writer``, ``applier``)."""

from __future__ import annotations


class DirectoryError(Exception):
    """The directory cannot be reached or refused an operation; the message says which and what to do.

    Messages never contain a password.
    """
