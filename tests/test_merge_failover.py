"""A merger (sáp nhập) on a replicated directory whose first provider is killed (SIGKILL) in the middle of
it: hopthu leaves that provider for both organisations the merger writes in, finishes on the other, and
when the first is back both providers hold the same result as a merger without a kill — every account in
exactly one organisation, its password hash copied, each change recorded done once (twice only when a
write the killed provider had acknowledged was written again on the next)."""

from __future__ import annotations

import collections
import datetime as dt
import os
import signal
import time

import pytest

import mergeworld
from hopthu import pipeline
from hopthu.audit import AuditLog
from hopthu.directory.applier import REWRITTEN
from replication import assert_identical, tree

NOW = dt.datetime(2025, 7, 1, 1, tzinfo=dt.UTC)
BT, LD = mergeworld.BT, mergeworld.LD


def accounts(entries: dict, org) -> dict[str, dict]:
    """uid → attributes of the accounts (people and unit mailboxes) in a provider's tree."""
    suffixes = (f",ou=people,{org.base_dn}".lower(), f",ou=mailboxes,{org.base_dn}".lower())
    return {attrs["uid"][0]: attrs for name, attrs in entries.items() if name.endswith(suffixes)}


@pytest.fixture
def world(tmp_path, start_providers):
    providers = start_providers([BT, LD], tmp_path / "ldap")
    providers.set_nosync(True)
    return providers, mergeworld.build([providers], tmp_path / "state")


# Early and mid-way: later, the last writes may all be sent and answered before the kill lands.
@pytest.mark.parametrize("kill_after", [1, 9])
def test_a_merger_whose_provider_is_killed_midway_finishes_on_the_other(world, kill_after) -> None:
    providers, merger_world = world
    first = providers.first
    providers.wait_converged()
    before = accounts(tree(first, BT), BT)
    merger = mergeworld.merger(renames=mergeworld.RENAMES)
    written = 0

    def kill_the_first_provider(changes: int) -> None:
        nonlocal written
        written += changes
        if written >= kill_after and first.is_running():
            os.kill(first.pid, signal.SIGKILL)
            while first.is_running():
                time.sleep(0.01)

    session = merger_world.session()
    try:
        loaded = pipeline.Loaded(merger_world.inventory, [merger])
        plan, report = pipeline.apply(
            loaded,
            session,
            merger_world.audit_log,
            merger_world.outbox,
            now=NOW,
            ci=None,
            on_progress=kill_the_first_provider,
        )
        left = {(f.org, f.uri) for f in session.failovers}
    finally:
        session.close()
    assert report.applied == [merger.id] and report.failed == {}
    assert left and {uri for _, uri in left} == {first.uri}  # it left the killed provider, only that one
    first.relaunch()
    for org in (BT, LD):
        assert_identical(providers, org)
    for provider in providers.providers:
        source, target = accounts(tree(provider, BT), BT), accounts(tree(provider, LD), LD)
        assert source == {}, f"{provider.uri}: left in Bình Thuận: {sorted(source)}"
        renamed = {"minhnv": "minhnv2", "bdt": "bdt2"}
        moved = {renamed.get(uid, uid): attrs for uid, attrs in before.items()}
        assert set(target) == set(moved) | {"minhnv", "bdt"}, provider.uri
        for uid, was in moved.items():
            assert target[uid]["userpassword"] == was["userpassword"], f"{provider.uri}: {uid}'s hash"
    records = list(AuditLog(merger_world.audit_log).records())
    assert [p for p in AuditLog(merger_world.audit_log).verify() if p.severity == "error"] == []
    done = collections.Counter(
        (r["op"], r["uid"], r["group"])
        for r in records
        if r["event"] == "change" and r["request"] == merger.id and r["result"] == "ok"
    )
    again = {
        (r["op"], r["uid"], r["group"])
        for r in records
        if r["event"] == "change" and (r.get("reason") or "").startswith(REWRITTEN)
    }
    assert len(done) == len(plan.changes) == 22
    assert {key for key, n in done.items() if n > 1} <= again and set(done.values()) <= {1, 2}
    finals = [r["result"] for r in records if r["event"] == "request" and r["request"] == merger.id]
    assert finals == ["applied"]
