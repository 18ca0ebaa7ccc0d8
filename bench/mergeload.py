"""A merger (sáp nhập) at scale, for benchmarks and kill tests: Bình Thuận's three units into Lâm Đồng.

``build`` makes a repository (the shipped inventory, one merger request), real slapd (one server with
both databases, or one server each), N accounts in Bình Thuận loaded offline — realistic Vietnamese
names, a password hash each, unit mailboxes, locked accounts, application groups — and in Lâm Đồng the
accounts that take some of their usernames (the collision rate). ``hopthu assign --directory`` then
writes the renames into the request, as IT would before the review.

Used by bench/merge.py (50,000 accounts), bench/merge_recovery.py and the tests of kills and mail.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import ldap3
from ldap_write import to_ldif
from workload import HOPTHU, full_names

from hopthu.directory import dn
from hopthu.directory.server import LocalDirectory
from hopthu.inventory import load_inventory
from hopthu.model import Organisation
from hopthu.naming import generate_batch

ROOT = Path(__file__).resolve().parent.parent
SOURCE, TARGET = "binhthuan", "lamdong"
UNITS = {"bdt": "sdttg", "snv": "snv", "stttt": "skhcn"}
REQUEST_ID = "2025-06-30-sap-nhap-binhthuan"
LOCKED = "000001010000Z"
LOCKED_ON = "20250402090000Z"


@dataclass(frozen=True)
class Account:
    uid: str
    name: str
    unit: str
    mailbox: bool = False  # a unit mailbox (hộp thư cơ quan/đơn vị)
    locked: bool = False
    groups: tuple[str, ...] = ()

    @property
    def password(self) -> str:
        return f"Mat-khau-{self.uid}-2025"


@dataclass
class MergeLoad:
    repo: Path
    servers: list[LocalDirectory]
    source: Organisation
    target: Organisation
    accounts: list[Account]  # Bình Thuận's, all of which move
    taken: dict[str, str]  # Lâm Đồng's usernames that collide → the holder's name
    connections: Path  # binds as the rootdns
    reader_connections: Path  # binds as the plan-readers
    renames: dict[str, str] = field(default_factory=dict)  # old uid → new, as assign wrote them

    @property
    def request_file(self) -> Path:
        return self.repo / "requests" / TARGET / "_merge" / "2025" / f"{REQUEST_ID}.yaml"

    def server_of(self, org: str) -> LocalDirectory:
        return next(server for server in self.servers if org in server.base_dns)

    def connect(self, org: str) -> ldap3.Connection:
        return self.server_of(org).connect(org)

    def apply_command(self, state: Path) -> list[str]:
        return [
            HOPTHU, "apply", "--quiet", "--directory", str(self.connections),
            "--audit-log", str(state / "audit.jsonl"), "--outbox", str(state / "outbox"),
            str(self.request_file),
        ]  # fmt: skip

    def plan_command(self, state: Path) -> list[str]:
        return [
            HOPTHU, "plan", "--directory", str(self.reader_connections),
            "--audit-log", str(state / "audit.jsonl"), str(self.request_file),
        ]  # fmt: skip

    def new_uid(self, account: Account) -> str:
        return self.renames.get(account.uid, account.uid)


def ssha(secret: str, salt: bytes) -> str:
    digest = hashlib.sha1(secret.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


def people(count: int, org: Organisation, seed: int = 11) -> list[Account]:
    """``count`` accounts of the source: persons with names the rule turns into usernames, one unit
    mailbox in a hundred, one locked in twenty, most in an application group."""
    rng = random.Random(seed)
    names = full_names(count, seed=seed)
    uids = generate_batch(names, org.naming_rule, set(org.reserved))
    units = list(UNITS)
    found = []
    for index, (name, uid) in enumerate(zip(names, uids, strict=True)):
        unit = units[index % len(units)]
        if index % 100 == 99:
            found.append(Account(f"hopthu{index}", f"Tổ công tác số {index}", unit, mailbox=True))
            continue
        groups = tuple(g for g, share in (("qlvb", 0.6), ("motcua", 0.2)) if rng.random() < share)
        found.append(Account(uid, name, unit, locked=index % 20 == 7, groups=groups))
    return found


def _entry(org: Organisation, account: Account, unit_domain: str, salt: bytes) -> tuple[str, dict]:
    make = dn.mailbox_dn if account.mailbox else dn.person_dn
    words = account.name.split()
    attributes = {
        "objectClass": ["inetOrgPerson", "hopthuAccount"]
        + (["hopthuUnitMailbox"] if account.mailbox else []),
        "uid": [account.uid],
        "cn": [account.name],
        "displayName": [account.name],
        "sn": [words[0]],
        "departmentNumber": [account.unit],
        "mail": [f"{account.uid}@{org.mail_domain if account.mailbox else unit_domain}"],
        "hopthuMailQuota": [str(org.mailbox_quota_mb * 1024 * 1024)],
        "userPassword": [ssha(account.password, salt)],
        "ou": ["Văn phòng"],
    }
    if not account.mailbox:
        attributes["givenName"] = [words[-1]]
        attributes["title"] = ["Chuyên viên"]
    if account.locked:
        attributes["pwdAccountLockedTime"] = [LOCKED]
        attributes["hopthuLockedTime"] = [LOCKED_ON]
    return make(org, account.uid), attributes


def load(server: LocalDirectory, org: Organisation, accounts: list[Account], tmp: Path) -> None:
    """The accounts offline (slapadd), then their group memberships (one modify per group)."""
    rng = random.Random(3)
    ldif = tmp / f"{org.code}.ldif"
    ldif.write_text(
        to_ldif([_entry(org, a, org.domain_of(a.unit), rng.randbytes(8)) for a in accounts]), encoding="utf-8"
    )
    server.bulk_load(org, ldif)
    conn = server.connect(org)
    try:
        for group in org.app_groups:
            values = [dn.PLACEHOLDER_MEMBER] + [
                (dn.mailbox_dn if a.mailbox else dn.person_dn)(org, a.uid)
                for a in accounts
                if group in a.groups
            ]
            assert conn.modify(dn.group_dn(org, group), {"member": [(ldap3.MODIFY_REPLACE, values)]}), (
                conn.result
            )
    finally:
        conn.unbind()


def _connections(servers: list[LocalDirectory], service: str | None) -> dict:
    organisations = {}
    for server in servers:
        info = server.connection_info() if service is None else server.service_connection_info(service)
        for code, settings in info["organisations"].items():
            organisations[code] = {
                "uri": server.uri,
                **{k: v for k, v in settings.items() if k != "services"},
            }
    return {"organisations": organisations}


MERGER = """\
id: {id}
org: {target}
kind: merge
document: {{number: 1507/QĐ-UBND, date: 2025-06-30, signer: Trần Hồng Thái}}
requester:
  name: Nguyễn Đình Khoa
  position: Trưởng phòng Công nghệ thông tin
  phone: "0263 3822 059"
  email: khoand@skhcn.lamdong.gov.vn
