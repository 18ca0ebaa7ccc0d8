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

    # update (thay đổi): transfer to snv keeps the username, moves the address to the new sub-domain;
    # then the merger (sáp nhập) of Bình Thuận's snv into Lâm Đồng's moves it on: anvtt is taken there,
    # so it is anvtt2 (the shipped renames), both old addresses kept, the same password
    assert workspace.person("binhthuan", "anvtt") is None
    an = workspace.person("lamdong", "anvtt2")
    assert an["departmentNumber"] == ["snv"]
    assert an["mail"] == ["anvtt2@snv.lamdong.gov.vn"]
    assert sorted(an["mailLocalAddress"]) == ["anvtt@bdt.binhthuan.gov.vn", "anvtt@snv.binhthuan.gov.vn"]
    assert workspace.person("lamdong", "anvtt")["cn"] == ["Vũ Thị Thu An"]  # Lâm Đồng's own anvtt
    issued = Outbox(workspace.outbox).credentials("2025-03-03-bdt-cap-moi").passwords["anvtt"]
    assert bind_as(server, "lamdong", "anvtt2", issued) is not None

    # lock (khóa): bind fails, data kept
    tho = workspace.person("binhthuan", "thodn")
    assert tho["pwdAccountLockedTime"] and tho["cn"] == ["Đàng Năng Thọ"]
    assert bind_as(server, "binhthuan", "thodn", passwords["thodn"]) is None

    # delete (xóa) of an account locked today is refused: retention has not passed
    records = workspace.audit()
    refused = [r for r in records if r["event"] == "request" and r["result"] == "refused"]
    assert any(r["request"] == "2025-03-24-bdt-xoa" and "delete from" in r["reason"] for r in refused)
    (too_early,) = [r for r in refused if r["request"] == "2025-03-24-bdt-xoa"]
    assert [refusal["code"] for refusal in too_early["refusals"]] == ["delete-too-early"]
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
    edited = next(number for number, line in enumerate(lines) if "minhnv" in line)
    lines[edited] = lines[edited].replace("minhnv", "minhnx")
    workspace.audit_log.write_text("\n".join(lines) + "\n")
    tampered = workspace.run("audit", "verify", "--log", str(workspace.audit_log), check=False)
    line = edited + 1
    assert tampered.returncode == 1
    assert f"audit.jsonl:{line}: seq {line}: record was edited" in tampered.stderr

    # no generated password, and no bind credential, anywhere but where they belong (outbox, the server's
    # secret files): not in the repository's files, the commands' output, the plan or the audit log
    orgs = ("binhthuan", "danang", "ctu", "lamdong")
    secrets = list(passwords.values()) + [server.bind_password(org) for org in orgs]
    # and no password hash: the merger copies them, through no plan, log or record
    for org in orgs:
        conn = workspace.conn(org)
        conn.search(server.base_dn(org), "(userPassword=*)", attributes=["userPassword"])
        values = [value for entry in conn.entries for value in entry.userPassword.values]
        secrets += [value.decode() if isinstance(value, bytes) else value for value in values]
        conn.unbind()
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
    assert "do not exist in binhthuan: khongco" in refusals[0]["reason"]
    assert [(r["code"], r["accounts"]) for r in refusals[0]["refusals"]] == [
        ("account-missing", [{"uid": "khongco"}])
    ]
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


