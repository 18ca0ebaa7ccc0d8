"""Realistic bulk requests for benchmarks and scale tests: N new staff with Vietnamese names.

Names are drawn deterministically (seeded) from common surnames, middle names and given names, so
collisions happen as they do in a real province and the naming rule's later candidates get used.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from hopthu.model import Organisation
from hopthu.naming import generate_batch
from hopthu.passwords import KEY_ENV, new_outbox_key

if TYPE_CHECKING:
    from hopthu.directory.server import LocalDirectory

HOPTHU = str(Path(sys.executable).with_name("hopthu"))  # the virtualenv's command
# The outbox is only ever written encrypted: a benchmark run gets a key of its own unless one is set.
os.environ.setdefault(KEY_ENV, new_outbox_key())

SURNAMES = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
    "Đàng",
    "Ksor",
]
MIDDLES = [
    "Văn",
    "Thị",
    "Hữu",
    "Đức",
    "Minh",
    "Ngọc",
    "Thanh",
    "Quang",
    "Xuân",
    "Thu",
    "Kim",
    "Hoài",
    "Bảo",
    "Gia",
    "Khánh",
    "Mỹ",
]
GIVENS = [
    "An",
    "Bình",
    "Chi",
    "Dũng",
    "Giang",
    "Hà",
    "Hải",
    "Hạnh",
    "Hiếu",
    "Hoa",
    "Hùng",
    "Hương",
    "Khánh",
    "Lan",
    "Linh",
    "Long",
    "Mai",
    "Minh",
    "Nam",
    "Nga",
    "Ngân",
    "Nhung",
    "Phong",
    "Phúc",
    "Quân",
    "Sơn",
    "Tâm",
    "Thảo",
    "Trang",
    "Tuấn",
    "Vân",
    "Vy",
    "Yến",
    "Thọ",
    "Đạt",
    "Lộc",
]


def apply_command(server: LocalDirectory, work: Path) -> list[str]:
    """``hopthu apply`` against ``server``, with its audit log and outbox in ``work``."""
    return [
        HOPTHU,
        "apply",
        "--quiet",
        "--directory",
        str(server.workdir / "directory.json"),
        "--audit-log",
        str(work / "audit.jsonl"),
        "--outbox",
        str(work / "outbox"),
    ]


def full_names(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    names = []
    for _ in range(count):
        middles = rng.sample(MIDDLES, rng.choice((1, 1, 1, 2)))
        names.append(" ".join([rng.choice(SURNAMES), *middles, rng.choice(GIVENS)]))
    return names


def write_create_request(
    repo: Path,
    org: Organisation,
    unit: str,
    count: int,
    *,
    request_id: str = "2026-11-20-bulk",
    taken: frozenset[str] = frozenset(),
    services: tuple[str, ...] = ("email",),
) -> Path:
    """Write a ``create`` request of ``count`` people with usernames already assigned by the org's rule."""
    names = full_names(count)
    usernames = generate_batch(names, org.naming_rule, set(taken) | set(org.reserved))
    date = dt.date(2026, 11, 20)
    requester = org.units[unit].requesters[0]
    lines = [
        f"id: {request_id}",
        f"org: {org.code}",
        f"unit: {unit}",
        "kind: create",
        "document:",
        "  number: 999/BENCH-VP",
        f"  date: {date.isoformat()}",
        "  signer: Nguyễn Văn Ký",
        "requester:",
        f"  name: {requester.name}",
        f"  position: {requester.position}",
        f'  phone: "{requester.phone}"',
        f"  email: {requester.email}",
        "reason: Cấp mới hộp thư hàng loạt (thử tải)",
        "accounts:",
    ]
    for number, (name, username) in enumerate(zip(names, usernames, strict=True), 1):
        lines += [
            f"  - full_name: {name}",
            f"    username: {username}",
            f"    staff_code: NV-{number:06d}",
            # two people may share a name; their birth dates tell them apart (validation checks this)
            f"    birth_date: {(dt.date(1970, 1, 1) + dt.timedelta(days=number)).isoformat()}",
            "    position: Chuyên viên",
            "    department: Văn phòng",
            f'    phone: "09{number:08d}"',
            f"    services: [{', '.join(services)}]",
        ]
    path = repo / "requests" / org.code / unit / str(date.year) / f"{request_id}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- one run with every kind of request: the workload of the kill tests ---------------------------

BASE_DATE = dt.date(2026, 5, 4)  # the starting directory's requests: long enough ago for a delete
RUN_DATE = dt.date(2026, 11, 2)


@dataclass(frozen=True)
class Cohort:
    """Accounts of the starting directory that one request of the run is about (staff codes PREFIX-n)."""

    prefix: str
    count: int
    services: tuple[str, ...] = ("email", "qlvb")


# The starting directory: people who will be transferred (T), change services (S), get a new password (R),
# be locked (L), unlocked (U) and deleted (X), and one unit mailbox that is handed over.
COHORTS = (
    Cohort("T", 100),
    Cohort("S", 100),
    Cohort("R", 100),
    Cohort("L", 100),
    Cohort("U", 50),
    Cohort("X", 50),
)
NEW_PEOPLE = 1000
HANDOVER_MAILBOX = "vpbdt"


