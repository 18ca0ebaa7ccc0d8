"""Configuration files of Dovecot and Postfix for hopthu's organisations.

Decide (this module: plain data in, file names and texts out) is kept apart from act (``write_files``
and ``server.LocalMail``). The templates are plain Jinja2 with only built-in filters, so the Ansible
role renders the same files from the same variables (``dovecot_vars``, ``postfix_vars``,
``ldap_vars``).

Every value that lands in a configuration file unescaped is checked first: a domain, DN, path or URI
that could end a line or start a comment there is refused with a message naming the setting.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import jinja2

from hopthu.mail import MailError
from hopthu.model import Organisation

TEMPLATES = Path(__file__).resolve().parent / "templates"
LOCKED_MAIL_CHOICES = ("accept", "reject")

_CODE = re.compile(r"[a-z0-9][a-z0-9_-]*", re.IGNORECASE)
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}")
# DNs as hopthu writes them for suffixes and service accounts: attr=value pairs of plain characters.
_DN = re.compile(r"[a-z][a-z0-9-]*=[a-z0-9][a-z0-9 ._-]*(?:,[a-z][a-z0-9-]*=[a-z0-9][a-z0-9 ._-]*)*", re.I)
_LDAP_URI = re.compile(r"ldaps?://[a-z0-9.:\[\]-]+/?|ldapi://[A-Za-z0-9%._-]+/?", re.IGNORECASE)
_PATH = re.compile(r"/[A-Za-z0-9._/+-]*")
_HOST = re.compile(r"[A-Za-z0-9.-]+")
_NETWORKS = re.compile(r"[0-9a-fA-F.:/\[\] ]+")
_LISTEN = re.compile(r"smtp|[0-9.]+:[0-9]+")
_PAGE_URL = re.compile(r"https?://[a-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~/-]*)?")
# What an IMAP client shows when a one-time password is still unchanged. IMAP's response text is 7-bit
# (RFC 3501 TEXT-CHAR), so the sentence goes without diacritics; no comma (Dovecot splits pass_attrs there).
FIRST_LOGIN_REASON = "Mật khẩu lần đầu chưa được đổi: hãy đổi mật khẩu tại {url} rồi đăng nhập lại"
FIRST_LOGIN_REASON_NO_PAGE = "Mật khẩu lần đầu chưa được đổi: hãy đổi mật khẩu rồi đăng nhập lại"


@dataclass(frozen=True)
class MailOrg:
    """One organisation as the mail servers see it: its tree, its domains and how to bind."""

    code: str
    base_dn: str
    domains: tuple[str, ...]  # every domain its accounts have addresses in (org's and units')
    bind_dn: str
    bind_password_file: Path  # read when the files are rendered; the password lands only in 0600 files
    locked_mail: str = "accept"  # see model.Organisation.locked_mail
    default_quota_bytes: int = 2048 * 1024 * 1024  # for an account without hopthuMailQuota
    ldap_uri: str | None = None  # its own directory server, when not the setup's (a merger's two servers)
    password_page_url: str | None = None  # where a one-time password is changed (the IMAP refusal says it)

    @classmethod
    def from_organisation(
        cls, org: Organisation, *, bind_dn: str, bind_password_file: Path, ldap_uri: str | None = None
    ) -> MailOrg:
        domains = {org.mail_domain} | {u.mail_domain for u in org.units.values() if u.mail_domain}
        return cls(
            code=org.code,
            base_dn=org.base_dn,
            domains=tuple(sorted(d.lower() for d in domains)),
            bind_dn=bind_dn,
            bind_password_file=Path(bind_password_file),
            locked_mail=org.locked_mail,
            default_quota_bytes=org.mailbox_quota_mb * 1024 * 1024,
            ldap_uri=ldap_uri,
            password_page_url=org.password_page.url if org.password_page else None,
        )


@dataclass(frozen=True)
class MailSetup:
    """Everything the Dovecot and Postfix files are rendered from."""

    ldap_uri: str | tuple[str, ...]  # one URI, or every provider of a replicated directory, in order
    orgs: tuple[MailOrg, ...]
    mail_root: Path  # mailboxes are <mail_root>/<org code>/<uid>
    mail_user: str  # system account owning every mailbox
    mail_group: str
    dovecot_dir: Path  # where Dovecot's files go (and are referenced from dovecot.conf)
    postfix_dir: Path  # Postfix's config_directory
    listen_address: str = "127.0.0.1"
    imap_port: int = 143
    lmtp_port: int = 24
    smtp_listen: str = "smtp"  # master.cf service name: "smtp" or "127.0.0.1:2525"
    hostname: str = "localhost"
    mynetworks: str = "127.0.0.0/8"
    runtime_dir: Path | None = None  # private instance: sockets, queue, state and logs under here
    outbound_transport: str | None = None  # None: Postfix delivers other domains itself
    fast_auth_failures: bool = False  # tests only: no delay or penalty after a failed login
    ssl_cert: Path | None = None
    ssl_key: Path | None = None


@dataclass(frozen=True)
class ConfigFile:
    """One rendered file: ``path`` inside its server's folder, and whether it holds a password."""

    path: Path
    text: str
    secret: bool = False


