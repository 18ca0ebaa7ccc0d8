"""An apply whose directory stops in the middle gives a clear error and converges when run again after the
server is back: nothing lost, nothing duplicated, exactly one completed audit record per change, the chain
intact. (A killed apply, in every phase: tests/test_apply_recovery.py.)"""

from __future__ import annotations

import collections
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hopthu.audit import AuditLog
from hopthu.inventory import load_inventory
from hopthu.passwords import Outbox
from workspace import ROOT, copy_of_repo

sys.path.insert(0, str(ROOT / "bench"))
from workload import apply_command, write_create_request

ACCOUNTS = 1000
pytestmark = pytest.mark.slow


@pytest.fixture
def bulk(tmp_path, start_directory):
    repo = tmp_path / "repo"
    (repo / "requests").mkdir(parents=True)
    copy_of_repo(repo, "inventory")
    inventory = load_inventory(repo / "inventory")
    org = inventory.organisations["binhthuan"]
    write_create_request(repo, org, "bdt", ACCOUNTS, services=("email", "qlvb"))
    server = start_directory([org], tmp_path / "slapd")
    return repo, org, server, apply_command(server, tmp_path), tmp_path


def people(server, org) -> list[str]:
    conn = server.connect(org)
    entries = conn.extend.standard.paged_search(
        f"ou=people,{org.base_dn}", "(uid=*)", attributes=["uid"], paged_size=1000, generator=False
    )
    conn.unbind()
    return [e["attributes"]["uid"][0] for e in entries if e.get("type") == "searchResEntry"]


def wait_for_people(server, org, at_least: int, process: subprocess.Popen) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        count = len(people(server, org))
        if count >= at_least or process.poll() is not None:
            return count
        time.sleep(0.005)
    raise AssertionError("apply made no progress")


def assert_converged(repo, org, server, audit_path: Path, outbox: Path) -> None:
    uids = people(server, org)
    assert len(uids) == ACCOUNTS == len(set(uids))
    log = AuditLog(audit_path)
    assert [p for p in log.verify() if p.severity == "error"] == []
    records = list(log.records())
    completed = collections.Counter(
        (r["op"], r["uid"], r["group"]) for r in records if r["event"] == "change" and r["result"] == "ok"
    )
    assert {key for key, n in completed.items() if n > 1} == set()
    assert sum(1 for op, _, _ in completed if op == "create") == ACCOUNTS
    assert sum(1 for op, _, _ in completed if op == "add-member") == ACCOUNTS
    finals = [r for r in records if r["event"] == "request"]
    assert [(r["request"], r["result"]) for r in finals] == [("2026-11-20-bulk", "applied")]
    # every account can still be reached with the password its notice will carry
    passwords = Outbox(outbox).credentials("2026-11-20-bulk").passwords
    assert set(passwords) == set(uids)
    conn = server.connect(org)
    conn.search(f"ou=groups,{org.base_dn}", "(cn=qlvb)", attributes=["member"])
    members = [m for m in conn.entries[0].entry_attributes_as_dict["member"] if m]
    conn.unbind()
    assert len(members) == ACCOUNTS


def test_server_stopped_mid_apply_gives_a_clear_error_and_converges_after_restart(bulk, start_directory):
    repo, org, server, command, tmp = bulk
    process = subprocess.Popen(
        command, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    wait_for_people(server, org, ACCOUNTS // 3, process)
    server.stop()
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "Traceback" not in stderr
    assert "run the same command again" in stderr

    server = start_directory([org], server.workdir)
    rerun = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert_converged(repo, org, server, tmp / "audit.jsonl", tmp / "outbox")
