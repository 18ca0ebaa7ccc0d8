"""The planner decides from plain data: requests, a snapshot, the audit progress. No server needed."""

from __future__ import annotations

import datetime as dt

import pytest

from builders import organisation
from hopthu.model import (
    AccountChange,
    AppGroup,
    DirectoryAccount,
    Document,
    EntryKind,
    Inventory,
    Kind,
    Manager,
    NewPerson,
    NewUnitMailbox,
    Op,
    Organisation,
    Request,
    Requester,
    Snapshot,
    Unit,
)
from hopthu.plan import Progress, RequestPlan, make_plan

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def reasons(rp: RequestPlan) -> list[tuple[str, list[str]]]:
    """Each refusal's code and the accounts it names."""
    return [(r.code, [a.get("uid") or a.get("name") for a in r.accounts]) for r in rp.refusals]


def org(**overrides) -> Organisation:
    values = dict(
        name="Sở Thông tin và Truyền thông",
        reserved=frozenset({"admin"}),
        units={
            "bdt": Unit("bdt", "Ban Dân tộc", "vanphong@bdt.binhthuan.gov.vn", (), "bdt.binhthuan.gov.vn"),
            "snv": Unit("snv", "Sở Nội vụ", "vanphong@snv.binhthuan.gov.vn", (), "snv.binhthuan.gov.vn"),
        },
        app_groups={"qlvb": AppGroup("qlvb", "Quản lý văn bản"), "hcc": AppGroup("hcc", "Một cửa")},
    )
    return organisation(**(values | overrides))


INVENTORY = Inventory({"bt": org()})


def request(kind: Kind, *accounts, rid="r-001", unit="bdt", date=dt.date(2026, 11, 20)) -> Request:
    return Request(
        id=rid,
        org="bt",
        unit=unit,
        kind=kind,
        document=Document("12/BDT-VP", date, "Nguyễn Văn A"),
        requester=Requester("Lê Thị B", "Chánh Văn phòng"),
        reason="test",
        accounts=tuple(accounts),
    )


def person(username="minhnv", staff="BDT-1", services=("email", "qlvb")) -> NewPerson:
    return NewPerson(
        "Nguyễn Văn Minh", staff, "Chuyên viên", "Phòng Chính sách", "0912345678", services, username
    )


def existing(uid="minhnv", unit="bdt", locked_at=None, groups=(), **attrs) -> DirectoryAccount:
    values = {
        "objectclass": ("inetOrgPerson", "hopthuAccount"),
        "uid": (uid,),
        "cn": ("Nguyễn Văn Minh",),
        "departmentnumber": (unit,),
        "employeenumber": ("BDT-1",),
        "mail": (f"{uid}@{unit}.binhthuan.gov.vn",),
        "title": ("Chuyên viên",),
    }
    values.update({k.lower(): v for k, v in attrs.items()})
    return DirectoryAccount(uid, f"uid={uid}", EntryKind.PERSON, values, frozenset(groups), locked_at)


def snapshot(*accounts: DirectoryAccount) -> Snapshot:
    return Snapshot({("bt", a.uid): a for a in accounts})


def plan(*requests, snap=None, progress=None, now=NOW):
    return make_plan(requests, INVENTORY, snap or snapshot(), progress or Progress(), now)


def test_create_person_makes_entry_with_mail_on_the_unit_subdomain_and_group_membership():
    result = plan(request(Kind.CREATE, person()))
    (rp,) = result.requests
    assert rp.refusal is None
    ops = [(c.op, c.group) for c in rp.changes]
    assert ops == [(Op.CREATE, None), (Op.ADD_MEMBER, "qlvb")]
    entry = rp.changes[0].after
    assert entry["mail"] == ("minhnv@bdt.binhthuan.gov.vn",)
    assert entry["departmentNumber"] == ("bdt",)
    assert entry["sn"] == ("Nguyễn",) and entry["givenName"] == ("Minh",)
    assert "userPassword" not in entry  # passwords never travel in a plan
    assert result.counts() == {"create": 1, "update": 0, "delete": 0}


def test_create_without_email_service_has_no_mail_attribute():
    (rp,) = plan(request(Kind.CREATE, person(services=("qlvb",)))).requests
    assert "mail" not in rp.changes[0].after


def test_create_already_done_plans_nothing_but_missing_membership():
    done = existing(groups=())
    (rp,) = plan(request(Kind.CREATE, person()), snap=snapshot(done)).requests
    assert [(c.op, c.group) for c in rp.changes] == [(Op.ADD_MEMBER, "qlvb")]


