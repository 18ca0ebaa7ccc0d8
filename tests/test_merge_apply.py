"""A merger (sáp nhập) applied to real slapd: two databases of one server, and two separate servers.

Every account ends in exactly one organisation, under its kept or reviewed username, with its old
addresses as aliases, its application groups mapped, its lock and lock time, and its password: the hash is
copied, nobody gets a new one, and no hash reaches a plan, a log or the audit log. Then the command-line
path on the shipped example: ``hopthu assign --directory`` writes the renames the reviewer sees,
``hopthu plan --markdown --report`` the summary, ``hopthu notify`` one notice per source unit.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import ldap3
import pytest

import mergeworld
from conftest import run_upgrade_ldif
from hopthu.audit import AuditLog
from hopthu.directory import dn
from hopthu.directory.server import LocalDirectory
from hopthu.inventory import load_inventory
from hopthu.planview import plan_as_json
from hopthu.summary import render_markdown
from workspace import copy_of_repo

HOPTHU = str(Path(sys.executable).with_name("hopthu"))
NOW = dt.datetime(2025, 7, 1, 1, tzinfo=dt.UTC)
BT, LD = mergeworld.BT, mergeworld.LD
CHOSEN = "Mat-khau-cua-An-2025"  # the password anvtt chose after the first login


@pytest.fixture(params=["one server, two databases", "two servers"])
def world(request, tmp_path):
    if request.param == "two servers":
        servers = [LocalDirectory.start(tmp_path / "bt", [BT]), LocalDirectory.start(tmp_path / "ld", [LD])]
    else:
        servers = [LocalDirectory.start(tmp_path / "slapd", [BT, LD])]
    try:
        for server in servers:
            server.set_nosync(True)
        world = mergeworld.build(servers, tmp_path / "state")
        # anvtt changed the one-time password (as every user must): pwdReset is gone from its entry
        server = world.server_of("bt")
        entry = dn.person_dn(BT, "anvtt")
        conn = ldap3.Connection(ldap3.Server(server.uri), entry, world.passwords["anvtt"])
        assert conn.bind()
        assert conn.extend.standard.modify_password(entry, world.passwords["anvtt"], CHOSEN), conn.result
        conn.unbind()
        yield world
    finally:
        for server in servers:
            server.stop()


def entries(world, org, base=None) -> dict[str, dict]:
    """uid → attributes (with operational ones and the password hash) of the accounts of ``org``."""
    conn = world.connect(org)
    try:
        organisation = world.inventory.organisations[org]
        conn.search(base or organisation.base_dn, "(uid=*)", attributes=["*", "+"])
        return {
            str(e.uid): e.entry_attributes_as_dict
            for e in conn.entries
            if ",ou=people," in e.entry_dn or ",ou=mailboxes," in e.entry_dn
        }
    finally:
        conn.unbind()


def members(world, org, group) -> set[str]:
    conn = world.connect(org)
    try:
        conn.search(
            dn.group_dn(world.inventory.organisations[org], group), "(objectClass=*)", attributes=["member"]
        )
        return {value for value in conn.entries[0].member.values if value}
    finally:
        conn.unbind()


def binds(world, org, uid, password, kind="people") -> ldap3.Connection | None:
    organisation = world.inventory.organisations[org]
    entry = (dn.person_dn if kind == "people" else dn.mailbox_dn)(organisation, uid)
    conn = ldap3.Connection(ldap3.Server(world.server_of(org).uri), entry, password, raise_exceptions=False)
    return conn if conn.bind() else None


def hashes(*found: dict[str, dict]) -> list[str]:
    values = [v for accounts in found for attrs in accounts.values() for v in attrs.get("userPassword", [])]
    return [value.decode() if isinstance(value, bytes) else value for value in values]


def test_every_account_ends_in_exactly_one_organisation_with_its_password_lock_groups_and_old_address(world):
    before = entries(world, "bt")
    merger = mergeworld.merger(renames=mergeworld.RENAMES)
    plan, report = world.apply([merger], now=NOW)
    assert report.applied == [merger.id] and report.failed == {}
    source, target = entries(world, "bt"), entries(world, "ld")
    assert source == {}  # every account of the merged units left Bình Thuận
    moved = {
        "minhnv": "minhnv2",
        "anvtt": "anvtt",
        "thodn": "thodn",
        "kakr": "kakr",
        "bdt": "bdt2",
        "tamhn": "tamhn",
    }
    assert set(moved.values()) | {"minhnv", "bdt"} == set(target)  # and Lâm Đồng's own two stayed
    for old, new in moved.items():
        was, now = before[old], target[new]
        assert now["cn"] == was["cn"] and now["userPassword"] == was["userPassword"]  # the hash, copied
        if "mail" in was:
            assert set(was["mail"]) <= set(now["mailLocalAddress"])  # the old address is an alias
            assert now["hopthuMailbox"] == [f"bt/{old}"]  # the mailbox stays in its folder
    assert target["minhnv2"]["mail"] == ["minhnv2@sdttg.lamdong.gov.vn"]
    assert target["tamhn"]["departmentNumber"] == ["skhcn"]
    assert target["bdt2"]["mail"] == ["bdt2@lamdong.gov.vn"]
    assert target["minhnv"]["cn"] == ["Nguyễn Văn Minh"] and target["minhnv"]["employeeNumber"] == ["LD-1"]
    # application groups: mapped to Lâm Đồng's, gone from Bình Thuận's
    member = lambda uid: dn.person_dn(LD, uid)  # noqa: E731
    assert {member("minhnv2"), member("anvtt"), member("tamhn")} <= members(world, "ld", "vanban")
    assert members(world, "ld", "dvc") == {member("anvtt"), member("kakr")}
    assert members(world, "bt", "qlvb") == set() and members(world, "bt", "motcua") == set()
    # locked stays locked, with its lock time for the retention rule
    assert (
        target["thodn"]["pwdAccountLockedTime"]
        and binds(world, "ld", "thodn", world.passwords["thodn"]) is None
    )
    assert target["thodn"]["hopthuLockedTime"] == before["thodn"]["hopthuLockedTime"]
    # passwords kept: the one anvtt chose works, and it need not change it; minhnv's one-time one still
    # must be changed first
    conn = binds(world, "ld", "anvtt", CHOSEN)
    assert conn is not None and conn.search(LD.base_dn, "(uid=anvtt)") and conn.result["result"] == 0
    conn = binds(world, "ld", "minhnv2", world.passwords["minhnv"])
    assert conn is not None and not conn.search(LD.base_dn, "(uid=minhnv2)") and conn.result["result"] == 50
    assert binds(world, "ld", "bdt2", world.passwords["bdt"], kind="mailboxes") is not None
    assert merger.id not in world.outbox.pending()  # nobody gets a new password

    # the audit log: one completed record per change, and again: nothing to do, nothing written
    records = list(AuditLog(world.audit_log).records())
    done = collections.Counter(
        (r["op"], r["uid"], r["group"])
        for r in records
        if r["event"] == "change" and r["request"] == merger.id
    )
    assert set(done.values()) == {1} and len(done) == len(plan.changes) == 22
    log = world.audit_log.read_bytes()
    target = entries(world, "ld")  # after the binds above (lastbind's authTimestamp moved)
    _, report = world.apply([merger], now=NOW)
    assert report.changes == 0 and world.audit_log.read_bytes() == log and entries(world, "ld") == target

    # no hash anywhere but in the entries: not in the plan, its summary, or the audit log
    shown = [plan_as_json(plan), render_markdown(json.loads(plan_as_json(plan))), log.decode()]
    for value in hashes(before, target):
        assert value.startswith("{SSHA}") and not any(value in text for text in shown)


def test_a_refused_merger_writes_nothing_in_either_organisation(world):
    before = (entries(world, "bt"), entries(world, "ld"))
    merger = mergeworld.merger()  # no renames: minhnv and the unit mailbox bdt collide in Lâm Đồng
    _, report = world.apply([merger], now=NOW)
    assert report.refused and report.changes == 0
    assert (entries(world, "bt"), entries(world, "ld")) == before
    (record,) = [r for r in AuditLog(world.audit_log).records() if r["request"] == merger.id]
    assert record["result"] == "refused"
    (refusal,) = record["refusals"]
    assert refusal["code"] == "merge-username-taken"
    assert sorted(a["uid"] for a in refusal["accounts"]) == ["bdt", "minhnv"]


# --- the command line on the shipped example ------------------------------------------------------------


def run(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([HOPTHU, *args], cwd=repo, capture_output=True, text=True, timeout=300)
    assert not check or done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done


def test_assign_writes_the_reviewed_renames_plan_summarises_and_each_source_unit_gets_its_notice(
    tmp_path, start_directory
):
    repo = copy_of_repo(tmp_path / "repo", "inventory", "requests", "schemas")
    inventory = load_inventory(repo / "inventory")
    server = start_directory(inventory.organisations.values())
    merger = repo / "requests/lamdong/_merge/2025/2025-06-30-sap-nhap-snv-binhthuan.yaml"
    shipped = merger.read_text(encoding="utf-8")
    head, _, _ = shipped.partition("renames:")
    merger.write_text(head, encoding="utf-8")  # as IT first writes it: no renames yet
    state = ["--audit-log", str(tmp_path / "audit.jsonl")]
    connections = ["--directory", str(server.workdir / "directory.json")]
    before = [str(p) for p in sorted((repo / "requests").rglob("*.yaml")) if p != merger]
    run(repo, "apply", "--quiet", *connections, *state, "--outbox", str(tmp_path / "outbox"), *before)

    refused = run(repo, "plan", *connections, *state, str(merger))
    assert "2 account(s) of the merger have a username that is taken in lamdong" in refused.stdout
    assigned = run(repo, "assign", "--directory", str(server.workdir / "plan-directory.json"), str(merger))
    assert "Võ Thị Thu An -> anvtt2" in assigned.stdout and "Sở Nội vụ -> snv2" in assigned.stdout
    assert merger.read_text(encoding="utf-8") == shipped  # exactly the block the example ships with
    assert "nothing to assign" in run(repo, "assign", *connections, str(merger)).stderr

    summary, report = tmp_path / "summary.md", tmp_path / "report.json"
    as_reader = ["--directory", str(server.workdir / "plan-directory.json")]
    run(repo, "plan", *as_reader, *state, "--markdown", str(summary), "--report", str(report), str(merger))
    assert json.loads(report.read_text()) == {"create": 0, "update": 2, "delete": 0}
    text = summary.read_text(encoding="utf-8")
    assert "### Sáp nhập: 2025-06-30-sap-nhap-snv-binhthuan" in text
    assert "Tổ chức sau sáp nhập: lamdong – Hệ thống thư điện tử công vụ tỉnh Lâm Đồng" in text
    assert "**2** tài khoản chuyển sang tổ chức sau sáp nhập" in text and "**2** đổi tên đăng nhập" in text
    row = (
        "| `anvtt` | anvtt\\@snv.binhthuan.gov.vn | `anvtt2` | anvtt2\\@snv.lamdong.gov.vn | Sở Nội vụ tỉnh "
    )
    assert row in text

    run(repo, "apply", "--quiet", *connections, *state, "--outbox", str(tmp_path / "outbox"), str(merger))
    previews = tmp_path / "notices"
    out = run(
        repo, "notify", "--dry-run", "--output", str(previews), "--outbox", str(tmp_path / "outbox"), *state
    )
    assert "2025-06-30-sap-nhap-snv-binhthuan" in out.stdout + out.stderr
    (notice,) = (previews / "2025-06-30-sap-nhap-snv-binhthuan--binhthuan-snv").glob("*.txt")
    body = notice.read_text(encoding="utf-8")
    assert "Kính gửi: Sở Nội vụ tỉnh Bình Thuận" in body
    applied = next(
        r
        for r in AuditLog(tmp_path / "audit.jsonl").records()
        if r["event"] == "request" and "sap-nhap" in r["request"]
    )
    day = dt.datetime.fromisoformat(applied["time"]).astimezone(dt.timezone(dt.timedelta(hours=7))).date()
    month = f"{day.month:02d}" if day.month <= 2 else str(day.month)
    assert f"Kể từ ngày {day.day:02d} tháng {month} năm {day.year}, 2 tài khoản" in " ".join(body.split())
    assert "Địa chỉ thư điện tử: anvtt2@snv.lamdong.gov.vn" in body
    assert "Địa chỉ cũ (vẫn nhận thư): anvtt@snv.binhthuan.gov.vn" in body
    assert "Võ Thị Thu An - Sở Nội vụ tỉnh Lâm Đồng" in body
    assert "Mật khẩu của các tài khoản được giữ nguyên" in " ".join(body.split())
    eml = next((previews / "2025-06-30-sap-nhap-snv-binhthuan--binhthuan-snv").glob("*.eml")).read_text()
    assert "To: snv@binhthuan.gov.vn" in eml and "Cc: snv@lamdong.gov.vn" in eml
    # the copied hashes are in the target's entries and nowhere the merger wrote: notice, audit log, summary
    conn = server.connect(inventory.organisations["lamdong"])
    conn.search(
        inventory.organisations["lamdong"].base_dn, "(mailLocalAddress=*)", attributes=["userPassword"]
    )
    copied = [value.decode() for entry in conn.entries for value in entry.userPassword.raw_values]
    conn.unbind()
    assert len(copied) == 2 and all(value.startswith("{SSHA}") for value in copied)
    written = [body, eml, (tmp_path / "audit.jsonl").read_text(), text, report.read_text()]
    assert not any(value in shown for value in copied for shown in written)


def test_the_mailbox_folder_attribute_is_added_to_an_older_directory_by_the_shipped_ldif(
    tmp_path, monkeypatch, start_directory, org
):
    """A directory bootstrapped before hopthuMailbox: the upgrade LDIF adds it in place, accounts kept."""
    from hopthu.directory import ldif

    current = ldif.SCHEMA_LDIF.read_text(encoding="utf-8")
    start = current.index("olcAttributeTypes: ( hopthuAttr:8")
    old = current[:start] + current[current.index("olcObjectClasses:", start) :]
    old = old.replace(" $ hopthuMailbox", "")
    (tmp_path / "old-schema.ldif").write_text(old, encoding="utf-8")
    monkeypatch.setattr(ldif, "SCHEMA_LDIF", tmp_path / "old-schema.ldif")
    render = ldif.render_database
    monkeypatch.setattr(ldif, "render_database", lambda *a: render(*a).replace(",hopthuMailbox", ""))
    server = start_directory([org], tmp_path / "slapd")
    conn = server.connect(org)
    person = {"objectClass": ["inetOrgPerson", "hopthuAccount"], "cn": "Nguyễn Văn Minh", "sn": "Nguyễn"}
    assert conn.add(f"uid=minhnv,ou=people,{org.base_dn}", attributes=person)
    moved = {**person, "cn": "Lê Văn Tám", "hopthuMailbox": "other/tamlv"}
    assert not conn.add(f"uid=tamlv,ou=people,{org.base_dn}", attributes=moved)  # before: refused

    run_upgrade_ldif(server, "upgrade-mailbox.ldif")
    assert conn.add(f"uid=tamlv,ou=people,{org.base_dn}", attributes=moved), conn.result
    conn.search(org.base_dn, "(uid=minhnv)")
    assert len(conn.entries) == 1
    conn.unbind()
