"""Benchmark: assign usernames to 100,000 new people against a directory of 1,000,000, on one core.

Names follow the real distribution closely enough for collisions to happen (Nguyễn is ~38 % of the
population, Văn and Thị dominate middle names, a few hundred given names cover most people), and 20 % of
them are written the messy way HR exports do (ALL CAPS, NFD, non-breaking or doubled spaces). The directory
is built by assigning 1,000,000 such people with the same rule, so it looks like a real one, and it knows
who holds each address (the ``cn`` the rule's conditions compare with).

Usage: .venv/bin/python bench/naming.py [--names N] [--taken N] [--pattern P]... [--seed S]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import random
import time
import unicodedata

from hopthu.naming import DEFAULT_RULE, NamingError, compile_rule, iter_generate, rule_admits

# (word, relative weight) — rough shares of the Vietnamese population, plus Jarai/Bahnar names of Gia Lai.
SURNAMES = [
    ("Nguyễn", 380), ("Trần", 110), ("Lê", 95), ("Phạm", 71), ("Hoàng", 30), ("Huỳnh", 21), ("Phan", 45),
    ("Vũ", 20), ("Võ", 19), ("Đặng", 21), ("Bùi", 20), ("Đỗ", 14), ("Hồ", 13), ("Ngô", 13), ("Dương", 10),
    ("Lý", 5), ("Đinh", 6), ("Trương", 6), ("Lâm", 4), ("Mai", 4), ("Đào", 4), ("Cao", 3), ("Hà", 3),
    ("Lương", 3), ("Tô", 2), ("Tạ", 2), ("Châu", 2), ("Lưu", 2), ("Triệu", 1), ("Quách", 1), ("Ksor", 4),
    ("Rơ Châm", 2), ("Siu", 3), ("Rmah", 3), ("Nay", 2), ("Kpă", 2), ("Puih", 2), ("Đinh Thị", 1),
]  # fmt: skip
MALE_MIDDLES = [
    ("Văn", 300), ("Đức", 60), ("Hữu", 50), ("Minh", 50), ("Quốc", 40), ("Thanh", 40), ("Công", 35),
    ("Xuân", 30), ("Ngọc", 30), ("Anh", 25), ("Hoàng", 25), ("Đình", 30), ("Trọng", 20), ("Quang", 25),
    ("Tuấn", 15), ("Thế", 15), ("Duy", 15), ("Tiến", 10), ("Bá", 10), ("Gia", 10), ("Tấn", 15),
]  # fmt: skip
FEMALE_MIDDLES = [
    ("Thị", 400), ("Ngọc", 50), ("Thu", 40), ("Thanh", 35), ("Minh", 20), ("Phương", 20), ("Thùy", 25),
    ("Kim", 25), ("Hồng", 25), ("Mai", 15), ("Bích", 15), ("Diệu", 10), ("Hoài", 10), ("Khánh", 10),
    ("Thảo", 10), ("Mỹ", 15), ("Hải", 10), ("Quỳnh", 10),
]  # fmt: skip
MALE_GIVEN = (  # noqa: SIM905 - a list literal of 60 names would take 60 lines
    "Minh Hùng Dũng Tuấn Hải Nam Long Hưng Sơn Thắng Thành Trung Quang Hiếu Khoa Phúc Bình Cường Đạt Huy "
    "Hoàng Kiên Lâm Lộc Nghĩa Phong Quân Tài Thái Thiện Tiến Toàn Trí Tú Vinh Việt Vũ An Bảo Công Đức Hào "
    "Hậu Hiển Khang Khánh Lợi Mạnh Nhân Phát Quý Tâm Thịnh Thuận Tín Tùng Tường Văn Xuân Y Blơng"
).split()
FEMALE_GIVEN = (  # noqa: SIM905
    "Hương Lan Linh Mai Hoa Hà Trang Thảo Nhung Hằng Ngọc Thủy Vân Yến Anh Phương Huyền Loan Dung Hạnh "
    "Nga Oanh Nhi Tâm Thu Trinh Uyên Vy Châu Diệp Giang Hiền Hòa Hồng Hường Kim Liên Ly Ngân Nguyệt Nhàn "
    "Quyên Quỳnh Sương Tuyết Xuyến Ánh Đào H'Bia H'Yuin"
).split()


def cumulative(weights: list[float] | tuple[float, ...]) -> list[float]:
    """Cumulative weights, so random.choices does not recompute them for each of a million draws."""
    return list(itertools.accumulate(weights))


class NameMaker:
    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.surnames, weights = zip(*SURNAMES, strict=True)
        self.surname_weights = cumulative(weights)
        zipf = [1 / (rank + 1) ** 0.9 for rank in range(max(len(MALE_GIVEN), len(FEMALE_GIVEN)))]
        male_middles, male_weights = zip(*MALE_MIDDLES, strict=True)
        female_middles, female_weights = zip(*FEMALE_MIDDLES, strict=True)
        # (middle names, their weights, given names, their weights) for men and for women
        self.sexes = [
            (male_middles, cumulative(male_weights), MALE_GIVEN, cumulative(zipf[: len(MALE_GIVEN)])),
            (female_middles, cumulative(female_weights), FEMALE_GIVEN, cumulative(zipf[: len(FEMALE_GIVEN)])),
        ]
        self.middle_counts = cumulative((5, 65, 28, 2))

    def person(self) -> tuple[str, dt.date]:
        pick = self.random.choices
        middles, middle_weights, given, given_weights = self.sexes[self.random.random() < 0.5]
        count = pick((0, 1, 2, 3), cum_weights=self.middle_counts)[0]
        words = [
            pick(self.surnames, cum_weights=self.surname_weights)[0],
            *pick(middles, cum_weights=middle_weights, k=count),
            pick(given, cum_weights=given_weights)[0],
        ]
        born = dt.date(1960, 1, 1) + dt.timedelta(days=self.random.randrange(40 * 365))
        return self.messy(" ".join(words)), born

    def messy(self, name: str) -> str:
        """One in five names spelled the way real exports spell them."""
        roll = self.random.random()
        if roll < 0.07:
            return name.upper()
        if roll < 0.14:
            return unicodedata.normalize("NFD", name)
        if roll < 0.20:
            return name.replace(" ", self.random.choice(["\u00a0", "  ", " \u200b"]))
        return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=100_000, help="new people to assign (timed)")
    parser.add_argument("--taken", type=int, default=1_000_000, help="people already in the directory")
    parser.add_argument("--pattern", action="append", help="candidate pattern (default: the Gia Lai rule)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    rule = compile_rule(args.pattern or DEFAULT_RULE)
    maker = NameMaker(args.seed)

    started = time.perf_counter()
    existing = [maker.person() for _ in range(args.taken)]
    holders = {
        address: name
        for (name, _), address in zip(existing, iter_generate(existing, rule, frozenset()), strict=True)
        if isinstance(address, str)
    }
    directory = frozenset(holders)
    setup = time.perf_counter() - started
    print(f"directory: {len(directory):,} addresses from {args.taken:,} people in {setup:.1f} s (not timed)")

    people = [maker.person() for _ in range(args.names)]
    started, cpu_started = time.perf_counter(), time.process_time()
    results = list(iter_generate(people, rule, directory, holders=holders))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started

    by_candidate = [0] * len(rule.patterns)
    failed = 0
    # Which form gave each address: the candidate alone, without its condition.
    singles = [compile_rule([pattern.form]) for pattern in rule.compiled]
    for (name, born), result in zip(people, results, strict=True):
        if isinstance(result, NamingError):
            failed += 1
            continue
        index = next(i for i, single in enumerate(singles) if rule_admits(result, name, single, born=born))
        by_candidate[index] += 1

    print(f"rule: {', '.join(rule.patterns)}")
    # CPU time is the figure to compare: wall time also counts whatever else shares the core.
    print(
        f"names: {args.names:,}   seconds: {elapsed:.2f} wall, {cpu:.2f} CPU   "
        f"names/s: {args.names / elapsed:,.0f} wall, {args.names / cpu:,.0f} CPU"
    )
    for index, count in enumerate(by_candidate, 1):
        print(f"  candidate {index} ({rule.patterns[index - 1]}): {count:,}")
    print(f"  no free candidate (NamingError): {failed:,}")
    print(
        "target: 100,000 names in under 5 s of CPU —", "met" if cpu * 100_000 / args.names < 5 else "MISSED"
    )


if __name__ == "__main__":
    main()
