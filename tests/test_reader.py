"""Escaping (hopthu.directory.dn) and the snapshot reader (hopthu.directory.reader) against real slapd."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import ldap3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hopthu.directory import DirectoryError, dn, reader
from hopthu.directory.reader import DirectoryReader, parse_generalized_time
from hopthu.model import EntryKind

# Every character RFC 4514 or RFC 4515 treats specially, in the places where it matters.
AWKWARD_UIDS = [
    "a,b",
    "a+b",
    'a"b',
    "a\\b",
    "a<b>",
    "a;b",
    "a=b",
    "#ab",
    " lead",
    "trail ",
    "*",
    "a*",
    "(x)",
    "*)(uid=*",
]


# --- escaping, no server ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("minhnv", "minhnv"),
        ("a,b+c", "a\\,b\\+c"),
        ('q"<>;=\\', 'q\\"\\<\\>\\;\\=\\\\'),
        ("#x#", "\\#x#"),
        (" x x ", "\\ x x\\ "),
        ("a\0b", "a\\00b"),
        ("Nguyễn", "Nguyễn"),
    ],
)
def test_rdn_values_are_escaped_per_rfc4514(value, escaped):
    assert dn.escape_rdn_value(value) == escaped


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1))
def test_escaped_rdn_values_parse_back(value):
    parsed = dn.parse_dn(dn.person_dn("dc=x,dc=vn", value))
    assert parsed[0] == (("uid", value),)
    assert parsed[1:] == ((("ou", "people"),), (("dc", "x"),), (("dc", "vn"),))


def test_server_spellings_of_a_dn_parse_the_same():
    assert dn.same_dn("CN=van\\2Cban, OU=Groups,dc=X", "cn=van\\,ban,ou=groups,dc=x")
    assert dn.child_value("CN=Van\\2Cban,OU=Groups,DC=X", "ou=groups,dc=x", "cn") == "Van,ban"
    assert dn.child_value("cn=a,ou=groups,dc=y", "ou=groups,dc=x", "cn") is None
    assert dn.child_value("cn=a,cn=b,ou=groups,dc=x", "ou=groups,dc=x", "cn") is None
    assert dn.parse_dn("uid=a+cn=b,dc=x")[0] == (("cn", "b"), ("uid", "a"))


@pytest.mark.parametrize("bad", ["uid", "uid=a,", "=a", "uid=a\\"])
def test_malformed_dns_are_refused(bad):
    with pytest.raises(dn.DNError):
        dn.parse_dn(bad)


def test_filter_values_are_escaped_per_rfc4515():
    assert dn.any_of("uid", ["*)(uid=*", "a\\b"]) == "(|(uid=\\2a\\29\\28uid=\\2a)(uid=a\\5cb))"
    assert dn.eq_filter("uid", "x\0") == "(uid=x\\00)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20250131094500Z", dt.datetime(2025, 1, 31, 9, 45, tzinfo=dt.UTC)),
        ("20250131094500.5Z", dt.datetime(2025, 1, 31, 9, 45, 0, 500000, tzinfo=dt.UTC)),
        ("202501310945+0700", dt.datetime(2025, 1, 31, 2, 45, tzinfo=dt.UTC)),
        ("2025013109Z", dt.datetime(2025, 1, 31, 9, tzinfo=dt.UTC)),
    ],
)
def test_generalized_time(text, expected):
    assert parse_generalized_time(text) == expected


def test_generalized_time_refuses_garbage():
    with pytest.raises(DirectoryError):
        parse_generalized_time("yesterday")


# --- the reader against slapd ----------------------------------------------------------------------


def add_account(conn, org, uid, *, mailbox=False, **attrs):
    entry_dn = (dn.mailbox_dn if mailbox else dn.person_dn)(org, uid)
    classes = ["inetOrgPerson", "hopthuAccount"] + (["hopthuUnitMailbox"] if mailbox else [])
    values = {"uid": uid, "cn": f"Tên {uid}", "sn": "Nguyễn", **attrs}
    assert conn.add(entry_dn, classes, values), (entry_dn, conn.result)
    return entry_dn


def test_reader_returns_what_the_directory_holds(directory, org):
    admin = directory.connect(org)
    minh = add_account(
        admin,
        org,
        "minhnv",
        cn="Nguyễn Văn Minh",
        departmentNumber="snv",
        title="Chuyên viên",
        userPassword="Khoi-tao-9f3Kq2",
        pwdReset="TRUE",
        hopthuLockedTime="20250301080000Z",
        pwdAccountLockedTime="000001010000Z",
    )
    add_account(admin, org, "snv", mailbox=True, hopthuManagerName="Lê Văn Thành", departmentNumber="snv")
    for group in ("qlvb", "motcua"):
        assert admin.modify(dn.group_dn(org, group), {"member": [(ldap3.MODIFY_ADD, [minh])]})

    found = DirectoryReader(admin).accounts(org, ["minhnv", "snv", "khongco"])

    assert set(found) == {"minhnv", "snv"}
    person, mailbox = found["minhnv"], found["snv"]
    assert person.kind is EntryKind.PERSON and mailbox.kind is EntryKind.MAILBOX
    assert dn.same_dn(person.dn, minh)
    assert person.first("cn") == "Nguyễn Văn Minh"
    assert person.attrs["departmentnumber"] == ("snv",)
    assert person.attrs["pwdaccountlockedtime"] == ("000001010000Z",)
    assert person.groups == {"qlvb", "motcua"}
    assert person.locked_at == dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC)
    assert person.password_reset_pending
    assert "userpassword" not in person.attrs
    assert mailbox.first("hopthuManagerName") == "Lê Văn Thành"
    assert mailbox.groups == frozenset() and mailbox.locked_at is None
    assert not mailbox.password_reset_pending


def test_reader_reads_one_organisation_only(directory, org, other_org):
    add_account(directory.connect(org), org, "minhnv")
    add_account(directory.connect(other_org), other_org, "anvtt")

    assert set(DirectoryReader(directory.connect(org)).accounts(org)) == {"minhnv"}
    assert DirectoryReader(directory.connect(other_org)).taken(other_org) == {"anvtt"}


def test_entries_outside_people_and_mailboxes_are_not_accounts(directory, org):
    admin = directory.connect(org)
    add_account(admin, org, "minhnv")
    assert admin.add(f"uid=minhnv,ou=policies,{org.base_dn}", ["account"], {"uid": "minhnv"}), admin.result
    try:
        found = DirectoryReader(admin).accounts(org, ["minhnv"])
        assert found["minhnv"].kind is EntryKind.PERSON
        assert DirectoryReader(admin).taken(org) == {"minhnv"}
    finally:
        admin.delete(f"uid=minhnv,ou=policies,{org.base_dn}")


def test_taken_covers_people_mailboxes_and_every_uid_value(directory, org):
    admin = directory.connect(org)
    add_account(admin, org, "MinhNV")
    add_account(admin, org, "snv", mailbox=True)
    assert admin.modify(dn.person_dn(org, "MinhNV"), {"uid": [(ldap3.MODIFY_ADD, ["minh.nguyen"])]})

    assert DirectoryReader(admin).taken(org) == {"minhnv", "snv", "minh.nguyen"}


def test_taken_keeps_every_address_an_account_has_or_had(directory, org):
    """A transfer or a merger may leave an old address whose local part is not the uid: still taken."""
    admin = directory.connect(org)
    add_account(
        admin,
        org,
        "anvtt",
        objectClass=["inetOrgPerson", "hopthuAccount", "inetLocalMailRecipient"],
        mail="anvtt@snv.demo.gov.vn",
        mailLocalAddress=["anvtt@bdt.demo.gov.vn", "an.vo@lamdong.gov.vn"],
    )
    assert DirectoryReader(admin).taken(org) == {"anvtt", "an.vo"}
    assert DirectoryReader(admin).holders(org) == {"anvtt": "Tên anvtt", "an.vo": "Tên anvtt"}


def test_holders_name_the_person_behind_every_uid_and_no_one_for_a_unit_mailbox(directory, org):
    admin = directory.connect(org)
    add_account(admin, org, "MinhTHT", cn="Trần Huỳnh Tấn Minh")
    add_account(admin, org, "snv", mailbox=True, cn="Sở Nội vụ")
    assert admin.modify(dn.person_dn(org, "MinhTHT"), {"uid": [(ldap3.MODIFY_ADD, ["tanminh"])]})
    read = DirectoryReader(admin)

    holders = read.holders(org)
    assert holders == {"minhtht": "Trần Huỳnh Tấn Minh", "tanminh": "Trần Huỳnh Tấn Minh", "snv": None}
    assert holders.keys() == read.taken(org)


def test_awkward_names_reach_the_server_escaped_and_are_found_exactly(directory, org):
    admin = directory.connect(org)
    for uid in [*AWKWARD_UIDS, "plain"]:
        add_account(admin, org, uid, cn=f'{uid} ,+"\\<>;=#')
    read = DirectoryReader(admin)

    for uid in AWKWARD_UIDS:
        found = read.accounts(org, [uid])
        assert list(found) == [uid], uid  # a filter injection would match other entries
        assert found[uid].first("cn") == f'{uid} ,+"\\<>;=#'
    assert set(read.accounts(org, AWKWARD_UIDS)) == set(AWKWARD_UIDS)
    assert read.accounts(org, ["b", "a"]) == {}
    assert set(read.accounts(org)) == {*AWKWARD_UIDS, "plain"}


def test_reads_span_chunks_and_pages(directory, org, monkeypatch):
    admin = directory.connect(org)
    for uid in ("anvtt", "minhnv", "tienminhth"):
        add_account(admin, org, uid)
    add_account(admin, org, "snv", mailbox=True)
    monkeypatch.setattr(reader, "CHUNK", 2)  # several look-ups
    monkeypatch.setattr(reader, "PAGE_SIZE", 2)  # several pages

    wanted = ["MINHNV", "anvtt", "khongco", "snv", "tienminhth"]
    assert set(DirectoryReader(admin).accounts(org, wanted)) == {"minhnv", "anvtt", "snv", "tienminhth"}
    assert set(DirectoryReader(admin).accounts(org)) == {"anvtt", "minhnv", "tienminhth", "snv"}
    assert DirectoryReader(admin).taken(org) == {"anvtt", "minhnv", "tienminhth", "snv"}


def test_a_missing_tree_is_a_clear_error(directory, org):
    elsewhere = replace(org, code="missing", base_dn="dc=missing,dc=gov,dc=vn")

    with pytest.raises(DirectoryError, match=r"ou=people,dc=missing,dc=gov,dc=vn.*noSuchObject.*base loaded"):
        DirectoryReader(directory.connect(org)).accounts(elsewhere)


def test_membership_is_read_from_the_groups_not_from_member_of(start_directory, org, tmp_path):
    """memberOf lags behind the group (the memberof overlay writes it after the group change commits;
    here it was never written: slapadd runs no overlay). The group's own member values are the truth."""
    server = start_directory([org])
    members = [dn.person_dn(org, f"user{i:06d}") for i in range(0, 300, 2)]
    group = (
        f"dn: cn=hcc,ou=groups,{org.base_dn}\nobjectClass: groupOfNames\ncn: hcc\nmember:\n"
        + "".join(f"member: {member}\n" for member in members)
        + "\n"
    )
    (tmp_path / "load.ldif").write_text(people_ldif(org, 300) + group)
    server.bulk_load(org, tmp_path / "load.ldif")
    read = DirectoryReader(server.connect(org))
    member_of = read.conn.search(dn.person_dn(org, "user000000"), "(memberOf=*)", ldap3.BASE)
    assert not member_of  # the situation of an interrupted apply: memberOf not (yet) written

    asked = [f"user{i:06d}" for i in range(250)]  # more than one chunk of look-ups
    for found in (read.accounts(org, asked), read.accounts(org)):
        in_group = {uid for uid, account in found.items() if account.groups}
        assert in_group == {f"user{i:06d}" for i in range(0, 300, 2)} & set(found)
        assert all(account.groups in (frozenset(), {"hcc"}) for account in found.values())
    assert read.groups_of(org, [(EntryKind.PERSON, "user000002"), (EntryKind.PERSON, "user000003")]) == {
        (EntryKind.PERSON, "user000002"): {"hcc"},
        (EntryKind.PERSON, "user000003"): frozenset(),
    }


