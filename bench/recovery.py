"""Kill `hopthu apply` in the middle, run it again once, and compare with an uninterrupted run.

The run holds every kind of request and so every phase of an apply (``workload.write_every_kind``):
1,000 new accounts with an application group, transfers and changes, memberships added and removed,
password resets, locks, unlocks, deletes and a unit-mailbox handover, against a starting directory of
500 accounts, while two mail-server-like search loops query the same slapd.

A trial restores the starting directory, audit log and outbox, starts ``hopthu apply``, kills it with
SIGKILL, runs it again ONCE and compares with the uninterrupted run: every entry and attribute (times
aside), exactly one completed audit record per change and one ``applied`` per request, no error record,
and one password per account in the outbox, the one the directory holds.

tests/test_apply_recovery.py runs trials at the start of each phase and at random moments; as a script
this prints how many of N kills at random moments (uniform over the measured duration) converged:

    .venv/bin/python bench/recovery.py [--kills 20] [--nosync]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import random
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import ldap3
from workload import HANDOVER_MAILBOX, apply_command, write_every_kind

from hopthu import pipeline
from hopthu.audit import AuditLog
from hopthu.directory import dn
from hopthu.directory.server import LocalDirectory
from hopthu.endpoints import load_endpoints
from hopthu.inventory import load_inventory
from hopthu.model import Organisation
from hopthu.passwords import Outbox

ROOT = Path(__file__).resolve().parent.parent
# Attributes whose values are times of the run (or hashes with a random salt): compared by presence only.
TIMES = frozenset(
    {"hopthulockedtime", "pwdchangedtime", "createtimestamp", "modifytimestamp", "entrycsn", "userpassword"}
)
READ = ["*", "pwdReset", "pwdAccountLockedTime", "pwdChangedTime"]
LOCKED_LONG_AGO = dt.datetime(2026, 5, 4, 9, tzinfo=dt.UTC)  # the starting directory's locks


@dataclass
class World:
    repo: Path
    org: Organisation
    server: LocalDirectory
    state: Path  # the run's audit log and outbox
    pristine: Path  # copies of the starting directory's data, audit log and outbox
    usernames: dict[str, list[str]]
    request_ids: list[str]

    @property
    def command(self) -> list[str]:
        return apply_command(self.server, self.state)

    def restore(self) -> None:
        self.server.stop()
        data = self.server.workdir / "data" / self.org.code
        shutil.rmtree(data)
        copy_tree(self.pristine / "data", data)
        shutil.rmtree(self.state, ignore_errors=True)
        copy_tree(self.pristine / "state", self.state)
        self.server = LocalDirectory.start(self.server.workdir, [self.org])

    def dn_of(self, cohort: str, index: int = 0) -> str:
        return dn.person_dn(self.org, self.usernames[cohort][index])


def copy_tree(source: Path, target: Path) -> None:
    """``cp -a``, keeping holes: the mdb file is a sparse file of the database's maximum size (4 GiB)."""
    subprocess.run(["cp", "-a", "--sparse=always", str(source), str(target)], check=True)


def lift_mass_change_cap(inventory: Path, code: str) -> None:
    """The workload locks, deletes and moves thousands of accounts in one run by design: the mass-change
    guard (tested on its own) would refuse it."""
    path = inventory / "group_vars" / "all" / "hopthu.yml"
    text = path.read_text(encoding="utf-8")
    item = f"  - code: {code}\n"
    assert item in text, f"{code} is not in {path}"
    path.write_text(text.replace(item, f"{item}    mass_change_cap: 1000000\n", 1), encoding="utf-8")


def build_world(tmp: Path, *, nosync: bool) -> World:
    """The requests, a local slapd with the starting directory, and its pristine copy. Stop
    ``world.server`` when done."""
    repo = tmp / "repo"
    (repo / "requests").mkdir(parents=True)
    shutil.copytree(ROOT / "inventory", repo / "inventory")
    lift_mass_change_cap(repo / "inventory", "binhthuan")
    org = load_inventory(repo / "inventory").organisations["binhthuan"]
    every = write_every_kind(repo, org)
    server = LocalDirectory.start(tmp / "slapd", [org])
    server.set_nosync(nosync)
    state = tmp / "state"
    for files in (every.base, (every.base_lock,)):
        loaded = pipeline.load(repo / "inventory", files)
        session = pipeline.Session(load_endpoints(server.workdir / "directory.json"))
        try:
            pipeline.apply(
                loaded, session, state / "audit.jsonl", Outbox(state / "outbox"), now=LOCKED_LONG_AGO
            )
        finally:
            session.close()
    server.stop()
    pristine = tmp / "pristine"
    pristine.mkdir()
    copy_tree(server.workdir / "data" / org.code, pristine / "data")
    copy_tree(state, pristine / "state")
    server = LocalDirectory.start(server.workdir, [org])
    return World(repo, org, server, state, pristine, every.usernames, [path.stem for path in every.run])


# --- what a run leaves behind ---------------------------------------------------------------------------


