"""The pipelined LDAP writer: its BER against ldap3's, and its behaviour against a real slapd."""

from __future__ import annotations

import os
import signal
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import ldap3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ldap3.operation.add import add_operation
from ldap3.operation.delete import delete_operation
from ldap3.operation.modify import modify_operation
from ldap3.protocol.rfc4511 import (
    AddResponse,
    LDAPMessage,
    MessageID,
    ModifyResponse,
    ProtocolOp,
    ResultCode,
)
from ldap3.utils.asn1 import encode as ldap3_encode

from hopthu.directory.dn import PEOPLE, container_dn, eq_filter, group_dn, person_dn
from hopthu.directory.server import LocalDirectory
from hopthu.directory.writer import (
    RELAX_RULES,
    Add,
    Barrier,
    Delete,
    DirectoryUnavailable,
    LdapWriter,
    Modify,
    WriteResult,
    _parent_key,
    encode_request,
    split_responses,
)
from hopthu.model import Organisation

# --- encoding: byte-for-byte what ldap3 (pyasn1) sends ---------------------------------------------


def ldap3_message(message_id: int, kind: str, request: object) -> bytes:
    message = LDAPMessage()
    message["messageID"] = MessageID(message_id)
    message["protocolOp"] = ProtocolOp().setComponentByName(kind, request)
    return ldap3_encode(message)


MESSAGE_IDS = [1, 127, 128, 255, 256, 32767, 32768, 65536, 2**31 - 1]
ldap_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
values = st.lists(ldap_text | st.binary(max_size=40), min_size=1, max_size=4)
attribute_names = st.from_regex(r"[a-zA-Z][a-zA-Z0-9-]{0,15}", fullmatch=True)


@pytest.mark.parametrize("message_id", MESSAGE_IDS)
def test_add_is_encoded_as_ldap3_encodes_it(message_id: int) -> None:
    attributes = {
        "objectClass": ["inetOrgPerson", "hopthuAccount"],
        "cn": ["Nguyễn Thị Ánh Tuyết"],
        "userPassword": [b"\x00\xff binary"],
        "description": ["x" * 200, "y" * 70_000],  # long-form lengths of one, two and three bytes
    }
    dn = "uid=tuyetnta,ou=people,dc=binhthuan,dc=gov,dc=vn"
    expected = ldap3_message(message_id, "addRequest", add_operation(dn, attributes, auto_encode=True))
    assert encode_request(message_id, Add(dn, attributes)) == expected


@pytest.mark.parametrize("message_id", MESSAGE_IDS)
def test_an_add_with_the_relax_control_is_encoded_as_ldap3_encodes_it(message_id: int) -> None:
    from ldap3.protocol.convert import build_controls_list

    attributes = {"objectClass": ["inetOrgPerson"], "entryUUID": ["0b6f5c7e-9a3d-5e21-8f4b-1c2d3e4f5a6b"]}
    dn = "uid=tuyetnta,ou=people,dc=binhthuan,dc=gov,dc=vn"
    message = LDAPMessage()
    message["messageID"] = MessageID(message_id)
    message["protocolOp"] = ProtocolOp().setComponentByName(
        "addRequest", add_operation(dn, attributes, auto_encode=True)
    )
    message["controls"] = build_controls_list([(RELAX_RULES, True, None)])
    assert encode_request(message_id, Add(dn, attributes, (RELAX_RULES,))) == ldap3_encode(message)


@pytest.mark.parametrize("message_id", MESSAGE_IDS)
def test_modify_is_encoded_as_ldap3_encodes_it(message_id: int) -> None:
    dn = "cn=vanban,ou=groups,dc=binhthuan,dc=gov,dc=vn"
    changes = [
        ("member", "add", ["uid=an,ou=people,dc=binhthuan,dc=gov,dc=vn"]),
        ("mail", "delete", []),
        ("title", "replace", ["Trưởng phòng", "Phó Giám đốc"]),
    ]
    ldap3_changes = {
        "member": [(ldap3.MODIFY_ADD, changes[0][2])],
        "mail": [(ldap3.MODIFY_DELETE, [])],
        "title": [(ldap3.MODIFY_REPLACE, changes[2][2])],
    }
    expected = ldap3_message(
        message_id, "modifyRequest", modify_operation(dn, ldap3_changes, auto_encode=True)
    )
    assert encode_request(message_id, Modify(dn, changes)) == expected


