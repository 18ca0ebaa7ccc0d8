"""A merger of two organisations to test with (sáp nhập): Bình Thuận's units into Lâm Đồng, as in 2025.

``MergeWorld`` holds the two organisations, a real slapd for them (one server with two databases, or two
servers), and the requests that make the starting directory: people and unit mailboxes in both, names
that collide, a locked account, application groups. ``merger()`` is the merger request itself.
Used by tests/test_merge_apply.py, tests/test_merge_mail.py and bench/merge.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from hopthu import pipeline
from hopthu.endpoints import load_endpoints
from hopthu.model import (
    AccountChange,
    AppGroup,
    Document,
    Inventory,
    Kind,
    Manager,
    Merge,
    MergeSource,
    NewPerson,
    NewUnitMailbox,
    Organisation,
    Rename,
    Request,
    Requester,
    Unit,
)
from hopthu.passwords import Outbox

LONG_AGO = dt.datetime(2025, 3, 20, 9, tzinfo=dt.UTC)  # when the starting directory was made
LOCKED_ON = dt.datetime(2025, 4, 2, 9, tzinfo=dt.UTC)


def _org(code: str, name: str, domain: str, base_dn: str, units: dict[str, Unit], groups, **extra):
    return Organisation(
        code=code,
        name=name,
        parent=f"UBND TỈNH {name.upper()}",
        mail_domain=domain,
        base_dn=base_dn,
        naming_rule=("{given}{s}{m}", "{given}{s}{m}{n:2}"),
        reserved=frozenset({"admin", "vanphong"}),
        retention_days=90,
        sla_working_days=2,
        units=units,
        app_groups={code: AppGroup(code, name) for code, name in groups.items()},
        mailbox_quota_mb=64,
        mailbox_rule=("{initials}", "{initials}{n:2}"),
        issuer="SỞ KHOA HỌC VÀ CÔNG NGHỆ" if code == "ld" else "SỞ THÔNG TIN VÀ TRUYỀN THÔNG",
        issuer_abbrev="SKHCN" if code == "ld" else "STTTT",
        place=name,
        signer_name="Phạm Văn Nam",
        signer_title="GIÁM ĐỐC",
        **extra,
    )


BT = _org(
    "bt",
    "Bình Thuận",
    "binhthuan.gov.vn",
    "dc=binhthuan,dc=gov,dc=vn",
    {
        "bdt": Unit("bdt", "Ban Dân tộc tỉnh Bình Thuận", "bdt@binhthuan.gov.vn", (), "bdt.binhthuan.gov.vn"),
        "stttt": Unit(
            "stttt", "Sở Thông tin và Truyền thông", "stttt@binhthuan.gov.vn", (), "stttt.binhthuan.gov.vn"
        ),
    },
    {"qlvb": "Quản lý văn bản", "motcua": "Một cửa"},
)
LD = _org(
    "ld",
    "Lâm Đồng",
    "lamdong.gov.vn",
    "dc=lamdong,dc=gov,dc=vn",
    {
        "sdttg": Unit(
            "sdttg",
            "Sở Dân tộc và Tôn giáo tỉnh Lâm Đồng",
            "sdttg@lamdong.gov.vn",
            (),
            "sdttg.lamdong.gov.vn",
        ),
        "skhcn": Unit(
            "skhcn",
            "Sở Khoa học và Công nghệ tỉnh Lâm Đồng",
            "skhcn@lamdong.gov.vn",
            (),
            "skhcn.lamdong.gov.vn",
        ),
        "cds": Unit("cds", "Trung tâm Chuyển đổi số", "cds@lamdong.gov.vn", (), "skhcn.lamdong.gov.vn"),
    },
    {"vanban": "Quản lý văn bản và điều hành", "dvc": "Dịch vụ công"},
)
INVENTORY = Inventory({"bt": BT, "ld": LD})
PASSWORD_POLICY_FREE = "test"


def _request(rid: str, org: str, unit: str, kind: Kind, accounts, date: dt.date) -> Request:
    return Request(
        id=rid,
        org=org,
        unit=unit,
        kind=kind,
        document=Document(f"{rid[-3:]}/VP", date, "Nguyễn Hữu Phước"),
        requester=Requester("Trần Thị Mỹ Lệ", "Chánh Văn phòng", "0252 3821 104", "letm@binhthuan.gov.vn"),
        reason="Thử nghiệm",
        accounts=tuple(accounts),
    )


def person(name: str, uid: str, staff: str, services=("email",)) -> NewPerson:
    return NewPerson(name, staff, "Chuyên viên", "Văn phòng", "0912 345 601", tuple(services), uid)


def mailbox(name: str, uid: str) -> NewUnitMailbox:
    return NewUnitMailbox(name, "UBND tỉnh", Manager("Lê Văn Thành", "0252 3822 417"), "0252 3822 400", uid)


# The starting directory. Collisions: minhnv and the unit mailbox "bdt"'s name clash in Lâm Đồng.
STARTING = [
    _request(
        "2025-03-01-bt-bdt-cap-moi",
        "bt",
        "bdt",
        Kind.CREATE,
        [
            person("Nguyễn Văn Minh", "minhnv", "BDT-1", ("email", "qlvb")),
            person("Võ Thị Thu An", "anvtt", "BDT-2", ("email", "qlvb", "motcua")),
            person("Đàng Năng Thọ", "thodn", "BDT-3"),
            person("K'Rẻm Ka", "kakr", "BDT-4", ("motcua",)),  # an application-only account: no mailbox
            mailbox("Ban Dân tộc", "bdt"),
        ],
        dt.date(2025, 3, 1),
    ),
    _request(
        "2025-03-02-bt-stttt-cap-moi",
        "bt",
        "stttt",
        Kind.CREATE,
        [person("Huỳnh Ngọc Tâm", "tamhn", "STTTT-1", ("email", "qlvb"))],
        dt.date(2025, 3, 2),
    ),
    _request(
        "2025-03-03-ld-sdttg-cap-moi",
        "ld",
        "sdttg",
        Kind.CREATE,
        [
            person("Nguyễn Văn Minh", "minhnv", "LD-1", ("email", "vanban")),  # another Nguyễn Văn Minh
            mailbox("Ban Dân tộc", "bdt"),  # Lâm Đồng's own Ban Dân tộc mailbox
        ],
        dt.date(2025, 3, 3),
    ),
]
LOCK = _request(
    "2025-04-02-bt-bdt-khoa", "bt", "bdt", Kind.LOCK, [AccountChange("thodn")], dt.date(2025, 4, 2)
)


def merger(
    rid: str = "2025-06-30-sap-nhap", *, renames=(), confirm_count: int | None = None, **kw
) -> Request:
    """Bình Thuận's Ban Dân tộc into Lâm Đồng's Sở Dân tộc và Tôn giáo, its Sở TT&TT into the Sở KH&CN."""
    sources = kw.pop(
        "sources",
        (MergeSource("bt", {"bdt": "sdttg", "stttt": "skhcn"}, {"qlvb": "vanban", "motcua": "dvc"}),),
    )
    return Request(
        id=rid,
        org="ld",
        unit="_merge",
        kind=Kind.MERGE,
        document=Document("1234/QĐ-UBND", dt.date(2025, 6, 30), "Trần Hồng Thái"),
        requester=Requester("Lê Hoàng Phúc", "Trưởng phòng CNTT", "0263 3822 000", "phuclh@lamdong.gov.vn"),
        reason="Sáp nhập tỉnh Bình Thuận vào tỉnh Lâm Đồng theo Nghị quyết số 202/2025/QH15.",
        accounts=(),
        merge=Merge(tuple(sources), tuple(renames)),
        confirm_count=confirm_count,
    )


RENAMES = (
    Rename("bt", "minhnv", "Nguyễn Văn Minh", "minhnv2"),
    Rename("bt", "bdt", "Ban Dân tộc", "bdt2", unit_mailbox=True),
)


@dataclass
class MergeWorld:
    """The organisations on real slapd servers, with the starting directory applied."""

    servers: list  # LocalDirectory: one serving both, or one per organisation
    state: Path  # audit log and outbox
    inventory: Inventory = INVENTORY
    passwords: dict[str, str] = field(default_factory=dict)  # uid → its one-time password (bt only)

    @property
    def audit_log(self) -> Path:
        return self.state / "audit.jsonl"

    @property
    def outbox(self) -> Outbox:
        return Outbox(self.state / "outbox")

    def server_of(self, org: str):
        return next(server for server in self.servers if org in server.base_dns)

    def session(self) -> pipeline.Session:
        endpoints = {}
        for server in self.servers:
            endpoints |= load_endpoints(server.workdir / "directory.json")
        return pipeline.Session(endpoints)

    def apply(self, requests, now: dt.datetime | None = None):
        session = self.session()
        try:
            loaded = pipeline.Loaded(self.inventory, list(requests))
            return pipeline.apply(loaded, session, self.audit_log, self.outbox, now=now, ci=None)
        finally:
            session.close()

    def plan(self, requests, now: dt.datetime | None = None):
        session = self.session()
        try:
            loaded = pipeline.Loaded(self.inventory, list(requests))
            return pipeline.plan(loaded, session, self.audit_log, now=now)
        finally:
            session.close()

    def connect(self, org: str):
        return self.server_of(org).connect(org)


def build(servers: list, state: Path) -> MergeWorld:
    world = MergeWorld(servers, state)
    world.apply(STARTING, now=LONG_AGO)
    world.apply([LOCK], now=LOCKED_ON)
    box = world.outbox
    for request_id in box.pending():
        credentials = box.credentials(request_id)
        if credentials.org == "bt":
            world.passwords.update(credentials.passwords)
    return world
