"""Least privilege in each organisation's tree, proven against the real slapd with hopthu's configuration
(ldif/database.ldif.j2, ldif/base.ldif.j2): the mail servers' ``mail-lookup`` and the plan job's
``plan-reader`` read exactly what their programs need and cannot write anything; accounts read their own
entry and the address book; nobody but the rootdn reads a password."""

from __future__ import annotations

import ldap3
import pytest

from hopthu.directory import DirectoryError, dn
from hopthu.directory.connection import connect
from hopthu.directory.reader import DirectoryReader

PASSWORD = "Khoi-tao-9f3Kq2x"
LOCKED = "000001010000Z"
INSUFFICIENT_ACCESS = 50
# What Dovecot's and Postfix's filters and attributes use (tools/hopthu/mail/templates/), plus pwdReset
# for a first-login filter.
MAIL_ATTRIBUTES = {
    "objectClass",
    "uid",
    "mail",
    "mailLocalAddress",
    "hopthuMailQuota",
    "hopthuMailbox",
    "pwdReset",
    "pwdAccountLockedTime",
}
ADDRESS_BOOK = {
    "objectClass",
    "uid",
    "mail",
    "cn",
    "sn",
    "givenName",
    "displayName",
    "title",
    "ou",
    "departmentNumber",
    "telephoneNumber",
    "o",
}


def add(conn: ldap3.Connection, entry_dn: str, classes: list[str], **attrs: str) -> str:
    assert conn.add(entry_dn, classes, attrs), conn.result
    return entry_dn


@pytest.fixture
def tree(directory, org) -> dict[str, str]:
    """Two people (one in a group, with an old address; one locked with a one-time password) and a unit
    mailbox, with every attribute hopthu writes. Their DNs by username."""
    admin = directory.connect(org)
    person = ["inetOrgPerson", "hopthuAccount"]
    common = {"userPassword": PASSWORD, "departmentNumber": "snv", "title": "Chuyên viên"}
    minh = add(
        admin,
        dn.person_dn(org, "minhnv"),
        [*person, "inetLocalMailRecipient"],
        uid="minhnv",
        cn="Nguyễn Văn Minh",
        displayName="Nguyễn Văn Minh",
        sn="Nguyễn",
        givenName="Minh",
        employeeNumber="CB-0112",
        ou="Phòng Tổ chức",
        telephoneNumber="0912 345 601",
        mail="minhnv@demo.gov.vn",
        mailLocalAddress="minh.cu@demo.gov.vn",
        hopthuMailQuota="1073741824",
        hopthuMailbox="other/minhcu",  # moved here by a merger: the mailbox stayed in its folder
        **common,
    )
    lan = add(
        admin,
        dn.person_dn(org, "lanpt"),
        person,
        uid="lanpt",
        cn="Phạm Thị Lan",
        sn="Phạm",
        employeeNumber="CB-0113",
        mail="lanpt@demo.gov.vn",
        pwdReset="TRUE",
        pwdAccountLockedTime=LOCKED,
        hopthuLockedTime="20250317080000Z",
        **common,
    )
    box = add(
        admin,
        dn.mailbox_dn(org, "vpb"),
        [*person, "hopthuUnitMailbox"],
        uid="vpb",
        cn="Văn phòng",
        sn="Văn phòng",
        o="Sở Nội vụ",
        mail="vpb@demo.gov.vn",
        hopthuManagerName="Trần Thị Mỹ Lệ",
        hopthuManagerPhone="0252 3821 104",
        **common,
    )
    assert admin.modify(dn.group_dn(org, "qlvb"), {"member": [(ldap3.MODIFY_ADD, [minh])]}), admin.result
    admin.unbind()
    return {"minhnv": minh, "lanpt": lan, "vpb": box}


def visible(conn: ldap3.Connection, base: str) -> dict[str, set[str]]:
    """Every entry under ``base`` that ``conn`` sees, lower-cased DN -> the attributes it gets values of,
    asking for all of them (user, operational and userPassword by name)."""
    entries = conn.extend.standard.paged_search(
        base, "(objectClass=*)", ldap3.SUBTREE, attributes=["*", "+", "userPassword"], paged_size=500
    )
    return {
        entry["dn"].lower(): {name for name, values in entry["raw_attributes"].items() if values}
        for entry in entries
        if entry["type"] == "searchResEntry"
    }


def found(conn: ldap3.Connection, org, search_filter: str) -> list[str]:
    conn.search(org.base_dn, search_filter, ldap3.SUBTREE, attributes=["1.1"])
    assert conn.result["result"] == 0, conn.result
    return sorted(dn.child_value(e["dn"], e["dn"].split(",", 1)[1], "uid") for e in conn.response)