@pytest.mark.parametrize("message_id", MESSAGE_IDS)
def test_delete_is_encoded_as_ldap3_encodes_it(message_id: int) -> None:
    dn = "uid=lê\\,văn,ou=people,dc=binhthuan,dc=gov,dc=vn"
    expected = ldap3_message(message_id, "delRequest", delete_operation(dn))
    assert encode_request(message_id, Delete(dn)) == expected


@given(
    dn=ldap_text,
    attributes=st.dictionaries(attribute_names, values, min_size=1, max_size=6),
    message_id=st.integers(1, 2**31 - 1),
)
def test_any_add_is_encoded_as_ldap3_encodes_it(
    dn: str, attributes: dict[str, list[str | bytes]], message_id: int
) -> None:
    expected = ldap3_message(message_id, "addRequest", add_operation(dn, attributes, auto_encode=True))
    assert encode_request(message_id, Add(dn, attributes)) == expected


def test_operations_refuse_a_bare_value_where_a_list_belongs() -> None:
    with pytest.raises(ValueError, match="'cn'"):
        Add("uid=a,dc=x", {"cn": "An"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="'cn'"):
        Add("uid=a,dc=x", {"cn": []})
    with pytest.raises(ValueError, match="'mail'"):
        Modify("uid=a,dc=x", [("mail", "replace", "a@x.vn")])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="'drop'"):
        Modify("uid=a,dc=x", [("mail", "drop", [])])  # type: ignore[list-item]


def test_a_password_never_shows_in_the_repr_of_an_operation() -> None:
    add = Add("uid=an,dc=x", {"uid": ["an"], "userPassword": ["S3cret-Mật-khẩu"]})
    modify = Modify("uid=an,dc=x", [("userPassword", "replace", ["S3cret-Mật-khẩu".encode()])])
    for shown in (repr(add), repr(modify), repr(WriteResult(add, True, 0, ""))):
        assert "S3cret" not in shown and "<hidden>" in shown and "uid=an,dc=x" in shown


@pytest.mark.parametrize(
    ("dn", "parent"),
    [
        ("uid=an,ou=people,dc=vn", "ou=people,dc=vn"),
        (r"uid=an\,b,ou=people,dc=vn", "ou=people,dc=vn"),  # an escaped comma is part of the value
        (r"uid=an\\,ou=people,dc=vn", "ou=people,dc=vn"),  # an escaped backslash, then the separator
        (r"cn=lê\\\,văn,ou=people,dc=vn", "ou=people,dc=vn"),  # a backslash and a comma, escaped
        (r"cn=lê\2c văn,ou=people,dc=vn", "ou=people,dc=vn"),  # a hex-escaped comma
        ("dc=vn", None),
    ],
)
def test_the_parent_of_a_dn_starts_after_the_first_unescaped_comma(dn: str, parent: str | None) -> None:
    assert _parent_key(dn) == parent


# --- decoding: responses as the server encodes them, in arbitrary pieces ---------------------------


def response(message_id: int, kind: str, code: int, message: str) -> bytes:
    payload = AddResponse() if kind == "addResponse" else ModifyResponse()
    payload["resultCode"] = ResultCode(code)
    payload["matchedDN"] = "dc=gov,dc=vn"
    payload["diagnosticMessage"] = message
    return ldap3_message(message_id, kind, payload)


LONG = "Entry Already Exists – đã có " * 10  # over 127 bytes: a long-form length


def test_responses_are_read_whatever_pieces_the_socket_delivers() -> None:
    stream = (
        response(7, "addResponse", 0, "")
        + response(300, "modifyResponse", 68, LONG)
        + response(2**31 - 1, "addResponse", 32, "no such object")
    )
    expected = [
        (7, 0, ""),
        (300, 68, LONG),
        (2**31 - 1, 32, "no such object"),
    ]
    for cut in range(len(stream) + 1):
        buffer = bytearray(stream[:cut])
        first, used = split_responses(buffer)
        del buffer[:used]
        buffer += stream[cut:]
        rest, used_rest = split_responses(buffer)
        assert first + rest == expected
        assert used + used_rest == len(stream)


