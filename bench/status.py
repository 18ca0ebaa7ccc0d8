"""The register of requests (``hopthu status``) on ten years of history.

Writes the example inventory and N merged request files (``bench/history.py``: 2016-2025, mostly
``create`` of 2-3 people) and an audit log in which 95 % of them were applied a few days after their
document (each account's changes recorded as an apply records them: an intent and a completion per
change), then times the whole command as a person runs it — ``hopthu status`` (both views, text), ``--json``
and ``--format xlsx`` — for each N, and prints the seconds side by side. Target: under 5 s for 20,000.

Run from anywhere: ``.venv/bin/python bench/status.py [--files 2000 20000]``.
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

from hopthu.audit import AuditLog
from hopthu.given import scan_header

sys.path.insert(0, str(Path(__file__).resolve().parent))
from history import ROOT, write_history
from workload import HOPTHU

OPS = ("create", "add-member", "set-password")  # a create's changes per account


def write_audit_log(repo: Path, log: Path, seed: int = 5) -> int:
    """An audit log of the history: most requests applied (a few refused), some still pending."""
    rng = random.Random(seed)
    batches: list[tuple[dt.datetime, list[dict]]] = []
    for path in sorted((repo / "requests").rglob("*.yaml")):
        header = scan_header(path.read_text(encoding="utf-8"))
        assert header is not None
        if rng.random() < 0.05:
            continue  # still pending
        day = dt.date.fromisoformat(header.document_date) + dt.timedelta(days=rng.choice((1, 2, 3, 6)))
        when = dt.datetime.combine(day, dt.time(3, rng.randrange(60)), tzinfo=dt.UTC)
        base = {"request": header.id, "org": header.org, "document": header.document_number}
        records = []
        for uid in header.usernames:
            for op in OPS if header.kind == "create" else (header.kind,):
                change = {**base, "op": op, "uid": uid, "group": "qlvb" if op == "add-member" else None}
                records += [{**change, "event": "intent"}, {**change, "event": "change", "result": "ok"}]
        refused = rng.random() < 0.02
        result = {"event": "request", "result": "refused" if refused else "applied"}
        records.append({**base, **result, "reason": "unknown account" if refused else None})
        batches.append((when, records))
    batches.sort(key=lambda batch: batch[0])
    count = 0
    for when, records in batches:
        AuditLog(log, commit="0" * 40, ci=None, clock=lambda when=when: when).append(records)
        count += len(records)
    return count


def timed(repo: Path, log: Path, *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [HOPTHU, "status", "--audit-log", str(log), "--today", "2026-01-15", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=900,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"hopthu status {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, nargs="+", default=[2_000, 20_000])
    options = parser.parse_args()
    print(f"{'files':>7} {'audit records':>14} {'text':>8} {'--json':>8} {'xlsx':>8}  pending / late")
    for files in options.files:
        work = Path(tempfile.mkdtemp(prefix="hopthu-status-"))
        try:
            shutil.copytree(ROOT / "inventory", work / "inventory")
            write_history(work, files)
            log = work / "audit.jsonl"
            records = write_audit_log(work, log)
            text_seconds, _ = timed(work, log)
            json_seconds, out = timed(work, log, "--json")
            xlsx_seconds, _ = timed(work, log, "--org", "binhthuan", "--format", "xlsx", "-o", "so.xlsx")
            rows = json.loads(out)
            pending = sum(row["state"] == "pending" for row in rows)
            late = sum(bool(row["overdue"] or row["on_time"] is False) for row in rows)
            print(
                f"{files:>7,} {records:>14,} {text_seconds:>7.2f}s {json_seconds:>7.2f}s "
                f"{xlsx_seconds:>7.2f}s  {pending:,} / {late:,}"
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