def test_mail_lookup_reads_the_mail_attributes_of_accounts_and_nothing_else(directory, org, tree):
    mail = directory.connect(org, dn.MAIL_LOOKUP)
    seen = visible(mail, org.base_dn)

    accounts = {entry_dn: attrs for entry_dn, attrs in seen.items() if entry_dn.startswith("uid=")}
    assert sorted(accounts) == sorted(entry_dn.lower() for entry_dn in tree.values())
    assert accounts[tree["minhnv"].lower()] == {
        "objectClass",
        "uid",
        "mail",
        "mailLocalAddress",
        "hopthuMailQuota",
        "hopthuMailbox",
    }
    assert accounts[tree["lanpt"].lower()] == {
        "objectClass",
        "uid",
        "mail",
        "pwdReset",
        "pwdAccountLockedTime",
    }
    assert accounts[tree["vpb"].lower()] == {"objectClass", "uid", "mail"}
    # Besides the accounts only the suffix and its containers (a search needs its base): no group, no
    # policy, no service identity.
    containers = {
        dn.container_dn(org, ou).lower() for ou in (dn.PEOPLE, dn.MAILBOXES, dn.GROUPS, dn.POLICIES)
    }
    assert set(seen) - set(accounts) == {org.base_dn.lower(), *containers}

    # The filters of Dovecot and Postfix work; a filter on anything else finds nothing.
    assert found(mail, org, "(&(objectClass=hopthuAccount)(mail=MinhNV@demo.gov.vn))") == ["minhnv"]
    assert found(mail, org, "(&(objectClass=hopthuAccount)(mailLocalAddress=minh.cu@demo.gov.vn))") == [
        "minhnv"
    ]
    not_locked = f"(&(objectClass=hopthuAccount)(mail=*)(!(pwdAccountLockedTime={LOCKED})))"
    assert found(mail, org, not_locked) == ["minhnv", "vpb"]
    assert found(mail, org, "(pwdReset=TRUE)") == ["lanpt"]
    for elsewhere in (
        "(employeeNumber=CB-0112)",
        "(cn=Nguyễn Văn Minh)",
        "(hopthuManagerName=*)",
        "(member=*)",
    ):
        assert found(mail, org, elsewhere) == [], elsewhere


def test_plan_reader_reads_everything_the_plan_reads_but_no_password(directory, org, tree):
    admin, plan = directory.connect(org), directory.connect(org, dn.PLAN_READER)
    as_admin, as_plan = DirectoryReader(admin), DirectoryReader(plan)

    assert as_plan.accounts(org) == as_admin.accounts(org)
    assert as_plan.accounts(org, ["minhnv", "lanpt", "vpb"]) == as_admin.accounts(
        org, ["minhnv", "lanpt", "vpb"]
    )
    # the kept address minh.cu@ (mailLocalAddress) is taken too
    assert as_plan.taken(org) == as_admin.taken(org) == {"minhnv", "lanpt", "vpb", "minh.cu"}
    accounts = as_plan.accounts(org)
    assert accounts["minhnv"].groups == {"qlvb"}  # from the group's member values
    assert accounts["lanpt"].password_reset_pending and accounts["lanpt"].locked_at is not None
    assert {"pwdaccountlockedtime", "hopthulockedtime", "employeenumber"} <= set(accounts["lanpt"].attrs)
    assert {"hopthumanagername", "hopthumanagerphone", "o"} <= set(accounts["vpb"].attrs)
    # The groups with their member values (group membership read from the groups' side).
    groups_dn = dn.container_dn(org, dn.GROUPS)
    members = {}
    for conn in (admin, plan):
        conn.search(groups_dn, "(objectClass=groupOfNames)", ldap3.LEVEL, attributes=["cn", "member"])
        members[conn] = {e["dn"].lower(): sorted(e["raw_attributes"]["member"]) for e in conn.response}
    assert (
        members[plan] == members[admin] and tree["minhnv"].encode() in members[plan][dn.group_dn(org, "qlvb")]
    )

    seen = visible(plan, org.base_dn)
    assert not any("userPassword" in attrs or "pwdHistory" in attrs for attrs in seen.values())
    assert not any(dn.SERVICES in entry_dn or "cn=default" in entry_dn for entry_dn in seen)


