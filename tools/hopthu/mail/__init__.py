"""The mail side of hopthu: Dovecot (IMAP for the owners, LMTP for delivery) and Postfix (SMTP), both
reading the accounts from the organisations' LDAP directories.

- ``config``: the servers' configuration files, rendered from the templates in ``templates/`` (the
  Ansible role renders the same templates for real servers);
- ``server``: a private Dovecot + Postfix on 127.0.0.1 for tests and the demo (``LocalMail``);
- ``mailstore``: archiving a mailbox (verified) before it is removed, for ``delete``.

Decisions (each one tested against the real servers in tests/test_mail.py):

- Several organisations: one Dovecot passdb per organisation, chosen by the domain of the login name
  (``username_filter``), so a login is checked against exactly one directory; a name in no known domain
  is an unknown user. Dovecot 2.3 has no such filter for userdb: the organisations' userdbs are asked in
  turn, which is safe because an address lives in one organisation's tree only. Postfix has one
  mailbox table and one alias table per organisation, each limited to its domains (``domain =``).
- Passwords are checked by binding as the account (``auth_bind``), so ppolicy decides: a lock (khóa)
  refuses the login, a reset counts at the very next login (no auth cache).
- One-time password (``pwdReset: TRUE``) at IMAP login: refused until the owner changes it on the
  password page (``hopthu password-page``). A first passdb per organisation finds only such accounts,
  checks the password by binding, and refuses the login with a reason that names the page (7-bit, as
  IMAP's response text is); the second has ``(!(pwdReset=TRUE))`` in ``pass_filter``. The userdb has no
  such condition, so delivery goes on meanwhile.
- Mail to a locked account, per organisation (``locked_mail``): ``accept`` delivers and keeps it
  (Dovecot looks accounts up with its own bind, which a lock does not stop); ``reject`` makes Postfix
  refuse it at RCPT time with 550. Only hopthu's lock (``pwdAccountLockedTime: 000001010000Z``) counts:
  ppolicy's temporary lockout after failed logins, which anyone can cause, never makes mail bounce.
- Both servers look accounts up as the organisation's ``mail-lookup`` identity
  (``cn=mail-lookup,ou=services,<base_dn>``), never its rootdn: slapd lets it read objectClass, uid, mail,
  mailLocalAddress, hopthuMailQuota, hopthuMailbox, pwdReset and pwdAccountLockedTime of the accounts, and
  nothing else
  (no password, no other attribute, no group), and refuses every write. A compromised mail host can see
  who has which address, not rewrite the directory.
- Mailboxes live in ``<mail_root>/<org>/<uid>``: the uid never changes, the address may on a transfer.
  An account a merger (sáp nhập) moved to another organisation keeps its mailbox where it was: its entry
  names the folder (``hopthuMailbox``, relative to the mail root), so no message moves.
  The quota is ``hopthuMailQuota`` bytes (the organisation's ``mailbox_quota_mb`` when absent).
- Old addresses are aliases (``mailLocalAddress``) that Postfix's alias tables resolve: each
  organisation's alias table is asked about every domain served, since after a merger an address of one
  organisation's domain is an alias of an entry in another's tree.
"""

from __future__ import annotations


class MailError(Exception):
    """A mail server cannot be configured or started, or a mailbox cannot be archived or removed.

    The message says which file or server, what went wrong and what to do; it never holds a password.
    """
