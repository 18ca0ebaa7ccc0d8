"""Where each organisation's directory is and how hopthu binds to it — never a secret in a file in git.

A connections file (JSON or YAML) names, per organisation, the URI, the bind DN and where the bind
password comes from: an environment variable (GitLab protected, masked variable; ansible-vault in the
Ansible path) or a file outside the repository (the local server's ``secrets/<org>.password``). The
``directory.json`` that ``hopthu server start`` writes is such a file::

    {"uri": "ldap://127.0.0.1:10389",
     "organisations": {"binhthuan": {"bind_dn": "cn=admin,dc=binhthuan,dc=gov,dc=vn",
                                     "password_file": "/…/secrets/binhthuan.password"}}}

Without ``password_file``/``password_env``, ``HOPTHU_BIND_PASSWORD_<ORG>`` (upper case, ``-`` → ``_``) is
used, then ``HOPTHU_BIND_PASSWORD``.

A directory with several providers (multi-provider replication) lists them all, in the order they are
tried: ``uri`` may be a list (or ``uris``), per organisation or at the top. ``timeout`` (seconds, default
10) bounds the connect and every answer, so a provider that stops answering is left for the next one.
``state: {org: CODE}`` says that the pipeline's state (audit log, credentials outbox, notice ledger) is
also kept in that organisation's (replicated) directory (``hopthu.statestore``)::

    {"uris": ["ldap://127.0.0.1:10389", "ldap://127.0.0.1:10390"], "timeout": 5,
     "state": {"org": "binhthuan"},
     "organisations": {…}}
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ENV_FILE = "HOPTHU_DIRECTORY"


class EndpointError(Exception):
    """The connections file is missing, malformed, or a password cannot be found."""


DEFAULT_TIMEOUT = 10
MAX_TIMEOUT = 300
_SCHEMES = ("ldap://", "ldaps://", "ldapi://")


@dataclass(frozen=True)
class Endpoint:
    org: str
    uri: str  # the first provider: tried first
    bind_dn: str
    password: str = field(repr=False)  # never printed
    other_uris: tuple[str, ...] = ()  # the other providers of the same directory, in the order tried
    timeout: int = DEFAULT_TIMEOUT  # seconds: the connect and every answer

    @property
    def uris(self) -> tuple[str, ...]:
        return (self.uri, *self.other_uris)

    def __repr__(self) -> str:
        return (
            f"Endpoint(org={self.org!r}, uris={list(self.uris)!r}, bind_dn={self.bind_dn!r}, "
            "password='********')"
        )


@dataclass(frozen=True)
class Connections:
    """A connections file: the endpoints, and which organisation's directory keeps the pipeline's state."""

    endpoints: dict[str, Endpoint]
    state_org: str | None = None


def password_env_name(org: str) -> str:
    return "HOPTHU_BIND_PASSWORD_" + org.upper().replace("-", "_")


def load_endpoints(path: Path, env: Mapping[str, str] | None = None) -> dict[str, Endpoint]:
    return load_connections(path, env).endpoints


def load_connections(path: Path, env: Mapping[str, str] | None = None) -> Connections:
    env = os.environ if env is None else env
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise EndpointError(
            f"{path}: cannot read the connections file ({error.strerror}); start the local directory with "
            "`hopthu server start` or pass --directory FILE"
        ) from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise EndpointError(f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("organisations"), dict):
        raise EndpointError(f"{path}: expected a mapping with an 'organisations' mapping")
    endpoints = {}
    for org, settings in data["organisations"].items():
        where = f"{path}: organisations.{org}"
        if not isinstance(settings, dict):
            raise EndpointError(f"{where}: expected a mapping with 'uri' and 'bind_dn'")
        uris = _uris(where, settings) or _uris(f"{path}: (top level)", data)
        bind_dn = settings.get("bind_dn")
        if not uris or not isinstance(bind_dn, str) or not bind_dn:
            raise EndpointError(f"{where}: needs 'uri' (or a top-level one) and 'bind_dn'")
        timeout = _timeout(where, settings.get("timeout", data.get("timeout", DEFAULT_TIMEOUT)))
        password = _password(path, org, settings, env)
        endpoints[org] = Endpoint(org, uris[0], bind_dn, password, tuple(uris[1:]), timeout)
    return Connections(endpoints, _state_org(path, data, endpoints))


def _uris(where: str, settings: Mapping) -> list[str]:
    """The providers' URIs of ``settings`` (``uri``: one or a list, or ``uris``), in order; [] if none."""
    given = settings.get("uris", settings.get("uri"))
    if given is None or given == "":
        return []
    values = [given] if isinstance(given, str) else given
    if not isinstance(values, list) or not values:
        raise EndpointError(f"{where}: 'uri' must be an LDAP URI or a list of them")
    for value in values:
        if (
            not isinstance(value, str)
            or not value.lower().startswith(_SCHEMES)
            or any(c.isspace() for c in value)
        ):
            raise EndpointError(
                f"{where}: {value!r} is not an LDAP URI: write ldap://host:port, ldaps://host or ldapi://…"
            )
    if len(set(values)) != len(values):
        raise EndpointError(f"{where}: a provider is listed twice in {values}")
    return list(values)


def _timeout(where: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TIMEOUT:
        raise EndpointError(f"{where}: timeout must be a whole number of seconds from 1 to {MAX_TIMEOUT}")
    return value


def _state_org(path: Path, data: Mapping, endpoints: Mapping[str, Endpoint]) -> str | None:
    state = data.get("state")
    if state is None:
        return None
    code = state.get("org") if isinstance(state, dict) else None
    if not isinstance(code, str) or code not in endpoints:
        raise EndpointError(
            f"{path}: state: expected {{org: CODE}} naming one of the organisations "
            f"({', '.join(sorted(endpoints))}) whose directory also keeps the pipeline's state"
        )
    return code


def _password(path: Path, org: str, settings: Mapping, env: Mapping[str, str]) -> str:
    if settings.get("password_file"):
        secret_path = Path(settings["password_file"])
        try:
            return secret_path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise EndpointError(
                f"{path}: organisations.{org}.password_file: cannot read {secret_path} ({error.strerror})"
            ) from None
    names = [settings["password_env"]] if settings.get("password_env") else []
    names += [password_env_name(org), "HOPTHU_BIND_PASSWORD"]
    for name in names:
        if env.get(name):
            return env[name]
    raise EndpointError(
        f"{path}: no bind password for {org}: set the environment variable {names[0]} "
        "(a protected, masked CI variable) or give password_file"
    )