def directory_state(world: World) -> dict[str, dict[str, tuple[str, ...]]]:
    """Every entry of the organisation: lower-cased DN → attribute → sorted values (times: presence)."""
    conn = world.server.connect(world.org)
    try:
        entries = conn.extend.standard.paged_search(
            world.org.base_dn, "(objectClass=*)", attributes=READ, paged_size=1000, generator=False
        )
        state = {}
        for entry in entries:
            if entry.get("type") != "searchResEntry":
                continue
            attrs = {}
            for name, values in entry["raw_attributes"].items():
                key = name.lower()
                texts = sorted(value.decode("utf-8", "replace") for value in values)
                attrs[key] = ("<set>",) if key in TIMES else tuple(texts)
            state[entry["dn"].lower()] = attrs
        return state
    finally:
        conn.unbind()


@dataclass(frozen=True)
class Outcome:
    directory: dict[str, dict[str, tuple[str, ...]]]
    completed: frozenset[tuple[str, str, str, str]]  # (request, op, uid, group) with an ok record
    passwords: dict[str, frozenset[str]]  # request → uids with a one-time password in the outbox
    problems: list[str] = field(default_factory=list)  # what breaks a promise on its own


def outcome_of(world: World) -> Outcome:
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
    finals = collections.Counter((r["request"], r["result"]) for r in records if r["event"] == "request")
    for request in world.request_ids:
        if finals[(request, "applied")] != 1 or sum(n for (r, _), n in finals.items() if r == request) != 1:
            problems.append(f"request {request}: final records {dict(finals)}")
    outbox = Outbox(world.state / "outbox")
    passwords = {request: frozenset(outbox.credentials(request).passwords) for request in outbox.pending()}
    problems += password_problems(world)
    return Outcome(directory_state(world), frozenset(ok), passwords, problems)


def password_problems(world: World, sample: int = 40) -> list[str]:
    """The one-time password in the outbox is the one the directory holds (a sample of each request of
    the run that gives passwords)."""
    outbox = Outbox(world.state / "outbox")
    rng = random.Random(5)
    problems = []
    for request in sorted(set(outbox.pending()) & set(world.request_ids)):
        passwords = outbox.credentials(request).passwords
        for uid in rng.sample(sorted(passwords), min(sample, len(passwords))):
            entry = (dn.mailbox_dn if uid == HANDOVER_MAILBOX else dn.person_dn)(world.org, uid)
            conn = ldap3.Connection(ldap3.Server(world.server.uri), entry, passwords[uid])
            if not conn.bind():
                problems.append(f"{request}: {uid} does not bind with its outbox password")
            conn.unbind()
    return problems


def differences(outcome: Outcome, expected: Outcome) -> list[str]:
    """How ``outcome`` differs from the uninterrupted run's (empty: the same)."""
    found = list(outcome.problems)
    if outcome.completed != expected.completed:
        found.append(
            f"completed changes differ: {len(expected.completed - outcome.completed)} missing, "
            f"{len(outcome.completed - expected.completed)} extra"
        )
    if outcome.passwords != expected.passwords:
        found.append("the outbox holds passwords for other accounts")
    missing = sorted(set(expected.directory) - set(outcome.directory))
    extra = sorted(set(outcome.directory) - set(expected.directory))
    found += [f"entry missing: {entry}" for entry in missing[:3]] + [
        f"entry extra: {entry}" for entry in extra[:3]
    ]
    differ = [
        e
        for e, attrs in expected.directory.items()
        if e in outcome.directory and outcome.directory[e] != attrs
    ]
    if differ:
        found.append(f"{len(differ)} entries differ, e.g. {differ[0]}")
    return found


# --- running and killing --------------------------------------------------------------------------------


@contextmanager
def mail_server_lookups(world: World) -> Iterator[None]:
    """Two loops searching the directory as Dovecot and Postfix do (bound as the mail-lookup identity),
    for as long as the block runs."""
    secret = world.server.service_password_file(world.org, dn.MAIL_LOOKUP)
    who = world.server.service_dn(world.org, dn.MAIL_LOOKUP)
    search = (
        f"ldapsearch -x -LLL -H {world.server.uri} -D {who} -y {secret} "
        f"-b {world.org.base_dn} '(&(objectClass=hopthuAccount)(mail=minh*))' mail uid >/dev/null 2>&1"
    )
    loops = [
        subprocess.Popen(["bash", "-c", f"while :; do {search}; done"], start_new_session=True)
        for _ in range(2)
    ]
    try:
        yield
    finally:
        for loop in loops:
            loop.send_signal(signal.SIGKILL)
            loop.wait()


def has(conn: ldap3.Connection, entry: str, assertion: str = "(objectClass=*)") -> bool:
    conn.search(entry, assertion, ldap3.BASE, attributes=["1.1"])
    return bool(conn.response) and conn.response[0].get("type") == "searchResEntry"


