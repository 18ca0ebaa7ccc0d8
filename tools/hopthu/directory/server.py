"""A throw-away local slapd for tests, the demo and benchmarks: one mdb database per organisation.

Everything lives in one directory::

    <workdir>/directory.json        how to reach it: URIs, bind DNs, paths of the secret files (no secret)
    <workdir>/plan-directory.json   the same, bound as each organisation's plan-reader (for `hopthu plan`)
    <workdir>/page-directory.json   the same, bound as each organisation's password-page (for the page)
    <workdir>/secrets/<org>.password the rootdn secret of each organisation (0600; kept across restarts)
    <workdir>/secrets/<service>/<org>.password
                                    the secret of each service identity (mail-lookup, plan-reader,
                                    password-page)
    <workdir>/slapd.d/               cn=config, loaded offline with slapadd -n0
    <workdir>/data/<org>/            the organisation's mdb database
    <workdir>/slapd.pid, ldapi       the running server

``LocalDirectory.start`` on a directory whose server already runs with the same organisations returns
it; with other organisations (or another port asked for) it stops it and starts again, rebuilding the
databases when the organisations changed. ``stop`` keeps the data, so stop + start resumes.

One server may also be one provider of several replicating each other (``server_id`` and
``providers``, see ``hopthu.directory.replicas``): its secrets are then the set's (``secrets_dir``), each
database replicates (ldif/database.ldif.j2), and a provider built after the first is seeded with the
first one's data (``seed``: slapcat, then slapadd -w), never loaded separately, so that every entry has
the same entryUUID and entryCSN everywhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import ldap3

from hopthu.directory import DirectoryError, dn, ldif
from hopthu.directory.connection import connect
from hopthu.directory.reader import paged_search
from hopthu.model import Organisation

INFO_FILE = "directory.json"
PLAN_INFO_FILE = "plan-directory.json"  # a connections file bound as the plan-reader identities
PAGE_INFO_FILE = "page-directory.json"  # the same, bound as the password-page identities
HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
# Unix socket paths are limited to 108 bytes; a longer one goes to the temp dir under a hashed name.
MAX_SOCKET_PATH = 100


class ServerError(DirectoryError):
    """The local slapd cannot be set up, started or stopped."""


def find_program(name: str) -> str:
    """Path of an OpenLDAP program; slapd and slapadd live in /usr/sbin, often not on a user's PATH."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise ServerError(f"{name} is not installed: run `make setup` (Debian packages slapd and ldap-utils)")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        # as slapd binds: a port whose last connections are in TIME_WAIT is free for it
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _org_code(org: Organisation | str) -> str:
    return org if isinstance(org, str) else org.code


def _as_list(organisations: Iterable[Organisation] | Mapping[str, Organisation]) -> list[Organisation]:
    values = organisations.values() if isinstance(organisations, Mapping) else organisations
    orgs = sorted(values, key=lambda org: org.code)
    if not orgs:
        raise ServerError("no organisations: the inventory must define at least one (hopthu_organisations)")
    return orgs