def test_a_write_refused_because_it_is_already_in_effect_is_recorded_as_done(workspace):
    """Between the plan's read and the write, a member appears in the group (the memberof overlay catching
    up after an interrupted run, or a change by hand): the refused write is read back, the change that is
    in effect is recorded as done, the rest of the write is made again, and no error is recorded."""
    from hopthu import pipeline
    from hopthu.directory import dn
    from hopthu.endpoints import load_endpoints

    root, server = workspace.root, workspace.server
    org = load_inventory(root / "inventory").organisations["binhthuan"]
    request = root / "requests/binhthuan/bdt/2025/2025-03-03-bdt-cap-moi.yaml"
    group = dn.group_dn(org, "qlvb")

    def someone_adds_minhnv(plan) -> None:
        assert {(c.op.value, c.uid) for c in plan.changes} >= {
            ("add-member", "minhnv"),
            ("add-member", "anvtt"),
        }
        conn = server.connect(org)
        assert conn.modify(group, {"member": [(ldap3.MODIFY_ADD, [dn.person_dn(org, "minhnv")])]})
        conn.unbind()

    loaded = pipeline.load(root / "inventory", [request])
    session = pipeline.Session(load_endpoints(server.workdir / "directory.json"))
    try:
        _, report = pipeline.apply(
            loaded, session, workspace.audit_log, Outbox(workspace.outbox), on_plan=someone_adds_minhnv
        )
    finally:
        session.close()

    assert report.applied == ["2025-03-03-bdt-cap-moi"] and report.failed == {}
    members = {
        (r["uid"], r["result"], r["reason"])
        for r in workspace.audit()
        if r["event"] == "change" and r["op"] == "add-member"
    }
    assert members == {("minhnv", "ok", "already in effect in the directory"), ("anvtt", "ok", None)}
    conn = server.connect(org)
    conn.search(group, "(objectClass=*)", ldap3.BASE, attributes=["member"])
    held = [m.lower() for m in conn.entries[0].entry_attributes_as_dict["member"] if m]
    conn.unbind()
    assert sorted(held) == sorted(dn.person_dn(org, uid).lower() for uid in ("minhnv", "anvtt"))


def write_request(root: Path, org: str, unit: str, request_id: str, kind: str, accounts: str) -> None:
    inventory = load_inventory(root / "inventory")
    requester = inventory.organisations[org].units[unit].requesters[0]
    folder = root / "requests" / org / unit / request_id[:4]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{request_id}.yaml").write_text(
        f"id: {request_id}\norg: {org}\nunit: {unit}\nkind: {kind}\n"
        f"document: {{number: 77/VP, date: {request_id[:10]}, signer: Nguyễn Văn Ký}}\n"
        f"requester: {{name: {requester.name}, position: {requester.position}, phone: '{requester.phone}', "
        f"email: {requester.email}}}\nreason: Đổi tên theo quyết định\naccounts:\n{accounts}",
        encoding="utf-8",
    )


def test_a_person_and_a_unit_mailbox_are_renamed_and_keep_their_usernames(workspace):
    write_request(
        workspace.root, "binhthuan", "bdt", "2025-04-01-bdt-doi-ten", "update",
        "  - username: minhnv\n    full_name: Nguyễn Văn Minh Khôi\n"
        "  - username: bdt\n    unit_name: Ban Dân tộc và Tôn giáo\n",
    )  # fmt: skip
    workspace.run("apply")
    person = workspace.person("binhthuan", "minhnv")
    assert (person["cn"], person["displayName"], person["sn"], person["givenName"]) == (
        ["Nguyễn Văn Minh Khôi"], ["Nguyễn Văn Minh Khôi"], ["Nguyễn"], ["Khôi"]
    )  # fmt: skip
    assert person["uid"] == ["minhnv"] and person["mail"] == ["minhnv@bdt.binhthuan.gov.vn"]
    mailbox = workspace.person("binhthuan", "bdt")
    assert mailbox["cn"] == mailbox["displayName"] == mailbox["sn"] == ["Ban Dân tộc và Tôn giáo"]
    assert mailbox["mail"] == ["bdt@binhthuan.gov.vn"]


def test_plan_counts_every_change_the_same_way_in_every_view(workspace, tmp_path):
    """On an empty directory the shipped requests create accounts and then transfer, reset, lock, unlock
    and hand some over: each request's effect on each account counts once."""
    plan = json.loads(workspace.run("plan", "--json").stdout)
    expected = {"create": 0, "update": 0, "delete": 0}
    for request in plan["requests"]:
        effects = {}
        for change in request["changes"]:
            op = change["op"]
            what = op if op in ("create", "delete") else "update"
            if effects.get(change["uid"]) not in ("create", "delete"):
                effects[change["uid"]] = what
        for what in effects.values():
            expected[what] += 1
    assert plan["counts"] == expected
    assert expected["update"] >= 5  # the transfer, the resets, the lock, the unlock, the handover
    text = workspace.run(
        "plan", "--markdown", str(tmp_path / "plan.md"), "--report", str(tmp_path / "tf.json")
    ).stdout
    assert f"Plan: {expected['create']} to create, {expected['update']} to change" in text
    assert json.loads((tmp_path / "tf.json").read_text()) == expected
    markdown = (tmp_path / "plan.md").read_text(encoding="utf-8")
    assert (
        f"**{expected['create']}** tài khoản tạo mới · **{expected['update']}** tài khoản thay đổi"
        in markdown
    )
