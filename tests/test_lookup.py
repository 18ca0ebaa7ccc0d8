"""Pipelined equality look-ups (hopthu.directory.lookup): ldap3's bytes, and real slapd's answers."""

from __future__ import annotations

import ldap3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ldap3.operation.search import search_operation
from ldap3.protocol.convert import build_controls_list
from ldap3.protocol.rfc4511 import LDAPMessage, MessageID, ProtocolOp
from ldap3.utils.asn1 import encode as ldap3_encode

from hopthu.directory import DirectoryError, dn, lookup, reader
from hopthu.directory.reader import ACCOUNT_ATTRIBUTES, DirectoryReader

real_paged = reader.paged_search
MESSAGE_IDS = [1, 127, 128, 255, 256, 32767, 32768, 65536, 2**31 - 1]
# ldap3 strips the whitespace around a filter value; the raw encoding keeps it (uid's matching rule
# ignores it on the server anyway: the awkward names of test_reader.py are found both ways).
uid_text = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=30).filter(
    lambda text: text == text.strip()
)


def ldap3_search(
    message_id: int, base: str, scope: str, search_filter: str, attributes, controls=None
) -> bytes:
    """What ``conn.search(base, search_filter, scope, attributes=attributes, controls=controls)`` puts on
    the wire."""
    request = search_operation(
        base, search_filter, scope, ldap3.DEREF_ALWAYS, list(attributes), 0, 0, False, True, True
    )
    message = LDAPMessage()
    message["messageID"] = MessageID(message_id)
    message["protocolOp"] = ProtocolOp().setComponentByName("searchRequest", request)
    if controls:
        message["controls"] = build_controls_list(controls)
    return ldap3_encode(message)


@given(
    message_id=st.sampled_from(MESSAGE_IDS),
    uids=st.lists(uid_text, min_size=1, max_size=5),
    scope=st.sampled_from([ldap3.BASE, ldap3.LEVEL, ldap3.SUBTREE]),
)
def test_a_search_is_encoded_as_ldap3_encodes_the_escaped_filter(message_id, uids, scope):
    base = "ou=people,dc=demo,dc=gov,dc=vn"
    ours = lookup.encode_search(
        message_id, base, scope, lookup.encode_filter("uid", uids), ACCOUNT_ATTRIBUTES
    )
    assert ours == ldap3_search(message_id, base, scope, dn.any_of("uid", uids), ACCOUNT_ATTRIBUTES)


def test_long_filters_and_attribute_lists_use_long_lengths():
    uids = [f"user{i:05d}" for i in range(300)]  # a filter of several kilobytes
    attributes = [f"attr{i}" for i in range(40)]
    ours = lookup.encode_search(
        70000, "dc=demo,dc=gov,dc=vn", ldap3.SUBTREE, lookup.encode_filter("uid", uids), attributes
    )
    assert ours == ldap3_search(
        70000, "dc=demo,dc=gov,dc=vn", ldap3.SUBTREE, dn.any_of("uid", uids), attributes
    )


@given(message_id=st.sampled_from(MESSAGE_IDS), members=st.lists(uid_text, min_size=1, max_size=4))
def test_a_search_with_a_matched_values_control_is_encoded_as_ldap3_encodes_it(message_id, members):
    dns = [f"uid={dn.escape_rdn_value(uid)},ou=people,dc=demo,dc=gov,dc=vn" for uid in members]
    value = lookup.encode_values_filter("member", dns)
    control = lookup.encode_control(reader.MATCHED_VALUES, True, value)
    base = "ou=groups,dc=demo,dc=gov,dc=vn"
    ours = lookup.encode_search(
        message_id, base, ldap3.LEVEL, lookup.encode_filter("member", dns), ["member"], [control]
    )
    theirs = ldap3_search(
        message_id,
        base,
        ldap3.LEVEL,
        dn.any_of("member", dns),
        ["member"],
        controls=[(reader.MATCHED_VALUES, True, value)],
    )
    assert ours == theirs


def test_a_filter_needs_a_value():
    with pytest.raises(ValueError):
        lookup.encode_filter("uid", [])


def test_responses_are_decoded_only_when_complete():
    entry = bytes.fromhex(
        "30 1d 02 01 05 64 18 04 05 75 69 64 3d 61 30 0f 30 0d 04 03 75 69 64 31 06 04 01 61 04 01 41"
    )
    done = bytes.fromhex("30 0c 02 01 05 65 07 0a 01 00 04 00 04 00")
    data = entry + done
    for cut in range(len(data)):
        messages, used = lookup.decode_messages(data[:cut])
        assert used == (len(entry) if cut >= len(entry) else 0)
    messages, used = lookup.decode_messages(data)
    assert used == len(data)
    assert messages == [
        (5, 0x64, {"dn": "uid=a", "raw_attributes": {"uid": [b"a", b"A"]}}),
        (5, 0x65, (0, "")),
    ]