reason: Sáp nhập tỉnh Bình Thuận vào tỉnh Lâm Đồng từ ngày 01/7/2025.
sources:
  - org: {source}
    units: {{{units}}}
    groups: {{qlvb: qlvb, motcua: motcua}}
confirm_count: {count}
"""


def build(
    tmp: Path, count: int, *, collision_rate: float = 0.03, two_servers: bool = False, nosync: bool = True
) -> MergeLoad:
    """The repository, the servers (running; stop them when done) and the accounts."""
    repo = tmp / "repo"
    (repo / "requests").mkdir(parents=True)
    shutil.copytree(ROOT / "inventory", repo / "inventory")
    shutil.copytree(ROOT / "schemas", repo / "schemas")
    inventory = load_inventory(repo / "inventory")
    source, target = inventory.organisations[SOURCE], inventory.organisations[TARGET]
    if two_servers:
        servers = [
            LocalDirectory.start(tmp / "slapd-bt", [source]),
            LocalDirectory.start(tmp / "slapd-ld", [target]),
        ]
    else:
        servers = [LocalDirectory.start(tmp / "slapd", [source, target])]
    for server in servers:
        server.set_nosync(nosync)
    accounts = people(count, source)
    rng = random.Random(17)
    persons = [a for a in accounts if not a.mailbox]
    colliding = rng.sample(persons, round(collision_rate * count))
    holders = full_names(len(colliding), seed=23)
    taken = {a.uid: holder for a, holder in zip(colliding, holders, strict=True)}
    work = tmp / "ldif"
    work.mkdir()
    world = MergeLoad(
        repo,
        servers,
        source,
        target,
        accounts,
        taken,
        tmp / "directory.json",
        tmp / "plan-directory.json",
    )
    load(world.server_of(SOURCE), source, accounts, work)
    if taken:
        units = list(target.units)
        theirs = [
            Account(uid, name, units[i % len(units)]) for i, (uid, name) in enumerate(sorted(taken.items()))
        ]
        load(world.server_of(TARGET), target, theirs, work)
    world.connections.write_text(json.dumps(_connections(servers, None)), encoding="utf-8")
    world.reader_connections.write_text(json.dumps(_connections(servers, dn.PLAN_READER)), encoding="utf-8")
    world.request_file.parent.mkdir(parents=True)
    units = ", ".join(f"{a}: {b}" for a, b in UNITS.items())
    world.request_file.write_text(
        MERGER.format(id=REQUEST_ID, target=TARGET, source=SOURCE, units=units, count=count), encoding="utf-8"
    )
    return world


def assign(world: MergeLoad) -> float:
    """``hopthu assign --directory`` on the merger, as the plan-readers; the renames it wrote. Seconds."""
    import time

    started = time.perf_counter()
    done = subprocess.run(
        [HOPTHU, "assign", "--directory", str(world.reader_connections), str(world.request_file)],
        cwd=world.repo,
        capture_output=True,
        text=True,
    )
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"hopthu assign failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    text = world.request_file.read_text(encoding="utf-8")
    pairs = [(m.split("username: ")[1], n.split("new_username: ")[1]) for m, n in _rename_lines(text)]
    world.renames = dict(pairs)
    return took


def _rename_lines(text: str) -> list[tuple[str, str]]:
    lines = text.split("renames:", 1)[1].splitlines() if "renames:" in text else []
    old = [line.strip() for line in lines if line.strip().startswith("username: ")]
    new = [line.strip() for line in lines if line.strip().startswith("new_username: ")]
    return list(zip(old, new, strict=True))
