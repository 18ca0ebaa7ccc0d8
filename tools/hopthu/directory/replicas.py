"""Several local slapd providers replicating each other (multi-provider syncrepl), for tests, the demo and
benchmarks: ``hopthu server start --providers 2``. Each is a ``LocalDirectory`` built from the same
templates, with its own server id; every organisation's database replicates to every provider.

Everything lives in one directory::

    <workdir>/directory.json        how to reach them: every provider's URI ("uris"), bind DNs, secret files
    <workdir>/plan-directory.json   the same, bound as each organisation's plan-reader
    <workdir>/page-directory.json   the same, bound as each organisation's password-page
    <workdir>/secrets/              the secrets, shared: one rootdn and one set of identities per organisation
    <workdir>/provider-<n>/         provider n (olcServerID n): its cn=config, data, pid and socket

Provider 1 is built from the base entries; the others start as a copy of its data (same entryUUIDs and
entryCSNs), so they agree from the first moment instead of replicating everything once.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import ldap3

from hopthu.directory import DirectoryError, dn
from hopthu.directory.server import (
    HOST,
    INFO_FILE,
    PAGE_INFO_FILE,
    PLAN_INFO_FILE,
    LocalDirectory,
    ServerError,
    _as_list,
    _org_code,
    _write_private,
    free_port,
    port_is_free,
)
from hopthu.model import Organisation

CONVERGE_TIMEOUT = 60.0


def provider_dir(workdir: Path, server_id: int) -> Path:
    return workdir / f"provider-{server_id}"


@dataclass
class LocalProviders:
    """Running local providers of the same organisations, and how to reach them."""

    workdir: Path
    providers: list[LocalDirectory]

    # --- where things are --------------------------------------------------------------------------

    @property
    def uris(self) -> list[str]:
        return [provider.uri for provider in self.providers]

    @property
    def first(self) -> LocalDirectory:
        return self.providers[0]

    @property
    def base_dns(self) -> dict[str, str]:
        return self.first.base_dns

    def base_dn(self, org: Organisation | str) -> str:
        return self.first.base_dn(org)

    def bind_dn(self, org: Organisation | str) -> str:
        return self.first.bind_dn(org)

    def password_file(self, org: Organisation | str) -> Path:
        return self.first.password_file(org)

    def bind_password(self, org: Organisation | str) -> str:
        return self.first.bind_password(org)

    def service_dn(self, org: Organisation | str, service: str) -> str:
        return self.first.service_dn(org, service)

    def service_password_file(self, org: Organisation | str, service: str) -> Path:
        return self.first.service_password_file(org, service)

    def service_password(self, org: Organisation | str, service: str) -> str:
        return self.first.service_password(org, service)

    def connect(self, org: Organisation | str, service: str | None = None, provider: int = 0):
        """A connection to provider number ``provider`` (0-based), as the rootdn or ``service``."""
        return self.providers[provider].connect(org, service)

    def connection_info(self) -> dict[str, object]:
        """A connections file listing every provider (``uris``, in server-id order); no secret."""
        info = self.first.connection_info()
        for key in ("uri", "ldapi", "port", "pid", "config_dir", "server_id"):
            info.pop(key, None)
        return {
            "uris": self.uris,
            "providers": [
                {"server_id": p.server_id, "uri": p.uri, "dir": str(p.workdir), "pid": p.pid}
                for p in self.providers
            ],
            **info,
        }

    def service_connection_info(self, service: str) -> dict[str, object]:
        info = self.first.service_connection_info(service)
        info.pop("uri", None)
        return {"uris": self.uris, **info}

    # --- life cycle ---------------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        workdir: Path,
        organisations: Iterable[Organisation] | Mapping[str, Organisation],
        count: int = 2,
        port: int | None = None,
        *,
        fresh: bool = False,
    ) -> LocalProviders:
        """Start (or reuse) ``count`` providers in ``workdir``; ``port`` is the first one's and the
        others follow it (default: the earlier run's ports when free, else any free ones)."""
        if not 2 <= count <= 9:
            raise ServerError(f"--providers {count}: a replicated directory has 2 to 9 providers")
        orgs = _as_list(organisations)
        workdir = Path(workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        ports = _ports(workdir, count, port)
        uris = [f"ldap://{HOST}:{p}" for p in ports]
        providers_spec = [(number, uri) for number, uri in enumerate(uris, start=1)]
        started: list[LocalDirectory] = []
        try:
            for number, provider_port in enumerate(ports, start=1):
                started.append(
                    LocalDirectory.start(
                        provider_dir(workdir, number),
                        orgs,
                        provider_port,
                        fresh=fresh,
                        server_id=number,
                        providers=providers_spec,
                        secrets_dir=workdir / "secrets",
                        seed=started[0] if started else None,
                    )
                )
        except BaseException:
            for provider in started:
                provider.stop()
            raise
        server = cls(workdir, started)
        server._write_info()
        return server

    @classmethod
    def find(cls, workdir: Path) -> LocalProviders | None:
        """The providers set up in ``workdir``, running or not; None if there are none."""
        workdir = Path(workdir).resolve()
        try:
            info = json.loads((workdir / INFO_FILE).read_text(encoding="utf-8"))
            count = len(info["providers"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        providers = [LocalDirectory.find(provider_dir(workdir, n)) for n in range(1, count + 1)]
        if any(p is None for p in providers):
            return None
        return cls(workdir, [p for p in providers if p is not None])

    def _write_info(self) -> None:
        _write_private(
            self.workdir / INFO_FILE, json.dumps(self.connection_info(), indent=2) + "\n", mode=0o644
        )
        for name, service in ((PLAN_INFO_FILE, dn.PLAN_READER), (PAGE_INFO_FILE, dn.PASSWORD_PAGE)):
            info = self.service_connection_info(service)
            _write_private(self.workdir / name, json.dumps(info, indent=2) + "\n", mode=0o644)

    def stop(self) -> None:
        """Stop every provider; the data stays."""
        for provider in self.providers:
            provider.stop()

    def is_running(self) -> bool:
        return all(provider.is_running() for provider in self.providers)

    def set_nosync(self, nosync: bool) -> None:
        for provider in self.providers:
            provider.set_nosync(nosync)

    # --- replication --------------------------------------------------------------------------------

    def context_csns(self, org: Organisation | str) -> list[frozenset[str] | None]:
        """Each provider's contextCSN values of ``org``'s database (None: it does not answer)."""
        return [context_csn(provider, org) for provider in self.providers]

    def wait_converged(self, timeout: float = CONVERGE_TIMEOUT) -> float:
        """Wait until every provider has every other one's changes of every organisation (equal
        contextCSNs); the seconds it took."""
        started = time.monotonic()
        for code in sorted(self.base_dns):
            while True:
                csns = self.context_csns(code)
                if None not in csns and len(set(csns)) == 1:
                    break
                if time.monotonic() - started > timeout:
                    raise ServerError(
                        f"the providers of {code} did not converge within {timeout:.0f} s: contextCSN "
                        + "; ".join(
                            f"{p.uri}: {sorted(c) if c else 'no answer'}"
                            for p, c in zip(self.providers, csns, strict=True)
                        )
                    )
                time.sleep(0.02)
        return time.monotonic() - started

    def wipe(self, org: Organisation | str | None = None) -> None:
        """``LocalDirectory.wipe`` on the first provider, then wait until the others have it too."""
        self.first.wipe(org)
        self.wait_converged()

    def bulk_load(self, org: Organisation | str, entries: Path) -> None:
        """Add the entries of an LDIF file offline into every provider (slapadd into the first, whose
        data the others then copy). The providers must agree beforehand; they are stopped meanwhile."""
        base_dn = self.base_dn(org)
        self.wait_converged()
        self.stop()
        try:
            self.first.load_offline(base_dn, entries)
            with tempfile.TemporaryDirectory(prefix="hopthu-seed-", dir=self.workdir) as tmp:
                copy = Path(tmp) / f"{_org_code(org)}.ldif"
                self.first.export(base_dn, copy)
                for provider in self.providers[1:]:
                    provider.replace_data(base_dn, copy)
        finally:
            for provider in self.providers:
                if provider.pid is None:
                    provider.relaunch()


def context_csn(server: LocalDirectory, org: Organisation | str) -> frozenset[str] | None:
    """The contextCSN values of ``org``'s suffix entry on ``server`` (read as the rootdn)."""
    try:
        conn = server.connect(org)
    except DirectoryError:  # a provider that is stopped or starting does not answer yet
        return None
    try:
        conn.search(server.base_dn(org), "(objectClass=*)", ldap3.BASE, attributes=["contextCSN"])
        if not conn.response or conn.response[0].get("type") != "searchResEntry":
            return None
        return frozenset(str(v) for v in conn.response[0]["attributes"].get("contextCSN", ()))
    finally:
        conn.unbind()


def _ports(workdir: Path, count: int, port: int | None) -> list[int]:
    """The providers' ports: from ``port`` on, else the earlier run's when each is free or still ours,
    else free ones."""
    if port is not None:
        return [port + n for n in range(count)]
    previous = LocalProviders.find(workdir)
    if (
        previous is not None
        and len(previous.providers) == count
        and all(p.pid is not None or port_is_free(p.port) for p in previous.providers)
    ):
        return [p.port for p in previous.providers]
    ports: list[int] = []
    while len(ports) < count:
        candidate = free_port()
        if candidate not in ports:
            ports.append(candidate)
    return ports