# --- scale: figures for the report ----------------------------------------------------------------


def people_ldif(org, count: int) -> str:
    return "".join(
        f"dn: {dn.person_dn(org, f'user{i:06d}')}\nobjectClass: inetOrgPerson\nobjectClass: hopthuAccount\n"
        f"uid: user{i:06d}\ncn:: VMOqbiBuZ8aw4budaSBkw7luZw==\nsn: Nguyen\ndepartmentNumber: snv\n"
        f"employeeNumber: {i}\ntitle: Chuyen vien\nmail: user{i:06d}@{org.mail_domain}\n\n"
        for i in range(count)
    )


@pytest.mark.slow
def test_reading_a_large_directory_finds_exactly_what_was_asked(start_directory, org, tmp_path):
    """Correctness at scale; the timings live in bench/apply.py."""
    count = 10_000
    server = start_directory([org])
    (tmp_path / "people.ldif").write_text(people_ldif(org, count))
    server.bulk_load(org, tmp_path / "people.ldif")
    read = DirectoryReader(server.connect(org))
    one = read.accounts(org, [f"user{count // 2:06d}"])
    some = read.accounts(org, [f"user{i:06d}" for i in range(0, count, count // 1000)])
    taken = read.taken(org)
    everything = read.accounts(org)
    assert list(one) == [f"user{count // 2:06d}"]
    assert len(some) == 1000
    assert len(taken) == len(everything) == count