def fingerprint(orgs: list[Organisation], replication: object = None) -> str:
    """What the configuration is built from: the organisations' tree settings, the replication settings
    (server id and providers, when it is one of several) and the templates."""
    digest = hashlib.sha256()
    if replication is not None:
        digest.update(json.dumps(replication).encode())
    for org in orgs:
        groups = sorted((g.code, g.name) for g in org.app_groups.values())
        policy = ldif.policy_vars(org)
        settings = [org.code, org.base_dn, org.name, groups, policy, ldif.password_resets(org)]
        digest.update(json.dumps(settings, sort_keys=True).encode())
    for template in sorted(ldif.HERE.glob("*.ldif*")):
        digest.update(template.read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class LocalDirectory:
    """A running local slapd and how to reach each organisation's database."""

    workdir: Path
    port: int
    base_dns: dict[str, str]  # organisation code -> base DN
    fingerprint: str
    server_id: int | None = None  # olcServerID when this server is one provider of several
    secrets_dir: Path | None = None  # default <workdir>/secrets; a provider set shares one

    # --- where things are --------------------------------------------------------------------------

    @property
    def uri(self) -> str:
        return f"ldap://{HOST}:{self.port}"

    @property
    def ldapi_path(self) -> Path:
        return _socket_path(self.workdir)

    @property
    def ldapi_uri(self) -> str:
        return "ldapi://" + urllib.parse.quote(str(self.ldapi_path), safe="")

    @property
    def config_dir(self) -> Path:
        return self.workdir / "slapd.d"

    @property
    def secrets(self) -> Path:
        return self.secrets_dir or self.workdir / "secrets"

    @property
    def pid(self) -> int | None:
        return _slapd_pid(self.workdir)

    def base_dn(self, org: Organisation | str) -> str:
        try:
            return self.base_dns[_org_code(org)]
        except KeyError:
            known = ", ".join(sorted(self.base_dns))
            raise ServerError(
                f"organisation {_org_code(org)!r} is not served here (served: {known})"
            ) from None

    def bind_dn(self, org: Organisation | str) -> str:
        return dn.admin_dn(self.base_dn(org))

    def password_file(self, org: Organisation | str) -> Path:
        self.base_dn(org)
        return _secret_file(self.secrets, _org_code(org))

    def bind_password(self, org: Organisation | str) -> str:
        return self.password_file(org).read_text(encoding="utf-8").strip()

    def service_dn(self, org: Organisation | str, service: str) -> str:
        """The DN of a service identity (``dn.MAIL_LOOKUP``, ``dn.PLAN_READER``) of ``org``."""
        return dn.service_dn(self.base_dn(org), _service_name(service))

    def service_password_file(self, org: Organisation | str, service: str) -> Path:
        self.base_dn(org)
        return _secret_file(self.secrets, _org_code(org), _service_name(service))

    def service_password(self, org: Organisation | str, service: str) -> str:
        return self.service_password_file(org, service).read_text(encoding="utf-8").strip()

    def connection_info(self) -> dict[str, object]:
        """How to reach the server, for people and other processes; never contains a secret."""
        return {
            "uri": self.uri,
            "ldapi": self.ldapi_uri,
            "port": self.port,
            "pid": self.pid,
            "config_dir": str(self.config_dir),
            "fingerprint": self.fingerprint,
            "server_id": self.server_id,
            "secrets_dir": str(self.secrets),
            "organisations": {
                code: {
                    "base_dn": base_dn,
                    "bind_dn": self.bind_dn(code),
                    "password_file": str(self.password_file(code)),
                    "services": {
                        service: self._service_info(code, service) for service in dn.SERVICE_IDENTITIES
                    },
                }
                for code, base_dn in sorted(self.base_dns.items())
            },
        }

    def service_connection_info(self, service: str) -> dict[str, object]:
        """A connections file (``hopthu.endpoints``) that binds as ``service`` in every organisation."""
        return {
            "uri": self.uri,
            "organisations": {
                code: {"base_dn": base_dn, **self._service_info(code, service)}
                for code, base_dn in sorted(self.base_dns.items())
            },
        }

    def _service_info(self, code: str, service: str) -> dict[str, str]:
        return {
            "bind_dn": self.service_dn(code, service),
            "password_file": str(self.service_password_file(code, service)),
        }

    def connect(self, org: Organisation | str, service: str | None = None) -> ldap3.Connection:
        """A connection bound as the organisation's rootdn, or as its service identity ``service``."""
        if service is None:
            return connect(self.uri, self.bind_dn(org), self.bind_password(org))
        return connect(self.uri, self.service_dn(org, service), self.service_password(org, service))

    # --- life cycle ---------------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        workdir: Path,
        organisations: Iterable[Organisation] | Mapping[str, Organisation],
        port: int | None = None,
        *,
        fresh: bool = False,
        server_id: int | None = None,
        providers: Sequence[tuple[int, str]] = (),
        secrets_dir: Path | None = None,
        seed: LocalDirectory | None = None,
    ) -> LocalDirectory:
        """Start (or reuse) the server in ``workdir`` serving ``organisations``.

        ``fresh`` deletes the data of an earlier run; otherwise it is kept as long as the organisations
        are the same. ``port`` None picks the earlier run's port when free, else any free port.
        With ``server_id`` and ``providers`` ((server id, URI) of every provider, this one's URI on
        ``port``) it is one provider of a replicated set; ``seed`` is the provider whose data a new one
        starts from.
        """
        slapd, slapadd = find_program("slapd"), find_program("slapadd")
        orgs = _as_list(organisations)
        for org in orgs:
            ldif.check_organisation(org)
        workdir = Path(workdir).resolve()
        if "\n" in str(workdir):
            raise ServerError(f"the server directory {workdir!r} must not contain a newline")
        workdir.mkdir(parents=True, exist_ok=True)
        secrets_dir = Path(secrets_dir).resolve() if secrets_dir is not None else None
        replicated = _Replicated(server_id, tuple(providers), secrets_dir or workdir / "secrets", seed)
        wanted = fingerprint(orgs, replicated.settings())

        previous = cls.find(workdir)
        if previous is not None and previous.pid is not None:
            same = not fresh and previous.fingerprint == wanted and port in (None, previous.port)
            if same and _answers(previous.port):
                return previous
            previous.stop()
        elif _slapd_pid(workdir) is not None:
            _stop_pid(workdir)  # a server whose directory.json is gone

        reuse_data = (
            not fresh
            and previous is not None
            and previous.fingerprint == wanted
            and (workdir / "slapd.d").is_dir()
        )
        if not reuse_data:
            _build(workdir, orgs, slapadd, replicated)
        if port is None:
            port = previous.port if previous is not None and port_is_free(previous.port) else free_port()
        base_dns = {org.code: org.base_dn for org in orgs}
        server = cls(workdir, port, base_dns, wanted, server_id, secrets_dir)
        server._launch(slapd)
        return server

    @classmethod
    def attach(cls, workdir: Path) -> LocalDirectory:
        """The server already running in ``workdir`` (started by another process)."""
        server = cls.find(Path(workdir).resolve())
        if server is None:
            start = f"`hopthu server start --dir {workdir}`"
            raise ServerError(f"no local directory in {workdir}: start one with {start}")
        if server.pid is None:
            raise ServerError(
                f"the local directory in {workdir} is stopped: `hopthu server start --dir {workdir}`"
            )
        return server

    @classmethod
    def find(cls, workdir: Path) -> LocalDirectory | None:
        """The server set up in ``workdir``, running or not; None if there is none."""
        try:
            info = json.loads((workdir / INFO_FILE).read_text(encoding="utf-8"))
            base_dns = {code: org["base_dn"] for code, org in info["organisations"].items()}
            secrets_dir = Path(info["secrets_dir"]) if info.get("secrets_dir") else None
            server_id = int(info["server_id"]) if info.get("server_id") else None
            return cls(workdir, int(info["port"]), base_dns, str(info["fingerprint"]), server_id, secrets_dir)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _launch(self, slapd: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.ldapi_path.unlink()  # left by a server that was killed
        command = [slapd, "-F", str(self.config_dir), "-h", f"{self.uri}/ {self.ldapi_uri}"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise ServerError(self._why_not_started(f"no answer within {START_TIMEOUT:.0f} s")) from None
        if done.returncode != 0:
            raise ServerError(self._why_not_started(done.stderr))
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(self.port):
            if time.monotonic() > deadline:
                _stop_pid(self.workdir)
                raise ServerError(
                    f"slapd in {self.workdir} did not answer on {self.uri} within {START_TIMEOUT:.0f} s"
                )
            time.sleep(0.01)
        _write_private(
            self.workdir / INFO_FILE, json.dumps(self.connection_info(), indent=2) + "\n", mode=0o644
        )
        for name, service in ((PLAN_INFO_FILE, dn.PLAN_READER), (PAGE_INFO_FILE, dn.PASSWORD_PAGE)):
            info = self.service_connection_info(service)
            _write_private(self.workdir / name, json.dumps(info, indent=2) + "\n", mode=0o644)

    def _why_not_started(self, stderr: str) -> str:
        # slapd reports its errors to syslog only; say what is checkable here and how to see the rest.
        reason = stderr.strip()
        if not port_is_free(self.port):
            reason = f"port {self.port} is in use (choose another with --port)"
        return (
            f"slapd did not start in {self.workdir}: {reason or 'see its own messages'}. "
            f"To see them: slapd -d none -F {self.config_dir} -h '{self.uri}/'"
        )

    def stop(self) -> None:
        """Stop the server; its data stays (``start`` again resumes it)."""
        _stop_pid(self.workdir)

    def is_running(self) -> bool:
        return self.pid is not None and _answers(self.port)

    # --- helpers for tests and benchmarks -----------------------------------------------------------

    def set_nosync(self, nosync: bool) -> None:
        """Turn fsync after each write off (True) or on for every database: off only for benchmarks."""
        server = ldap3.Server(self.ldapi_uri, get_info=ldap3.NONE)
        # SASL EXTERNAL over ldapi: cn=config trusts the local user who started the server.
        conn = ldap3.Connection(
            server, authentication=ldap3.SASL, sasl_mechanism=ldap3.EXTERNAL, sasl_credentials=b""
        )
        if not conn.bind():
            raise ServerError(f"cannot change cn=config over {self.ldapi_uri}: {conn.result['description']}")
        try:
            conn.search("cn=config", "(objectClass=olcMdbConfig)", attributes=["1.1"])
            for entry in list(conn.response):
                change = {"olcDbNoSync": [(ldap3.MODIFY_REPLACE, ["TRUE" if nosync else "FALSE"])]}
                if not conn.modify(entry["dn"], change):
                    raise ServerError(
                        f"cannot set olcDbNoSync on {entry['dn']}: {conn.result['description']}"
                    )
        finally:
            conn.unbind()

    def wipe(self, org: Organisation | str | None = None) -> None:
        """Delete every account (ou=people, ou=mailboxes) and group membership, keeping the tree.

        Cheap for the handful of entries a test creates; for large data sets start ``fresh`` instead.
        """
        for code in [_org_code(org)] if org is not None else sorted(self.base_dns):
            base_dn = self.base_dn(code)
            conn = self.connect(code)
            try:
                for ou in (dn.PEOPLE, dn.MAILBOXES):
                    for entry_dn in _child_dns(conn, dn.container_dn(base_dn, ou)):
                        if not conn.delete(entry_dn) and conn.result["result"] != 32:
                            raise ServerError(f"cannot delete {entry_dn}: {conn.result['description']}")
                for group in _child_dns(conn, dn.container_dn(base_dn, dn.GROUPS)):
                    conn.modify(group, {"member": [(ldap3.MODIFY_REPLACE, [dn.PLACEHOLDER_MEMBER])]})
            finally:
                conn.unbind()

    def bulk_load(self, org: Organisation | str, entries: Path) -> None:
        """Add the entries of an LDIF file offline (slapadd -q: tens of thousands per second).

        The server is stopped meanwhile. Nothing is checked beyond the schema and no overlay runs: no
        password hashing, no memberOf. For test and benchmark data only.
        """
        base_dn = self.base_dn(org)
        self.stop()
        try:
            self.load_offline(base_dn, entries)
        finally:
            self.relaunch()

    def load_offline(self, base_dn: str, entries: Path) -> None:
        """slapadd ``entries`` into the database of ``base_dn`` while the server is stopped; a provider
        stamps them with its server id and updates its contextCSN (-S, -w), as replication needs."""
        command = [find_program("slapadd"), "-q", "-F", str(self.config_dir), "-b", base_dn]
        if self.server_id is not None:
            command += ["-S", str(self.server_id), "-w"]
        _run([*command, "-l", str(entries)], "load entries")

    def relaunch(self) -> None:
        """Start the server again after ``stop`` (same port, same data)."""
        self._launch(find_program("slapd"))

    def replace_data(self, base_dn: str, entries: Path) -> None:
        """While stopped: the database of ``base_dn`` becomes exactly ``entries`` (an ``export`` of
        another provider: entryUUIDs, entryCSNs and the contextCSN kept as they are)."""
        code = next(code for code, base in self.base_dns.items() if base == base_dn)
        for stale in (self.workdir / "data" / code).glob("*.mdb"):
            stale.unlink()
        command = [find_program("slapadd"), "-q", "-F", str(self.config_dir), "-b", base_dn]
        _run([*command, "-l", str(entries)], "copy entries")

    def export(self, base_dn: str, target: Path) -> None:
        """The database of ``base_dn`` as LDIF, operational attributes included (slapcat; back-mdb allows
        it while the server runs)."""
        command = [find_program("slapcat"), "-F", str(self.config_dir), "-b", base_dn, "-l", str(target)]
        _run(command, "export entries")


# --- building and stopping ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Replicated:
    """How a server is one provider of several (``server_id`` None: it is not)."""

    server_id: int | None
    providers: tuple[tuple[int, str], ...]
    secrets: Path
    seed: LocalDirectory | None

    def settings(self) -> object:
        return [self.server_id, list(self.providers)] if self.server_id is not None else None

    def of(self, org: Organisation) -> ldif.Replication | None:
        if self.server_id is None:
            return None
        credentials = _secret(self.secrets, org.code, dn.REPLICATOR)
        return ldif.Replication(self.server_id, self.providers, credentials)

    def identities(self) -> tuple[str, ...]:
        return dn.SERVICE_IDENTITIES + ((dn.REPLICATOR,) if self.server_id is not None else ())


def _build(workdir: Path, orgs: list[Organisation], slapadd: str, replicated: _Replicated) -> None:
    """Write cn=config and the base entries of every organisation (or the seed's data), offline."""
    for stale in ("slapd.d", "data"):
        shutil.rmtree(workdir / stale, ignore_errors=True)
    config_dir = workdir / "slapd.d"
    config_dir.mkdir(mode=0o700)
    secrets_dir = replicated.secrets
    databases = []
    for index, org in enumerate(orgs, start=1):
        db_dir = workdir / "data" / org.code
        db_dir.mkdir(parents=True, mode=0o700)
        rootpw_hash = ldif.ssha(_secret(secrets_dir, org.code))
        databases.append(ldif.render_database(org, index, rootpw_hash, db_dir, replicated.of(org)))
    # slapadd runs no overlay, so the service identities' secrets go in already hashed.
    service_hashes = {
        org.code: {name: ldif.ssha(_secret(secrets_dir, org.code, name)) for name in replicated.identities()}
        for org in orgs
    }
    with tempfile.TemporaryDirectory(prefix="hopthu-ldif-", dir=workdir) as tmp:
        config = Path(tmp) / "config.ldif"
        _write_private(config, ldif.render_local_config(workdir, databases, replicated.server_id))
        _run([slapadd, "-n0", "-F", str(config_dir), "-l", str(config)], "load cn=config")
        load = [slapadd, "-q", "-F", str(config_dir)]
        if replicated.server_id is not None and replicated.seed is None:
            # -S: the entries' CSNs carry this provider's id (slapadd's default, 0, is nobody's);
            # -w: the contextCSN follows them, so the other providers know what they have. A seed's
            # copy keeps its entryCSNs and contextCSN as they are.
            load += ["-S", str(replicated.server_id), "-w"]
        for org in orgs:
            base = Path(tmp) / f"{org.code}.ldif"
            if replicated.seed is not None:
                replicated.seed.export(org.base_dn, base)
            else:
                _write_private(base, ldif.render_base(org, service_hashes[org.code]))
            _run([*load, "-b", org.base_dn, "-l", str(base)], f"load {org.code}")


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise ServerError(f"{what} failed ({' '.join(command[:2])}…): {done.stderr.strip()}")


def _service_name(service: str) -> str:
    known = (*dn.SERVICE_IDENTITIES, dn.REPLICATOR)
    if service not in known:
        raise ServerError(f"no service identity {service!r} (there are: {', '.join(known)})")
    return service


def _secret_file(secrets_dir: Path, code: str, service: str | None = None) -> Path:
    """<org>.password for the rootdn, <service>/<org>.password for a service identity, in the secrets
    folder."""
    if service is None:
        return secrets_dir / f"{code}.password"
    return secrets_dir / service / f"{code}.password"


def _secret(secrets_dir: Path, code: str, service: str | None = None) -> str:
    """The rootdn (or service identity) secret of an organisation: kept from an earlier run, or a new
    random one."""
    path = _secret_file(secrets_dir, code, service)
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    for folder in (secrets_dir, path.parent):  # each 0700 (mkdir's parents= would not be)
        folder.mkdir(mode=0o700, exist_ok=True)
    value = secrets.token_urlsafe(24)
    _write_private(path, value)  # no newline: `ldapsearch -y FILE` uses the whole file as the password
    return value


def _write_private(path: Path, text: str, mode: int = 0o600) -> None:
    """Write a file that is created with ``mode`` from the start (no window where others can read it)."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    tmp.replace(path)


def _socket_path(workdir: Path) -> Path:
    path = workdir / "ldapi"
    if len(str(path)) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(workdir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"hopthu-{digest}.ldapi"


def _slapd_pid(workdir: Path) -> int | None:
    """The pid of the slapd serving ``workdir``, if one runs (checked, so a recycled pid is not ours)."""
    try:
        pid = int((workdir / "slapd.pid").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        status = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    if str(workdir / "slapd.d").encode() not in cmdline or status.rsplit(")", 1)[1].split()[0] == "Z":
        return None
    return pid


def _stop_pid(workdir: Path) -> None:
    pid = _slapd_pid(workdir)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _slapd_pid(workdir) == pid:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    with contextlib.suppress(FileNotFoundError):
        _socket_path(workdir).unlink()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _child_dns(conn: ldap3.Connection, base: str) -> list[str]:
    """DNs of the entries right below ``base`` (paged: any number)."""
    return [entry["dn"] for entry in paged_search(conn, base, ldap3.LEVEL, "(objectClass=*)", ("1.1",))]
