"""The throw-away local slapd (hopthu.directory.server), its connection helper and `hopthu server`."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import ldap3
import pytest

from hopthu.directory import DirectoryError, dn, ldif, server
from hopthu.directory.connection import connect
from hopthu.directory.server import LocalDirectory, ServerError
from hopthu.endpoints import load_endpoints

ROOT = Path(__file__).resolve().parents[1]
HOPTHU = [sys.executable, "-c", "from hopthu.cli import main; main()"]


def entry_exists(directory: LocalDirectory, org, entry_dn: str) -> bool:
    conn = directory.connect(org)
    conn.search(entry_dn, "(objectClass=*)", ldap3.BASE, attributes=["1.1"])
    return conn.result["result"] == 0


def test_server_serves_each_organisation_with_its_own_admin(slapd_server, org, other_org):
    for each in (org, other_org):
        conn = slapd_server.connect(each)
        assert conn.search(each.base_dn, "(objectClass=*)", ldap3.SUBTREE, attributes=["1.1"])
        found = {entry["dn"].lower() for entry in conn.response}
        assert dn.group_dn(each, "qlvb").lower() in found
        assert dn.policy_dn(each).lower() in found
    with pytest.raises(DirectoryError, match="49"):
        connect(slapd_server.uri, slapd_server.bind_dn(org), slapd_server.bind_password(other_org))


def test_connection_info_names_where_the_secret_is_but_never_holds_it(slapd_server, org):
    text = (slapd_server.workdir / "directory.json").read_text()
    info = json.loads(text)
    password_file = Path(info["organisations"]["demo"]["password_file"])

    assert info["uri"] == slapd_server.uri
    assert info["organisations"]["demo"]["bind_dn"] == "cn=admin,dc=demo,dc=gov,dc=vn"
    for code in ("demo", "other"):
        assert slapd_server.bind_password(code) not in text
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(password_file.parent.stat().st_mode) == 0o700
    assert password_file.read_text() == slapd_server.bind_password(
        org
    )  # no newline: usable with ldapsearch -y
    for name, service in info["organisations"]["demo"]["services"].items():
        assert service["bind_dn"] == f"cn={name},ou=services,dc=demo,dc=gov,dc=vn"
        secret_file = Path(service["password_file"])
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(secret_file.parent.stat().st_mode) == 0o700
        assert secret_file.read_text() == slapd_server.service_password(org, name)
        assert len(secret_file.read_text()) >= 32
        assert secret_file.read_text() not in text


def test_the_plan_connections_file_binds_as_the_plan_readers(slapd_server, org, other_org):
    path = slapd_server.workdir / server.PLAN_INFO_FILE
    text = path.read_text()
    endpoints = load_endpoints(path, env={})

    assert sorted(endpoints) == ["demo", "other"]
    for each in (org, other_org):
        endpoint = endpoints[each.code]
        assert endpoint.bind_dn == dn.service_dn(each, dn.PLAN_READER)
        assert endpoint.password == slapd_server.service_password(each, dn.PLAN_READER)
        assert endpoint.password not in text
        connect(endpoint.uri, endpoint.bind_dn, endpoint.password).unbind()


def test_service_secrets_are_stored_hashed(slapd_server, org):
    admin = slapd_server.connect(org)
    for name in dn.SERVICE_IDENTITIES:
        admin.search(
            slapd_server.service_dn(org, name), "(objectClass=*)", ldap3.BASE, attributes=["userPassword"]
        )
        (stored,) = admin.response[0]["raw_attributes"]["userPassword"]
        assert stored.startswith(b"{SSHA}")
        assert slapd_server.service_password(org, name).encode() not in stored


def test_rootdn_secret_is_hashed_in_the_configuration(slapd_server, org):
    secret = slapd_server.bind_password(org)
    config = "".join(p.read_text() for p in slapd_server.config_dir.rglob("*.ldif"))
    hashes = [
        base64.b64decode(line.split("::")[1])
        for line in config.splitlines()
        if line.startswith("olcRootPW::")
    ]

    assert len(hashes) == 2 and all(value.startswith(b"{SSHA}") for value in hashes)
    assert secret not in config


def test_bind_failure_names_server_and_dn_but_not_the_password(slapd_server, org):
    with pytest.raises(DirectoryError) as failure:
        connect(slapd_server.uri, slapd_server.bind_dn(org), "Sai-mat-khau-123")
    message = str(failure.value)
    assert slapd_server.uri in message and slapd_server.bind_dn(org) in message and "(49)" in message
    assert "Sai-mat-khau-123" not in message


def test_connection_does_not_keep_the_password(slapd_server, org):
    conn = slapd_server.connect(org)
    assert slapd_server.bind_password(org) not in repr(conn)
    assert conn.search(org.base_dn, "(objectClass=*)", ldap3.BASE)


def test_unreachable_server_is_a_clear_error():
    port = server.free_port()
    with pytest.raises(DirectoryError, match=f"cannot reach the directory at ldap://127.0.0.1:{port}"):
        connect(f"ldap://127.0.0.1:{port}/", "cn=admin,dc=x", "secret", timeout=2)


def test_restart_in_the_same_directory_keeps_data_and_reuses_a_running_server(start_directory, org, tmp_path):
    first = start_directory([org], tmp_path / "srv")
    first_pid = first.pid
    person = dn.person_dn(org, "minhnv")
    conn = first.connect(org)
    assert conn.add(person, ["inetOrgPerson"], {"uid": "minhnv", "cn": "Nguyễn Văn Minh", "sn": "Nguyễn"})

    again = start_directory([org], tmp_path / "srv")  # the demo run twice
    assert (again.pid, again.port) == (first_pid, first.port)

    first.stop()
    assert first.pid is None and not first.is_running()
    resumed = start_directory([org], tmp_path / "srv")
    assert resumed.port == first.port and entry_exists(resumed, org, person)

    fresh = start_directory([org], tmp_path / "srv", fresh=True)
    assert fresh.is_running() and not entry_exists(fresh, org, person)


def test_other_organisations_rebuild_the_server(start_directory, org, other_org, tmp_path):
    first_pid = start_directory([org], tmp_path / "srv").pid
    second = start_directory([org, other_org], tmp_path / "srv")

    assert second.pid != first_pid
    assert set(second.base_dns) == {"demo", "other"}
    assert second.connect(other_org).search(other_org.base_dn, "(objectClass=*)", ldap3.BASE)
    # The secrets stay what they were (files the mail servers' configuration was written from).
    second.connect(org, dn.MAIL_LOOKUP).unbind()


def test_attach_finds_a_running_server_and_explains_a_missing_one(start_directory, org, tmp_path):
    with pytest.raises(ServerError, match="hopthu server start --dir"):
        LocalDirectory.attach(tmp_path / "nothing")
    started = start_directory([org], tmp_path / "srv")

    attached = LocalDirectory.attach(tmp_path / "srv")
    assert attached.uri == started.uri and attached.pid == started.pid
    assert attached.bind_password(org) == started.bind_password(org)


def test_a_long_directory_path_gets_a_short_socket(start_directory, org, tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    started = start_directory([org], deep)
    assert len(str(started.ldapi_path)) <= server.MAX_SOCKET_PATH
    started.set_nosync(True)  # goes through the socket


def test_nosync_is_switched_on_every_database(start_directory, org, other_org):
    started = start_directory([org, other_org])

    def nosync_values() -> list[str]:
        conn = ldap3.Connection(
            ldap3.Server(started.ldapi_uri, get_info=ldap3.NONE),
            authentication=ldap3.SASL,
            sasl_mechanism=ldap3.EXTERNAL,
            sasl_credentials=b"",
            auto_bind=True,
        )
        conn.search("cn=config", "(objectClass=olcMdbConfig)", attributes=["olcDbNoSync"])
        return [entry["raw_attributes"]["olcDbNoSync"][0].decode() for entry in conn.response]

    started.set_nosync(True)
    assert nosync_values() == ["TRUE", "TRUE"]
    started.set_nosync(False)
    assert nosync_values() == ["FALSE", "FALSE"]


def test_a_busy_port_is_reported(start_directory, org, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ServerError, match=f"port {port} is in use"):
            start_directory([org], tmp_path / "srv", port=port)


def test_missing_slapd_says_to_run_make_setup(monkeypatch, org, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(ServerError, match="make setup"):
        LocalDirectory.start(tmp_path, [org])


def test_unsafe_organisation_settings_are_refused(org, tmp_path):
    with pytest.raises(ldif.ConfigError, match="base_dn"):
        LocalDirectory.start(tmp_path, [replace(org, base_dn="dc=x\ndn: cn=evil")])


def test_base_entries_are_never_rendered_without_every_service_identity(org):
    with pytest.raises(ldif.ConfigError, match="no password hash for password-page, plan-reader"):
        ldif.render_base(org, {dn.MAIL_LOOKUP: ldif.ssha("x")})
    text = ldif.render_base(org, {name: ldif.ssha(name) for name in dn.SERVICE_IDENTITIES})
    assert f"dn: {dn.service_dn(org, dn.PLAN_READER)}\n" in text and "userPassword: {SSHA}" in text


@pytest.mark.slapd
def test_cli_start_status_stop(tmp_path):
    workdir = tmp_path / "srv"
    env = {**os.environ, "HOPTHU_INVENTORY": str(ROOT / "inventory")}

    def hopthu(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*HOPTHU, *args], capture_output=True, text=True, env=env, timeout=60)

    try:
        started = hopthu("server", "start", "--dir", str(workdir))
        assert started.returncode == 0, started.stderr
        info = json.loads((workdir / "directory.json").read_text())
        assert info["uri"] in started.stdout
        for org in info["organisations"].values():
            assert org["bind_dn"] in started.stdout and org["password_file"] in started.stdout
            assert Path(org["password_file"]).read_text() not in started.stdout + started.stderr
            for service in org["services"].values():
                assert service["bind_dn"] in started.stdout and service["password_file"] in started.stdout
                assert Path(service["password_file"]).read_text() not in started.stdout + started.stderr
        assert str(workdir / "plan-directory.json") in started.stdout

        status = hopthu("server", "status", "--dir", str(workdir), "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["pid"] == info["pid"]

        again = hopthu("server", "start", "--dir", str(workdir))
        assert (
            again.returncode == 0
            and json.loads((workdir / "directory.json").read_text())["pid"] == info["pid"]
        )
    finally:
        stopped = hopthu("server", "stop", "--dir", str(workdir))
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    status = hopthu("server", "status", "--dir", str(workdir))
    assert status.returncode == 1 and "stopped" in status.stderr


def test_cli_start_two_providers_that_replicate_each_other(tmp_path):

    workdir = tmp_path / "pair"
    env = {**os.environ, "HOPTHU_INVENTORY": str(ROOT / "inventory")}

    def hopthu(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*HOPTHU, *args], capture_output=True, text=True, env=env, timeout=60)

    try:
        started = hopthu("server", "start", "--dir", str(workdir), "--providers", "2")
        assert started.returncode == 0, started.stderr
        info = json.loads((workdir / "directory.json").read_text())
        first, second = info["uris"]
        assert "2 slapd providers replicating each other" in started.stdout
        assert first in started.stdout and second in started.stdout
        plan = json.loads((workdir / "plan-directory.json").read_text())
        assert plan["uris"] == [first, second]  # the plan-readers' file lists both too
        org = info["organisations"]["binhthuan"]
        secret = Path(org["password_file"]).read_text().strip()
        person = f"uid=motmot,ou=people,{org['base_dn']}"
        writer = connect(first, org["bind_dn"], secret, timeout=5)
        assert writer.add(person, ["inetOrgPerson"], {"uid": "motmot", "cn": "Một", "sn": "Một"}), (
            writer.result
        )
        writer.unbind()
        reader = connect(second, org["bind_dn"], secret, timeout=5)
        deadline = time.monotonic() + 10
        while not reader.search(person, "(objectClass=*)", "BASE"):
            assert time.monotonic() < deadline, "the second provider did not receive the first's write"
            time.sleep(0.05)
        reader.unbind()
    finally:
        stopped = hopthu("server", "stop", "--dir", str(workdir))
    assert stopped.returncode == 0 and "stopped" in stopped.stdout


def test_cli_reports_a_bad_inventory_without_traceback(tmp_path):
    done = subprocess.run(
        [*HOPTHU, "-i", str(tmp_path / "none"), "server", "start", "--dir", str(tmp_path / "srv")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "inventory" in done.stderr