@pytest.mark.parametrize("service", dn.SERVICE_IDENTITIES)
def test_a_service_identity_can_write_nothing(directory, org, tree, service):
    admin, conn = directory.connect(org), directory.connect(org, service)
    before = DirectoryReader(admin).accounts(org)
    minh, own = tree["minhnv"], directory.service_dn(org, service)
    new_person = {"uid": "moi", "cn": "Mới", "sn": "Mới", "userPassword": PASSWORD}
    attempts = {
        "add an account": lambda: conn.add(dn.person_dn(org, "moi"), ["inetOrgPerson"], new_person),
        "add a service identity": lambda: conn.add(
            dn.service_dn(org, "writer"),
            ["applicationProcess", "simpleSecurityObject"],
            {"userPassword": PASSWORD},
        ),
        "change an attribute": lambda: conn.modify(minh, {"title": [(ldap3.MODIFY_REPLACE, ["Giám đốc"])]}),
        "add an address": lambda: conn.modify(
            minh, {"mailLocalAddress": [(ldap3.MODIFY_ADD, ["x@demo.gov.vn"])]}
        ),
        "unlock an account": lambda: conn.modify(
            tree["lanpt"], {"pwdAccountLockedTime": [(ldap3.MODIFY_DELETE, [])]}
        ),
        "set a password": lambda: conn.modify(
            minh, {"userPassword": [(ldap3.MODIFY_REPLACE, ["Chiem-quyen-1x"])]}
        ),
        "reset a password": lambda: conn.extend.standard.modify_password(minh, None, "Chiem-quyen-1x"),
        "change its own password": lambda: conn.extend.standard.modify_password(own, None, "Chiem-quyen-1x"),
        "join a group": lambda: conn.modify(
            dn.group_dn(org, "qlvb"), {"member": [(ldap3.MODIFY_ADD, [own])]}
        ),
        "delete an account": lambda: conn.delete(tree["vpb"]),
        "rename an account": lambda: conn.modify_dn(minh, "uid=minhnv2"),
        "move an account": lambda: conn.modify_dn(
            minh, "uid=minhnv", new_superior=dn.container_dn(org, dn.MAILBOXES)
        ),
    }
    for what, attempt in attempts.items():
        attempt()
        assert conn.result["result"] == INSUFFICIENT_ACCESS, (what, conn.result)

    assert DirectoryReader(admin).accounts(org) == before
    assert connect(directory.uri, minh, PASSWORD)  # its password is still its own
    connect(directory.uri, own, directory.service_password(org, service)).unbind()


def test_accounts_read_their_own_entry_and_the_address_book_of_the_others(directory, org, tree):
    minh = connect(directory.uri, tree["minhnv"], PASSWORD)
    seen = visible(minh, org.base_dn)

    own = seen[tree["minhnv"].lower()]
    assert {"employeeNumber", "memberOf", "hopthuMailQuota", "mailLocalAddress"} <= own
    assert "userPassword" not in own
    for other in ("lanpt", "vpb"):
        assert "cn" in seen[tree[other].lower()] and seen[tree[other].lower()] <= ADDRESS_BOOK, other
    assert not any(dn.SERVICES in entry_dn or "cn=qlvb" in entry_dn for entry_dn in seen)


def test_identities_of_another_organisation_on_the_same_server_read_nothing(directory, org, other_org, tree):
    for service in dn.SERVICE_IDENTITIES:
        conn = directory.connect(other_org, service)
        conn.search(org.base_dn, "(objectClass=*)", ldap3.SUBTREE, attributes=["*"])
        assert conn.response == [], service
    admin = directory.connect(other_org)
    elsewhere = add(admin, dn.person_dn(other_org, "anvtt"), ["inetOrgPerson"], uid="anvtt", cn="An", sn="Võ")
    minh = connect(directory.uri, tree["minhnv"], PASSWORD)
    minh.search(elsewhere, "(objectClass=*)", ldap3.BASE, attributes=["*"])
    assert minh.response == []


def test_a_service_secret_can_be_rotated_and_failed_binds_never_lock_it_out(start_directory, org):
    server = start_directory([org])
    service_dn = server.service_dn(org, dn.MAIL_LOOKUP)
    # Someone guesses: ppolicy would lock a person after 5 failures, but not the mail servers' identity.
    for _ in range(6):
        with pytest.raises(DirectoryError, match="49"):
            connect(server.uri, service_dn, "doan-mo")
    server.connect(org, dn.MAIL_LOOKUP).unbind()

    # IT rotates the secret with the rootdn: no pwdReset (which would refuse every search), old one gone.
    admin = server.connect(org)
    change = {"userPassword": [(ldap3.MODIFY_REPLACE, ["Bi-mat-moi-7Qx2kLp9"])]}
    assert admin.modify(service_dn, change), admin.result
    rotated = connect(server.uri, service_dn, "Bi-mat-moi-7Qx2kLp9")
    assert rotated.search(org.base_dn, "(objectClass=*)", ldap3.BASE, attributes=["dc"]), rotated.result
    with pytest.raises(DirectoryError, match="49"):
        connect(server.uri, service_dn, server.service_password(org, dn.MAIL_LOOKUP))
