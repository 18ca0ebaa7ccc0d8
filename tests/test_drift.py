"""Drift: the state the applied requests lead to, compared with what the directory holds.

The fold and the comparison are plain data; one test runs `hopthu drift` against a real slapd after a
real apply and a change made by hand.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import ldap3
import pytest

from builders import organisation
from hopthu.drift import Difference, Expected, compare, expected_state
from hopthu.inventory import load_inventory
from hopthu.model import (
    AccountChange,
    DirectoryAccount,
    Document,
    EntryKind,
    Inventory,
    Kind,
    NewPerson,
    Request,
    Requester,
)
from workspace import ROOT, copy_of_repo

HOPTHU = str(Path(sys.executable).with_name("hopthu"))
T0 = dt.datetime(2025, 1, 10, 9, 0, tzinfo=dt.UTC)

ORG = organisation(retention_days=30)
INVENTORY = Inventory({"bt": ORG})


def request(rid: str, kind: Kind, *accounts, day: int = 1) -> Request:
    return Request(
        rid,
        "bt",
        "bdt",
        kind,
        Document("1/BDT", dt.date(2025, 1, day), "A"),
        Requester("B", "C"),
        "r",
        tuple(accounts),
    )


MINH = NewPerson(
    "Nguyễn Văn Minh", "BDT-1", "Chuyên viên", "Văn phòng", "0912345678", ("email", "qlvb"), "minhnv"
)
CREATE = request("r1-create", Kind.CREATE, MINH, day=1)
LOCK = request("r2-lock", Kind.LOCK, AccountChange("minhnv"), day=2)
DELETE = request("r3-delete", Kind.DELETE, AccountChange("minhnv"), day=3)


def folded(*requests: Request, applied: dict[str, dt.datetime] | None = None) -> Expected:
    when = (
        applied if applied is not None else {r.id: T0 + dt.timedelta(days=i) for i, r in enumerate(requests)}
    )
    return expected_state(requests, INVENTORY, when)


def actual_of(expected: Expected) -> dict:
    """What a directory that followed the requests exactly holds (the reader's view of the accounts)."""
    return dict(expected.accounts)


def test_requests_fold_into_the_accounts_they_create():
    expected = folded(CREATE)
    account = expected.accounts[("bt", "minhnv")]
    assert account.first("mail") == "minhnv@bdt.binhthuan.gov.vn"
    assert account.groups == {"qlvb"}
    assert expected.last_request[("bt", "minhnv")] == "r1-create"
    assert compare(expected, actual_of(expected), ["bt"]) == []


def test_only_applied_requests_count():
    expected = folded(CREATE, LOCK, applied={"r1-create": T0})  # the lock was refused or is still pending
    assert expected.accounts[("bt", "minhnv")].locked_at is None


def test_delete_after_retention_replays_at_the_time_it_was_applied():
    later = {"r1-create": T0, "r2-lock": T0, "r3-delete": T0 + dt.timedelta(days=40)}
    expected = folded(CREATE, LOCK, DELETE, applied=later)
    assert ("bt", "minhnv") not in expected.accounts
    assert expected.not_replayed == {}


def test_an_account_deleted_by_hand_is_missing():
    expected = folded(CREATE)
    assert compare(expected, {}, ["bt"]) == [Difference("bt", "minhnv", "missing", request="r1-create")]


def test_an_account_created_by_hand_is_unmanaged():
    expected = folded(CREATE)
    stranger = DirectoryAccount("hacker", "uid=hacker", EntryKind.PERSON, {"cn": ("X",)}, frozenset(), None)
    found = compare(expected, {**actual_of(expected), ("bt", "hacker"): stranger}, ["bt"])
    assert found == [Difference("bt", "hacker", "unmanaged")]


def test_attribute_lock_and_group_changed_by_hand_are_each_reported():
    expected = folded(CREATE)
    account = expected.accounts[("bt", "minhnv")]
    attrs = {**account.attrs, "title": ("Giám đốc",), "pwdaccountlockedtime": ("000001010000Z",)}
    tampered = replace(account, attrs=attrs, groups=frozenset())
    found = compare(expected, {("bt", "minhnv"): tampered}, ["bt"])
    assert [(d.aspect, d.attribute, d.expected, d.actual) for d in found] == [
        ("attribute", "title", ("Chuyên viên",), ("Giám đốc",)),
        ("groups", None, ("qlvb",), ()),
        ("lock", None, ("not locked",), ("locked",)),
    ]


def test_a_failed_bind_lockout_is_not_drift():
    expected = folded(CREATE)
    account = expected.accounts[("bt", "minhnv")]
    lockout = replace(account, attrs={**account.attrs, "pwdaccountlockedtime": ("20250110093000Z",)})
    assert compare(expected, {("bt", "minhnv"): lockout}, ["bt"]) == []


def test_organisations_outside_the_scope_are_left_alone():
    expected = folded(CREATE)
    assert compare(expected, {}, ["other"]) == []


# --- against a real directory, through the CLI -------------------------------------------------------


@pytest.fixture
def workspace(tmp_path, start_directory):
    copy_of_repo(tmp_path, "inventory/group_vars", "requests/ctu")
    server = start_directory(load_inventory(ROOT / "inventory").organisations.values())
    return tmp_path, server


def run(root: Path, server, *args: str) -> subprocess.CompletedProcess:
    options = [
        "--directory",
        str(server.workdir / "directory.json"),
        "--audit-log",
        str(root / "audit.jsonl"),
    ]
    if args[0] == "apply":
        options += ["--outbox", str(root.parent / f"{root.name}-outbox")]
    return subprocess.run(
        [HOPTHU, *args, *options], cwd=root, capture_output=True, text=True, timeout=120, check=False
    )


def test_hopthu_drift_finds_a_change_made_by_hand(workspace):
    root, server = workspace
    assert run(root, server, "drift").returncode == 1  # no audit log yet: nothing is known to be applied
    assert run(root, server, "apply", "--quiet").returncode == 0
    clean = run(root, server, "drift")
    assert clean.returncode == 0, clean.stderr
    assert "no drift" in clean.stdout

    conn = server.connect("ctu")
    conn.modify(
        "uid=thviet,ou=people,dc=ctu,dc=edu,dc=vn", {"title": [(ldap3.MODIFY_REPLACE, ["Trưởng khoa"])]}
    )
    conn.add(
        "uid=hacker,ou=people,dc=ctu,dc=edu,dc=vn",
        ["inetOrgPerson"],
        {"uid": "hacker", "cn": "Hacker", "sn": "Hacker"},
    )
    conn.unbind()

    found = run(root, server, "drift", "--json")
    assert found.returncode == 1
    report = json.loads(found.stdout)
    aspects = {(d["uid"], d["aspect"], d["attribute"]) for d in report["differences"]}
    assert aspects == {("thviet", "attribute", "title"), ("hacker", "unmanaged", None)}
    assert run(root, server, "drift", "--org", "danang").returncode == 0  # another organisation: clean
