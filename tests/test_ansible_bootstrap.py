"""bootstrap.yml (the openldap role) on a bare slapd configured like Debian's package leaves it, then hopthu
applies requests to it: one playbook brings up a new agency's directory.

The bare server has what `apt-get install slapd` gives: the core, cosine, nis and inetorgperson schemas, the
mdb module, a dc=nodomain database and cn=config managed by the local user over ldapi (SASL EXTERNAL).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import ldap3
import pytest

from hopthu.directory import DirectoryError
from hopthu.directory.connection import connect
from hopthu.directory.server import find_program, free_port
from hopthu.passwords import Outbox
from workspace import ROOT, copy_of_repo

pytestmark = [pytest.mark.slapd, pytest.mark.slow]

BIN = Path(sys.executable).parent
PASSWORDS = {"ctu": "rootdn-Secret-ctu-4821", "danang": "rootdn-Secret-danang-1937"}
# The read-only service identities' passwords, as the controller's environment gives them (or the vault).
SERVICE_PASSWORDS = {
    (org, service): f"{service}-Secret-{org}-{n}"
    for n, (org, service) in enumerate(
        [
            (org, service)
            for org in ("ctu", "danang")
            for service in ("mail-lookup", "plan-reader", "password-page")
        ]
    )
}
CTU = "dc=ctu,dc=edu,dc=vn"
INSUFFICIENT_ACCESS = 50

BARE_CONFIG = """\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {workdir}/slapd.pid

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: {{0}}back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

include: file:///etc/ldap/schema/cosine.ldif

include: file:///etc/ldap/schema/nis.ldif

