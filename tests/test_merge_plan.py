"""A merger (sáp nhập) is planned from plain data: every account's fate before anything happens; and the
mass-change guard, for every kind. No server needed."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from hopthu.model import (
    AccountChange,
    DirectoryAccount,
    EntryKind,
    Kind,
    MergeSource,
    Op,
    Rename,
    Snapshot,
)
from hopthu.plan import Progress, make_plan
from mergeworld import INVENTORY, RENAMES, merger
from test_plan import INVENTORY as ONE_ORG
from test_plan import existing, request, snapshot

NOW = dt.datetime(2025, 7, 1, 1, tzinfo=dt.UTC)
LOCKED_AT = "20250402090000Z"


def account(uid, unit="bdt", org="bt", kind=EntryKind.PERSON, groups=(), cn="Nguyễn Văn Minh", **attrs):
    values = {
        "objectclass": ("inetOrgPerson", "hopthuAccount")
        + (("hopthuUnitMailbox",) if kind is EntryKind.MAILBOX else ()),
        "uid": (uid,),
        "cn": (cn,),
        "sn": (cn.split()[0],),
        "departmentnumber": (unit,),
        "mail": (f"{uid}@{unit}.binhthuan.gov.vn",),
        "hopthumailquota": ("67108864",),
        "pwdchangedtime": ("20250320090000Z",),
    }
    values.update({k.lower(): v for k, v in attrs.items()})
    values = {k: v for k, v in values.items() if v}  # None: the account has no such attribute
    locked = values.get("hopthulockedtime")
    when = dt.datetime.strptime(locked[0], "%Y%m%d%H%M%SZ").replace(tzinfo=dt.UTC) if locked else None
    return DirectoryAccount(uid, f"uid={uid}", kind, values, frozenset(groups), when)


def world(*accounts, target=(), taken=None) -> Snapshot:
    """Source accounts (Bình Thuận) and target accounts (Lâm Đồng), and the names in use in the target."""
    found = {("bt", a.uid): a for a in accounts} | {("ld", a.uid): a for a in target}
    names = {a.uid: a.first("cn") for a in target} | (taken or {})
    return Snapshot(found, taken={"ld": names})


def plan(*requests, snap, progress=None, inventory=INVENTORY):
    return make_plan(requests, inventory, snap, progress or Progress(), NOW)


def by_op(rp) -> dict[Op, list]:
    found: dict[Op, list] = {}
    for change in rp.changes:
        found.setdefault(change.op, []).append(change)
    return found


def test_every_account_moves_in_phase_order_kept_or_renamed_and_counts_once():
    snap = world(
        account("minhnv", groups=("qlvb",)),
        account("anvtt", cn="Võ Thị Thu An", groups=("qlvb", "motcua")),
        account("bdt", kind=EntryKind.MAILBOX, cn="Ban Dân tộc", mail=("bdt@binhthuan.gov.vn",)),
        account("tamhn", unit="stttt", cn="Huỳnh Ngọc Tâm"),
        target=[account("minhnv", unit="sdttg", cn="Nguyễn Văn Minh"), account("bdt", unit="sdttg")],
    )
    result = plan(merger(renames=RENAMES), snap=snap)
    (rp,) = result.requests
    assert rp.refusals == ()
    ops = [c.op for c in rp.changes]
    # every entry is in the target before any leaves the source
    assert ops == sorted(ops, key=[Op.MERGE_IN, Op.ADD_MEMBER, Op.REMOVE_MEMBER, Op.MERGE_OUT].index)
    moved = {c.source[1]: c.uid for c in by_op(rp)[Op.MERGE_IN]}
    assert moved == {"minhnv": "minhnv2", "anvtt": "anvtt", "bdt": "bdt2", "tamhn": "tamhn"}
    assert {c.org for c in by_op(rp)[Op.MERGE_IN]} == {"ld"}
    assert {(c.org, c.entry_uid) for c in by_op(rp)[Op.MERGE_OUT]} == {
        ("bt", "minhnv"),
        ("bt", "anvtt"),
        ("bt", "bdt"),
        ("bt", "tamhn"),
    }
    # application groups mapped to the target's; out of the source's
    assert sorted((c.uid, c.group) for c in by_op(rp)[Op.ADD_MEMBER]) == [
        ("anvtt", "dvc"),
        ("anvtt", "vanban"),
        ("minhnv2", "vanban"),
    ]
    assert sorted((c.org, c.entry_uid, c.group) for c in by_op(rp)[Op.REMOVE_MEMBER]) == [
        ("bt", "anvtt", "motcua"),
        ("bt", "anvtt", "qlvb"),
        ("bt", "minhnv", "qlvb"),
    ]
    assert result.counts() == {"create": 0, "update": 4, "delete": 0}


def test_the_new_entry_keeps_everything_but_the_unit_and_address_and_remembers_the_old_one():
    locked = account(
        "thodn",
        cn="Đàng Năng Thọ",
        title=("Chuyên viên",),
        employeenumber=("BDT-3",),
        maillocaladdress=("tho.dang@bdt.binhthuan.gov.vn",),
        pwdaccountlockedtime=("000001010000Z",),
        hopthulockedtime=(LOCKED_AT,),
        pwdreset=("TRUE",),
    )
    # a lockout after failed binds is the server's, and ends on its own: not copied; nor pwdReset FALSE
    tried = account(
        "anvtt", cn="Võ Thị Thu An", pwdaccountlockedtime=("20250630101010Z",), pwdreset=("FALSE",)
    )
    app_only = account("kakr", cn="K'Rẻm Ka", mail=None)
    box = account("bdt", kind=EntryKind.MAILBOX, cn="Ban Dân tộc", mail=("bdt@binhthuan.gov.vn",))
    (rp,) = plan(merger(), snap=world(locked, tried, app_only, box)).requests
    entries = {c.uid: c.after for c in by_op(rp)[Op.MERGE_IN]}
    tho = entries["thodn"]
    assert tho["uid"] == ("thodn",) and tho["departmentNumber"] == ("sdttg",)
    assert tho["mail"] == ("thodn@sdttg.lamdong.gov.vn",)
    assert tho["mailLocalAddress"] == ("tho.dang@bdt.binhthuan.gov.vn", "thodn@bdt.binhthuan.gov.vn")
    assert "inetLocalMailRecipient" in tho["objectClass"]
    assert tho["hopthuMailbox"] == ("bt/thodn",)  # the mailbox stays where the mail is
    assert tho["pwdAccountLockedTime"] == ("000001010000Z",) and tho["hopthuLockedTime"] == (LOCKED_AT,)
    assert tho["pwdReset"] == ("TRUE",)  # a one-time password not changed yet must still be changed
    assert tho["title"] == ("Chuyên viên",) and tho["employeeNumber"] == ("BDT-3",)
    assert "pwdChangedTime" not in tho and "pwdchangedtime" not in tho and "userPassword" not in tho
    assert "pwdAccountLockedTime" not in entries["anvtt"] and "pwdReset" not in entries["anvtt"]
    assert "mail" not in entries["kakr"] and "hopthuMailbox" not in entries["kakr"]
    assert entries["bdt"]["mail"] == ("bdt@lamdong.gov.vn",)  # a unit mailbox: the organisation's domain


def test_collisions_are_listed_every_one_and_nothing_is_planned():
    """Taken in the target by an account, a reserved name, an old address kept as an alias, or another
    account of the merger that comes first (two sources with one username): never resolved silently."""
    two_sources = merger(
        sources=(
            MergeSource("bt", {"bdt": "sdttg"}),
            MergeSource("ld", {"cds": "skhcn"}),  # the target's own unit: a transfer
        )
    )
    snap = world(
        account("minhnv"),
        account("vanphong", cn="Lê Văn Phong"),
        account("anvtt", cn="Võ Thị Thu An"),
        account("tamhn", cn="Huỳnh Ngọc Tâm"),
        target=[account("minhnv", unit="sdttg", cn="Nguyễn Văn Mạnh")],
        taken={"anvtt": "Vũ Thị Thu An"},  # an old address of a Lâm Đồng account: anvtt@…
    )
    (rp,) = plan(two_sources, snap=snap).requests
    assert rp.changes == ()
    (refusal,) = rp.refusals
    assert refusal.code == "merge-username-taken"
    found = {(a["uid"], a["wanted"], a["holder"]) for a in refusal.accounts}
    assert found == {
        ("minhnv", "minhnv", "Nguyễn Văn Mạnh"),
        ("vanphong", "vanphong", "—"),  # reserved in Lâm Đồng
        ("anvtt", "anvtt", "Vũ Thị Thu An"),
    }
    assert "run `hopthu assign --directory FILE`" in rp.refusal
    # a rename whose new name was taken after the review is refused too
    late = merger(renames=(Rename("bt", "minhnv", "Nguyễn Văn Minh", "minhnv2"),))
    snap = world(account("minhnv"), target=[account("minhnv2", unit="skhcn", cn="Nguyễn Văn Mười")])
    (rp,) = plan(late, snap=snap).requests
    assert [(a["uid"], a["wanted"]) for r in rp.refusals for a in r.accounts] == [("minhnv", "minhnv2")]


def test_two_sources_with_one_username_the_first_keeps_it():
    snap = Snapshot(
        {("bt", "minhnv"): account("minhnv"), ("dn", "minhnv"): account("minhnv", unit="snv", cn="Lê Minh")},
        taken={"ld": {}},
    )
    inventory = dataclasses.replace(
        INVENTORY,
        organisations={
            **INVENTORY.organisations,
            "dn": dataclasses.replace(
                INVENTORY.organisations["bt"], code="dn", base_dn="dc=daknong,dc=gov,dc=vn"
            ),
        },
    )
    both = merger(sources=(MergeSource("bt", {"bdt": "sdttg"}), MergeSource("dn", {"snv": "skhcn"})))
    (rp,) = plan(both, snap=snap, inventory=inventory).requests
    (refusal,) = rp.refusals
    assert [(a["source"], a["uid"], a["holder"]) for a in refusal.accounts] == [
        ("dn", "minhnv", "Nguyễn Văn Minh")
    ]
    renamed = dataclasses.replace(
        both, merge=dataclasses.replace(both.merge, renames=(Rename("dn", "minhnv", "Lê Minh", "minhl"),))
    )
    (rp,) = plan(renamed, snap=snap, inventory=inventory).requests
    assert sorted((c.source, c.uid) for c in rp.changes if c.op is Op.MERGE_IN) == [
        (("bt", "minhnv"), "minhnv"),
        (("dn", "minhnv"), "minhl"),
    ]


def test_an_unmapped_group_and_a_rename_of_another_person_are_refused():
    only_qlvb = merger(
        sources=(MergeSource("bt", {"bdt": "sdttg"}, {"qlvb": "vanban"}),),
        renames=(Rename("bt", "anvtt", "Võ Thị An", "anvtt2"),),
    )
    snap = world(account("minhnv", groups=("qlvb", "motcua")), account("anvtt", cn="Võ Thị Thu An"))
    (rp,) = plan(only_qlvb, snap=snap).requests
    assert {r.code: [a["uid"] for a in r.accounts] for r in rp.refusals} == {
        "merge-group-unmapped": ["minhnv"],
        "name-mismatch": ["anvtt"],
    }
    assert rp.changes == ()


def test_an_entry_an_interrupted_run_added_is_not_added_again_and_a_stranger_s_is_a_collision():
    mover = account("minhnv", groups=("qlvb",))
    (first,) = plan(merger(), snap=world(mover)).requests
    added = next(c for c in first.changes if c.op is Op.MERGE_IN)
    ours = account(
        "minhnv",
        unit="sdttg",
        maillocaladdress=added.after["mailLocalAddress"],
        mail=added.after["mail"],
    )
    progress = Progress(intents={(merger().id, "merge-in", "minhnv", ""): NOW})
    (rp,) = plan(merger(), snap=world(mover, target=[ours]), progress=progress).requests
    assert [(c.op, c.group) for c in rp.changes] == [
        (Op.ADD_MEMBER, "vanban"),
        (Op.REMOVE_MEMBER, "qlvb"),
        (Op.MERGE_OUT, None),
    ]
    # the same entry, but no intent of this merger in the audit log: someone else's, a collision
    (rp,) = plan(merger(), snap=world(mover, target=[ours])).requests
    assert [r.code for r in rp.refusals] == ["merge-username-taken"]


def test_a_merger_of_the_target_s_own_units_transfers_its_accounts_and_keeps_the_old_addresses():
    own = merger(sources=(MergeSource("ld", {"cds": "skhcn"}),))
    target = [account("longnv", unit="cds", cn="Ngô Văn Long", mail=("longnv@skhcn.lamdong.gov.vn",))]
    target.append(account("hoatt", unit="cds", cn="Trần Thị Hoa", mail=("hoatt@cds.lamdong.gov.vn",)))
    (rp,) = plan(own, snap=world(target=target)).requests
    moves = {c.uid: c for c in rp.changes}
    assert [c.op for c in rp.changes] == [Op.MOVE, Op.MOVE]
    assert moves["hoatt"].after["mail"] == ("hoatt@skhcn.lamdong.gov.vn",)
    assert moves["hoatt"].after["mailLocalAddress"] == ("hoatt@cds.lamdong.gov.vn",)
    assert moves["longnv"].after["departmentNumber"] == ("skhcn",) and "mail" not in moves["longnv"].after


def test_a_merger_sees_what_earlier_requests_of_the_same_run_did():
    """A lock of the source dated before the merger: the account moves locked, with that lock time."""
    lock = request(Kind.LOCK, AccountChange("anvtt"), rid="2025-06-01-khoa", date=dt.date(2025, 6, 1))
    snap = world(account("anvtt", cn="Võ Thị Thu An"))
    (locked, merged) = plan(lock, merger(), snap=snap).requests
    assert [c.op for c in locked.changes] == [Op.LOCK]
    assert merged.refusals == ()
    entry = next(c.after for c in merged.changes if c.op is Op.MERGE_IN)
    assert entry["pwdAccountLockedTime"] == ("000001010000Z",)
    assert entry["hopthuLockedTime"] == ("20250701010000Z",)


# --- the mass-change guard ----------------------------------------------------------------------------


def people(count: int, unit: str = "bdt") -> list[DirectoryAccount]:
    return [
        dataclasses.replace(existing(uid=f"nguoi{i:03d}", unit=unit), uid=f"nguoi{i:03d}")
        for i in range(count)
    ]


def one_org_plan(*requests, snap, progress=None):
    return make_plan(requests, ONE_ORG, snap, progress or Progress(), NOW)


def lock_of(found, rid="r-001", confirm=None, date=dt.date(2026, 11, 20)):
    locks = request(Kind.LOCK, *[AccountChange(a.uid) for a in found], rid=rid, date=date)
    return dataclasses.replace(locks, confirm_count=confirm)


def test_the_guard_refuses_more_locks_than_the_cap_unless_the_request_states_the_exact_number():
    at_cap, above = people(50), people(51)
    (rp,) = one_org_plan(lock_of(at_cap), snap=snapshot(*at_cap)).requests
    assert rp.refusals == () and len(rp.changes) == 50
    (rp,) = one_org_plan(lock_of(above), snap=snapshot(*above)).requests
    (refusal,) = rp.refusals
    assert (refusal.code, refusal.params["planned"], refusal.params["cap"]) == ("mass-change-cap", 51, 50)
    assert rp.changes == ()
    (rp,) = one_org_plan(lock_of(above, confirm=51), snap=snapshot(*above)).requests
    assert rp.refusals == () and len(rp.changes) == 51
    (rp,) = one_org_plan(lock_of(above, confirm=50), snap=snapshot(*above)).requests
    (refusal,) = rp.refusals
    assert refusal.code == "mass-change-mismatch"
    assert "confirm_count: 50, but it would lock, delete or move 51" in refusal.english()


def test_the_cap_is_per_run_across_requests_and_an_interrupted_run_counts_what_it_did():
    first, second = people(30), people(60)[30:]
    plan_ = one_org_plan(
        lock_of(first, rid="r-001"),
        lock_of(second, rid="r-002", date=dt.date(2026, 11, 21)),
        snap=snapshot(*first, *second),
    )
    (one, two) = plan_.requests
    assert one.refusals == ()
    assert [(r.code, r.params["planned"], r.params["own"]) for r in two.refusals] == [
        ("mass-change-cap", 60, 30)
    ]
    # a confirmed request of 51 killed after 40 locks: the re-run plans 11, and 51 is still its count
    found = people(51)
    locked = [dataclasses.replace(a, locked_at=NOW) for a in found[:40]]
    progress = Progress(intents={("r-001", "lock", a.uid, ""): NOW for a in found[:40]})
    (rp,) = one_org_plan(
        lock_of(found, confirm=51), snap=snapshot(*locked, *found[40:]), progress=progress
    ).requests
    assert rp.refusals == () and len(rp.changes) == 11


def test_a_merger_counts_the_accounts_it_moves_out_of_each_source():
    movers = [account(f"nguoi{i:03d}", cn=f"Nguyễn Văn Người {i}") for i in range(51)]
    (rp,) = plan(merger(), snap=world(*movers)).requests
    (refusal,) = rp.refusals
    assert (refusal.code, refusal.params["org"], refusal.params["planned"]) == ("mass-change-cap", "bt", 51)
    (rp,) = plan(merger(confirm_count=51), snap=world(*movers)).requests
    assert rp.refusals == () and sum(c.op is Op.MERGE_OUT for c in rp.changes) == 51


@pytest.mark.parametrize("cap", [0, 5])
def test_the_cap_comes_from_the_inventory(cap):
    org = dataclasses.replace(ONE_ORG.organisations["bt"], mass_change_cap=cap)
    inventory = dataclasses.replace(ONE_ORG, organisations={"bt": org})
    found = people(cap + 1)
    (rp,) = make_plan([lock_of(found)], inventory, snapshot(*found), Progress(), NOW).requests
    assert [r.params["cap"] for r in rp.refusals] == [cap]
