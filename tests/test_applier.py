"""How the applier turns planned changes into LDAP operations (no server: the operations are data)."""

from __future__ import annotations

from hopthu.directory.applier import Applier
from hopthu.directory.writer import Add, Barrier, Delete, Modify
from hopthu.model import Change, EntryKind, Op
from test_plan import org

ORG = org()


def change(op: Op, uid: str, *, after=None, before=None, group=None) -> Change:
    return Change("r-1", "bt", op, uid, EntryKind.PERSON, before or {}, after or {}, group)


def operations(changes, passwords=None):
    applier = Applier(ORG, writer=None, audit=None, outbox=None)
    return applier._operations(changes, passwords or {})


def test_each_entry_is_written_once_per_phase_and_phases_are_separated_by_barriers():
    changes = [
        change(Op.CREATE, "a", after={"uid": ("a",), "cn": ("A",)}),
        change(Op.CREATE, "b", after={"uid": ("b",), "cn": ("B",)}),
        change(Op.ADD_MEMBER, "a", group="qlvb"),
        change(Op.ADD_MEMBER, "b", group="qlvb"),
        change(Op.MODIFY, "c", before={"title": ("X",)}, after={"title": ("Y",)}),
        change(Op.MOVE, "c", after={"departmentNumber": ("snv",)}),
        change(Op.SET_PASSWORD, "c", after={"pwdReset": ("TRUE",)}),
        change(Op.REMOVE_MEMBER, "d", group="hcc"),
        change(Op.DELETE, "d"),
    ]
    ops, covers = operations(changes, {"a": "pw-a-secret", "b": "pw-b-secret", "c": "pw-c-secret"})
    kinds = [type(op).__name__ for op in ops]
    assert kinds == [
        "Add",
        "Add",
        "Barrier",
        "Modify",
        "Barrier",
        "Modify",
        "Barrier",
        "Modify",
        "Barrier",
        "Delete",
    ]
    add_a = ops[0]
    assert isinstance(add_a, Add) and add_a.attributes["userPassword"] == ["pw-a-secret"]
    group = ops[3]
    assert group.dn.startswith("cn=qlvb,ou=groups,")
    assert group.changes == [
        ("member", "add", [f"uid=a,ou=people,{ORG.base_dn}", f"uid=b,ou=people,{ORG.base_dn}"])
    ]
    entry = ops[5]
    assert isinstance(entry, Modify) and entry.dn == f"uid=c,ou=people,{ORG.base_dn}"
    assert [m[0] for m in entry.changes] == ["title", "departmentNumber", "userPassword", "pwdReset"]
    assert [c.op for c in covers[id(entry)]] == [Op.MODIFY, Op.MOVE, Op.SET_PASSWORD]
    assert isinstance(ops[-1], Delete) and isinstance(ops[-2], Barrier)


def test_unlock_removes_the_lock_attributes():
    unlock = change(
        Op.UNLOCK, "a", before={"pwdAccountLockedTime": ("000001010000Z",), "hopthuLockedTime": ("x",)}
    )
    (op,), _ = operations([unlock])
    assert op.changes == [("pwdAccountLockedTime", "replace", []), ("hopthuLockedTime", "replace", [])]
