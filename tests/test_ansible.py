"""The Ansible path: the real playbooks and modules, run by ansible-playbook against a real local slapd.

Each test works in a copy of the inventory (the example organisations) with its own hosts file, like
inventory/production.yml but pointing at a private slapd; its own requests, audit log and outbox. The bind
passwords come the two ways production gives them: an ansible-vault encrypted vault.yml (binhthuan) and a
HOPTHU_BIND_PASSWORD_<ORG> environment variable (ctu, danang).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import ldap3
import pytest

from hopthu.audit import AuditLog
from hopthu.directory.dn import SERVICE_IDENTITIES
from hopthu.inventory import load_inventory
from hopthu.notices.records import RecordsStore
from hopthu.passwords import KEY_ENV, Outbox
from hopthu.signing.verify import check_signatures, load_trust_roots
from sample_requests import BDT_CREATE, BDT_CREATE_PATH, SECOND_ACCOUNT
from testca import TestCA
from workspace import ROOT, copy_of_repo

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent  # the virtualenv's ansible-playbook, whose Python has hopthu
VAULT_PASSWORD = "vault-password-for-tests"

REQUEST = BDT_CREATE + SECOND_ACCOUNT
REQUEST_PATH = BDT_CREATE_PATH


@dataclass
class Site:
    """A copy of the repository's data for one test, and the server it points at."""

    root: Path
    server: object
    env: dict[str, str]
    outputs: list[str] = field(default_factory=list)

    @property
    def audit_log(self) -> Path:
        return self.root.parent / f"{self.root.name}-state" / "audit.jsonl"

    @property
    def outbox(self) -> Path:
        return self.root.parent / f"{self.root.name}-state" / "outbox"

    def secrets(self) -> list[str]:
        orgs = ("binhthuan", "ctu", "danang", "lamdong")
        services = [self.server.service_password(org, name) for org in orgs for name in SERVICE_IDENTITIES]
        return [self.server.bind_password(org) for org in orgs] + services

    def playbook(self, name: str, *args: str, expect_rc: int = 0) -> str:
        command = [
            str(BIN / "ansible-playbook"),
            "-i",
            str(self.root / "inventory" / "test.yml"),
            str(ROOT / "playbooks" / name),
            "--vault-password-file",
            str(self.root.parent / f"{self.root.name}-vault-password"),
            *args,
        ]
        done = subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=300)
        output = done.stdout + done.stderr
        self.outputs.append(output)
        assert done.returncode == expect_rc, f"{' '.join(command)} exited {done.returncode}:\n{output}"
        return output

    def account(self, uid: str) -> dict | None:
        conn = self.server.connect("binhthuan")
        try:
            conn.search("dc=binhthuan,dc=gov,dc=vn", f"(uid={uid})", attributes=["*", "+"])
            return conn.response[0]["attributes"] if conn.response else None
        finally:
            conn.unbind()


