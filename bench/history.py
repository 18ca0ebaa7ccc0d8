"""Ten years of merged requests, and what a merge request's validation costs on top of them.

Writes a git repository with the example inventory and N merged request files (default 20,000: 40,000
accounts of one province, 2016-2025, as units send them: mostly ``create`` of a few people, some
``lock``, ``reset-password`` and ``update``), then a merge request that adds one file, and prints:

    files, the seconds of a full ``hopthu validate`` (every file checked in full), and the seconds of the
    merge request's ``hopthu validate --base main`` (the added file in full, the others only for their ids
    and usernames), measured in the same run, and whether both report the same findings.

Run from anywhere: ``.venv/bin/python bench/history.py [--files N] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hopthu.inventory import load_inventory
from hopthu.model import Organisation
from hopthu.naming import generate_batch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workload import HOPTHU, full_names

ROOT = Path(__file__).resolve().parent.parent
ORG = "binhthuan"
FIRST_YEAR, YEARS = 2016, 10
KINDS = ["create"] * 8 + ["lock", "reset-password"]  # a create names 2-3 people: 40,000 of 20,000 files
POSITIONS = ["Chuyên viên", "Phó Trưởng phòng", "Trưởng phòng", "Kế toán viên", "Văn thư"]
DEPARTMENTS = ["Văn phòng", "Phòng Tổ chức - Hành chính", "Phòng Kế hoạch - Tài chính", "Thanh tra"]


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, timeout=600
    )
    return result.stdout


def _header(
    request_id: str, org: Organisation, unit: str, kind: str, date: dt.date, number: int
) -> list[str]:
    requester = org.units[unit].requesters[0]
    return [
        "# yaml-language-server: $schema=../../../../schemas/request.schema.json",
        f"id: {request_id}",
        f"org: {org.code}",
        f"unit: {unit}",
        f"kind: {kind}",
        "document:",
        f"  number: {number}/{unit.upper()}-VP",
        f"  date: {date.isoformat()}",
        "  signer: Nguyễn Hữu Phước",
        "requester:",
        f"  name: {requester.name}",
        f"  position: {requester.position}",
        f'  phone: "{requester.phone}"',
        f"  email: {requester.email}",
        "reason: Theo đề nghị của đơn vị.",
        "accounts:",
    ]


def request_path(repo: Path, org: str, unit: str, date: dt.date, request_id: str) -> Path:
    return repo / "requests" / org / unit / str(date.year) / f"{request_id}.yaml"


def write_history(repo: Path, files: int, *, seed: int = 11) -> dict[str, str]:
    """``files`` merged request files of the example province in ``repo`` (which has the inventory).

    Returns the usernames given, each with the full name it was given for.
    """
    rng = random.Random(seed)
    org = load_inventory(repo / "inventory").organisations[ORG]
    units = sorted(org.units)
    kinds = [rng.choice(KINDS) for _ in range(files)]
    sizes = [rng.choice((2, 3)) if kind == "create" else 1 for kind in kinds]
    names = full_names(sum(size for kind, size in zip(kinds, sizes, strict=True) if kind == "create"), seed)
    usernames = generate_batch(names, org.naming_rule, set(org.reserved))
    given: list[tuple[str, str]] = []  # (username, full name) in the order they were given
    start = dt.date(FIRST_YEAR, 1, 1)
    days = (dt.date(FIRST_YEAR + YEARS, 1, 1) - start).days
    for number, (kind, size) in enumerate(zip(kinds, sizes, strict=True), 1):
        date = start + dt.timedelta(days=number * days // (files + 1))
        unit = units[number % len(units)]
        request_id = f"{date.isoformat()}-{unit}-{kind}-{number}"
        lines = _header(request_id, org, unit, kind, date, number)
        if kind == "create":
            for _ in range(size):
                index = len(given)
                given.append((usernames[index], names[index]))
                lines += [
                    f"  - full_name: {names[index]}",
                    f"    username: {usernames[index]}",
                    f"    staff_code: NV-{index + 1:06d}",
                    f"    position: {rng.choice(POSITIONS)}",
                    f"    department: {rng.choice(DEPARTMENTS)}",
                    f'    phone: "09{index + 1:08d}"',
                    "    services: [email, qlvb]",
                ]
        else:
            username, name = given[rng.randrange(len(given))] if given else ("khongco", "Nguyễn Văn An")
            lines += [f"  - username: {username}", f"    full_name: {name}"]
        path = request_path(repo, org.code, unit, date, request_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dict(given)


def write_new_request(
    repo: Path,
    request_id: str,
    people: list[tuple[str, str]],
    *,
    unit: str = "bdt",
    date: dt.date = dt.date(FIRST_YEAR + YEARS - 1, 12, 31),
) -> Path:
    """A merge request's file: a ``create`` of ``people`` ((full name, username)) for ``unit``."""
    org = load_inventory(repo / "inventory").organisations[ORG]
    lines = _header(request_id, org, unit, "create", date, 9999)
    for number, (name, username) in enumerate(people, 1):
        lines += [
            f"  - full_name: {name}",
            f"    username: {username}",
            f"    staff_code: MR-{number:04d}",
            "    position: Chuyên viên",
            "    department: Văn phòng",
            f'    phone: "0912 000 {number:03d}"',
            "    services: [email]",
        ]
    path = request_path(repo, org.code, unit, date, request_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_repository(target: Path, files: int) -> dict[str, str]:
    """A git repository at ``target``: the inventory and ``files`` merged requests on branch main."""
    shutil.copytree(ROOT / "inventory", target / "inventory")
    given = write_history(target, files)
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-qm", "history")
    return given


def validate(repo: Path, *args: str) -> tuple[float, list[dict], str]:
    """Seconds of ``hopthu validate ARGS`` as a command, its findings, and its summary line."""
    started = time.perf_counter()
    result = subprocess.run(
        [HOPTHU, "validate", "--format", "json", *args], cwd=repo, capture_output=True, text=True, timeout=900
    )
    seconds = time.perf_counter() - started
    if result.returncode not in (0, 1):
        raise SystemExit(f"hopthu validate failed:\n{result.stderr}")
    return seconds, json.loads(result.stdout), result.stderr.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20_000, help="merged request files (default 20,000)")
    parser.add_argument("--keep", type=Path, help="build the repository here and keep it")
    options = parser.parse_args()
    work = options.keep or Path(tempfile.mkdtemp(prefix="hopthu-history-"))
    try:
        started = time.perf_counter()
        make_repository(work, options.files)
        print(
            f"history: {options.files:,} files written and committed in {time.perf_counter() - started:.1f} s"
        )
        git(work, "checkout", "-qb", "merge-request")
        new = write_new_request(work, "2025-12-31-bdt-cap-moi-mr", [("Phạm Thị Ngọc Diệp", "diepptn")])
        git(work, "add", "-A")
        git(work, "-c", "user.name=u", "-c", "user.email=u@example.invalid", "commit", "-qm", "new request")
        shown = str(new.relative_to(work))
        full_seconds, full_findings, full_summary = validate(work)
        mr_seconds, mr_findings, mr_summary = validate(work, "--base", "main")
        same = [f for f in full_findings if f["path"] == shown] == mr_findings
        print(f"files: {options.files + 1:,}")
        print(f"full run (every file in full): {full_seconds:.2f} s — {full_summary}")
        print(f"one-file merge request (--base main): {mr_seconds:.2f} s — {mr_summary}")
        print(f"same findings for the merge request's file: {'yes' if same else 'NO'}")
        if not same:
            raise SystemExit(1)
    finally:
        if options.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
