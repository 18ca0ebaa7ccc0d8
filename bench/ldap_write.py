"""LdapWriter against the raw baseline: `ldapadd` loading the same entries from one LDIF.

Every run loads N inetOrgPerson entries (10,000 by default) into a fresh local slapd
(``hopthu.directory.server``: mdb, memberof, ppolicy hashing cleartext passwords), with the server's
default durable writes (fsync at every commit) and with ``olcDbNoSync: TRUE``. Both clients bind as the
organisation's root DN and send the same attributes; ppolicy hashes every password, which costs both the
same. Timings include connecting and binding (``ldapadd`` is a whole process).

    .venv/bin/python bench/ldap_write.py [--entries 10000] [--repeat 1] [--window 64] [--profile]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import cProfile
import pstats
import resource
import statistics
import subprocess
import tempfile
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hopthu.directory.server import LocalDirectory
from hopthu.directory.writer import Add, LdapWriter
from hopthu.model import Organisation

ORG = Organisation(
    code="bench",
    name="Sở Thử nghiệm",
    parent="UBND tỉnh Thử nghiệm",
    mail_domain="bench.gov.vn",
    base_dn="dc=bench,dc=gov,dc=vn",
    naming_rule=("{given}{initials}",),
    reserved=frozenset(),
    retention_days=30,
    sla_working_days=3,
    units={},
    app_groups={},
)
SUFFIX = ORG.base_dn

SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ"]
MIDDLE = ["Văn", "Thị", "Minh", "Ngọc", "Quốc", "Thanh", "Hữu", "Đức"]
GIVEN = ["An", "Bình", "Cường", "Dũng", "Hà", "Hải", "Hạnh", "Hương", "Khánh", "Lan", "Linh", "Nam", "Phúc"]
TITLES = ["Chuyên viên", "Phó Trưởng phòng", "Trưởng phòng", "Văn thư", "Kế toán viên"]
DEPARTMENTS = ["Phòng Tổ chức – Hành chính", "Phòng Kế hoạch – Tài chính", "Văn phòng", "Thanh tra"]
UNITS = ["SNV", "STC", "SYT", "SGDDT", "STNMT"]


def entries(count: int) -> list[tuple[str, dict[str, list[str]]]]:
    """Realistic person entries (Vietnamese names in NFC), the same for both clients."""
    result = []
    for i in range(count):
        surname, middle = SURNAMES[i % len(SURNAMES)], MIDDLE[i // 7 % len(MIDDLE)]
        given = GIVEN[i // 3 % len(GIVEN)]
        uid = f"u{i:05d}"
        attributes = {
            "objectClass": ["inetOrgPerson"],
            "uid": [uid],
            "cn": [unicodedata.normalize("NFC", f"{surname} {middle} {given}")],
            "sn": [surname],
            "givenName": [given],
            "mail": [f"{uid}@bench.gov.vn"],
            "employeeNumber": [f"CB{i:06d}"],
            "title": [TITLES[i % len(TITLES)]],
            "ou": [DEPARTMENTS[i % len(DEPARTMENTS)]],
            "departmentNumber": [UNITS[i % len(UNITS)]],
            "telephoneNumber": [f"09{i:08d}"],
            "userPassword": [f"Pw-{i:05d}-x7#Kq"],
        }
        result.append((f"uid={uid},ou=people,{SUFFIX}", attributes))
    return result


def to_ldif(data: list[tuple[str, dict[str, list[str]]]]) -> str:
    lines = []
    for dn, attributes in data:
        lines.append(f"dn: {dn}")
        for name, values in attributes.items():
            for value in values:
                if value.isascii():
                    lines.append(f"{name}: {value}")
                else:  # LDIF's safe strings are ASCII: base64 for the rest
                    lines.append(f"{name}:: {base64.b64encode(value.encode()).decode()}")
        lines.append("")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def fresh_server(nosync: bool) -> Iterator[LocalDirectory]:
    with tempfile.TemporaryDirectory(prefix="hopthu-bench-slapd-") as workdir:
        server = LocalDirectory.start(Path(workdir), [ORG], fresh=True)
        try:
            server.set_nosync(nosync)
            yield server
        finally:
            server.stop()


def count_people(server: LocalDirectory) -> int:
    conn = server.connect(ORG)
    entries = conn.extend.standard.paged_search(
        f"ou=people,{SUFFIX}", "(objectClass=inetOrgPerson)", attributes=["1.1"], paged_size=1000
    )
    count = sum(1 for _ in entries)
    conn.unbind()
    return count


def run_ldapadd(
    server: LocalDirectory, ldif: Path, tmp: Path, org: Organisation = ORG
) -> tuple[float, float]:
    """(wall-clock seconds, client CPU seconds) of one ldapadd run."""
    password_file = tmp / "password"
    password_file.touch(mode=0o600)
    password_file.write_text(server.bind_password(org))  # ldapadd -y reads the whole file: no newline
    try:
        cpu = _children_cpu()
        start = time.perf_counter()
        subprocess.run(
            [
                "ldapadd",
                "-x",
                "-H",
                server.uri,
                "-D",
                server.bind_dn(org),
                "-y",
                str(password_file),
                "-f",
                str(ldif),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - start, _children_cpu() - cpu
    finally:
        password_file.unlink()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_writer(
    server: LocalDirectory, data: list[tuple[str, dict[str, list[str]]]], window: int, profile: bool
) -> tuple[float, float]:
    """(wall-clock seconds, client CPU seconds) of one LdapWriter run."""

    def ops() -> Iterator[Add]:
        for dn, attributes in data:
            yield Add(dn, attributes)

    profiler = cProfile.Profile() if profile else None
    cpu = time.process_time()
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    conn = server.connect(ORG)
    failed = [r for r in LdapWriter(conn).write(ops(), window=window) if not r.ok]
    conn.unbind()
    if profiler:
        profiler.disable()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    if failed:
        raise SystemExit(f"LdapWriter: {len(failed)} adds failed, first: {failed[0]}")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
    return elapsed, cpu


@dataclass(frozen=True)
class Row:
    client: str
    mode: str  # "fsync" (the server's default) or "nosync" (olcDbNoSync: TRUE)
    seconds: float  # median wall-clock time of one load
    rate: float  # entries per second
    ratio: float  # rate / ldapadd's rate in the same mode
    cpu_us: float  # client CPU time per entry, microseconds


def compare(count: int, modes: list[str], repeat: int, window: int, profile: bool = False) -> list[Row]:
    """Load ``count`` entries with each client into a fresh server per run, ``repeat`` times per mode."""
    data = entries(count)
    rows = []
    with tempfile.TemporaryDirectory(prefix="hopthu-bench-") as tmp:
        ldif = Path(tmp) / "people.ldif"
        ldif.write_text(to_ldif(data))
        for mode in modes:
            runs: dict[str, list[tuple[float, float]]] = {"ldapadd": [], "LdapWriter": []}
            for _ in range(repeat):
                # Alternate the clients so that drift in the machine's load hits both alike.
                for client, measured in runs.items():
                    with fresh_server(nosync=mode == "nosync") as server:
                        if client == "ldapadd":
                            measured.append(run_ldapadd(server, ldif, Path(tmp)))
                        else:
                            measured.append(run_writer(server, data, window, profile))
                        loaded = count_people(server)
                    if loaded != count:
                        raise SystemExit(f"{client}: {loaded} entries loaded, expected {count}")
            baseline = statistics.median(seconds for seconds, _ in runs["ldapadd"])
            for client, measured in runs.items():
                seconds = statistics.median(seconds for seconds, _ in measured)
                cpu = statistics.median(cpu for _, cpu in measured)
                rows.append(
                    Row(client, mode, seconds, count / seconds, baseline / seconds, cpu / count * 1e6)
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per cell; the median is shown")
    parser.add_argument("--window", type=int, default=64, help="LdapWriter: requests in flight")
    parser.add_argument("--modes", default="fsync,nosync")
    parser.add_argument("--profile", action="store_true", help="cProfile the LdapWriter runs")
    args = parser.parse_args()

    rows = compare(args.entries, args.modes.split(","), args.repeat, args.window, args.profile)
    print(f"\n{args.entries} inetOrgPerson adds, window {args.window}, median of {args.repeat} run(s)")
    header = f"{'client':<11} {'sync mode':<9} {'seconds':>8} {'entries/s':>10} {'vs ldapadd':>10}"
    print(header + f" {'client CPU/entry':>16}")
    for row in rows:
        print(
            f"{row.client:<11} {row.mode:<9} {row.seconds:>8.2f} {row.rate:>10.0f} {row.ratio:>9.2f}x"
            f" {row.cpu_us:>13.0f} µs"
        )


if __name__ == "__main__":
    main()