include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to *
  by dn.exact=gidNumber={gid}+uidNumber={uid},cn=peercred,cn=external,cn=auth manage
  by * break

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: dc=nodomain
olcRootDN: cn=admin,dc=nodomain
olcDbDirectory: {workdir}/nodomain
"""


class BareServer:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.socket = Path("/tmp") / f"hopthu-bare-{os.getpid()}-{self.port}.ldapi"
        self.ldapi_uri = "ldapi://" + urllib.parse.quote(str(self.socket), safe="")
        self.uri = f"ldap://127.0.0.1:{self.port}"

    def start(self) -> None:
        (self.workdir / "slapd.d").mkdir(parents=True)
        (self.workdir / "nodomain").mkdir()
        config = self.workdir / "config.ldif"
        config.write_text(BARE_CONFIG.format(workdir=self.workdir, uid=os.getuid(), gid=os.getgid()))
        subprocess.run(
            [find_program("slapadd"), "-n0", "-F", str(self.workdir / "slapd.d"), "-l", str(config)],
            check=True,
            capture_output=True,
        )
        listen = f"{self.uri}/ {self.ldapi_uri}"
        subprocess.run(
            [find_program("slapd"), "-F", str(self.workdir / "slapd.d"), "-h", listen], check=True, timeout=10
        )
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            assert time.monotonic() < deadline, "the bare slapd did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        pid_file = self.workdir / "slapd.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text())
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        self.socket.unlink(missing_ok=True)


@pytest.fixture
def bare(tmp_path):
    server = BareServer(tmp_path / "slapd")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def repo(tmp_path, bare) -> Path:
    """The example inventory with a hosts file naming the bare server as the directory of ctu and danang."""
    root = tmp_path / "repo"
    copy_of_repo(root, "inventory/group_vars/all", "requests/ctu")
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "hopthu_directory": {"uri": bare.uri, "organisations": ["ctu", "danang"]},
        "openldap_ldapi_uri": bare.ldapi_uri,
        "openldap_manage_packages": False,
        "openldap_manage_service": False,
        "openldap_data_dir": str(tmp_path / "data"),
        "openldap_data_owner": "",
    }
    hosts = {"all": {"children": {"directory_servers": {"hosts": {"new-ldap": host}}}}}
    (root / "inventory" / "test.yml").write_text(json.dumps(hosts, indent=1), encoding="utf-8")
    return root


def service_env(org: str, service: str) -> str:
    return f"HOPTHU_{service.upper().replace('-', '_')}_PASSWORD_{org.upper()}"


def bootstrap(repo: Path, *args: str, without: tuple[str, ...] = (), succeeds: bool = True) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOPTHU_", "ANSIBLE_"))}
    env |= {f"HOPTHU_BIND_PASSWORD_{org.upper()}": secret for org, secret in PASSWORDS.items()}
    env |= {service_env(*key): secret for key, secret in SERVICE_PASSWORDS.items()}
    env = {k: v for k, v in env.items() if k not in without}
    env |= {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    command = [str(BIN / "ansible-playbook"), "-i", str(repo / "inventory" / "test.yml")]
    done = subprocess.run(
        [*command, str(ROOT / "playbooks" / "bootstrap.yml"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert (done.returncode == 0) == succeeds, output
    for secret in [*PASSWORDS.values(), *SERVICE_PASSWORDS.values()]:
        assert secret not in output
    return output


def test_bootstrap_prepares_a_bare_server_and_hopthu_applies_requests_to_it(repo, bare, tmp_path):
    check = bootstrap(repo, "--check", "--diff")
    assert "+ cn=module{0},cn=config: olcModuleLoad: ppolicy" in check
    assert "+ cn=module{0},cn=config: olcModuleLoad: lastbind" in check
    assert "+ olcDatabase={2}mdb,cn=config" in check
    assert connect_fails(bare, "ctu")  # --check wrote nothing

    first = bootstrap(repo, "--diff")
    assert "+ cn=misc,cn=schema,cn=config" in first and "+ cn=hopthu,cn=schema,cn=config" in first
    assert "+ olcDatabase={2}mdb,cn=config" in first and "+ olcDatabase={3}mdb,cn=config" in first
    assert "+ olcOverlay={2}lastbind,olcDatabase={2}mdb,cn=config" in first  # the usage review's last logins
    assert "+ cn=elearning,ou=groups,dc=ctu,dc=edu,dc=vn" in first
    assert "+ cn=default,ou=policies,dc=danang,dc=gov,dc=vn" in first
    assert "+ cn=mail-lookup,ou=services,dc=danang,dc=gov,dc=vn" in first
    assert f"+ cn=plan-reader,ou=services,{CTU}" in first and f"+ cn=services,ou=policies,{CTU}" in first
    assert "changed=0" not in first

    again = bootstrap(repo)
    assert "changed=0" in again  # nothing is added twice, the access rules are already the template's

    # The merge request's plan job reads the directory as the plan-reader identity.
    plan_connections = tmp_path / "plan-connections.json"
    plan_endpoint = {"bind_dn": f"cn=plan-reader,ou=services,{CTU}", "password_env": "PLAN_PASSWORD"}
    plan_connections.write_text(json.dumps({"uri": bare.uri, "organisations": {"ctu": plan_endpoint}}))
    planned = subprocess.run(
        [str(BIN / "hopthu"), "plan", "--json", "--directory", str(plan_connections)],
        cwd=repo,
        env={
            **os.environ,
            "HOPTHU_AUDIT_LOG": "/dev/null",
            "PLAN_PASSWORD": SERVICE_PASSWORDS["ctu", "plan-reader"],
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert json.loads(planned.stdout)["counts"]["create"] >= 2

    # hopthu works on it: the example requests of ctu (create, reset, lock, unlock) through the CLI.
    connections = tmp_path / "connections.json"
    connections.write_text(
        json.dumps({"uri": bare.uri, "organisations": {"ctu": {"bind_dn": "cn=admin,dc=ctu,dc=edu,dc=vn"}}})
    )
    outbox = tmp_path / "outbox"
    env = {**os.environ, "HOPTHU_BIND_PASSWORD_CTU": PASSWORDS["ctu"]}
    options = ["--directory", str(connections), "--audit-log", str(tmp_path / "audit.jsonl")]
    applied = subprocess.run(
        [str(BIN / "hopthu"), "apply", "--quiet", *options, "--outbox", str(outbox)],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr
    admin = connect(bare.uri, "cn=admin,dc=ctu,dc=edu,dc=vn", PASSWORDS["ctu"])
    admin.search("ou=people,dc=ctu,dc=edu,dc=vn", "(uid=ltpthao)", attributes=["memberOf", "userPassword"])
    (entry,) = admin.response
    assert entry["attributes"]["memberOf"] == ["cn=elearning,ou=groups,dc=ctu,dc=edu,dc=vn"]  # memberof
    assert entry["raw_attributes"]["userPassword"][0].startswith(b"{SSHA}")  # ppolicy hashed it
    admin.unbind()
    thviet = "uid=thviet,ou=people,dc=ctu,dc=edu,dc=vn"
    reset = Outbox(outbox).credentials("2025-03-12-cit-cap-lai-mat-khau").passwords["thviet"]
    assert binds(bare.uri, thviet, reset)
    # lastbind recorded that login, and the plan-reader (the usage review's identity) reads it.
    plan = connect(bare.uri, f"cn=plan-reader,ou=services,{CTU}", SERVICE_PASSWORDS["ctu", "plan-reader"])
    plan.search(thviet, "(objectClass=*)", ldap3.BASE, attributes=["authTimestamp"])
    assert plan.response[0]["raw_attributes"]["authTimestamp"][0].endswith(b"Z")
    plan.unbind()
    # The password policy locks for good the way hopthu locks (khóa).
    admin = connect(bare.uri, "cn=admin,dc=ctu,dc=edu,dc=vn", PASSWORDS["ctu"])
    admin.modify(thviet, {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, ["000001010000Z"])]})
    admin.unbind()
    assert not binds(bare.uri, thviet, reset)

    # The mail servers' identity finds the new address, reads nothing else of it, and cannot write.
    mail = connect(bare.uri, f"cn=mail-lookup,ou=services,{CTU}", SERVICE_PASSWORDS["ctu", "mail-lookup"])
    mail.search(CTU, "(&(objectClass=hopthuAccount)(mail=ltpthao@*))", attributes=["*", "userPassword"])
    (entry,) = mail.response
    seen = {name for name, values in entry["raw_attributes"].items() if values}
    assert seen == {"objectClass", "uid", "mail", "hopthuMailQuota"}  # no name, no staff code, no password
    mail.modify(entry["dn"], {"mail": [(ldap3.MODIFY_REPLACE, ["ke-gian@ctu.edu.vn"])]})
    assert mail.result["result"] == INSUFFICIENT_ACCESS
    mail.unbind()


def test_bootstrap_brings_the_access_rules_of_an_older_database_up_to_date(repo, bare):
    hosts_file = repo / "inventory" / "test.yml"
    hosts = json.loads(hosts_file.read_text(encoding="utf-8"))
    hosts["all"]["children"]["directory_servers"]["hosts"]["new-ldap"]["hopthu_directory"][
        "organisations"
    ] = ["ctu"]
    hosts_file.write_text(json.dumps(hosts), encoding="utf-8")  # one organisation is enough here
    bootstrap(repo)
    # A database made by an earlier version: any bound entry read everything but passwords.
    config = ldap3.Connection(
        ldap3.Server(bare.ldapi_uri, get_info=ldap3.NONE),
        authentication=ldap3.SASL,
        sasl_mechanism=ldap3.EXTERNAL,
        sasl_credentials=b"",
        auto_bind=True,
    )
    config.search("cn=config", f"(olcSuffix={CTU})", ldap3.LEVEL, attributes=["1.1"])
    database = config.response[0]["dn"]
    old = [
        "{0}to attrs=userPassword by self =w by anonymous auth by * none",
        "{1}to * by users read by * none",
    ]
    assert config.modify(database, {"olcAccess": [(ldap3.MODIFY_REPLACE, old)]}), config.result
    plan = connect(bare.uri, f"cn=plan-reader,ou=services,{CTU}", SERVICE_PASSWORDS["ctu", "plan-reader"])
    assert plan.search(f"ou=services,{CTU}", "(objectClass=*)", attributes=["cn"])  # sees the services

    updated = bootstrap(repo, "--diff")
    assert f"- {database}: olcAccess: {old[1]}" in updated
    assert f"{database}: olcAccess" in updated and "changed=1" in updated
    plan.search(f"ou=services,{CTU}", "(objectClass=*)", attributes=["cn"])
    assert plan.response == []
    config.search(database, "(objectClass=*)", ldap3.BASE, attributes=["olcAccess"])
    assert len(config.response[0]["raw_attributes"]["olcAccess"]) > 2
    assert "changed=0" in bootstrap(repo)


def test_a_missing_service_identity_password_stops_the_bootstrap_with_its_name(repo, bare):
    failed = bootstrap(repo, without=("HOPTHU_PLAN_READER_PASSWORD_DANANG",), succeeds=False)
    assert "no password for the plan-reader identity of danang" in failed
    assert "HOPTHU_PLAN_READER_PASSWORD_DANANG" in failed


def binds(uri: str, dn: str, password: str) -> bool:
    try:
        connect(uri, dn, password).unbind()
    except DirectoryError:
        return False
    return True


def connect_fails(bare: BareServer, org: str) -> bool:
    return not binds(bare.uri, "cn=admin,dc=ctu,dc=edu,dc=vn", PASSWORDS[org])


REPLICATOR_PASSWORD = "replicator-Secret-ctu-5093"


def test_bootstrap_makes_two_bare_servers_providers_replicating_each_other(tmp_path):
    """openldap_server_id and openldap_providers: the role makes each bare server a provider of ctu's
    directory; the first adds the base entries and the second receives them (the same entryUUIDs), and a
    write on either reaches the other."""
    servers = [BareServer(tmp_path / f"slapd-{n}") for n in (1, 2)]
    for server in servers:
        server.start()
    try:
        root = tmp_path / "repo"
        copy_of_repo(root, "inventory/group_vars/all", "requests/ctu")
        providers = [{"server_id": n, "uri": server.uri} for n, server in enumerate(servers, 1)]
        hosts = {
            f"ldap-{n}": {
                "ansible_connection": "local",
                "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                "hopthu_directory": {"uri": server.uri, "organisations": ["ctu"]},
                "openldap_ldapi_uri": server.ldapi_uri,
                "openldap_manage_packages": False,
                "openldap_manage_service": False,
                "openldap_data_dir": str(tmp_path / f"data-{n}"),
                "openldap_data_owner": "",
                "openldap_server_id": n,
                "openldap_providers": providers,
                # as the environment's vault.yml gives it; the other identities' from the environment
                "hopthu_service_passwords": {"ctu": {"replicator": REPLICATOR_PASSWORD}},
            }
            for n, server in enumerate(servers, 1)
        }
        inventory = {"all": {"children": {"directory_servers": {"hosts": hosts}}}}
        (root / "inventory" / "test.yml").write_text(json.dumps(inventory, indent=1), encoding="utf-8")
        output = bootstrap(root)
        assert REPLICATOR_PASSWORD not in output

        first, second = (connect(server.uri, f"cn=admin,{CTU}", PASSWORDS["ctu"]) for server in servers)
        try:
            for conn in (first, second):  # the same base entries on each, added once
                conn.search(CTU, "(objectClass=organizationalUnit)", attributes=["entryUUID"])
            assert len(first.response) >= 4
            assert sorted((e["dn"], e["attributes"]["entryUUID"]) for e in first.response) == sorted(
                (e["dn"], e["attributes"]["entryUUID"]) for e in second.response
            )
            one, two = f"uid=motmot,ou=people,{CTU}", f"uid=haihai,ou=people,{CTU}"
            assert first.add(one, ["inetOrgPerson"], {"uid": "motmot", "cn": "Một", "sn": "Một"}), (
                first.result
            )
            assert second.add(two, ["inetOrgPerson"], {"uid": "haihai", "cn": "Hai", "sn": "Hai"}), (
                second.result
            )
            deadline = time.monotonic() + 15
            while not (
                second.search(one, "(objectClass=*)", ldap3.BASE)
                and first.search(two, "(objectClass=*)", ldap3.BASE)
            ):
                assert time.monotonic() < deadline, "the providers did not replicate each other's write"
                time.sleep(0.1)
        finally:
            first.unbind()
            second.unbind()
    finally:
        for server in servers:
            server.stop()
