"""`make demo`'s signing certificates, made at demo time and never committed (a private key in git is a
secret): a throw-away CA (the one the tests use, tests/testca.py) and one certificate per organisation of
the inventory, as a PKCS#12 file with a random passphrase.

    python scripts/demo_certificate.py DIR

writes into DIR: ``root.pem`` (the demo CA), ``<org>.p12``, ``signing.json`` (the settings `hopthu notify
--signing` reads), ``passphrases.env`` (mode 0600: ``HOPTHU_SIGNING_PASSPHRASE_<ORG>=…``, for the demo
script to export) and ``nss/`` (a trust store for poppler's pdfsig). It prints no secret.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from hopthu.inventory import load_inventory  # noqa: E402
from hopthu.signing.keys import secret_env_name  # noqa: E402
from testca import TestCA, nss_trusting  # noqa: E402


def make(folder: Path, inventory: Path = ROOT / "inventory") -> dict[str, str]:
    """The demo CA and a PKCS#12 per organisation in ``folder``; returns org code → passphrase."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca = TestCA.make(folder, "Hopthu Demo Root CA")
    passphrases = {}
    settings = {}
    for org in load_inventory(inventory).organisations.values():
        name = org.issuer or org.name.upper()  # as the notice prints the issuer
        passphrases[org.code] = secrets.token_urlsafe(18)
        p12 = ca.pkcs12(
            ca.issue(f"{name} ({org.place or org.code})", name),
            folder / f"{org.code}.p12",
            passphrases[org.code],
        )
        settings[org.code] = {"pkcs12": str(p12)}
    (folder / "signing.json").write_text(json.dumps({"organisations": settings}, indent=1) + "\n")
    env_file = folder / "passphrases.env"
    env_file.touch(mode=0o600)
    env_file.write_text(
        "".join(f"{secret_env_name(code, 'PASSPHRASE')}={value}\n" for code, value in passphrases.items())
    )
    nss = folder / "nss"
    if not nss.exists():
        nss_trusting(nss, folder / "root.pem")
    return passphrases


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/demo_certificate.py DIR")
    target = Path(sys.argv[1])
    made = make(target)
    print(
        f"  demo CA {target / 'root.pem'}; signing keys for {', '.join(made)} in {target} (passphrases in "
        f"{target / 'passphrases.env'}, mode {oct(os.stat(target / 'passphrases.env').st_mode & 0o777)})"
    )
