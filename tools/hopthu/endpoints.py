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


@dataclass(frozen=True)
class Endpoint:
    org: str
    uri: str
    bind_dn: str
    password: str = field(repr=False)  # never printed

    def __repr__(self) -> str:
        return f"Endpoint(org={self.org!r}, uri={self.uri!r}, bind_dn={self.bind_dn!r}, password='********')"


def password_env_name(org: str) -> str:
    return "HOPTHU_BIND_PASSWORD_" + org.upper().replace("-", "_")


def load_endpoints(path: Path, env: Mapping[str, str] | None = None) -> dict[str, Endpoint]:
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
        if not isinstance(settings, dict):
            raise EndpointError(f"{path}: organisations.{org}: expected a mapping with 'uri' and 'bind_dn'")
        uri = settings.get("uri") or data.get("uri")
        bind_dn = settings.get("bind_dn")
        if not isinstance(uri, str) or not isinstance(bind_dn, str) or not uri or not bind_dn:
            raise EndpointError(
                f"{path}: organisations.{org}: needs 'uri' (or a top-level one) and 'bind_dn'"
            )
        endpoints[org] = Endpoint(org, uri, bind_dn, _password(path, org, settings, env))
    return endpoints


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