@pytest.fixture
def site(tmp_path, start_directory) -> Site:
    inventory = load_inventory(ROOT / "inventory")
    server = start_directory(inventory.organisations.values())
    root = tmp_path / "repo"
    copy_of_repo(root, "inventory/group_vars/all")
    (root / REQUEST_PATH).parent.mkdir(parents=True)
    (root / REQUEST_PATH).write_text(REQUEST, encoding="utf-8")
    hosts = {
        "all": {
            "children": {
                "test": {
                    "children": {
                        "audit_hosts": {
                            "hosts": {
                                "audit": {
                                    "ansible_connection": "local",
                                    "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                                }
                            }
                        },
                        "directory_servers": {
                            "hosts": {
                                "ldap": {
                                    "hopthu_directory": {
                                        "uri": server.uri,
                                        "organisations": ["binhthuan", "ctu", "danang", "lamdong"],
                                    }
                                }
                            }
                        },
                    }
                }
            }
        }
    }
    (root / "inventory" / "test.yml").write_text(json.dumps(hosts, indent=1), encoding="utf-8")
    state = tmp_path / "repo-state"
    group_vars = root / "inventory" / "group_vars" / "test"
    group_vars.mkdir()
    (group_vars / "main.yml").write_text(
        textwrap.dedent(f"""\
            hopthu_audit_log: {state / "audit.jsonl"}
            hopthu_outbox: {state / "outbox"}
            hopthu_bind_passwords: "{{{{ vault_hopthu_bind_passwords | default({{}}) }}}}"
            hopthu_outbox_key: "{{{{ vault_hopthu_outbox_key }}}}"
            """),
        encoding="utf-8",
    )
    vault_password = tmp_path / "repo-vault-password"
    vault_password.write_text(VAULT_PASSWORD)
    vault = group_vars / "vault.yml"
    vault.write_text(
        f'vault_hopthu_bind_passwords:\n  binhthuan: "{server.bind_password("binhthuan")}"\n'
        f'vault_hopthu_outbox_key: "{os.environ[KEY_ENV]}"\n'  # the key the tests read the outbox with
    )
    subprocess.run(
        [str(BIN / "ansible-vault"), "encrypt", "--vault-password-file", str(vault_password), str(vault)],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOPTHU_", "ANSIBLE_"))}
    env |= {
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "HOPTHU_BIND_PASSWORD_CTU": server.bind_password("ctu"),
        "HOPTHU_BIND_PASSWORD_DANANG": server.bind_password("danang"),
        "HOPTHU_BIND_PASSWORD_LAMDONG": server.bind_password("lamdong"),
        "PATH": f"{BIN}:{env.get('PATH', '')}",
    }
    return Site(root, server, env)


def test_check_mode_reports_the_plan_and_writes_nothing(site):
    output = site.playbook("apply.yml", "--check")
    assert "2025-04-02-bdt-cap-moi (create, binhthuan/bdt" in output
    assert "create (cấp mới)  baopq" in output and "add to group      baopq" in output
    assert "Plan: 2 to create, 0 to change, 0 to delete" in output
    assert site.account("baopq") is None
    assert not site.audit_log.exists() or not list(AuditLog(site.audit_log).records())
    assert Outbox(site.outbox).pending() == []


def test_diff_mode_shows_each_account_before_and_after_with_passwords_hidden(site):
    output = site.playbook("apply.yml", "--check", "--diff")
    assert "--- before: binhthuan/baopq (absent)" in output
    assert "+cn: Phạm Quốc Bảo" in output
    assert "+mail: baopq@bdt.binhthuan.gov.vn" in output
    assert "+group: qlvb" in output
    assert "+userPassword: (one-time password, not shown)" in output
    assert site.account("baopq") is None


def test_apply_creates_the_accounts_records_them_and_a_second_run_changes_nothing(site):
    output = site.playbook("apply.yml")
    assert "changed: [audit]" in output
    baopq = site.account("baopq")
    assert baopq["cn"] == ["Phạm Quốc Bảo"] and baopq["pwdReset"] == ["TRUE"]
    assert any(group.startswith("cn=qlvb,") for group in baopq["memberOf"])
    assert site.account("nhunglth")["mail"] == ["nhunglth@bdt.binhthuan.gov.vn"]
    records = list(AuditLog(site.audit_log).records())
    assert {"event": "request", "request": "2025-04-02-bdt-cap-moi", "result": "applied"}.items() <= (
        records[-1].items()
    )
    assert f"audit head {len(records)}:" in output
    assert Outbox(site.outbox).pending() == ["2025-04-02-bdt-cap-moi"]

    again = site.playbook("apply.yml")
    assert "changed=0" in again
    assert "2025-04-02-bdt-cap-moi (create, binhthuan/bdt, văn bản 77/BDT-VP): already done" in again


def test_no_secret_reaches_the_output_even_at_the_highest_verbosity(site):
    site.playbook("apply.yml", "-vvvv", "--diff")
    site.playbook("drift.yml", "-vvvv", "--diff")
    output = "\n".join(site.outputs)
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in output  # the vault password was passed, and masked
    assert "bind_passwords" in output
    for secret in site.secrets():
        assert secret not in output
    one_time = Outbox(site.outbox).credentials("2025-04-02-bdt-cap-moi").passwords.values()
    assert len(one_time) == 2
    for password in one_time:
        assert password not in output


def test_an_invalid_request_stops_before_the_directory_with_the_located_problem(site):
    broken = REQUEST.replace("    department: Văn phòng\n", "", 1).replace(
        "username: nhunglth", "username: nhung"
    )
    (site.root / REQUEST_PATH).write_text(broken, encoding="utf-8")
    output = site.playbook("apply.yml", expect_rc=2)
    assert f"{REQUEST_PATH}:16:5: accounts[0]: missing required field 'department'" in output
    assert "Verify the audit log's hash chain" in output  # the always: part still ran
    assert site.account("baopq") is None
    validated = site.playbook("validate.yml", expect_rc=2)
    assert f"{REQUEST_PATH}:16:5" in validated


def test_validate_playbook_passes_on_good_requests_and_writes_junit(site):
    report = site.root / "junit.xml"
    output = site.playbook("validate.yml", "-e", f"hopthu_validate_report={report}")
    assert "1 request file(s) checked, no problem" in output
    assert 'testcase classname="hopthu.validate"' in report.read_text(encoding="utf-8")


def test_drift_playbook_fails_on_a_change_made_by_hand(site):
    site.playbook("apply.yml")
    assert "no drift" in site.playbook("drift.yml")
    conn = site.server.connect("binhthuan")
    conn.modify(
        "uid=baopq,ou=people,dc=binhthuan,dc=gov,dc=vn",
        {"telephoneNumber": [(ldap3.MODIFY_REPLACE, ["0999 000 000"])]},
    )
    conn.unbind()
    output = site.playbook("drift.yml", "--diff", expect_rc=2)
    assert "binhthuan/baopq: attribute telephoneNumber: requests say ''0912 345 777''" in output
    assert "drift: 1 difference(s) in 1 account(s)" in output
    assert "-telephoneNumber: 0912 345 777" in output and "+telephoneNumber: 0999 000 000" in output


P12_PASSPHRASE = "ansible-p12-secret-51d2"


def test_the_playbook_signs_keeps_and_records_the_notices_and_never_shows_the_passphrase(
    site, smtp_server, tmp_path
):
    """Bình Thuận's key is a PKCS#12 file on the audit host, its passphrase in the vault (no_log)."""
    ca = TestCA.make(tmp_path / "pki")
    p12 = ca.pkcs12(
        ca.issue("Sở Thông tin và Truyền thông tỉnh Bình Thuận"), tmp_path / "bt.p12", P12_PASSPHRASE
    )
    group_vars = site.root / "inventory" / "group_vars" / "test"
    with (group_vars / "main.yml").open("a", encoding="utf-8") as main:
        main.write(
            f"hopthu_notice_signing: {{binhthuan: {{pkcs12: {p12}}}}}\n"
            'hopthu_notice_signing_secrets: "{{ vault_hopthu_notice_signing_secrets }}"\n'
        )
    vault = group_vars / "signing-vault.yml"
    vault.write_text(f'vault_hopthu_notice_signing_secrets:\n  binhthuan: "{P12_PASSPHRASE}"\n')
    subprocess.run(
        [
            str(BIN / "ansible-vault"),
            "encrypt",
            "--vault-password-file",
            str(site.root.parent / "repo-vault-password"),
            str(vault),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    output = site.playbook(
        "apply.yml",
        "-vvvv",
        "-e",
        "hopthu_notices_smtp_host=127.0.0.1",
        "-e",
        f"hopthu_notices_smtp_port={smtp_server.port}",
        "-e",
        "hopthu_notices_sender=hopthu@stttt.binhthuan.gov.vn",
        "-e",
        "hopthu_notices_signer_name=Nguyễn Thanh Sơn",
    )
    assert P12_PASSPHRASE not in output
    (received,) = smtp_server.received
    (attachment,) = received.message.iter_attachments()
    (signature,) = check_signatures(attachment.get_content(), load_trust_roots(tmp_path / "pki" / "root.pem"))
    assert signature.trusted and signature.whole
    (record,) = RecordsStore(site.audit_log.parent / "records").find("2025-04-02-bdt-cap-moi")
    assert RecordsStore(site.audit_log.parent / "records").pdf(record) == attachment.get_content()
    logged = [r for r in AuditLog(site.audit_log).records() if r["op"] == "send-notice"]
    assert [r["after"]["sha256"] for r in logged] == [[record.sha256]]
