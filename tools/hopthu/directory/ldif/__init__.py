"""The slapd configuration and base entries of hopthu's directory, as LDIF rendered from templates.

The templates in this folder are plain Jinja2 with only the ``b64encode`` filter (which Ansible also
has), so the Ansible role renders the same files for real servers:

- ``hopthu-schema.ldif``: hopthu's schema (static);
- ``database.ldif.j2``: the cn=config of one organisation's database;
- ``base.ldif.j2``: the base entries of one organisation's tree, with its service identities;
- ``slapd-config.ldif.j2``: the rest of cn=config, for the throw-away local server only.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from hopthu.directory import dn
from hopthu.model import Organisation

HERE = Path(__file__).resolve().parent
SCHEMA_LDIF = HERE / "hopthu-schema.ldif"
MODULE_PATH = Path("/usr/lib/ldap")
SCHEMA_DIR = Path("/etc/ldap/schema")

# What may appear unescaped inside the templates: codes and DNs are written as they are, so they must
# not be able to end a line or an RDN.
_CODE = re.compile(r"[a-z0-9][a-z0-9._-]*", re.IGNORECASE)
_SIMPLE_DN = re.compile(r"[a-z][a-z0-9-]*=[a-z0-9][a-z0-9.-]*(,[a-z][a-z0-9-]*=[a-z0-9][a-z0-9.-]*)*", re.I)


class ConfigError(ValueError):
    """An organisation whose settings cannot become a directory configuration."""


# A provider's URI as it goes into olcSyncrepl unquoted, and the replicator's secret, which goes there in
# double quotes: nothing that could end the value or the line.
_PROVIDER_URI = re.compile(r"ldaps?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?")
_CREDENTIALS = re.compile(r"[A-Za-z0-9._~+/=-]{16,}")
MAX_PROVIDERS = 9  # replica ids are <database number><server id>: one digit for the server id


@dataclass(frozen=True)
class Replication:
    """What one provider of a replicated directory says in its configuration (database.ldif.j2)."""

    server_id: int  # this provider's olcServerID
    providers: Sequence[tuple[int, str]]  # (server id, URI) of every provider, this one included
    credentials: str = field(default="", repr=False)  # the replicator identity's secret

    def check(self) -> None:
        ids = [server_id for server_id, _ in self.providers]
        if len(set(ids)) != len(ids) or not all(1 <= i <= MAX_PROVIDERS for i in ids):
            raise ConfigError(
                f"provider server ids {ids} must be different numbers from 1 to {MAX_PROVIDERS}"
            )
        if self.server_id not in ids:
            raise ConfigError(f"server id {self.server_id} is not one of the providers' ({ids})")
        for _, uri in self.providers:
            if not _PROVIDER_URI.fullmatch(uri):
                raise ConfigError(f"provider URI {uri!r} must be ldap://host[:port] or ldaps://host[:port]")
        if not _CREDENTIALS.fullmatch(self.credentials):
            raise ConfigError(
                "the replicator's password must be at least 16 letters, digits or ._~+/=- "
                "(slapd's configuration holds it in quotes)"
            )

    def template_vars(self) -> dict[str, object]:
        peers = [{"server_id": i, "uri": uri} for i, uri in self.providers if i != self.server_id]
        return {"server_id": self.server_id, "peers": peers, "credentials": self.credentials}


def _b64encode(value: str) -> str:
    return base64.b64encode(str(value).encode()).decode("ascii")


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,  # Ansible's template module defaults, so both render the same text
    keep_trailing_newline=True,
    autoescape=False,  # LDIF, not HTML: values are checked or base64-encoded instead
)
_env.filters["b64encode"] = _b64encode


def ssha(secret: str) -> str:
    """``{SSHA}`` hash of a secret, the format slapd's olcRootPW accepts."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(secret.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


def check_organisation(org: Organisation) -> None:
    """Refuse settings that the templates would write into LDIF unescaped."""
    if not _CODE.fullmatch(org.code):
        raise ConfigError(f"organisation {org.code!r}: code must be letters, digits, '.', '_' or '-'")
    if not _SIMPLE_DN.fullmatch(org.base_dn) or not org.base_dn.lower().startswith("dc="):
        raise ConfigError(
            f"organisation {org.code}: base_dn {org.base_dn!r} must be a plain DN starting with dc=, "
            "e.g. dc=binhthuan,dc=gov,dc=vn"
        )
    for code in org.app_groups:
        if not _CODE.fullmatch(code):
            raise ConfigError(
                f"organisation {org.code}: application group code {code!r} must be letters, digits, "
                "'.', '_' or '-'"
            )


def policy_vars(org: Organisation) -> dict[str, int]:
    """The ``pwd_*`` settings of base.ldif.j2 that come from the organisation's password policy."""
    policy = org.password_policy
    return {
        "pwd_min_length": policy.min_length,
        "pwd_in_history": policy.history,
        "pwd_min_age": policy.min_age_hours * 3600,
    }


def render_base(org: Organisation, service_password_hashes: Mapping[str, str], **policy: int) -> str:
    """The base entries of ``org``'s tree; ``service_password_hashes`` has the ``{SSHA}`` hash of each
    service identity's secret (``dn.SERVICE_IDENTITIES``); the password policy is the organisation's
    (``policy_vars``), ``policy`` overrides ``pwd_*`` settings."""
    check_organisation(org)
    missing = set(dn.SERVICE_IDENTITIES) - set(service_password_hashes)
    if missing:
        raise ConfigError(f"organisation {org.code}: no password hash for {', '.join(sorted(missing))}")
    return _env.get_template("base.ldif.j2").render(
        base_dn=org.base_dn,
        dc=dn.first_rdn_value(org.base_dn, "dc"),
        org_name=org.name,
        app_groups=[{"code": g.code, "name": g.name} for g in org.app_groups.values()],
        service_password_hashes=dict(service_password_hashes),
        **{**policy_vars(org), **policy},
    )


def render_database(
    org: Organisation,
    db_index: int,
    rootpw_hash: str,
    db_directory: Path,
    replication: Replication | None = None,
) -> str:
    """The cn=config entries of ``org``'s database (number ``db_index``); with ``replication``, as one
    provider of several."""
    check_organisation(org)
    extra = {}
    if replication is not None:
        replication.check()
        if db_index * 10 + MAX_PROVIDERS > 999:
            raise ConfigError(f"database number {db_index}: a replicated database needs a number below 99")
        extra["replication"] = replication.template_vars()
    return _env.get_template("database.ldif.j2").render(
        db_index=db_index,
        base_dn=org.base_dn,
        rootpw_hash=rootpw_hash,
        db_directory=db_directory,
        password_resets=password_resets(org),
        **extra,
    )


def password_resets(org: Organisation) -> bool:
    """Whether the organisation's password page may reset a forgotten password by a link."""
    return org.password_page is not None and org.password_page.reset_by_link


def render_local_config(workdir: Path, databases: Iterable[str], server_id: int | None = None) -> str:
    """cn=config of the throw-away local server: global settings, then the rendered ``databases``;
    ``server_id`` when it is one provider of several."""
    head = _env.get_template("slapd-config.ldif.j2").render(
        server_id=server_id,
        workdir=workdir,
        module_path=MODULE_PATH,
        schema_dir=SCHEMA_DIR.as_uri(),
        hopthu_schema=SCHEMA_LDIF.as_uri(),
        uid=os.getuid(),
        gid=os.getgid(),
    )
    return head + "\n".join(databases)
