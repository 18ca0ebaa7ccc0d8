"""Realistic bulk requests for benchmarks and scale tests: N new staff with Vietnamese names.

Names are drawn deterministically (seeded) from common surnames, middle names and given names, so
collisions happen as they do in a real province and the naming rule's later candidates get used.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hopthu.model import Organisation
from hopthu.naming import generate_batch

if TYPE_CHECKING:
    from hopthu.directory.server import LocalDirectory

HOPTHU = str(Path(sys.executable).with_name("hopthu"))  # the virtualenv's command

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
