"""Kill `hopthu apply` of a merger (sáp nhập) in the middle, run it again once, compare with an uninterrupted
run: the machinery of bench/recovery.py, for two organisations (on one slapd or two).

A trial restores both directories (sparse copies) and the audit log, starts ``hopthu apply`` of the
merger, kills it with SIGKILL — at the first visible write of a phase (adds in the target, memberships
there, memberships out of the source, entries out of the source) or at a random moment — runs it again
ONCE and compares: every entry and attribute of both trees (times and salts aside), exactly one completed
audit record per change and one ``applied``, no error record, and every account in exactly one
organisation.

tests/test_merge_recovery.py runs the trials; as a script this prints how many of N kills converged:

    .venv/bin/python bench/merge_recovery.py [--accounts 600] [--kills 20] [--two-servers]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ldap3
import mergeload
from recovery import TIMES, Outcome, Trial, copy_tree, differences, has, kill_after, random_moments

from hopthu.audit import AuditLog
from hopthu.directory import dn
from hopthu.directory.server import LocalDirectory

READ = ["*", "pwdReset", "pwdAccountLockedTime", "userPassword"]
PHASES = ("merge-in", "add-member", "remove-member", "merge-out")


@dataclass
class MergeWorld:
    load: mergeload.MergeLoad
    state: Path
    pristine: Path

    @property
    def command(self) -> list[str]:
        return self.load.apply_command(self.state)

    def restore(self) -> None:
        servers = []
        for server in self.load.servers:
            server.stop()
            for code in server.base_dns:
                data = server.workdir / "data" / code
                shutil.rmtree(data)
                copy_tree(self.pristine / "data" / code, data)
            servers.append(LocalDirectory.start(server.workdir, _orgs_of(self.load, server)))
        self.load.servers = servers
        shutil.rmtree(self.state, ignore_errors=True)
        self.state.mkdir()

    def stop(self) -> None:
        for server in self.load.servers:
            server.stop()


def _orgs_of(load: mergeload.MergeLoad, server: LocalDirectory) -> list:
    return [org for org in (load.source, load.target) if org.code in server.base_dns]


def build_world(tmp: Path, accounts: int, *, two_servers: bool) -> MergeWorld:
    load = mergeload.build(tmp, accounts, two_servers=two_servers)
    mergeload.assign(load)
    pristine = tmp / "pristine"
    for server in load.servers:
        server.stop()
        for code in server.base_dns:
            (pristine / "data").mkdir(parents=True, exist_ok=True)
            copy_tree(server.workdir / "data" / code, pristine / "data" / code)
    load.servers = [LocalDirectory.start(s.workdir, _orgs_of(load, s)) for s in load.servers]
    state = tmp / "state"
    state.mkdir()
    return MergeWorld(load, state, pristine)


# --- what a run leaves behind ---------------------------------------------------------------------------


def tree(world: MergeWorld, org) -> dict[str, dict[str, tuple[str, ...]]]:
    conn = world.load.connect(org.code)
    try:
        entries = conn.extend.standard.paged_search(
            org.base_dn, "(objectClass=*)", attributes=READ, paged_size=1000, generator=False
        )
        found = {}
        for entry in entries:
            if entry.get("type") != "searchResEntry":
                continue
            attrs = {}
            for name, values in entry["raw_attributes"].items():
                key = name.lower()
                if key == "userpassword":  # copied, never made anew: compared value for value
                    attrs[key] = tuple(sorted(v.decode() for v in values))
                    continue
                texts = sorted(value.decode("utf-8", "replace") for value in values)
                attrs[key] = ("<set>",) if key in TIMES else tuple(texts)
            found[entry["dn"].lower()] = attrs
        return found
    finally:
        conn.unbind()


def outcome_of(world: MergeWorld) -> Outcome:
    problems = []
    log = AuditLog(world.state / "audit.jsonl")
    problems += [f"audit chain: {p}" for p in log.verify() if p.severity == "error"]
    records = list(log.records())
    errors = [r for r in records if r["event"] == "change" and r["result"] != "ok"]
    problems += [f"an error record for {r['op']} {r['uid']}: {r['result']}" for r in errors[:3]]
    ok = collections.Counter(
        (r["request"], r["op"], r["uid"], r["group"] or "") for r in records if r["event"] == "change"
    )
    problems += [f"recorded as done {n} times: {key}" for key, n in ok.items() if n > 1][:3]
    finals = [(r["request"], r["result"]) for r in records if r["event"] == "request"]
    if finals != [(mergeload.REQUEST_ID, "applied")]:
        problems.append(f"final records {finals}")
    source, target = tree(world, world.load.source), tree(world, world.load.target)
    problems += exactly_one_organisation(world.load, source, target)
    return Outcome({**source, **target}, frozenset(ok), {}, problems)


def exactly_one_organisation(load: mergeload.MergeLoad, source: dict, target: dict) -> list[str]:
    """Each account is in the target under its username there, and nowhere in the source."""
    problems = []
    for account in load.accounts:
        make = dn.mailbox_dn if account.mailbox else dn.person_dn
        if make(load.source, account.uid).lower() in source:
            problems.append(f"{account.uid} is still in {load.source.code}")
        if make(load.target, load.new_uid(account)).lower() not in target:
            problems.append(f"{account.uid} is not in {load.target.code} as {load.new_uid(account)}")
    return problems[:5]


# --- running and killing --------------------------------------------------------------------------------


def phases(world: MergeWorld) -> dict[str, Callable[[dict[str, ldap3.Connection]], bool]]:
    """Each phase of the merger, as the first of its writes becomes visible."""
    load = world.load
    earliest = sorted(load.accounts, key=lambda a: a.uid)[:3]  # each phase is written in username order
    first = earliest[0]
    grouped = min((a for a in load.accounts if "qlvb" in a.groups), key=lambda a: load.new_uid(a))
    make = dn.mailbox_dn if first.mailbox else dn.person_dn
    source, target = load.source, load.target
    in_target = make(target, load.new_uid(first))
    member_there = dn.person_dn(target, load.new_uid(grouped))
    member_here = dn.person_dn(source, grouped.uid)
    return {
        "merge-in": lambda c: has(c[target.code], in_target),
        "add-member": lambda c: has(c[target.code], dn.group_dn(target, "qlvb"), f"(member={member_there})"),
        "remove-member": lambda c: (
            not has(c[source.code], dn.group_dn(source, "qlvb"), f"(member={member_here})")
        ),
        "merge-out": lambda c: any(not has(c[source.code], _dn(source, a)) for a in earliest),
    }


def _dn(org, account: mergeload.Account) -> str:
    return (dn.mailbox_dn if account.mailbox else dn.person_dn)(org, account.uid)


def kill_when(world: MergeWorld, ready) -> Callable[[subprocess.Popen], bool]:
    def kill(process: subprocess.Popen) -> bool:
        conns = {code: world.load.connect(code) for code in (world.load.source.code, world.load.target.code)}
        try:
            deadline = time.monotonic() + 120
            while not ready(conns):
                if process.poll() is not None or time.monotonic() > deadline:
                    return False
        finally:
            for conn in conns.values():
                conn.unbind()
        process.send_signal(signal.SIGKILL)
        return process.wait() == -signal.SIGKILL

    return kill


def uninterrupted_run(world: MergeWorld) -> tuple[Outcome, float]:
    world.restore()
    started = time.monotonic()
    done = subprocess.run(world.command, cwd=world.load.repo, capture_output=True, text=True, timeout=600)
    took = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"the uninterrupted run failed: {done.stderr}")
    return outcome_of(world), took


def interrupted_run(world: MergeWorld, kill: Callable[[subprocess.Popen], bool]) -> Trial:
    world.restore()
    process = subprocess.Popen(
        world.command, cwd=world.load.repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    killed = kill(process)
    rerun = subprocess.run(world.command, cwd=world.load.repo, capture_output=True, text=True, timeout=600)
    return Trial(killed, rerun, outcome_of(world))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=600)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--two-servers", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hopthu-merge-recovery-") as tmp:
        world = build_world(Path(tmp), args.accounts, two_servers=args.two_servers)
        try:
            expected, took = uninterrupted_run(world)
            print(f"uninterrupted run: {len(expected.completed)} changes in {took:.2f} s")
            converged = 0
            for moment in random_moments(took, args.kills):
                trial = interrupted_run(world, kill_after(moment))
                problems = differences(trial.outcome, expected)
                if trial.rerun.returncode != 0:
                    problems.insert(
                        0, f"re-run exit {trial.rerun.returncode}: {trial.rerun.stderr.strip()[-200:]}"
                    )
                converged += not problems
                state = "converged" if not problems else "FAILED: " + "; ".join(problems)
                print(f"  kill at {moment:5.2f} s{'' if trial.killed else ' (after the end)'}: {state}")
            print(f"{converged} of {args.kills} kills at random moments converged on one re-run")
        finally:
            world.stop()


if __name__ == "__main__":
    main()
