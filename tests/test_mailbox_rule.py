"""Unit-mailbox names come from the organisation's own rule (``mailbox_rule`` in the inventory)."""

from __future__ import annotations

from hopthu.assign import assign_usernames
from hopthu.inventory import load_inventory
from test_inventory import MINIMAL, SHIPPED, findings_of, write_inventory

MAILBOX_REQUEST = """\
id: 2025-03-02-vp-hop-thu
org: demo
unit: vp
kind: create
document: {number: 1/VP, date: 2025-03-02, signer: Nguyễn Văn A}
requester: {name: Nguyễn Văn A, position: Chánh Văn phòng, phone: "0252 3822 000", email: a@demo.gov.vn}
reason: Hộp thư của phòng văn hóa các huyện.
accounts:
  - type: unit
    unit_name: Phòng Văn hóa và Thông tin huyện Đăk Đoa
    parent_agency: UBND huyện Đăk Đoa
    phone: "0269 3832 000"
    manager: {name: Lê Văn Tư, phone: "0905 000 111"}
  - type: unit
    unit_name: Phòng Văn hóa và Thông tin huyện Đăk Đoa
    parent_agency: UBND huyện Đăk Đoa
    phone: "0269 3832 001"
    manager: {name: Lê Văn Năm, phone: "0905 000 112"}
"""


def test_the_shipped_organisations_say_how_unit_mailboxes_are_named():
    inventory = load_inventory(SHIPPED)
    assert inventory.organisations["danang"].mailbox_rule == ("{initials}", "{initials}{n:2}")
    assert inventory.organisations["binhthuan"].mailbox_rule == ("{initials}",)  # the default


def test_assign_names_unit_mailboxes_by_the_organisations_rule(tmp_path, monkeypatch):
    text = MINIMAL.replace("    units:", '    mailbox_rule: ["vhtt{place}", "vhtt{place}{n:2}"]\n    units:')
    inventory = load_inventory(write_inventory(tmp_path, text))
    path = tmp_path / "requests/demo/vp/2025/2025-03-02-vp-hop-thu.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(MAILBOX_REQUEST, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = assign_usernames([path], inventory, repo_root=tmp_path)
    assert [a.username for a in result.assigned] == ["vhttdakdoa", "vhttdakdoa2"]
    assert result.refused == []


def test_a_mailbox_rule_that_cannot_name_a_unit_is_located(tmp_path):
    text = MINIMAL.replace("    units:", '    mailbox_rule: ["{given}"]\n    units:')
    assert findings_of(write_inventory(tmp_path, text)) == [("hopthu.yml", 7, 5, "inventory-naming-rule")]