@dataclass(frozen=True)
class EveryKind:
    """The request files of a run with every kind of request, and what the kill tests need to know."""

    base: tuple[Path, ...]  # applied first (at BASE_DATE) to make the starting directory
    base_lock: Path  # locks the U and X cohorts (applied at BASE_DATE too)
    run: tuple[
        Path, ...
    ]  # the run under test: create, update, reset-password, lock, unlock, delete, handover
    usernames: dict[str, list[str]]  # "new" and each cohort prefix → usernames, in request order


def _request(repo: Path, org: Organisation, unit: str, kind: str, request_id: str, date: dt.date, accounts):
    requester = org.units[unit].requesters[0]
    data = {
        "id": request_id,
        "org": org.code,
        "unit": unit,
        "kind": kind,
        "document": {
            "number": f"{request_id[-3:]}/BENCH-VP",
            "date": date.isoformat(),
            "signer": "Nguyễn Văn Ký",
        },
        "requester": {
            "name": requester.name,
            "position": requester.position,
            "phone": requester.phone,
            "email": requester.email,
        },
        "reason": "Thử tải: mọi loại yêu cầu trong một lần chạy",
        "accounts": accounts,
    }
    path = repo / "requests" / org.code / unit / str(date.year) / f"{request_id}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _people(names, usernames, prefix: str, services) -> list[dict]:
    return [
        {
            "full_name": name,
            "username": username,
            "staff_code": f"{prefix}-{number:05d}",
            "position": "Chuyên viên",
            "department": "Văn phòng",
            "phone": f"09{number:08d}",
            "services": list(services),
            "birth_date": (dt.date(1970, 1, 1) + dt.timedelta(days=number)).isoformat(),
        }
        for number, (name, username) in enumerate(zip(names, usernames, strict=True), 1)
    ]


def write_every_kind(repo: Path, org: Organisation, unit: str = "bdt", to_unit: str = "snv") -> EveryKind:
    """Request files for a starting directory and for one run with every kind of request and every phase
    of an apply: creates with application groups, memberships added and removed, transfers and changes,
    password resets, locks, unlocks, deletes and a unit-mailbox handover."""
    counts = [cohort.count for cohort in COHORTS]
    names = full_names(sum(counts) + NEW_PEOPLE, seed=11)
    people = [(name, dt.date(1970, 1, 1) + dt.timedelta(days=i)) for i, name in enumerate(names)]
    usernames = generate_batch(people, org.naming_rule, set(org.reserved) | {HANDOVER_MAILBOX})
    by_cohort: dict[str, list[str]] = {}
    base_accounts: list[dict] = []
    start = 0
    for cohort in COHORTS:
        chunk = slice(start, start + cohort.count)
        by_cohort[cohort.prefix] = usernames[chunk]
        base_accounts += _people(names[chunk], usernames[chunk], cohort.prefix, cohort.services)
        start += cohort.count
    by_cohort["new"] = usernames[start:]
    mailbox = {
        "type": "unit",
        "unit_name": "Văn phòng Ban Dân tộc",
        "username": HANDOVER_MAILBOX,
        "parent_agency": org.units[unit].name,
        "phone": "0252 3821 100",
        "manager": {"name": "Trần Thị Mỹ Lệ", "position": "Chánh Văn phòng", "phone": "0252 3821 104"},
    }
    date = BASE_DATE
    base = (_request(repo, org, unit, "create", f"{date}-{unit}-nen", date, [*base_accounts, mailbox]),)

    def named(prefix: str) -> list[dict]:
        return [{"username": uid} for uid in by_cohort[prefix]]

    base_lock = _request(repo, org, unit, "lock", f"{date}-{unit}-khoa-nen", date, named("U") + named("X"))

    def on(day: int) -> dt.date:
        return RUN_DATE + dt.timedelta(days=day)

    run = (
        _request(
            repo,
            org,
            unit,
            "create",
            f"{on(0)}-{unit}-cap-moi",
            on(0),
            _people(names[start:], by_cohort["new"], "NV", ("email", "qlvb")),
        ),
        _request(
            repo,
            org,
            unit,
            "update",
            f"{on(1)}-{unit}-thay-doi",
            on(1),
            [{"username": uid, "unit": to_unit, "position": "Chuyên viên chính"} for uid in by_cohort["T"]]
            + [{"username": uid, "services": ["email", "motcua"]} for uid in by_cohort["S"]],
        ),
        _request(repo, org, unit, "reset-password", f"{on(2)}-{unit}-cap-lai", on(2), named("R")),
        _request(repo, org, unit, "lock", f"{on(3)}-{unit}-khoa", on(3), named("L")),
        _request(repo, org, unit, "unlock", f"{on(4)}-{unit}-mo-khoa", on(4), named("U")),
        _request(repo, org, unit, "delete", f"{on(5)}-{unit}-xoa", on(5), named("X")),
        _request(
            repo,
            org,
            unit,
            "update",
            f"{on(6)}-{unit}-ban-giao",
            on(6),
            [
                {
                    "username": HANDOVER_MAILBOX,
                    "manager": {
                        "name": "Phạm Văn Đức",
                        "position": "Chánh Văn phòng",
                        "phone": "0252 3821 109",
                    },
                }
            ],
        ),
    )
    return EveryKind(base, base_lock, run, by_cohort)
