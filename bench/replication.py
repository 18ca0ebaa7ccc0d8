"""`hopthu apply` of one request of 10,000 creates against a pair of providers replicating each other
(multi-provider syncrepl), next to a single provider, in the same run.

For each setting, on fresh local slapds (``olcDbNoSync`` as the tests use unless --durable):

- entries/s of the whole `hopthu apply` command (it writes to the first provider listed);
- with the pair: the replication lag, the seconds from the end of the apply until the second provider
  holds every account, and until both providers' contextCSNs are equal.

    .venv/bin/python bench/replication.py [--accounts 10000] [--durable]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ldap3
from workload import apply_command, write_create_request

from hopthu.directory.reader import paged_search
from hopthu.directory.replicas import LocalProviders
from hopthu.directory.server import LocalDirectory
from hopthu.inventory import load_inventory

ROOT = Path(__file__).resolve().parent.parent
ORG, UNIT = "binhthuan", "bdt"


def people(server: LocalDirectory, org) -> int:
    conn = server.connect(org)
    try:
        return sum(
            1 for _ in paged_search(conn, f"ou=people,{org.base_dn}", ldap3.LEVEL, "(uid=*)", ("1.1",))
        )
    finally:
        conn.unbind()


def apply(directory, work: Path, repo: Path) -> float:
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    done = subprocess.run(apply_command(directory, work), cwd=repo, capture_output=True, text=True)
    took = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"hopthu apply failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--durable", action="store_true", help="fsync at every commit (no olcDbNoSync)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hopthu-bench-repl-"))
    try:
        repo = tmp / "repo"
        (repo / "requests").mkdir(parents=True)
        shutil.copytree(ROOT / "inventory", repo / "inventory")
        org = load_inventory(repo / "inventory").organisations[ORG]
        write_create_request(repo, org, UNIT, args.accounts)
        mode = "durable" if args.durable else "nosync"
        print(f"{args.accounts} creates in one request, slapd {mode}")

        single = LocalDirectory.start(tmp / "single", [org], fresh=True)
        try:
            single.set_nosync(not args.durable)
            took = apply(single, tmp / "work-single", repo)
        finally:
            single.stop()
        print(f"single provider: apply {took:.1f} s, {args.accounts / took:.0f} entries/s")

        pair = LocalProviders.start(tmp / "pair", [org], 2)
        try:
            pair.set_nosync(not args.durable)
            took = apply(pair, tmp / "work-pair", repo)
            ended = time.perf_counter()
            second = pair.providers[1]
            while people(second, org) < args.accounts:
                time.sleep(0.05)
            held = time.perf_counter() - ended
            pair.wait_converged(timeout=600)
            converged = time.perf_counter() - ended
        finally:
            pair.stop()
        print(f"two providers:   apply {took:.1f} s, {args.accounts / took:.0f} entries/s")
        print(
            f"replication lag: the second provider held all {args.accounts} accounts {held:.2f} s after the "
            f"apply ended; equal contextCSNs after {converged:.2f} s"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
