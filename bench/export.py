"""The danh bạ of a large organisation: ``hopthu directory export`` of 100,000 accounts in each format.

Loads N accounts (default 100,000: people with Vietnamese names across the example province's units, 5 %
locked, a third with a backup address, and some unit mailboxes with their managers) into a local slapd
with ``LocalDirectory.bulk_load`` (slapadd), then runs the whole command for each format as a person
does — bound as the read-only plan-reader — and prints, side by side, the seconds and the peak memory
(maximum resident set size) of each run, and the size of what it wrote. Target: under 10 s and 500 MB each.

Run from anywhere: ``.venv/bin/python bench/export.py [--accounts N]``.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hopthu.directory import dn
from hopthu.directory.server import LocalDirectory
from hopthu.inventory import load_inventory
from hopthu.reports.directory_list import ldif_line

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workload import HOPTHU, full_names

ROOT = Path(__file__).resolve().parent.parent
ORG = "binhthuan"
FORMATS = ("csv", "xlsx", "html", "vcf", "ldif")
POSITIONS = ["Chuyên viên", "Phó Trưởng phòng", "Trưởng phòng", "Kế toán viên", "Văn thư"]
DEPARTMENTS = ["Văn phòng", "Phòng Tổ chức - Hành chính", "Phòng Kế hoạch - Tài chính", "Thanh tra"]


def accounts_ldif(org, count: int, seed: int = 3) -> str:
    rng = random.Random(seed)
    units = sorted(org.units)
    parts = []
    for i, name in enumerate(full_names(count, seed)):
        words = name.split()
        uid = f"u{i:06d}"
        unit = units[i % len(units)]
        values = [
            ("objectClass", "inetOrgPerson"),
            ("objectClass", "hopthuAccount"),
            ("uid", uid),
            ("cn", name),
            ("sn", words[0]),
            ("givenName", words[-1]),
            ("title", rng.choice(POSITIONS)),
            ("ou", rng.choice(DEPARTMENTS)),
            ("departmentNumber", unit),
            ("employeeNumber", f"NV-{i:06d}"),
            ("telephoneNumber", f"09{i:08d}"),
            ("mail", f"{uid}@{org.domain_of(unit)}"),
        ]
        if rng.random() < 0.33:
            values.append(("hopthuBackupMail", f"{uid}.canhan@gmail.com"))
        if rng.random() < 0.05:
            values.append(("pwdAccountLockedTime", "000001010000Z"))
        parts.append(ldif_line("dn", dn.person_dn(org, uid)) + "".join(ldif_line(a, v) for a, v in values))
    for i in range(min(count // 1000, 200)):
        uid, unit = f"hopthu{i:03d}", units[i % len(units)]
        values = [
            ("objectClass", "inetOrgPerson"),
            ("objectClass", "hopthuAccount"),
            ("objectClass", "hopthuUnitMailbox"),
            ("uid", uid),
            ("cn", f"Phòng {i} của {org.units[unit].name}"),
            ("sn", f"Phòng {i}"),
            ("departmentNumber", unit),
            ("telephoneNumber", f"0252 38{i:05d}"),
            ("mail", f"{uid}@{org.mail_domain}"),
            ("hopthuManagerName", "Trần Thị Mỹ Lệ"),
            ("hopthuManagerPhone", "0252 3821 104"),
        ]
        parts.append(ldif_line("dn", dn.mailbox_dn(org, uid)) + "".join(ldif_line(a, v) for a, v in values))
    return "\n".join(parts)


def run(server: LocalDirectory, fmt: str, output: Path) -> tuple[float, float]:
    """Seconds and peak resident memory (MB) of one whole `hopthu directory export` run."""
    command = [HOPTHU, "directory", "export", "--org", ORG, "--format", fmt, "-o", str(output)]
    command += ["--directory", str(server.workdir / "plan-directory.json")]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = process.stderr.read().decode() if process.stderr else ""
    if process.returncode != 0:
        raise SystemExit(f"export as {fmt} failed:\n{errors}")
    return seconds, usage.ru_maxrss / 1024  # kilobytes on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    options = parser.parse_args()
    org = load_inventory(ROOT / "inventory").organisations[ORG]
    with tempfile.TemporaryDirectory(prefix="hopthu-export-") as tmp:
        work = Path(tmp)
        server = LocalDirectory.start(work / "slapd", [org])
        try:
            started = time.perf_counter()
            (work / "accounts.ldif").write_text(accounts_ldif(org, options.accounts), encoding="utf-8")
            server.bulk_load(org, work / "accounts.ldif")
            print(f"{options.accounts:,} accounts loaded in {time.perf_counter() - started:.1f} s")
            print(f"{'format':<7} {'seconds':>8} {'peak memory':>12} {'file':>10}")
            for fmt in FORMATS:
                output = work / f"danh-ba.{fmt}"
                seconds, megabytes = run(server, fmt, output)
                size = output.stat().st_size / 1e6
                print(f"{fmt:<7} {seconds:>7.2f}s {megabytes:>9.0f} MB {size:>7.1f} MB")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