def add_person(conn, org, uid: str, **attrs) -> None:
    values = {"uid": uid, "cn": f"Tên {uid}", "sn": "Nguyễn", **attrs}
    assert conn.add(dn.person_dn(org, uid), ["inetOrgPerson", "hopthuAccount"], values), conn.result


def test_many_look_ups_in_flight_find_exactly_the_named_accounts(directory, org, monkeypatch):
    admin = directory.connect(org)
    named = [f"u{i:03d}" for i in range(0, 60, 3)]
    for i in range(60):
        add_person(admin, org, f"u{i:03d}", title="Chuyên viên", employeeNumber=f"CB-{i}")
    monkeypatch.setattr(reader, "CHUNK", 3)  # seven look-ups, four in flight at a time

    found = DirectoryReader(admin).accounts(org, [*named, "khongco"])

    assert sorted(found) == named
    assert found["u030"].first("employeeNumber") == "CB-30"
    assert found["u030"].first("title") == "Chuyên viên"
    assert "userpassword" not in found["u030"].attrs
    assert admin.search(org.base_dn, "(uid=u003)", attributes=["cn"]) and admin.entries  # ldap3 carries on


def test_a_missing_tree_is_a_clear_error_for_look_ups_too(directory, org):
    from dataclasses import replace

    elsewhere = replace(org, code="missing", base_dn="dc=missing,dc=gov,dc=vn")
    admin = directory.connect(org)
    with pytest.raises(DirectoryError, match=r"dc=missing,dc=gov,dc=vn.*noSuchObject.*base loaded"):
        DirectoryReader(admin).accounts(elsewhere, ["minhnv"])
    assert admin.search(org.base_dn, "(objectClass=*)", ldap3.BASE)  # the connection is still in step


def set_limits(server, org, who: str, limits: str | None) -> str:
    """Set the org database's olcLimits for ``who`` (e.g. ``users``) to ``limits`` (cn=config over
    ldapi), keeping its place in the list; returns what they were."""
    conn = ldap3.Connection(
        ldap3.Server(server.ldapi_uri, get_info=ldap3.NONE),
        authentication=ldap3.SASL,
        sasl_mechanism=ldap3.EXTERNAL,
        sasl_credentials=b"",
    )
    assert conn.bind()
    try:
        conn.search("cn=config", f"(olcSuffix={org.base_dn})", attributes=["olcLimits"])
        (database,) = conn.entries
        values = list(database.olcLimits.values)
        (index,) = [i for i, value in enumerate(values) if value.split("}", 1)[1].startswith(who + " ")]
        before = values[index].split(" ", 1)[1]
        values[index] = f"{values[index].split('}', 1)[0]}}}{who} {limits}"
        assert conn.modify(database.entry_dn, {"olcLimits": [(ldap3.MODIFY_REPLACE, values)]}), conn.result
    finally:
        conn.unbind()
    return before


def test_an_answer_cut_by_the_servers_size_limit_is_read_again_page_by_page(directory, org, monkeypatch):
    admin = directory.connect(org)
    for uid in ("anvtt", "minhnv", "tienminhth", "lanpt"):
        add_person(admin, org, uid)
    # The plan job's identity (not the rootdn, which no limit binds), under a tight limit.
    service = directory.connect(org, dn.PLAN_READER)
    monkeypatch.setattr(reader, "PAGE_SIZE", 2)
    paged = []
    monkeypatch.setattr(reader, "paged_search", lambda *args: paged.append(args) or real_paged(*args))
    services = f'dn.children="{dn.container_dn(org, dn.SERVICES)}"'
    before = set_limits(directory, org, services, "size.soft=2 size.hard=2 size.pr=2 size.prtotal=unlimited")
    try:
        found = DirectoryReader(service).accounts(org, ["anvtt", "minhnv", "tienminhth", "lanpt"])
    finally:
        set_limits(directory, org, services, before)
    assert sorted(found) == ["anvtt", "lanpt", "minhnv", "tienminhth"]
    assert len(paged) == 1  # the look-up was cut at 2 entries, then read again in pages of 2


def test_a_server_gone_during_look_ups_is_a_clear_error(start_directory, org):
    server = start_directory([org])
    admin = server.connect(org)
    server.stop()
    with pytest.raises(DirectoryError, match=r"directory ldap://127\.0\.0\.1:\d+"):
        DirectoryReader(admin).accounts(org, ["minhnv"])
