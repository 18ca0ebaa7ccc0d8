"""The Ansible path (playbooks/apply.yml) against the direct `hopthu apply`, on one large create request.

Each run starts a fresh local slapd (default durable writes, or ``--nosync``), then times the whole command:
``hopthu apply`` and ``ansible-playbook -i inventory/dev.yml playbooks/apply.yml`` (one module call that
validates, reads the directory, plans, writes and audits, then the audit verification and head). Both work
on a copy of the repository with the same request and their own audit log and outbox.

    .venv/bin/python bench/apply_ansible.py [--accounts 10000] [--nosync] [--repeat 1]

``ansible_apply(repo, server, work)`` is what bench/apply.py calls for its Ansible column.
Target (issue 4): Ansible ≤ 1.3 × direct + a few seconds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workload import write_create_request

from hopthu.directory.server import LocalDirectory
from hopthu.inventory import load_inventory
from hopthu.passwords import KEY_ENV

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ORG, UNIT = "binhthuan", "bdt"
TOOL_PARTS = ("playbooks", "roles", "ansible.cfg")


def _timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:3])} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


def _env(server: LocalDirectory, work: Path, repo: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOPTHU_", "ANSIBLE_"))}
    return env | {
        "HOPTHU_DIRECTORY": str(server.workdir / "directory.json"),
        "HOPTHU_AUDIT_LOG": str(work / "audit.jsonl"),
        "HOPTHU_OUTBOX": str(work / "outbox"),
        KEY_ENV: os.environ[KEY_ENV],  # the bench run's outbox key (workload.py)
        "ANSIBLE_CONFIG": str(repo / "ansible.cfg"),
        "PATH": f"{BIN}:{env.get('PATH', '')}",
    }


def direct_apply(repo: Path, server: LocalDirectory, work: Path) -> float:
    """Seconds of `hopthu apply --quiet` over the requests of ``repo``."""
    return _timed([str(BIN / "hopthu"), "apply", "--quiet"], repo, _env(server, work, repo))


def ansible_apply(repo: Path, server: LocalDirectory, work: Path) -> float:
    """Seconds of `ansible-playbook -i inventory/dev.yml playbooks/apply.yml` over the requests of ``repo``
    (a copy with inventory/ and requests/; the playbooks, roles and ansible.cfg are copied in)."""
    for part in TOOL_PARTS:
        source, target = ROOT / part, repo / part
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy(source, target)
    command = [str(BIN / "ansible-playbook"), "-i", "inventory/dev.yml", "playbooks/apply.yml"]
    return _timed(command, repo, _env(server, work, repo))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--nosync", action="store_true", help="olcDbNoSync: TRUE (no fsync per write)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    org = load_inventory(ROOT / "inventory").organisations[ORG]
    with tempfile.TemporaryDirectory(prefix="hopthu-bench-ansible-") as tmp_name:
        tmp = Path(tmp_name)
        repo = tmp / "repo"
        (repo / "requests").mkdir(parents=True)
        shutil.copytree(ROOT / "inventory", repo / "inventory")
        write_create_request(repo, org, UNIT, args.accounts, services=("email", "qlvb"))
        print(f"one create request of {args.accounts:,} accounts (email + one application group), org {ORG}")
        for run in range(args.repeat):
            times = {}
            for name, apply in (("direct", direct_apply), ("ansible", ansible_apply)):
                work = tmp / f"{name}-{run}"
                work.mkdir()
                server = LocalDirectory.start(tmp / f"slapd-{name}-{run}", [org], fresh=True)
                try:
                    server.set_nosync(args.nosync)
                    times[name] = apply(repo, server, work)
                finally:
                    server.stop()
            direct, ansible = times["direct"], times["ansible"]
            print(
                f"{'olcDbNoSync' if args.nosync else 'fsync (default)'}: hopthu apply {direct:.1f} s, "
                f"Ansible path {ansible:.1f} s = {ansible / direct:.2f} × direct "
                f"(+{ansible - direct:.1f} s); target ≤ 1.3 × + a few s = {1.3 * direct + 3:.1f} s"
            )


if __name__ == "__main__":
    main()