# --- against a real slapd ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tree:
    """Where the tests write in an organisation's tree (docs/architecture.md)."""

    org: Organisation

    @property
    def people(self) -> str:
        return container_dn(self.org, PEOPLE)

    @property
    def group(self) -> str:
        return group_dn(self.org, next(iter(self.org.app_groups)))

    def person(self, uid: str, **extra: list[str | bytes]) -> Add:
        attributes: dict[str, list[str | bytes]] = {
            "objectClass": ["inetOrgPerson", "hopthuAccount"],
            "uid": [uid],
            "cn": [f"Người {uid}"],
            "sn": ["Người"],
            "userPassword": [f"Mật-khẩu-{uid}-9x"],
        }
        attributes.update(extra)
        return Add(person_dn(self.org, uid), attributes)

    def read(self, conn: ldap3.Connection, uid: str, *attributes: str) -> dict[str, list[str]] | None:
        conn.search(self.people, eq_filter("uid", uid), attributes=list(attributes) or ["uid"])
        entries = [e for e in conn.response if e["type"] == "searchResEntry"]
        return dict(entries[0]["attributes"]) if entries else None

    def uids(self, conn: ldap3.Connection, prefix: str) -> set[str]:
        conn.search(self.people, f"(uid={prefix}*)", attributes=["uid"], paged_size=10_000)
        return {e["attributes"]["uid"][0] for e in conn.response if e["type"] == "searchResEntry"}


@pytest.fixture
def tree(org: Organisation) -> Tree:
    return Tree(org)


@pytest.fixture
def conn(directory: LocalDirectory, org: Organisation) -> Iterator[ldap3.Connection]:
    connection = directory.connect(org)
    yield connection
    connection.unbind()


@pytest.mark.slapd
def test_results_come_in_order_even_for_dependent_operations(conn: ldap3.Connection, tree: Tree) -> None:
    # slapd runs the operations of one connection concurrently: without the writer's ordering, the
    # modify of an entry still being added fails with noSuchObject in about a fifth of the pairs.
    ops: list[Add | Modify] = []
    for i in range(300):
        ops.append(tree.person(f"order{i}"))
        ops.append(Modify(ops[-1].dn, [("title", "replace", [f"Chuyên viên {i}"])]))
    results = list(LdapWriter(conn).write(ops, window=64))
    assert [r.op for r in results] == ops
    assert [r.code for r in results if not r.ok] == []
    assert tree.read(conn, "order299", "title") == {"title": ["Chuyên viên 299"]}


@pytest.mark.slapd
def test_a_failed_operation_is_reported_in_its_place(conn: ldap3.Connection, tree: Tree) -> None:
    first = tree.person("fail-a")
    missing = f"uid=nobody,{tree.people}"
    ops = [
        first,
        tree.person("fail-a"),
        Delete(missing),
        Modify(missing, [("title", "replace", ["x"])]),
        Add(f"uid=fail-b,{tree.people}", {"objectClass": ["inetOrgPerson"], "uid": ["fail-b"], "cn": ["B"]}),
        tree.person("fail-c"),
    ]
    results = list(LdapWriter(conn).write(ops))
    assert [(r.op, r.ok, r.description) for r in results] == [
        (ops[0], True, "success"),
        (ops[1], False, "entryAlreadyExists"),
        (ops[2], False, "noSuchObject"),
        (ops[3], False, "noSuchObject"),
        (ops[4], False, "objectClassViolation"),  # sn is required: the server's reason is kept
        (ops[5], True, "success"),
    ]
    assert "sn" in results[4].message
    assert tree.read(conn, "fail-b") is None and tree.read(conn, "fail-c") is not None


@pytest.mark.slapd
def test_vietnamese_and_ldap_special_characters_round_trip(conn: ldap3.Connection, tree: Tree) -> None:
    uid = 'nguyễn,văn+"ánh"\\<tuyết>;=# '  # every character RFC 4514 escapes, and NFC Vietnamese
    full_name = unicodedata.normalize("NFC", "Nguyễn Văn Ánh Tuyết (Phòng Tổ chức – Hành chính)")
    description = 'a*b(c)\\d\x00e "quoted" #1, +2; <3> =4'
    op = tree.person(uid, cn=[full_name], description=[description], title=["Trưởng phòng"])
    assert [r.ok for r in LdapWriter(conn).write([op])] == [True]
    found = tree.read(conn, uid, "uid", "cn", "description", "title")
    assert found == {"uid": [uid], "cn": [full_name], "description": [description], "title": ["Trưởng phòng"]}
    assert unicodedata.is_normalized("NFC", found["cn"][0])
    rename = Modify(op.dn, [("cn", "replace", ["Đặng Thị Ư"])])
    assert [r.ok for r in LdapWriter(conn).write([rename, Delete(op.dn)])] == [True, True]
    assert tree.read(conn, uid) is None