def test_create_of_a_name_taken_since_review_is_refused_whole():
    other = existing(employeeNumber=("SNV-9",), cn=("Nguyễn Văn Mình",))
    req = request(Kind.CREATE, person(username="annt", staff="BDT-2"), person())
    (rp,) = plan(req, snap=snapshot(other)).requests
    assert rp.changes == ()
    assert reasons(rp) == [("username-taken", ["minhnv"])]
    assert "minhnv (held by 'Nguyễn Văn Mình')" in rp.refusal


def test_unit_mailbox_create_records_the_manager():
    mailbox = NewUnitMailbox(
        "Văn phòng Ban", "Ban Dân tộc", Manager("Trần Văn C", "0909", "c@x.vn", "Chánh VP"), "0252", "vpbdt"
    )
    (rp,) = plan(request(Kind.CREATE, mailbox)).requests
    (create,) = rp.changes
    assert create.kind is EntryKind.MAILBOX
    assert create.after["hopthuManagerName"] == ("Trần Văn C",)
    assert create.after["mail"] == ("vpbdt@binhthuan.gov.vn",)  # an agency address of the organisation


def test_lock_of_unknown_account_is_refused_with_reason():
    (rp,) = plan(request(Kind.LOCK, AccountChange("nobody"))).requests
    assert reasons(rp) == [("account-missing", ["nobody"])]
    assert rp.refusal == "1 account(s) do not exist in bt: nobody"


def test_lock_then_unlock_and_already_locked_plans_nothing():
    (rp,) = plan(request(Kind.LOCK, AccountChange("minhnv")), snap=snapshot(existing())).requests
    (lock,) = rp.changes
    assert lock.after["pwdAccountLockedTime"] == ("000001010000Z",)
    assert lock.after["hopthuLockedTime"] == ("20261123090000Z",)
    locked = existing(locked_at=NOW, pwdAccountLockedTime=("000001010000Z",))
    assert plan(request(Kind.LOCK, AccountChange("minhnv")), snap=snapshot(locked)).changes == ()
    (unlock,) = plan(request(Kind.UNLOCK, AccountChange("minhnv")), snap=snapshot(locked)).changes
    assert unlock.op is Op.UNLOCK


def test_a_unit_cannot_act_on_another_units_account():
    (rp,) = plan(request(Kind.LOCK, AccountChange("minhnv"), unit="snv"), snap=snapshot(existing())).requests
    assert reasons(rp) == [("not-own-account", ["minhnv"])]
    assert rp.refusals[0].accounts[0]["owner_name"] == "Ban Dân tộc"
    assert "minhnv (unit bdt)" in rp.refusal


def test_full_name_given_as_safety_check_must_match_the_directory():
    req = request(Kind.LOCK, AccountChange("minhnv", full_name="Nguyễn Văn Mạnh"))
    (rp,) = plan(req, snap=snapshot(existing())).requests
    assert reasons(rp) == [("name-mismatch", ["minhnv"])]
    assert "minhnv belongs to 'Nguyễn Văn Minh', not 'Nguyễn Văn Mạnh'" in rp.refusal
    nfd_caps = AccountChange("minhnv", full_name="NGUYỄN  VĂN MINH".replace("Ễ", "E\u0302\u0303"))
    assert plan(request(Kind.LOCK, nfd_caps), snap=snapshot(existing())).requests[0].refusal is None


def test_delete_waits_for_the_retention_period_after_lock():
    locked = existing(locked_at=NOW - dt.timedelta(days=10), groups=("qlvb",))
    (rp,) = plan(request(Kind.DELETE, AccountChange("minhnv")), snap=snapshot(locked)).requests
    assert reasons(rp) == [("delete-too-early", ["minhnv"])]
    (too_early,) = rp.refusals[0].accounts
    assert too_early == {"uid": "minhnv", "locked_on": "13/11/2026", "earliest": "11/02/2027"}
    assert "locked less than 90 days ago" in rp.refusal
    old = existing(locked_at=NOW - dt.timedelta(days=91), groups=("qlvb",))
    (rp,) = plan(request(Kind.DELETE, AccountChange("minhnv")), snap=snapshot(old)).requests
    assert [c.op for c in rp.changes] == [Op.REMOVE_MEMBER, Op.DELETE]
    assert rp.changes[-1].before["cn"] == ("Nguyễn Văn Minh",)


def test_delete_of_an_unlocked_account_is_refused():
    (rp,) = plan(request(Kind.DELETE, AccountChange("minhnv")), snap=snapshot(existing())).requests
    assert reasons(rp) == [("delete-not-locked", ["minhnv"])]


def test_delete_interrupted_after_it_took_effect_converges():
    key = ("r-001", "delete", "minhnv", "")
    progress = Progress(intents={key: NOW})
    (rp,) = plan(request(Kind.DELETE, AccountChange("minhnv")), progress=progress).requests
    assert rp.refusal is None and rp.changes == ()


