"""Which key signs an organisation's notices, and opening it — never a secret in a file in git.

The signing settings (a file named by ``hopthu notify --signing FILE`` or ``$HOPTHU_SIGNING``, JSON or
YAML; in the Ansible path the variable ``hopthu_notice_signing``) name, per organisation, either a
PKCS#12 file on the audit host or a PKCS#11 token (the USB tokens agencies are issued), an optional RFC
3161 timestamp server, and where the passphrase or PIN comes from::

    organisations:
      binhthuan:
        pkcs12: /var/lib/hopthu/keys/binhthuan.p12
        passphrase_env: HOPTHU_SIGNING_PASSPHRASE_BINHTHUAN   # the default name
        timestamp_url: http://tsa.example.vn/tsa              # optional
      danang:
        pkcs11: {module: /usr/lib/x86_64-linux-gnu/libeToken.so, token_label: STTTT DA NANG,
                 key_label: notices, pin_env: HOPTHU_SIGNING_PIN_DANANG}

The passphrase or PIN comes from that environment variable (a protected, masked CI variable), or, in the
Ansible path, from the vault (the module's ``signing_secrets``, ``no_log``). An organisation the settings
do not name sends its notices unsigned.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ENV_FILE = "HOPTHU_SIGNING"


class SigningKeyError(Exception):
    """The signing settings are wrong, or the key cannot be opened; the message says what to do and never
    carries a passphrase or PIN."""


@dataclass(frozen=True)
class Pkcs12Key:
    path: Path
    passphrase: str = field(repr=False)
    secret_name: str = ""  # where the passphrase came from (an environment variable, the vault): for messages

    def describe(self) -> str:
        return f"PKCS#12 file {self.path}"


@dataclass(frozen=True)
class Pkcs11Key:
    module: Path
    pin: str = field(repr=False)
    token_label: str | None = None
    key_label: str | None = None
    cert_label: str | None = None
    secret_name: str = ""

    def describe(self) -> str:
        token = f"token {self.token_label!r}" if self.token_label else "the first token"
        return f"PKCS#11 {token} of {self.module}"


@dataclass(frozen=True)
class SigningSettings:
    """How one organisation's notices are signed."""

    org: str
    key: Pkcs12Key | Pkcs11Key
    timestamp_url: str | None = None


def secret_env_name(org: str, what: str) -> str:
    """``HOPTHU_SIGNING_PASSPHRASE_BINHTHUAN`` (``what``: PASSPHRASE or PIN)."""
    return f"HOPTHU_SIGNING_{what}_" + org.upper().replace("-", "_")


def load_signing_file(path: Path, env: Mapping[str, str] | None = None) -> dict[str, SigningSettings]:
    """The settings file at ``path`` (``organisations: {org: …}``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SigningKeyError(f"{path}: cannot read the signing settings ({error.strerror})") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise SigningKeyError(f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("organisations"), dict):
        raise SigningKeyError(f"{path}: expected a mapping with an 'organisations' mapping")
    return parse_signing(data["organisations"], str(path), env=env)


def parse_signing(
    organisations: Mapping[str, Any],
    where: str,
    *,
    env: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> dict[str, SigningSettings]:
    """Organisation code → settings. A secret comes from ``secrets`` (the vault, by organisation code)
    first, then from the environment variable the settings name (or the default name)."""
    env = os.environ if env is None else env
    settings = {}
    for org, raw in organisations.items():
        here = f"{where}: organisations.{org}"
        if not isinstance(raw, Mapping):
            raise SigningKeyError(f"{here}: expected a mapping with pkcs12 or pkcs11")
        unknown = sorted(set(raw) - {"pkcs12", "passphrase_env", "pkcs11", "timestamp_url"})
        if unknown:
            raise SigningKeyError(f"{here}: unknown setting(s) {', '.join(unknown)}")
        url = raw.get("timestamp_url")
        if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
            raise SigningKeyError(f"{here}.timestamp_url: an http:// or https:// URL of an RFC 3161 server")
        if ("pkcs12" in raw) == ("pkcs11" in raw):
            raise SigningKeyError(f"{here}: give either pkcs12 (a file) or pkcs11 (a token)")
        if "pkcs12" in raw:
            name = raw.get("passphrase_env") or secret_env_name(str(org), "PASSPHRASE")
            secret, source = _secret(str(org), name, env, secrets, f"{here}: the PKCS#12 passphrase")
            key: Pkcs12Key | Pkcs11Key = Pkcs12Key(Path(str(raw["pkcs12"])), secret, source)
        else:
            token = raw["pkcs11"]
            if not isinstance(token, Mapping) or not token.get("module"):
                raise SigningKeyError(f"{here}.pkcs11: needs 'module' (the token's PKCS#11 library)")
            unknown = sorted(set(token) - {"module", "token_label", "key_label", "cert_label", "pin_env"})
            if unknown:
                raise SigningKeyError(f"{here}.pkcs11: unknown setting(s) {', '.join(unknown)}")
            name = token.get("pin_env") or secret_env_name(str(org), "PIN")
            secret, source = _secret(str(org), name, env, secrets, f"{here}: the token's PIN")
            key = Pkcs11Key(
                Path(str(token["module"])),
                secret,
                token_label=token.get("token_label"),
                key_label=token.get("key_label"),
                cert_label=token.get("cert_label"),
                secret_name=source,
            )
        settings[str(org)] = SigningSettings(str(org), key, url)
    return settings


def _secret(
    org: str, env_name: str, env: Mapping[str, str], secrets: Mapping[str, str] | None, what: str
) -> tuple[str, str]:
    if secrets and secrets.get(org):
        return str(secrets[org]), "the vault (signing_secrets)"
    if env.get(env_name):
        return env[env_name], f"${env_name}"
    raise SigningKeyError(
        f"{what} is not set: set the environment variable {env_name} (a protected, masked CI variable) "
        "or put it in the vault"
    )


# --- effect: opening the key ---------------------------------------------------------------------------


def open_signer(key: Pkcs12Key | Pkcs11Key, stack: contextlib.ExitStack):  # -> pyhanko Signer
    """A pyHanko signer for ``key``; a token's session is closed when ``stack`` closes."""
    if isinstance(key, Pkcs12Key):
        return _pkcs12_signer(key)
    return _pkcs11_signer(key, stack)