def phases(world: World) -> dict[str, Callable[[ldap3.Connection], bool]]:
    """Each phase of the run, as the first of its writes becomes visible in the directory."""
    new, group = world.dn_of("new"), dn.group_dn(world.org, "qlvb")
    mailbox = dn.mailbox_dn(world.org, HANDOVER_MAILBOX)
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).strftime("%Y%m%d%H%M%SZ")
    motcua = dn.group_dn(world.org, "motcua")
    return {
        "create": lambda c: has(c, new),
        "create: add-member": lambda c: has(c, group, f"(member={new})"),
        "update: add-member": lambda c: has(c, motcua, f"(member={world.dn_of('S')})"),
        "update: transfer": lambda c: has(c, world.dn_of("T"), "(departmentNumber=snv)"),
        "update: remove-member": lambda c: not has(c, group, f"(member={world.dn_of('S')})"),
        "reset-password": lambda c: has(c, world.dn_of("R"), f"(pwdChangedTime>={since})"),
        "lock": lambda c: has(c, world.dn_of("L"), "(pwdAccountLockedTime=*)"),
        "unlock": lambda c: not has(c, world.dn_of("U"), "(pwdAccountLockedTime=*)"),
        "delete: remove-member": lambda c: not has(c, group, f"(member={world.dn_of('X')})"),
        "delete": lambda c: not has(c, world.dn_of("X")),
        "handover": lambda c: has(c, mailbox, "(hopthuManagerName=Phạm Văn Đức)"),
    }


def kill_when(world: World, ready: Callable[[ldap3.Connection], bool]) -> Callable[[subprocess.Popen], bool]:
    """A killer: SIGKILL as soon as ``ready`` holds; True when the process was still running then."""

    def kill(process: subprocess.Popen) -> bool:
        conn = world.server.connect(world.org)
        try:
            deadline = time.monotonic() + 120
            while not ready(conn):
                if process.poll() is not None or time.monotonic() > deadline:
                    return False
        finally:
            conn.unbind()
        process.send_signal(signal.SIGKILL)
        return process.wait() == -signal.SIGKILL

    return kill


def kill_after(seconds: float) -> Callable[[subprocess.Popen], bool]:
    """A killer: SIGKILL after ``seconds``; True when the process was still running then."""

    def kill(process: subprocess.Popen) -> bool:
        try:
            process.wait(timeout=seconds)
            return False
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            return process.wait() == -signal.SIGKILL

    return kill


@dataclass(frozen=True)
class Trial:
    killed: bool  # the process was still running when it was killed
    rerun: subprocess.CompletedProcess
    outcome: Outcome


def uninterrupted_run(world: World) -> tuple[Outcome, float]:
    """The run without a kill: what every interrupted one must end as, and how long it takes."""
    world.restore()
    started = time.monotonic()
    done = subprocess.run(world.command, cwd=world.repo, capture_output=True, text=True, timeout=600)
    took = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"the uninterrupted run failed: {done.stderr}")
    return outcome_of(world), took


def interrupted_run(world: World, kill: Callable[[subprocess.Popen], bool]) -> Trial:
    world.restore()
    with mail_server_lookups(world):
        process = subprocess.Popen(
            world.command, cwd=world.repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        killed = kill(process)
        rerun = subprocess.run(world.command, cwd=world.repo, capture_output=True, text=True, timeout=600)
    return Trial(killed, rerun, outcome_of(world))


def random_moments(took: float, count: int, seed: int = 0) -> list[float]:
    """One moment in each of ``count`` equal slices of the measured duration, uniform within it (the last
    tenth left out: a run may take a little less time than the measured one)."""
    rng = random.Random(seed)
    return [0.9 * took * (slot + rng.random()) / count for slot in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--nosync", action="store_true", help="server writes without fsync")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hopthu-recovery-") as tmp:
        world = build_world(Path(tmp), nosync=args.nosync)
        try:
            # The first run warms the caches; the duration is the quicker of two, so that the moments fall
            # inside the runs they interrupt.
            runs = [uninterrupted_run(world) for _ in range(2)]
            expected, took = runs[-1][0], min(seconds for _, seconds in runs)
            print(
                f"uninterrupted run: {len(expected.completed)} changes in {took:.2f} s (the quicker of two)"
            )
            converged = killed = 0
            for moment in random_moments(took, args.kills):
                trial = interrupted_run(world, kill_after(moment))
                problems = differences(trial.outcome, expected)
                if trial.rerun.returncode != 0:
                    problems.insert(
                        0, f"re-run exit {trial.rerun.returncode}: {trial.rerun.stderr.strip()[-200:]}"
                    )
                killed += trial.killed
                converged += trial.killed and not problems
                state = "converged" if not problems else "FAILED: " + "; ".join(problems)
                ended = "" if trial.killed else " (the run had ended: not counted)"
                print(f"  kill at {moment:5.2f} s{ended}: {state}")
            print(f"{converged} of {killed} applies killed at random moments converged on one re-run")
        finally:
            world.server.stop()


if __name__ == "__main__":
    main()