# --- checks ------------------------------------------------------------------------------------------


def check_setup(setup: MailSetup) -> None:
    """Refuse settings that cannot be written into the servers' files safely."""
    if not setup.orgs:
        raise MailError("no organisations to serve mail for: the inventory must define at least one")
    if not ldap_uris(setup):
        raise MailError("no LDAP URI: the mail servers need the directory's (every provider's)")
    for uri in ldap_uris(setup):
        _check(_LDAP_URI, uri, "LDAP URI (ldap://host:port, ldaps://… or ldapi://…)")
    for name in ("mail_root", "dovecot_dir", "postfix_dir", "runtime_dir", "ssl_cert", "ssl_key"):
        value = getattr(setup, name)
        if value is not None:
            _check(_PATH, str(value), f"{name} (an absolute path of letters, digits, '.', '_', '-', '/')")
    for name in ("mail_user", "mail_group"):
        _check(_CODE, getattr(setup, name), f"{name} (a system user or group name)")
    _check(_HOST, setup.listen_address, "listen_address")
    _check(_HOST, setup.hostname, "hostname")
    _check(_NETWORKS, setup.mynetworks, "mynetworks")
    _check(_LISTEN, setup.smtp_listen, "smtp_listen ('smtp' or address:port)")
    if setup.outbound_transport is not None and "\n" in setup.outbound_transport:
        raise MailError("outbound_transport must be one line")
    if (setup.ssl_cert is None) != (setup.ssl_key is None):
        raise MailError("ssl_cert and ssl_key go together: give both or neither")
    seen: dict[str, str] = {}
    for org in setup.orgs:
        _check(_CODE, org.code, "organisation code")
        where = f"organisation {org.code}"
        _check(_DN, org.base_dn, f"{where}: base_dn")
        _check(_DN, org.bind_dn, f"{where}: bind DN")
        if org.ldap_uri is not None:
            _check(_LDAP_URI, org.ldap_uri, f"{where}: LDAP URI")
        if org.locked_mail not in LOCKED_MAIL_CHOICES:
            choices = " or ".join(LOCKED_MAIL_CHOICES)
            raise MailError(f"{where}: locked_mail is {org.locked_mail!r}; use {choices}")
        if not org.domains:
            raise MailError(f"{where}: no mail domain")
        for domain in org.domains:
            _check(_DOMAIN, domain, f"{where}: mail domain")
            if domain in seen and seen[domain] != org.code:
                raise MailError(f"mail domain {domain} is in two organisations: {seen[domain]}, {org.code}")
            seen[domain] = org.code
        if org.default_quota_bytes <= 0:
            raise MailError(f"{where}: the default mailbox quota must be positive")
        if org.password_page_url is not None:
            _check(_PAGE_URL, org.password_page_url, f"{where}: password page url")


def ldap_uris(setup: MailSetup, org: MailOrg | None = None) -> tuple[str, ...]:
    """The directory's URIs the mail servers try, in order (Dovecot's ``uris``, Postfix's
    ``server_host``): with several providers a lookup, and a login's bind, go to the next when one is
    down, and each provider holds every lock (replication). An organisation on a directory server of
    its own (a merger between two servers) names that one instead."""
    if org is not None and org.ldap_uri is not None:
        return (org.ldap_uri,)
    return (setup.ldap_uri,) if isinstance(setup.ldap_uri, str) else tuple(setup.ldap_uri)


