"""`hopthu apply` of one 10,000-account request against the raw baseline, measured in the same run.

For each of the server's write modes — default durable writes (fsync at every commit) and
``olcDbNoSync: TRUE`` — on a fresh local slapd each time:

- baseline: ``ldapadd`` loading the very entries the plan creates (same attributes, a password each)
  from one LDIF;
- ``hopthu apply`` of the request, the whole command: load and validate the request, read the
  directory, plan, reserve passwords in the outbox, write, audit (intents and completions, fsynced);
- a no-op re-apply of the same commit;
- the Ansible path (``playbooks/apply.yml`` against ``inventory/dev.yml``, bench/apply_ansible.py).

Then the time to plan one request of 1 account against a directory of 100,000 (offline ``slapadd -q``).

    .venv/bin/python bench/apply.py [--accounts 10000] [--directory-size 100000] [--no-ansible]

Targets (issue 3/4): apply ≥ 0.5 × ldapadd's entries/s in both modes; no-op < 10 % of the first apply;
plan of 1 account < 1 s; Ansible ≤ 1.3 × direct + a few seconds.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from apply_ansible import ansible_apply
from ldap_write import run_ldapadd, to_ldif
from workload import HOPTHU, apply_command, write_create_request

from hopthu import pipeline
from hopthu.directory.applier import entry_dn
from hopthu.directory.server import LocalDirectory
from hopthu.endpoints import load_endpoints
from hopthu.inventory import load_inventory
from hopthu.model import EntryKind, Op, Snapshot
from hopthu.passwords import generate_password
from hopthu.plan import Progress, make_plan

ROOT = Path(__file__).resolve().parent.parent
ORG, UNIT = "binhthuan", "bdt"


def baseline_ldif(repo: Path, path: Path) -> int:
    """The entries `hopthu apply` will create, as one LDIF with a fresh password each."""
    loaded = pipeline.load(repo / "inventory", [repo / "requests"])
    org = loaded.inventory.organisations[ORG]
    plan = make_plan(loaded.requests, loaded.inventory, Snapshot({}), Progress(), pipeline._now())
    entries = []
    for change in plan.changes:
        if change.op is Op.CREATE:
            attributes = {k: list(v) for k, v in change.after.items()}
            attributes["userPassword"] = [generate_password(org.password_policy)]
            entries.append((entry_dn(org, change.kind, change.uid), attributes))
    path.write_text(to_ldif(entries), encoding="utf-8")
    return len(entries)


def timed(command: list[str], cwd: Path, env: dict | None = None) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(command[:2])} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return elapsed


def fresh(tmp: Path, name: str, org, nosync: bool) -> LocalDirectory:
    server = LocalDirectory.start(tmp / name, [org], fresh=True)
    server.set_nosync(nosync)
    return server


def plan_one_against(tmp: Path, org, size: int) -> tuple[float, float]:
    """(wall time of `hopthu plan` as a command, in-process plan time) for a 1-account request."""
    server = LocalDirectory.start(tmp / "slapd-big", [org], fresh=True)
    try:
        ldif = tmp / "big.ldif"
        with ldif.open("w", encoding="utf-8") as out:
            for i in range(size):
                uid = f"cb{i:06d}"
                out.write(
                    f"dn: {entry_dn(org, EntryKind.PERSON, uid)}\n"
                    f"objectClass: inetOrgPerson\nobjectClass: hopthuAccount\nuid: {uid}\ncn: Can bo {i}\n"
                    f"sn: Can\ndepartmentNumber: {UNIT}\nemployeeNumber: CB-{i}\n"
                    f"mail: {uid}@{org.mail_domain}\n\n"
                )
        server.bulk_load(org, ldif)
        repo = tmp / "repo-one"
        (repo / "requests").mkdir(parents=True)
        shutil.copytree(ROOT / "inventory", repo / "inventory")
        write_create_request(repo, org, UNIT, 1, request_id="2026-11-21-mot-tai-khoan")
        directory = str(server.workdir / "directory.json")
        command = [HOPTHU, "plan", "--directory", directory, "--audit-log", str(tmp / "none.jsonl")]
        wall = min(timed(command, repo) for _ in range(3))
        loaded = pipeline.load(repo / "inventory", [repo / "requests"])
        session = pipeline.Session(load_endpoints(Path(directory)))
        start = time.perf_counter()
        pipeline.plan(loaded, session, tmp / "none.jsonl")
        in_process = time.perf_counter() - start
        session.close()
        return wall, in_process
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--directory-size", type=int, default=100_000)
    parser.add_argument("--no-ansible", action="store_true")
    args = parser.parse_args()

    inventory = load_inventory(ROOT / "inventory")
    org = inventory.organisations[ORG]
    rows = []
    with tempfile.TemporaryDirectory(prefix="hopthu-bench-") as tmp_name:
        tmp = Path(tmp_name)
        repo = tmp / "repo"
        (repo / "requests").mkdir(parents=True)
        shutil.copytree(ROOT / "inventory", repo / "inventory")
        write_create_request(repo, org, UNIT, args.accounts)
        count = baseline_ldif(repo, tmp / "baseline.ldif")
        print(f"{count} accounts in one create request; org {ORG}, ppolicy hashing every password\n")

        for mode, nosync in (("fsync (default)", False), ("olcDbNoSync", True)):
            server = fresh(tmp, f"base-{nosync}", org, nosync)
            baseline, _ = run_ldapadd(server, tmp / "baseline.ldif", tmp, org)
            server.stop()

            work = tmp / f"apply-{nosync}"
            work.mkdir()
            server = fresh(tmp, f"apply-{nosync}", org, nosync)
            first = timed(apply_command(server, work), repo)
            noop = timed(apply_command(server, work), repo)
            server.stop()

            ansible = None
            if not args.no_ansible:
                work = tmp / f"ansible-{nosync}"
                work.mkdir()
                server = fresh(tmp, f"ansible-{nosync}", org, nosync)
                ansible = ansible_apply(repo, server, work)
                server.stop()
            rows.append((mode, baseline, first, noop, ansible))

        header = f"{'server writes':<16} {'ldapadd':>14} {'hopthu apply':>14} {'ratio':>6}"
        print(f"{header} {'no-op re-apply':>20} {'Ansible path':>22}")
        for mode, baseline, first, noop, ansible in rows:
            line = (
                f"{mode:<16} {count / baseline:>9,.0f} e/s {count / first:>9,.0f} e/s"
                f" {baseline / first:>6.2f}"
                f" {noop:>7.2f} s ({noop / first:>5.1%})"
            )
            if ansible is not None:
                line += f" {ansible:>7.1f} s ({ansible / first:.2f}× direct {first:.1f} s)"
            print(line)
        print("targets: ratio ≥ 0.50; no-op < 10 %; Ansible ≤ 1.3 × direct + a few seconds\n")

        wall, in_process = plan_one_against(tmp, org, args.directory_size)
        print(
            f"plan of 1 account against {args.directory_size:,} accounts: {wall:.2f} s as a command "
            f"(Python start-up included), {in_process * 1000:.0f} ms in process (target < 1 s)"
        )


if __name__ == "__main__":
    main()
