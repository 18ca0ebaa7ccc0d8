"""What the least-privilege access rules cost: the same reads as the rootdn (no rule applies to it) and as
the service identities (every attribute of every entry goes through database.ldif.j2's olcAccess).

N accounts (10,000 by default) are loaded offline into a fresh local slapd; then, as each identity, the
best of ``--repeat`` runs of: the plan's read of every account (paged), its look-up of all N by username
(pipelined OR filters), and 2,000 of the mail servers' look-ups by address, one at a time.

    .venv/bin/python bench/read_identities.py [--entries 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from hopthu.directory import dn
from hopthu.directory.reader import DirectoryReader
from hopthu.directory.server import LocalDirectory
from hopthu.model import Organisation

ORG = Organisation(
    code="bench",
    name="Sở Thử nghiệm",
    parent="UBND tỉnh Thử nghiệm",
    mail_domain="bench.gov.vn",
    base_dn="dc=bench,dc=gov,dc=vn",
    naming_rule=("{given}{s}{m}",),
    reserved=frozenset(),
    retention_days=30,
    sla_working_days=3,
    units={},
    app_groups={},
)
MAIL_LOOKUPS = 2000


def accounts_ldif(count: int) -> str:
    return "".join(
        f"dn: {dn.person_dn(ORG, f'u{i:05d}')}\nobjectClass: inetOrgPerson\nobjectClass: hopthuAccount\n"
        f"uid: u{i:05d}\ncn: Nguyen Van {i}\nsn: Nguyen\ntitle: Chuyen vien\nemployeeNumber: CB-{i}\n"
        f"mail: u{i:05d}@bench.gov.vn\ntelephoneNumber: 0912{i:06d}\nhopthuMailQuota: 1073741824\n\n"
        for i in range(count)
    )


def best(repeat: int, work) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    uids = [f"u{i:05d}" for i in range(args.entries)]
    with tempfile.TemporaryDirectory(prefix="hopthu-bench-") as tmp:
        server = LocalDirectory.start(Path(tmp) / "slapd", [ORG])
        try:
            (Path(tmp) / "accounts.ldif").write_text(accounts_ldif(args.entries))
            server.bulk_load(ORG, Path(tmp) / "accounts.ldif")
            print(f"{args.entries} accounts; best of {args.repeat} runs")
            print(f"{'identity':<12} {'read all':>9} {'look up all':>12} {'mail look-up':>13}")
            for identity in (None, dn.PLAN_READER, dn.MAIL_LOOKUP):
                conn = server.connect(ORG, identity)
                reader = DirectoryReader(conn)
                assert len(reader.accounts(ORG)) == args.entries  # every identity finds every account

                def mail_lookups(conn=conn) -> None:
                    for i in range(MAIL_LOOKUPS):
                        address = f"u{i % args.entries:05d}@bench.gov.vn"
                        query = f"(&(objectClass=hopthuAccount)(mail={address}))"
                        conn.search(ORG.base_dn, query, attributes=["mail", "uid", "hopthuMailQuota"])

                read_all = best(args.repeat, lambda reader=reader: reader.accounts(ORG))
                look_up = best(args.repeat, lambda reader=reader: reader.accounts(ORG, uids))
                per_mail = best(args.repeat, mail_lookups) / MAIL_LOOKUPS
                name = identity or "rootdn"
                print(f"{name:<12} {read_all:>8.2f}s {look_up:>11.2f}s {per_mail * 1000:>10.2f} ms")
                conn.unbind()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
