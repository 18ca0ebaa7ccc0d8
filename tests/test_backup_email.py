"""Backup e-mail (email dự phòng) on person accounts: schema, validation, plan, the directory itself; and
person fields the units' forms do not all carry (staff code, position, phone) being optional."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from conftest import run_upgrade_ldif
from hopthu.inventory import load_inventory
from hopthu.model import AccountChange, Kind, NewPerson, Op
from hopthu.requests import load_requests
from test_plan import INVENTORY, existing, plan, request, snapshot
from workspace import copy_of_repo

PATH = Path("requests/binhthuan/bdt/2025/2025-04-01-bdt-cap-moi.yaml")
REQUEST = """\
id: 2025-04-01-bdt-cap-moi
org: binhthuan
unit: bdt
kind: create
document: {number: 70/BDT-VP, date: 2025-04-01, signer: Nguyễn Hữu Phước}
requester: {name: Trần Thị Mỹ Lệ, position: Chánh Văn phòng, phone: "0252 3821 104", email: a@bt.vn}
reason: Tuyển dụng mới.
accounts:
  - full_name: Phạm Quốc Bảo
    username: baopq
    department: Văn phòng
    services: [email]
    backup_email: BACKUP
"""


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    copy_of_repo(tmp_path, "inventory")
    monkeypatch.chdir(tmp_path)
    PATH.parent.mkdir(parents=True)
    return tmp_path


def check(text: str):
    PATH.write_text(text, encoding="utf-8")
    return load_requests([PATH], load_inventory(Path("inventory")))


def test_a_person_needs_no_staff_code_position_or_phone_and_may_have_a_backup_address(repo):
    requests, findings = check(REQUEST.replace("BACKUP", "bao.pham@gmail.com"))
    assert findings == []
    [account] = requests[0].accounts
    assert account.backup_email == "bao.pham@gmail.com"
    assert (account.staff_code, account.position, account.phone) == (None, None, None)


@pytest.mark.parametrize(
    "address", ["baopq@binhthuan.gov.vn", "bao@bdt.binhthuan.gov.vn", "bao@mail.snv.binhthuan.gov.vn"]
)
def test_a_backup_address_in_the_organisations_own_domains_is_refused_at_its_line(repo, address):
    _, findings = check(REQUEST.replace("BACKUP", address))
    [finding] = findings
    assert (finding.line, finding.rule) == (13, "backup-email-own-domain")
    assert "outside the organisation" in finding.message


def test_a_backup_address_must_be_an_address(repo):
    _, findings = check(REQUEST.replace("BACKUP", "bao.pham"))
    assert [(f.line, f.rule) for f in findings] == [(13, "schema-value")]


def test_an_update_may_change_the_backup_address_and_is_checked_the_same_way(repo):
    update = (
        REQUEST.replace("kind: create", "kind: update")
        .replace(
            "  - full_name: Phạm Quốc Bảo\n    username: baopq\n    department: Văn phòng\n",
            "  - username: baopq\n",
        )
        .replace("    services: [email]\n", "")
    )
    requests, findings = check(update.replace("BACKUP", "bao.pham@yahoo.com"))
    assert findings == []
    assert requests[0].accounts[0].backup_email == "bao.pham@yahoo.com"
    _, findings = check(update.replace("BACKUP", "bao@binhthuan.gov.vn"))
    assert [f.rule for f in findings] == ["backup-email-own-domain"]


def person(**changes) -> NewPerson:
    base = NewPerson("Nguyễn Văn Minh", "BDT-1", "Chuyên viên", "Phòng A", "0912345678", ("email",), "minhnv")
    return replace(base, **changes)


def test_the_plan_writes_the_backup_address_and_leaves_out_what_the_form_lacked():
    (rp,) = plan(request(Kind.CREATE, person(backup_email="minh@gmail.com"))).requests
    entry = rp.changes[0].after
    assert entry["hopthuBackupMail"] == ("minh@gmail.com",)
    assert {"employeeNumber", "title", "telephoneNumber"} <= set(entry)
    (rp,) = plan(request(Kind.CREATE, person(staff_code=None, position=None, phone=None))).requests
    entry = rp.changes[0].after
    assert not {"employeeNumber", "title", "telephoneNumber", "hopthuBackupMail"} & set(entry)


def test_an_interrupted_create_without_staff_code_is_recognised_by_name():
    created = existing()
    created.attrs.pop("employeenumber")  # the form had no staff code
    (rp,) = plan(request(Kind.CREATE, person(staff_code=None)), snap=snapshot(created)).requests
    assert rp.refusal is None and [c.op for c in rp.changes] == []


def test_an_update_changes_the_backup_address_only_when_it_differs():
    change = AccountChange("minhnv", backup_email="minh@gmail.com")
    (rp,) = plan(request(Kind.UPDATE, change), snap=snapshot(existing())).requests
    [modify] = rp.changes
    assert (modify.op, modify.after) == (Op.MODIFY, {"hopthuBackupMail": ("minh@gmail.com",)})
    same = existing(hopthuBackupMail=("minh@gmail.com",))
    (rp,) = plan(request(Kind.UPDATE, change), snap=snapshot(same)).requests
    assert rp.changes == ()
    assert INVENTORY.organisations["bt"].mail_domain == "binhthuan.gov.vn"


def test_the_directory_accepts_and_returns_the_backup_address(directory, org):
    conn = directory.connect(org)
    dn = f"uid=minhnv,ou=people,{org.base_dn}"
    attrs = {
        "objectClass": ["inetOrgPerson", "hopthuAccount"],
        "cn": "Nguyễn Văn Minh",
        "sn": "Nguyễn",
        "hopthuBackupMail": "minh@gmail.com",
    }
    assert conn.add(dn, attributes=attrs), conn.result
    conn.search(dn, "(hopthuBackupMail=MINH@gmail.com)", attributes=["hopthuBackupMail"])
    assert [str(e.hopthuBackupMail) for e in conn.entries] == ["minh@gmail.com"]
    conn.unbind()


def test_a_directory_bootstrapped_before_the_backup_address_is_upgraded_by_the_shipped_ldif(
    tmp_path, monkeypatch, start_directory, org
):
    """The schema hopthu had before: without hopthuBackupMail. The shipped upgrade LDIF adds it in place,
    keeping the accounts."""
    from hopthu.directory import ldif

    current = ldif.SCHEMA_LDIF.read_text(encoding="utf-8")
    start = current.index("olcAttributeTypes: ( hopthuAttr:7")
    old = current[:start] + current[current.index("olcObjectClasses:", start) :]
    old = old.replace(" $ hopthuBackupMail", "").replace(" $ hopthuMailbox", "")  # younger still
    assert "hopthuBackupMail" not in old
    (tmp_path / "old-schema.ldif").write_text(old, encoding="utf-8")
    monkeypatch.setattr(ldif, "SCHEMA_LDIF", tmp_path / "old-schema.ldif")
    # ... and its access rules of then, which could name neither hopthuMailbox nor the backup address
    render_database = ldif.render_database
    monkeypatch.setattr(
        ldif,
        "render_database",
        lambda *args, **kwargs: (
            render_database(*args, **kwargs)
            .replace(",hopthuMailbox", "")
            .replace("attrs=hopthuBackupMail", "attrs=title")
        ),
    )
    server = start_directory([org], tmp_path / "slapd")
    conn = server.connect(org)
    person = {"objectClass": ["inetOrgPerson", "hopthuAccount"], "cn": "Nguyễn Văn Minh", "sn": "Nguyễn"}
    assert conn.add(f"uid=minhnv,ou=people,{org.base_dn}", attributes=person)
    with_backup = {**person, "cn": "Lê Văn Tám", "hopthuBackupMail": "tam@gmail.com"}
    assert not conn.add(f"uid=tamlv,ou=people,{org.base_dn}", attributes=with_backup)  # before: refused

    run_upgrade_ldif(server, "upgrade-backup-mail.ldif")
    assert conn.add(f"uid=tamlv,ou=people,{org.base_dn}", attributes=with_backup), conn.result
    conn.search(org.base_dn, "(uid=minhnv)")
    assert len(conn.entries) == 1  # the accounts made before are still there
    conn.unbind()
