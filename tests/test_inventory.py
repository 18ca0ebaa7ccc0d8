"""The inventory (Ansible group_vars of group all) becomes organisations, or located findings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hopthu.inventory import ALWAYS_RESERVED, InventoryError, load_inventory
from hopthu.model import PasswordPolicy
from hopthu.naming import DEFAULT_RULE

SHIPPED = Path(__file__).resolve().parents[1] / "inventory"

MINIMAL = """\
hopthu_organisations:
  - code: demo
    name: Demo
    parent: UBND TỈNH DEMO
    mail_domain: demo.gov.vn
    base_dn: dc=demo,dc=gov,dc=vn
    units:
      - code: vp
        name: Văn phòng
        mailbox: vp@demo.gov.vn
        requesters:
          - name: Nguyễn Văn A
            position: Chánh Văn phòng
"""


def write_inventory(tmp_path: Path, text: str, name: str = "hopthu.yml") -> Path:
    directory = tmp_path / "inventory" / "group_vars" / "all"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text, encoding="utf-8")
    return tmp_path / "inventory"


def findings_of(path: Path) -> list[tuple[str, int, int, str]]:
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    return [(Path(f.path).name, f.line, f.col, f.rule) for f in caught.value.findings]


def test_shipped_inventory_loads_the_four_example_organisations():
    inventory = load_inventory(SHIPPED)
    assert sorted(inventory.organisations) == ["binhthuan", "ctu", "danang", "lamdong"]
    binhthuan = inventory.organisations["binhthuan"]
    assert binhthuan.naming_rule == ("{given}{s}{m}", "{given}{s}{m}{n:2}")
    assert binhthuan.domain_of("bdt") == "bdt.binhthuan.gov.vn"
    assert binhthuan.units["snv"].mail_domain == "snv.binhthuan.gov.vn"
    assert binhthuan.base_dn == "dc=binhthuan,dc=gov,dc=vn"
    danang = inventory.organisations["danang"]
    assert danang.naming_rule == DEFAULT_RULE  # no rule written: the Gia Lai rule
    assert danang.units["snv"].mailbox == "snv@danang.gov.vn"
    assert danang.domain_of("snv") == "danang.gov.vn"
    assert danang.locked_mail == "reject"
    ctu = inventory.organisations["ctu"]
    assert set(ctu.app_groups) == {"elearning", "qlvb"}
    assert ctu.password_policy.length == 16
    assert {"cit", "kt", "pdt"} <= set(ctu.units)
    assert ctu.units["cit"].requesters[0].name == "Trương Minh Thái"


def test_a_hosts_file_stands_for_its_directory(tmp_path):
    inventory = write_inventory(tmp_path, MINIMAL)
    (inventory / "dev.yml").write_text("all:\n  hosts:\n    localhost:\n", encoding="utf-8")
    assert list(load_inventory(inventory / "dev.yml").organisations) == ["demo"]


def test_defaults_fill_what_an_organisation_leaves_out(tmp_path):
    org = load_inventory(write_inventory(tmp_path, MINIMAL)).organisations["demo"]
    assert org.naming_rule == DEFAULT_RULE
    assert org.reserved == ALWAYS_RESERVED
    assert {"postmaster", "abuse", "admin", "root"} <= org.reserved
    assert (org.retention_days, org.sla_working_days, org.locked_mail) == (90, 2, "accept")
    assert org.password_policy == PasswordPolicy()
    assert org.app_groups == {}


def test_global_password_policy_applies_unless_an_organisation_overrides_it(tmp_path):
    text = "hopthu_password_policy:\n  length: 20\n" + MINIMAL
    org = load_inventory(write_inventory(tmp_path, text)).organisations["demo"]
    assert org.password_policy.length == 20


def test_other_ansible_variables_vault_files_and_vault_values_are_left_alone(tmp_path):
    inventory = write_inventory(tmp_path, MINIMAL)
    write_inventory(tmp_path, "$ANSIBLE_VAULT;1.1;AES256\n61626364\n", "vault.yml")
    write_inventory(
        tmp_path, "ldap_bind_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n", "ldap.yml"
    )
    assert list(load_inventory(inventory).organisations) == ["demo"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # schema: the line of the offending field
        (("mailbox: vp@demo.gov.vn", "mailbox: van phong"), [(10, 9, "schema-value")]),
        (("    units:", "    unitz:"), [(2, 5, "schema-required"), (7, 5, "schema-unknown-field")]),
        (("base_dn: dc=demo,dc=gov,dc=vn", "base_dn: demo.gov.vn"), [(6, 5, "inventory-base-dn")]),
        (
            ("    units:", '    naming_rule: ["{given}{x}"]\n    units:'),
            [(7, 19, "inventory-naming-rule")],
        ),
        (("code: vp", "code: 'VP!'"), [(8, 9, "schema-value")]),
        (("    units:", "    retention_days: -1\n    units:"), [(7, 5, "schema-value")]),
    ],
)
def test_problems_are_located(tmp_path, change, expected):
    found = findings_of(write_inventory(tmp_path, MINIMAL.replace(*change)))
    assert found == [("hopthu.yml", *item) for item in expected]


RULE_WITH_A_CONDITION = """\
    naming_rule:
      - "{given}{s}{m}"
      - "{adjacent}{given}{rest} unless same-full-name or same-adjacent"
      - "{given}{s}{m}{born:%-d%-m%Y}"
    units:"""


def test_a_naming_rule_with_a_condition(tmp_path):
    org = load_inventory(write_inventory(tmp_path, MINIMAL.replace("    units:", RULE_WITH_A_CONDITION)))
    assert org.organisations["demo"].naming_rule[1] == (
        "{adjacent}{given}{rest} unless same-full-name or same-adjacent"
    )


@pytest.mark.parametrize(
    "condition",
    [
        "unless same-fullname or same-adjacent",
        "unless same-full-name and same-adjacent",
        "if same-full-name",
        "unless",
    ],
)
def test_a_malformed_condition_is_refused_at_its_line(tmp_path, condition):
    rule = RULE_WITH_A_CONDITION.replace("unless same-full-name or same-adjacent", condition)
    with pytest.raises(InventoryError) as caught:
        load_inventory(write_inventory(tmp_path, MINIMAL.replace("    units:", rule)))
    [finding] = caught.value.findings
    assert (finding.line, finding.col, finding.rule) == (9, 9, "schema-value")
    assert finding.message.startswith("hopthu_organisations[0].naming_rule[1]: ")
    assert "optionally followed by ' unless same-full-name', ' unless same-adjacent' or" in finding.message


def test_a_condition_on_the_first_candidate_is_refused_at_its_line(tmp_path):
    first = RULE_WITH_A_CONDITION.replace('"{given}{s}{m}"', '"{given}{s}{m} unless same-full-name"')
    with pytest.raises(InventoryError) as caught:
        load_inventory(write_inventory(tmp_path, MINIMAL.replace("    units:", first)))
    [finding] = caught.value.findings
    assert (finding.line, finding.col, finding.rule) == (8, 9, "inventory-naming-rule")
    assert "naming_rule[0]: pattern '{given}{s}{m} unless same-full-name'" in finding.message
    assert "the first candidate has none" in finding.message


def test_duplicate_codes_are_refused(tmp_path):
    org = MINIMAL.split("\n", 1)[1]
    other = org.replace("dc=demo", "dc=demo2").replace("mail_domain: demo", "mail_domain: demo2")
    twice = "hopthu_organisations:\n" + org + other
    assert findings_of(write_inventory(tmp_path, twice)) == [("hopthu.yml", 14, 5, "inventory-duplicate")]
    same_domain = (
        "hopthu_organisations:\n" + org + org.replace("code: demo", "code: demo2").replace("dc=demo", "dc=d2")
    )
    assert findings_of(write_inventory(tmp_path, same_domain)) == [
        ("hopthu.yml", 17, 5, "inventory-duplicate")
    ]
    units = MINIMAL + MINIMAL.split("units:\n", 1)[1]
    assert findings_of(write_inventory(tmp_path, units)) == [("hopthu.yml", 14, 9, "inventory-duplicate")]


def test_organisations_defined_in_two_files_is_an_error(tmp_path):
    inventory = write_inventory(tmp_path, MINIMAL)
    write_inventory(tmp_path, MINIMAL, "more.yml")
    assert findings_of(inventory) == [("more.yml", 1, 1, "inventory-duplicate-variable")]


def test_missing_inventory_says_what_to_create(tmp_path):
    with pytest.raises(InventoryError, match="no such inventory"):
        load_inventory(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InventoryError, match=r"create .*empty/group_vars/all/hopthu\.yml"):
        load_inventory(tmp_path / "empty")


def test_a_variables_file_without_organisations_is_an_error(tmp_path):
    assert findings_of(write_inventory(tmp_path, "other: 1\n")) == [("hopthu.yml", 1, 1, "inventory-missing")]


def test_the_shipped_inventory_is_what_the_schema_describes(tmp_path):
    # A copy edited in one place fails in that place: the shipped file is not special-cased.
    copy = tmp_path / "inventory"
    shutil.copytree(SHIPPED, copy)
    file = copy / "group_vars" / "all" / "hopthu.yml"
    text = file.read_text(encoding="utf-8")
    file.write_text(text.replace("locked_mail: reject", "locked_mail: bounce"), encoding="utf-8")
    [(name, line, _, rule)] = findings_of(copy)
    assert (name, rule) == ("hopthu.yml", "schema-value")
    assert text.splitlines()[line - 1].strip() == "locked_mail: reject"


@pytest.mark.parametrize(
    ("old", "new", "line", "rule"),
    [
        ("name: Văn phòng", 'name: "Văn\\ephòng"', 9, "text-control"),  # a unit's name: in notices
        ("name: Demo", 'name: "Demo\\0"', 3, "text-control"),  # an organisation's: the base entry's o
        ("position: Chánh Văn phòng", 'position: "Chánh\\tVăn phòng"', 13, "text-control"),
        ("name: Nguyễn Văn A", 'name: "\\u200b"', 12, "text-invisible"),
        ("name: Văn phòng", "name: " + "x" * 257, 9, "schema-too-long"),
        ("code: demo", "code: demo\n    " + "k" * 300 + ": 1", 3, "yaml-key-too-long"),
    ],
    ids=["ESC", "NUL", "tab", "invisible", "too long", "key too long"],
)
def test_inventory_text_that_cannot_be_stored_is_located(tmp_path, old, new, line, rule):
    assert MINIMAL.count(old) == 1
    found = findings_of(write_inventory(tmp_path, MINIMAL.replace(old, new)))
    assert [(name, found_line, found_rule) for name, found_line, _, found_rule in found] == [
        ("hopthu.yml", line, rule)
    ]


def test_a_signers_title_may_run_over_lines_but_hold_no_other_control(tmp_path):
    signer = "    signer: {name: Trần Ngọc Thạch, title: %s}\n    units:"
    text = MINIMAL.replace("    units:", signer % '"KT. GIÁM ĐỐC\\nPHÓ GIÁM ĐỐC"')
    assert load_inventory(write_inventory(tmp_path, text)).organisations["demo"].signer_title.count("\n") == 1
    text = MINIMAL.replace("    units:", signer % '"KT. GIÁM ĐỐC\\fPHÓ GIÁM ĐỐC"')
    assert [rule for *_, rule in findings_of(write_inventory(tmp_path, text))] == ["text-control"]