@pytest.mark.slapd
def test_an_entry_named_in_a_value_is_not_deleted_before_that_value_is_written(
    conn: ldap3.Connection, tree: Tree
) -> None:
    # memberof (with refint) removes a deleted account from its groups; a delete that overtook the
    # membership it follows would leave a dangling member behind.
    people = [tree.person(f"member{i}") for i in range(100)]
    assert all(r.ok for r in LdapWriter(conn).write(people))
    ops: list[Modify | Delete] = []
    for account in people:
        ops += [Modify(tree.group, [("member", "add", [account.dn])]), Delete(account.dn)]
    assert [r.description for r in LdapWriter(conn).write(ops, window=64) if not r.ok] == []
    conn.search(tree.group, "(objectClass=*)", ldap3.BASE, attributes=["member"])
    assert [m for m in conn.response[0]["attributes"]["member"] if "member" in m] == []


@pytest.mark.slapd
def test_children_and_parents_are_written_in_a_safe_order(conn: ldap3.Connection, tree: Tree) -> None:
    ops: list[Add | Delete] = []
    for i in range(300):
        unit = f"ou=unit{i},{tree.org.base_dn}"
        child = f"cn=device{i},{unit}"
        ops += [
            Add(unit, {"objectClass": ["organizationalUnit"], "ou": [f"unit{i}"]}),
            Add(child, {"objectClass": ["device"], "cn": [f"device{i}"]}),
            Delete(child),
            Delete(unit),
        ]
    results = list(LdapWriter(conn).write(ops, window=64))
    assert [r.description for r in results if not r.ok] == []


@pytest.mark.slapd
def test_a_barrier_orders_what_the_dns_cannot_show(conn: ldap3.Connection, tree: Tree) -> None:
    # The same entry spelled two ways (a space after the comma): only the barrier keeps them in order.
    ops: list[Add | Modify | Barrier] = []
    for i in range(200):
        ops += [
            tree.person(f"barrier{i}"),
            Barrier(),
            Modify(f"uid=barrier{i}, {tree.people}", [("title", "add", ["x"])]),
        ]
    results = list(LdapWriter(conn).write(ops, window=64))
    assert len(results) == 400
    assert [r.description for r in results if not r.ok] == []


@pytest.mark.slapd
def test_stopping_early_leaves_the_connection_usable(conn: ldap3.Connection, tree: Tree) -> None:
    ops = [tree.person(f"early{i}") for i in range(500)]
    stream = LdapWriter(conn).write(ops, window=32)
    first = [next(stream) for _ in range(5)]
    stream.close()  # the caller breaks out of its loop
    assert all(r.ok for r in first)
    written = tree.uids(conn, "early")
    # What was sent (a prefix of the stream, at most a window beyond what was answered) was applied;
    # nothing more was sent after the caller stopped.
    assert written == {f"early{i}" for i in range(len(written))}
    assert 5 <= len(written) < 100
    assert conn.modify(ops[0].dn, {"title": [(ldap3.MODIFY_REPLACE, ["still in step"])]})


@pytest.mark.slapd
def test_writing_on_a_closed_connection_is_refused(
    directory: LocalDirectory, org: Organisation, tree: Tree
) -> None:
    connection = directory.connect(org)
    connection.unbind()
    with pytest.raises(DirectoryUnavailable, match="not open"):
        LdapWriter(connection).write([tree.person("closed")])


@pytest.mark.slapd
def test_a_killed_server_ends_the_stream_with_only_answered_operations_reported(
    start_directory: Callable[..., LocalDirectory], org: Organisation, tree: Tree
) -> None:
    server = start_directory([org])  # its own server, with the default durable writes
    connection = server.connect(org)
    ops = [tree.person(f"killed{i}") for i in range(5000)]
    results: list[WriteResult] = []
    with pytest.raises(DirectoryUnavailable, match=f"directory {server.uri}.* unavailable") as raised:
        for result in LdapWriter(connection).write(ops, window=64):
            results.append(result)
            if len(results) == 300:
                os.kill(server.pid or 0, signal.SIGKILL)
    error = raised.value
    assert len(results) >= 300 and all(r.ok for r in results)
    assert [r.op for r in results] == ops[: len(results)]
    assert len(error.unconfirmed) <= 64  # never more than a window in flight
    never_sent = ops[len(results) + len(error.unconfirmed) + len(error.later_results) :]
    assert connection.closed

    restarted = start_directory([org], workdir=server.workdir)  # the same data, after the crash
    check = restarted.connect(org)
    present = tree.uids(check, "killed")
    check.unbind()
    assert {r.op.attributes["uid"][0] for r in results} <= present
    assert {r.op.attributes["uid"][0] for r in error.later_results if r.ok} <= present
    assert not {op.attributes["uid"][0] for op in never_sent} & present
