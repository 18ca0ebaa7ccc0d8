"""The server behaviours hopthu relies on, proven against the real slapd with hopthu's configuration:
password hashing, must-change-at-first-login, lock (khóa) and unlock, group membership, access rules."""

from __future__ import annotations

import ldap3
import pytest

from hopthu.directory import DirectoryError, dn
from hopthu.directory.connection import connect
from hopthu.directory.reader import DirectoryReader

INITIAL = "Khoi-tao-9f3Kq2"
LOCKED_FOREVER = "000001010000Z"
INSUFFICIENT_ACCESS = 50
INVALID_CREDENTIALS = 49


def add_person(conn: ldap3.Connection, org, uid: str, password: str | None = INITIAL, **extra: str) -> str:
    entry_dn = dn.person_dn(org, uid)
    attrs = {"uid": uid, "cn": f"Người dùng {uid}", "sn": "Nguyễn", **extra}
    if password is not None:
        attrs["userPassword"] = password
    assert conn.add(entry_dn, ["inetOrgPerson", "hopthuAccount"], attrs), conn.result
    return entry_dn


def read(conn: ldap3.Connection, entry_dn: str, *attrs: str) -> dict[str, list[bytes]]:
    assert conn.search(entry_dn, "(objectClass=*)", ldap3.BASE, attributes=list(attrs)), conn.result
    return {name.lower(): values for name, values in conn.response[0]["raw_attributes"].items() if values}


def user_session(directory, entry_dn: str, password: str) -> ldap3.Connection:
    return connect(directory.uri, entry_dn, password)


def can_search(conn: ldap3.Connection, org) -> bool:
    conn.search(org.base_dn, "(uid=*)", attributes=["uid"])
    if conn.result["result"] == INSUFFICIENT_ACCESS:
        return False
    assert conn.result["result"] == 0, conn.result
    return True


def test_cleartext_password_is_stored_hashed(directory, org):
    admin = directory.connect(org)
    entry_dn = add_person(admin, org, "minhnv")

    stored = read(admin, entry_dn, "userPassword")["userpassword"]

    assert len(stored) == 1
    assert stored[0].startswith(b"{SSHA}")
    assert INITIAL.encode() not in stored[0]
    user_session(directory, entry_dn, INITIAL).unbind()  # the hash still verifies


def test_add_does_not_set_pwdreset_so_hopthu_must_write_it(directory, org):
    admin = directory.connect(org)
    entry_dn = add_person(admin, org, "minhnv")

    assert "pwdreset" not in read(admin, entry_dn, "pwdReset")
    assert can_search(user_session(directory, entry_dn, INITIAL), org)  # free to use the initial password


def test_created_with_pwdreset_user_must_change_password_first(directory, org):
    admin = directory.connect(org)
    entry_dn = add_person(admin, org, "anvtt", pwdReset="TRUE")
    user = user_session(directory, entry_dn, INITIAL)  # bind works…

    assert not can_search(user, org)  # …but nothing else until the password is changed

    assert user.extend.standard.modify_password(entry_dn, INITIAL, "Mat-khau-rieng-2025"), user.result
    assert can_search(user, org)
    assert "pwdreset" not in read(admin, entry_dn, "pwdReset")


def test_admin_password_replace_sets_pwdreset_by_itself(directory, org):
    admin = directory.connect(org)
    entry_dn = add_person(admin, org, "minhnv")

    assert admin.modify(entry_dn, {"userPassword": [(ldap3.MODIFY_REPLACE, ["Cap-lai-7Hs92kL"])]}), (
        admin.result
    )

    state = read(admin, entry_dn, "pwdReset", "pwdChangedTime")
    assert state["pwdreset"] == [b"TRUE"]
    assert "pwdchangedtime" in state  # set on modify (not on add): the planner's proof of a reset
    user = user_session(directory, entry_dn, "Cap-lai-7Hs92kL")
    assert not can_search(user, org)
    with pytest.raises(DirectoryError):
        user_session(directory, entry_dn, INITIAL)


def test_user_cannot_choose_a_short_password(directory, org):
    admin = directory.connect(org)
    entry_dn = add_person(admin, org, "minhnv")
    user = user_session(directory, entry_dn, INITIAL)

    assert not user.extend.standard.modify_password(entry_dn, INITIAL, "short-11ch")
    assert user.result["description"] == "constraintViolation"