def test_update_transfer_changes_unit_and_subdomain_address_but_never_the_username():
    req = request(Kind.UPDATE, AccountChange("minhnv", unit="snv", position="Phó Trưởng phòng"))
    (rp,) = plan(req, snap=snapshot(existing())).requests
    by_op = {c.op: c for c in rp.changes}
    assert by_op[Op.MOVE].after == {
        "departmentNumber": ("snv",),
        "mail": ("minhnv@snv.binhthuan.gov.vn",),
        # the old address is never dropped: it stays an alias of the same mailbox
        "mailLocalAddress": ("minhnv@bdt.binhthuan.gov.vn",),
        "objectClass": ("inetOrgPerson", "hopthuAccount", "inetLocalMailRecipient"),
    }
    assert by_op[Op.MOVE].before["departmentNumber"] == ("bdt",)
    assert by_op[Op.MOVE].before["mail"] == ("minhnv@bdt.binhthuan.gov.vn",)
    assert by_op[Op.MODIFY].before == {"title": ("Chuyên viên",)}
    assert all(c.uid == "minhnv" for c in rp.changes)


def test_update_services_adds_and_removes_groups_and_mail():
    current = existing(groups=("hcc",))
    req = request(Kind.UPDATE, AccountChange("minhnv", services=("qlvb",)))
    (rp,) = plan(req, snap=snapshot(current)).requests
    ops = {(c.op, c.group) for c in rp.changes}
    assert ops == {(Op.ADD_MEMBER, "qlvb"), (Op.REMOVE_MEMBER, "hcc"), (Op.MODIFY, None)}
    modify = next(c for c in rp.changes if c.op is Op.MODIFY)
    assert modify.after["mail"] == ()


def test_update_with_nothing_new_plans_nothing():
    req = request(Kind.UPDATE, AccountChange("minhnv", position="Chuyên viên"))
    assert plan(req, snap=snapshot(existing())).changes == ()


def test_handover_of_unit_mailbox_sets_manager_and_a_new_password():
    box = DirectoryAccount(
        "vpbdt",
        "",
        EntryKind.MAILBOX,
        {"uid": ("vpbdt",), "cn": ("Văn phòng",), "departmentnumber": ("bdt",), "hopthumanagername": ("X",)},
        frozenset(),
        None,
    )
    req = request(Kind.UPDATE, AccountChange("vpbdt", manager=Manager("Phạm Thị D", "0908")))
    (rp,) = plan(req, snap=snapshot(box)).requests
    assert [c.op for c in rp.changes] == [Op.MODIFY, Op.SET_PASSWORD]
    assert rp.changes[0].after["hopthuManagerName"] == ("Phạm Thị D",)


def test_reset_password_once_even_when_rerun_after_crash():
    req = request(Kind.RESET_PASSWORD, AccountChange("minhnv"))
    (first,) = plan(req, snap=snapshot(existing())).changes
    assert first.op is Op.SET_PASSWORD
    done = Progress(completed=frozenset({first.key}))
    assert plan(req, snap=snapshot(existing()), progress=done).changes == ()
    # Killed between intent and completion record: the server's pwdChangedTime says whether it happened.
    started = NOW - dt.timedelta(minutes=1)
    intent = Progress(intents={first.key: started})
    changed = existing(pwdChangedTime=("20261123085930Z",))
    assert plan(req, snap=snapshot(changed), progress=intent).changes == ()
    unchanged = existing(pwdChangedTime=("20250101000000Z",))
    assert len(plan(req, snap=snapshot(unchanged), progress=intent).changes) == 1


def test_reset_password_of_a_locked_account_is_refused():
    locked = existing(locked_at=NOW)
    (rp,) = plan(request(Kind.RESET_PASSWORD, AccountChange("minhnv")), snap=snapshot(locked)).requests
    assert reasons(rp) == [("reset-locked", ["minhnv"])]


def test_finished_requests_plan_nothing_and_later_requests_see_earlier_ones():
    create = request(Kind.CREATE, person(), rid="a-create", date=dt.date(2026, 11, 1))
    lock = request(Kind.LOCK, AccountChange("minhnv"), rid="b-lock", date=dt.date(2026, 11, 2))
    result = plan(lock, create)  # given out of order: planned by document date
    assert [rp.request.id for rp in result.requests] == ["a-create", "b-lock"]
    assert [c.op for c in result.requests[1].changes] == [Op.LOCK]
    finished = Progress(finished={"a-create": "applied"})
    again = plan(create, progress=finished)
    assert again.requests[0].done and again.changes == ()


@pytest.mark.parametrize("kind", [Kind.LOCK, Kind.UNLOCK, Kind.DELETE, Kind.RESET_PASSWORD, Kind.UPDATE])
def test_every_kind_needs_an_existing_account(kind):
    (rp,) = plan(request(kind, AccountChange("ghost"))).requests
    assert reasons(rp) == [("account-missing", ["ghost"])]
