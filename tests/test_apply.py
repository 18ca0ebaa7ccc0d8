"""`hopthu plan` / `hopthu apply` against a real slapd, through the real CLI, on the shipped examples.

Each test works in a copy of the repository's inventory and requests, with its own audit log and
credentials outbox, against a private slapd serving the example organisations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import ldap3
import pytest

from hopthu.audit import AuditLog
from hopthu.directory import dn
from hopthu.inventory import load_inventory
from hopthu.passwords import Outbox
from workspace import copy_of_repo

HOPTHU = str(Path(sys.executable).with_name("hopthu"))


@dataclass
class Workspace:
    root: Path
    server: object
    audit_log: Path
    outbox: Path
    outputs: list[str]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [HOPTHU, *args]
        if args[0] in ("plan", "apply"):
            command += [
                "--directory",
                str(self.server.workdir / "directory.json"),
                "--audit-log",
                str(self.audit_log),
            ]
        if args[0] == "apply":
            command += ["--outbox", str(self.outbox)]
        result = subprocess.run(command, cwd=self.root, capture_output=True, text=True, timeout=300)
        self.outputs += [result.stdout, result.stderr]
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def conn(self, org: str) -> ldap3.Connection:
        return self.server.connect(org)

    def person(self, org: str, uid: str, attrs=("*", "+")) -> dict | None:
        conn = self.conn(org)
        conn.search(self.server.base_dn(org), f"(uid={uid})", attributes=list(attrs))
        entries = [e.entry_attributes_as_dict for e in conn.entries]
        conn.unbind()
        return entries[0] if entries else None

    def passwords(self) -> dict[str, str]:
        box = Outbox(self.outbox)
        found = {}
        for request_id in box.pending():
            found.update(box.credentials(request_id).passwords)
        return found

    def audit(self) -> list[dict]:
        return list(AuditLog(self.audit_log).records())


@pytest.fixture
def workspace(tmp_path, start_directory) -> Workspace:
    root = copy_of_repo(tmp_path / "repo", "inventory", "requests", "schemas")
    inventory = load_inventory(root / "inventory")
    server = start_directory(inventory.organisations.values())
    return Workspace(root, server, tmp_path / "audit" / "audit.jsonl", tmp_path / "outbox", [])


def bind_as(server, org: str, uid: str, password: str, kind: str = "people") -> ldap3.Connection | None:
    dn = f"uid={uid},ou={kind},{server.base_dn(org)}"
    conn = ldap3.Connection(ldap3.Server(server.uri), dn, password, raise_exceptions=False)
    return conn if conn.bind() else None


def test_plan_shows_every_change_and_writes_nothing(workspace):
    out = workspace.run("plan").stdout
    assert "2025-03-03-bdt-cap-moi (create, binhthuan/bdt" in out
    assert "create (cấp mới)" in out and "minhnv" in out
    assert "minhnv@bdt.binhthuan.gov.vn" in out
    assert workspace.person("binhthuan", "minhnv") is None  # a plan never writes
    data = json.loads(workspace.run("plan", "--json").stdout)
    assert data["counts"]["create"] >= 5
    assert not workspace.audit_log.exists() or workspace.audit() == []


def test_apply_every_kind_then_reapply_changes_nothing(workspace):
    workspace.run("apply")
    server = workspace.server
    passwords = workspace.passwords()

    # create (cấp mới): entry with its attributes, mail on the unit's sub-domain, group membership
    minh = workspace.person("binhthuan", "minhnv")
    assert minh["cn"] == ["Nguyễn Văn Minh"]
    assert minh["mail"] == ["minhnv@bdt.binhthuan.gov.vn"]
    assert any(value.lower().startswith("cn=qlvb,") for value in minh["memberOf"])
    stored = minh["userPassword"][0]
    stored = stored if isinstance(stored, bytes) else stored.encode()
    assert stored.startswith(b"{SSHA}")  # the server stores only a hash
    # the one-time password binds, and the account must change it first (ppolicy pwdReset)
    assert minh["pwdReset"] == [True] or minh["pwdReset"] == ["TRUE"]
    conn = bind_as(server, "binhthuan", "minhnv", passwords["minhnv"])
    assert conn is not None
    conn.search(server.base_dn("binhthuan"), "(uid=minhnv)")
    assert conn.result["result"] == 50  # insufficientAccessRights until the password is changed

    # update (thay đổi): transfer to snv keeps the username, moves the address to the new sub-domain
    an = workspace.person("binhthuan", "anvtt")
    assert an["departmentNumber"] == ["snv"]
    assert an["mail"] == ["anvtt@snv.binhthuan.gov.vn"]

    # lock (khóa): bind fails, data kept
    tho = workspace.person("binhthuan", "thodn")
    assert tho["pwdAccountLockedTime"] and tho["cn"] == ["Đàng Năng Thọ"]
    assert bind_as(server, "binhthuan", "thodn", passwords["thodn"]) is None

    # delete (xóa) of an account locked today is refused: retention has not passed
    records = workspace.audit()
    refused = [r for r in records if r["event"] == "request" and r["result"] == "refused"]
    assert any(r["request"] == "2025-03-24-bdt-xoa" and "delete from" in r["reason"] for r in refused)
    assert workspace.person("binhthuan", "thodn") is not None

    # reset-password (cấp lại mật khẩu) and unlock (mở khóa) at the university
    statuses = {r["request"]: r["result"] for r in records if r["event"] == "request"}
    assert statuses["2025-03-12-cit-cap-lai-mat-khau"] == "applied"
    assert statuses["2025-03-20-cit-mo-khoa"] == "applied"

    # run again on the same commit: nothing planned, nothing written, nothing recorded, no new password
    before_log = workspace.audit_log.read_bytes()
    before_passwords = workspace.passwords()
    again = workspace.run("apply")
    assert "applied 0 request(s), 0 change(s)" in again.stdout
    assert workspace.audit_log.read_bytes() == before_log
    assert workspace.passwords() == before_passwords
    assert bind_as(server, "binhthuan", "minhnv", passwords["minhnv"]) is not None

    # status: applied and refused requests with reasons
    status = json.loads(workspace.run("status", "--json", "--audit-log", str(workspace.audit_log)).stdout)
    states = {row["id"]: row["state"] for row in status}
    assert states["2025-03-03-bdt-cap-moi"] == "applied"
    assert states["2025-03-24-bdt-xoa"] == "refused"

    # the audit chain is intact, and catches an edit
    assert workspace.run("audit", "verify", "--log", str(workspace.audit_log)).returncode == 0
    lines = workspace.audit_log.read_text().splitlines()
    lines[3] = lines[3].replace("minhnv", "minhnx")
    workspace.audit_log.write_text("\n".join(lines) + "\n")
    tampered = workspace.run("audit", "verify", "--log", str(workspace.audit_log), check=False)
    assert tampered.returncode == 1 and "audit.jsonl:4: seq 4: record was edited" in tampered.stderr

    # no generated password, and no bind credential, anywhere but where they belong (outbox, the server's
    # secret files): not in the repository's files, the commands' output, the plan or the audit log
    orgs = ("binhthuan", "danang", "ctu")
    secrets = list(passwords.values()) + [server.bind_password(org) for org in orgs]
    secrets += [server.service_password(org, name) for org in orgs for name in dn.SERVICE_IDENTITIES]
    assert secrets
    haystacks = [*workspace.outputs, workspace.audit_log.read_text()]
    haystacks += [p.read_text(errors="replace") for p in workspace.root.rglob("*") if p.is_file()]
    haystacks.append(workspace.run("plan", "--json").stdout)
    as_plan_reader = [HOPTHU, "plan", "--json", "--directory", str(server.workdir / "plan-directory.json")]
    planned = subprocess.run(
        [*as_plan_reader, "--audit-log", str(workspace.audit_log)],
        cwd=workspace.root,
        capture_output=True,
        text=True,
    )
    assert planned.returncode == 0, planned.stderr
    haystacks += [planned.stdout, planned.stderr]
    for secret in secrets:
        assert not any(secret in hay for hay in haystacks)


def test_a_refused_request_is_recorded_once_and_nothing_of_it_is_applied(workspace):
    # A lock naming an account that does not exist, in the same request as one that does.
    path = workspace.root / "requests/binhthuan/bdt/2025/2025-03-17-bdt-khoa.yaml"
    text = path.read_text()
    path.write_text(text.replace("  - username: thodn", "  - username: khongco\n  - username: thodn", 1))
    workspace.run("apply")
    assert "pwdAccountLockedTime" not in workspace.person("binhthuan", "thodn")
    refusals = [
        r for r in workspace.audit() if r["event"] == "request" and r["request"] == "2025-03-17-bdt-khoa"
    ]
    assert [r["result"] for r in refusals] == ["refused"]
    assert "khongco does not exist" in refusals[0]["reason"]
    workspace.run("apply")
    again = [
        r for r in workspace.audit() if r["event"] == "request" and r["request"] == "2025-03-17-bdt-khoa"
    ]
    assert len(again) == 1


def test_values_with_ldap_special_characters_reach_the_server_intact(workspace):
    special = 'Phòng "A+B", <Tổ 1>; x=y #2 \\ *(all)'
    path = workspace.root / "requests/binhthuan/bdt/2025/2025-03-03-bdt-cap-moi.yaml"
    text = path.read_text()
    path.write_text(text.replace("department: Phòng Chính sách dân tộc", f"department: '{special}'"))
    workspace.run("apply")
    assert workspace.person("binhthuan", "minhnv")["ou"] == [special]
    # and the plan reads them back as equal: a re-run plans nothing for that account
    assert "minhnv" not in workspace.run("plan").stdout


def test_missing_connections_file_is_a_clear_error(workspace):
    result = subprocess.run(
        [HOPTHU, "plan", "--directory", str(workspace.root / "nope.json")],
        cwd=workspace.root,
        capture_output=True,
        text=True,
        env={**os.environ, "HOPTHU_DIRECTORY": ""},
    )
    assert result.returncode == 1
    assert "nope.json: cannot read the connections file" in result.stderr
    assert "Traceback" not in result.stderr


def test_assign_treats_names_in_the_live_directory_as_taken(workspace):
    # An account made by hand, before hopthu, holds the address the rule would give first.
    conn = workspace.conn("binhthuan")
    assert conn.add(
        "uid=hungnv,ou=people,dc=binhthuan,dc=gov,dc=vn",
        ["inetOrgPerson"],
        {"cn": "Nguyễn Văn Hùng", "sn": "Nguyễn", "uid": "hungnv", "departmentNumber": "bdt"},
    )
    conn.unbind()
    path = workspace.root / "requests/binhthuan/bdt/2025/2025-03-03-bdt-cap-moi.yaml"
    text = path.read_text()
    path.write_text(
        text.replace(
            "  - full_name: Võ Thị Thu An",
            "  - full_name: Nguyễn Văn Hùng\n    staff_code: BDT-0200\n    position: Chuyên viên\n"
            '    department: Văn phòng\n    phone: "0912 000 111"\n    services: [email]\n'
            "  - full_name: Võ Thị Thu An",
        )
    )
    offline = workspace.run("assign", check=False)
    assert "Nguyễn Văn Hùng -> hungnv" in offline.stdout  # without the directory it cannot know
    path.write_text(path.read_text().replace("    username: hungnv\n", ""))
    directory = str(workspace.server.workdir / "directory.json")
    online = workspace.run("assign", "--directory", directory)
    assert "Nguyễn Văn Hùng -> hungnv2" in online.stdout