def test_permanent_lock_refuses_bind_and_delete_restores_it(directory, org):
    admin = directory.connect(org)
    entry_dn = add_person(admin, org, "minhnv")
    policy = read(admin, dn.policy_dn(org), "pwdLockoutDuration")
    assert int(policy["pwdlockoutduration"][0]) > 0  # the lock below must not expire with it

    assert admin.modify(entry_dn, {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, [LOCKED_FOREVER])]})
    with pytest.raises(DirectoryError, match=r"\(49\)"):
        user_session(directory, entry_dn, INITIAL)

    assert admin.modify(entry_dn, {"pwdAccountLockedTime": [(ldap3.MODIFY_DELETE, [])]})
    assert can_search(user_session(directory, entry_dn, INITIAL), org)


def test_failed_binds_lock_for_a_while_which_is_not_a_hopthu_lock(directory, org):
    admin = directory.connect(org)
    entry_dn = add_person(admin, org, "minhnv")
    for _ in range(5):
        with pytest.raises(DirectoryError):
            user_session(directory, entry_dn, "wrong password")

    with pytest.raises(DirectoryError):
        user_session(directory, entry_dn, INITIAL)  # locked out even with the right password
    account = DirectoryReader(admin).accounts(org, ["minhnv"])["minhnv"]
    assert account.first("pwdAccountLockedTime") not in (None, LOCKED_FOREVER)  # a timestamp: expires
    assert account.locked_at is None


def test_memberof_follows_group_membership_and_account_deletion(directory, org):
    admin = directory.connect(org)
    entry_dn = add_person(admin, org, "minhnv")
    group = dn.group_dn(org, "qlvb")

    assert admin.modify(group, {"member": [(ldap3.MODIFY_ADD, [entry_dn])]}), admin.result
    assert DirectoryReader(admin).accounts(org, ["minhnv"])["minhnv"].groups == {"qlvb"}

    assert admin.modify(group, {"member": [(ldap3.MODIFY_DELETE, [entry_dn])]}), admin.result
    assert DirectoryReader(admin).accounts(org, ["minhnv"])["minhnv"].groups == frozenset()
    assert read(admin, group, "member")["member"] == [b""]  # the placeholder keeps the group valid

    assert admin.modify(group, {"member": [(ldap3.MODIFY_ADD, [entry_dn])]}), admin.result
    assert admin.delete(entry_dn), admin.result
    assert read(admin, group, "member")["member"] == [b""]  # refint removed the deleted account


def test_users_read_the_address_book_but_no_password_and_anonymous_reads_nothing(directory, org):
    admin = directory.connect(org)
    minh = add_person(admin, org, "minhnv")
    add_person(admin, org, "anvtt", employeeNumber="CB-0007")

    user = user_session(directory, minh, INITIAL)
    assert user.search(dn.person_dn(org, "anvtt"), "(objectClass=*)", ldap3.BASE, attributes=["*"])
    assert "userPassword" not in user.response[0]["raw_attributes"]
    assert "employeeNumber" not in user.response[0]["raw_attributes"]  # not in the address book
    assert user.response[0]["raw_attributes"]["cn"] == ["Người dùng anvtt".encode()]

    anonymous = ldap3.Connection(ldap3.Server(directory.uri, get_info=ldap3.NONE), auto_bind=True)
    anonymous.search(org.base_dn, "(uid=*)", attributes=["uid"])
    assert anonymous.response == []


def test_a_user_pages_through_more_entries_than_the_size_limit(start_directory, org, tmp_path):
    """An account gets 500 entries per plain search, any number paged; the service identities any number."""
    ldif = "".join(
        f"dn: {dn.person_dn(org, f'u{i:04d}')}\nobjectClass: inetOrgPerson\nuid: u{i:04d}\ncn: U\nsn: U\n\n"
        for i in range(1200)
    )
    (tmp_path / "people.ldif").write_text(ldif)
    directory = start_directory([org])
    directory.bulk_load(org, tmp_path / "people.ldif")
    admin = directory.connect(org)
    reader_dn = add_person(admin, org, "dichvu")
    service = user_session(directory, reader_dn, INITIAL)

    service.search(dn.container_dn(org, dn.PEOPLE), "(uid=*)", ldap3.LEVEL, attributes=["uid"])
    assert service.result["description"] == "sizeLimitExceeded"
    entries = service.extend.standard.paged_search(
        dn.container_dn(org, dn.PEOPLE), "(uid=*)", ldap3.LEVEL, attributes=["uid"], paged_size=1000
    )
    assert sum(1 for _ in entries) == 1201
    for name in dn.SERVICE_IDENTITIES:
        whole = directory.connect(org, name)
        whole.search(dn.container_dn(org, dn.PEOPLE), "(uid=*)", ldap3.LEVEL, attributes=["uid"])
        assert whole.result["result"] == 0 and len(whole.response) == 1201, name