def _pkcs12_signer(key: Pkcs12Key):
    from pyhanko.sign.signers import SimpleSigner

    try:
        data = key.path.read_bytes()
    except OSError as error:
        raise SigningKeyError(f"cannot read the {key.describe()} ({error.strerror})") from None
    try:
        signer = SimpleSigner.load_pkcs12_data(data, other_certs=[], passphrase=key.passphrase.encode())
    except (ValueError, TypeError):
        # cryptography says "Invalid password or PKCS12 data": both are possible, and neither is printed
        raise SigningKeyError(
            f"cannot open the {key.describe()}: wrong passphrase (from {key.secret_name}) or not a "
            "PKCS#12 file"
        ) from None
    if signer.signing_cert is None or signer.signing_key is None:
        raise SigningKeyError(f"the {key.describe()} holds no certificate with its private key")
    return signer


def _pkcs11_signer(key: Pkcs11Key, stack: contextlib.ExitStack):
    try:
        from pkcs11 import exceptions as p11_errors
        from pyhanko.config.pkcs11 import TokenCriteria
        from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session
    except ImportError:
        raise SigningKeyError("PKCS#11 needs python-pkcs11: pip install 'pyHanko[pkcs11]'") from None
    if not key.module.is_file():
        raise SigningKeyError(f"the PKCS#11 library {key.module} does not exist: install the token's driver")
    criteria = TokenCriteria(label=key.token_label) if key.token_label else None
    try:
        session = open_pkcs11_session(str(key.module), token_criteria=criteria, user_pin=key.pin)
    except p11_errors.PinIncorrect:
        raise SigningKeyError(f"the {key.describe()} refused the PIN (from {key.secret_name})") from None
    except p11_errors.PinLocked:
        raise SigningKeyError(
            f"the {key.describe()} is locked after wrong PINs: unlock it with its SO PIN"
        ) from None
    except (p11_errors.PKCS11Error, OSError, RuntimeError) as error:  # no token with that label, too
        raise SigningKeyError(f"cannot open the {key.describe()}: {error or type(error).__name__}") from None
    stack.callback(session.close)
    signer = PKCS11Signer(
        session,
        key_label=key.key_label,
        cert_label=key.cert_label or key.key_label,
        other_certs_to_pull=None,  # the chain the token holds goes into the signature
    )
    try:
        signer.signing_cert  # noqa: B018 - loads the certificate now: a wrong label fails here, not mid-send
    except Exception as error:  # python-pkcs11's and pyHanko's errors alike: the label names nothing usable
        raise SigningKeyError(f"the {key.describe()} has no usable certificate and key: {error}") from None
    return signer


@contextlib.contextmanager
def opened_signers(settings: Mapping[str, SigningSettings]) -> Iterator[SignerPool]:
    """Keys opened on first use, each once per run; tokens closed at the end."""
    with contextlib.ExitStack() as stack:
        yield SignerPool(settings, stack)


class SignerPool:
    def __init__(self, settings: Mapping[str, SigningSettings], stack: contextlib.ExitStack) -> None:
        self.settings = settings
        self._stack = stack
        self._signers: dict[str, Any] = {}

    def signer_for(self, org: str):  # -> (SigningSettings, pyhanko Signer) or None
        config = self.settings.get(org)
        if config is None:
            return None
        if org not in self._signers:
            self._signers[org] = open_signer(config.key, self._stack)
        return config, self._signers[org]