def _check(pattern: re.Pattern[str], value: str, what: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise MailError(f"{what}: {value!r} is not allowed here")


def read_bind_password(org: MailOrg) -> str:
    """The bind password from its file (one trailing newline ignored), checked to fit on one line."""
    try:
        password = org.bind_password_file.read_text(encoding="utf-8").removesuffix("\n")
    except (OSError, UnicodeDecodeError) as error:
        raise MailError(
            f"organisation {org.code}: cannot read the bind password file {org.bind_password_file}: "
            f"{getattr(error, 'strerror', None) or error}"
        ) from None
    if not password or password != password.strip() or any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise MailError(
            f"organisation {org.code}: the bind password in {org.bind_password_file} must be one line "
            "without control characters or surrounding spaces"
        )
    return password


# --- template variables (the same names the Ansible role uses) ------------------------------------------


def dovecot_vars(setup: MailSetup) -> dict[str, object]:
    return {
        "listen_address": setup.listen_address,
        "imap_port": setup.imap_port,
        "lmtp_port": setup.lmtp_port,
        "mail_user": setup.mail_user,
        "mail_group": setup.mail_group,
        "mail_root": str(setup.mail_root),
        "dovecot_dir": str(setup.dovecot_dir),
        "orgs": [{"code": org.code, "domains": list(org.domains)} for org in setup.orgs],
        "runtime_dir": str(setup.runtime_dir / "dovecot") if setup.runtime_dir else "",
        "ssl_cert": str(setup.ssl_cert or ""),
        "ssl_key": str(setup.ssl_key or ""),
        "fast_auth_failures": setup.fast_auth_failures,
    }


def seven_bit(text: str) -> str:
    """Vietnamese without diacritics (đ → d), for protocols whose text is ASCII."""
    decomposed = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def first_login_reason(org: MailOrg) -> str:
    """The IMAP refusal of a one-time password, naming the organisation's password page."""
    if org.password_page_url is None:
        return seven_bit(FIRST_LOGIN_REASON_NO_PAGE)
    return seven_bit(FIRST_LOGIN_REASON.format(url=org.password_page_url))


def ldap_vars(setup: MailSetup, org: MailOrg, password: str) -> dict[str, object]:
    return {
        "ldap_uri": ldap_uris(setup, org)[0],
        "ldap_uris": list(ldap_uris(setup, org)),
        "base_dn": org.base_dn,
        "bind_dn": org.bind_dn,
        "bind_password": password,
        "mail_root": str(setup.mail_root),
        "code": org.code,
        "default_quota_bytes": org.default_quota_bytes,
        "domains": list(org.domains),
        "locked_mail": org.locked_mail,
        "first_login": False,
        "first_login_reason": first_login_reason(org),
    }


def postfix_vars(setup: MailSetup) -> dict[str, object]:
    return {
        "hostname": setup.hostname,
        "mynetworks": setup.mynetworks,
        "domains": [domain for org in setup.orgs for domain in org.domains],
        "postfix_dir": str(setup.postfix_dir),
        "orgs": [{"code": org.code} for org in setup.orgs],
        "lmtp_host": setup.listen_address,
        "lmtp_port": setup.lmtp_port,
        "runtime_dir": str(setup.runtime_dir / "postfix") if setup.runtime_dir else "",
        "outbound_transport": setup.outbound_transport or "",
        "smtp_listen": setup.smtp_listen,
    }


# --- rendering ------------------------------------------------------------------------------------------

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,  # Ansible's template module defaults, so both render the same text
    keep_trailing_newline=True,
    autoescape=False,  # configuration files, not HTML: values are checked instead
)


def _render(template: str, variables: dict[str, object]) -> str:
    return _env.get_template(template).render(**variables)


def dovecot_files(setup: MailSetup) -> list[ConfigFile]:
    """dovecot.conf and two LDAP settings files per organisation, the login of accounts whose one-time
    password is unchanged and the others' (secret: they hold the bind password)."""
    check_setup(setup)
    files = [ConfigFile(Path("dovecot.conf"), _render("dovecot.conf.j2", dovecot_vars(setup)))]
    for org in setup.orgs:
        variables = ldap_vars(setup, org, read_bind_password(org))
        for suffix, first_login in (("", False), ("-first-login", True)):
            text = _render("dovecot-ldap.conf.ext.j2", {**variables, "first_login": first_login})
            files.append(ConfigFile(Path(f"dovecot-ldap-{org.code}{suffix}.conf.ext"), text, secret=True))
    return files


def postfix_files(setup: MailSetup) -> list[ConfigFile]:
    """main.cf, master.cf and two LDAP tables per organisation (secret: they hold the bind password)."""
    check_setup(setup)
    variables = postfix_vars(setup)
    files = [
        ConfigFile(Path("main.cf"), _render("main.cf.j2", variables)),
        ConfigFile(Path("master.cf"), _render("master.cf.j2", variables)),
    ]
    for org in setup.orgs:
        password = read_bind_password(org)
        # An alias may sit in any organisation's tree (a merger's old addresses): the alias tables are
        # asked about every domain served, the mailbox tables only about their own.
        every_domain = [domain for each in setup.orgs for domain in each.domains]
        for table in ("mailboxes", "aliases"):
            variables = {**ldap_vars(setup, org, password), "table": table, "all_domains": every_domain}
            text = _render("ldap-table.cf.j2", variables)
            files.append(ConfigFile(Path(f"ldap-{org.code}-{table}.cf"), text, secret=True))
    return files


def write_files(directory: Path, files: Iterable[ConfigFile], *, secret_group: int | None = None) -> None:
    """Write ``files`` into ``directory``: secret ones are created 0600 (0640 with ``secret_group``)
    from the first byte on, so the password is never readable by others, not even for a moment."""
    directory.mkdir(parents=True, exist_ok=True)
    for file in files:
        target = directory / file.path
        mode = (0o640 if secret_group is not None else 0o600) if file.secret else 0o644
        tmp = target.with_name(target.name + ".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(file.text)
        if file.secret and secret_group is not None:
            os.chown(tmp, -1, secret_group)
        tmp.replace(target)
