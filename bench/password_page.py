"""The password page under load: N concurrent clients (50 by default), each changing the one-time
password of its own new account, against the real slapd (fsync on, as in production) and the real
`hopthu password-page` (Waitress, its own process).

Each client is one browser: GET the form (cookie, CSRF token), POST the four fields; its latency is the
whole change, both requests. Prints changes/s and p50/p95/max latency, and beside them, in the same run
against the same slapd, the raw baseline: as many clients doing the directory's part alone with ldap3
(bind as the person, then the password-modify with the old password) on accounts of their own.

    .venv/bin/python bench/password_page.py [--clients 50] [--rounds 1] [--threads 16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ldap3

from hopthu.directory import dn
from hopthu.directory.server import LocalDirectory, free_port
from hopthu.inventory import load_inventory
from hopthu.web.client import PageClient

HOPTHU = str(Path(sys.executable).with_name("hopthu"))
INVENTORY = """\
hopthu_organisations:
  - code: bench
    name: Sở Thử nghiệm
    parent: UBND TỈNH THỬ NGHIỆM
    mail_domain: bench.gov.vn
    base_dn: dc=bench,dc=gov,dc=vn
    password_page:
      url: http://127.0.0.1:{port}/
      per_address: {{attempts: 10000, minutes: 1}}   # every client shares 127.0.0.1
    units:
      - code: snv
        name: Sở Nội vụ
        mailbox: snv@bench.gov.vn
        requesters: [{{name: Nguyễn Văn A, position: Chánh Văn phòng}}]
"""
ONE_TIME = "Mot-lan-Qx7#kP2m"


def wait_for_page(url: str, process: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the page stopped: {process.stderr.read() if process.stderr else ''}")
        try:
            if PageClient(url, timeout=2).get("").status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the page did not answer on {url}")


def burst(clients: int, rounds: int, change: Callable[[int, int], bool]) -> tuple[float, list[float], int]:
    """``clients`` threads released at once, each making ``rounds`` changes: seconds, latencies, failures."""
    start_line = threading.Barrier(clients)
    latencies: list[float] = []
    failures = 0

    def client(number: int) -> None:
        nonlocal failures
        start_line.wait()
        for r in range(rounds):
            began = time.perf_counter()
            done = change(number, r)
            latencies.append(time.perf_counter() - began)
            failures += not done

    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return time.perf_counter() - began, latencies, failures


def figures(count: int, elapsed: float, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return (
        f"{count / elapsed:.1f} changes/s; latency p50 {statistics.median(ordered) * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument(
        "--rounds", type=int, default=1, help="accounts per client, changed one after the other"
    )
    parser.add_argument("--threads", type=int, default=16, help="the page's Waitress threads")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hopthu-bench-page-") as tmp:
        work = Path(tmp)
        port = free_port()
        (work / "inventory/group_vars/all").mkdir(parents=True)
        (work / "inventory/group_vars/all/hopthu.yml").write_text(
            INVENTORY.format(port=port), encoding="utf-8"
        )
        org = load_inventory(work / "inventory").organisations["bench"]
        directory = LocalDirectory.start(work / "slapd", [org])  # fsync on: the production setting
        page = None
        try:
            admin = directory.connect(org)
            count = args.clients * args.rounds
            for uid in [f"{prefix}{i:04d}" for prefix in "ur" for i in range(count)]:
                values = {"uid": uid, "cn": "Trần Thị Bích", "sn": "Trần", "givenName": "Bích"}
                values |= {"userPassword": ONE_TIME, "pwdReset": "TRUE"}
                assert admin.add(dn.person_dn(org, uid), ["inetOrgPerson", "hopthuAccount"], values)
            admin.unbind()
            command = [
                HOPTHU,
                "-i",
                str(work / "inventory"),
                "password-page",
                "--listen",
                f"127.0.0.1:{port}",
            ]
            command += [
                "--directory",
                str(directory.workdir / "page-directory.json"),
                "--log",
                str(work / "p.jsonl"),
            ]
            command += ["--threads", str(args.threads)]
            page = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
            )
            url = f"http://127.0.0.1:{port}/"
            wait_for_page(url, page)

            def through_the_page(number: int, r: int) -> bool:
                uid = f"u{number * args.rounds + r:04d}"
                answer = PageClient(url).change_password(
                    f"{uid}@bench.gov.vn", ONE_TIME, f"Rieng-Tu-{number}-{r}-8642#"
                )
                return "Đã đổi mật khẩu" in answer.body

            def raw(number: int, r: int) -> bool:
                person = dn.person_dn(org, f"r{number * args.rounds + r:04d}")
                server = ldap3.Server(directory.uri, get_info=ldap3.NONE)
                connection = ldap3.Connection(server, person, ONE_TIME)
                try:
                    if not connection.bind():
                        return False
                    return bool(
                        connection.extend.standard.modify_password(
                            person, ONE_TIME, f"Rieng-Tu-{number}-{r}-8642#"
                        )
                    )
                finally:
                    connection.unbind()

            page_run = burst(args.clients, args.rounds, through_the_page)
            raw_run = burst(args.clients, args.rounds, raw)
        finally:
            if page is not None:
                page.terminate()
                page.wait(timeout=10)
            directory.stop()
    (page_seconds, page_latencies, page_failures), (raw_seconds, raw_latencies, raw_failures) = (
        page_run,
        raw_run,
    )
    if page_failures or raw_failures:
        raise SystemExit(f"changes failed: {page_failures} through the page, {raw_failures} raw")
    print(
        f"{count} password changes by {args.clients} concurrent clients, slapd with fsync:\n"
        f"  the page ({args.threads} Waitress threads, GET + POST): "
        f"{figures(count, page_seconds, page_latencies)}\n"
        f"  raw ldap3 (bind + password modify):       {figures(count, raw_seconds, raw_latencies)}\n"
        f"  page / raw throughput: {raw_seconds / page_seconds:.2f}"
    )


if __name__ == "__main__":
    main()
