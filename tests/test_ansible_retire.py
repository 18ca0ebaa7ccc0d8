"""Mailbox retirement in the pipeline: `playbooks/apply.yml` deletes an account in a real slapd, then the
mail server's play archives, verifies and removes its mailbox in a real Dovecot's mail store, and the
audit host records the result in the audit log.

Two hosts in the Ansible sense, both on this machine: ``audit`` (the audit log, the outbox, the
repository) and ``mail`` (the mail store; it is given its list and nothing else). The tests of this
module share one world and run in file order: check mode first, then the delete of thodn, the run that
changes nothing, the delete of minhnv into an archive folder that cannot be written, and the run after
the fix (with a refused request beside it).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from hopthu.audit import AuditLog
from hopthu.inventory import load_inventory
from hopthu.passwords import KEY_ENV
from mailfixtures import mail_servers_missing, send, wait_for_files
from workspace import ROOT, copy_of_repo

pytestmark = [pytest.mark.mail, pytest.mark.slapd, pytest.mark.slow]
BIN = Path(sys.executable).parent  # the virtualenv's ansible-playbook and hopthu
BDT = "requests/binhthuan/bdt/2025"
DELETE_THODN = "2025-03-24-bdt-xoa"

# minhnv is locked first (with the shipped requests), deleted in the failure test.
LOCK_MINHNV = (ROOT / BDT / f"{DELETE_THODN}.yaml").read_text(encoding="utf-8")
LOCK_MINHNV = (
    LOCK_MINHNV.replace(DELETE_THODN, "2025-03-26-bdt-khoa-2")
    .replace("kind: delete", "kind: lock")
    .replace("68/BDT-VP", "70/BDT-VP")
    .replace("date: 2025-03-24", "date: 2025-03-26")
    .replace("username: thodn", "username: minhnv")
    .replace("full_name: Đàng Năng Thọ", "full_name: Nguyễn Văn Minh")
)
DELETE_MINHNV = (
    LOCK_MINHNV.replace("2025-03-26-bdt-khoa-2", "2025-03-31-bdt-xoa-2")
    .replace("kind: lock", "kind: delete")
    .replace("70/BDT-VP", "74/BDT-VP")
    .replace("date: 2025-03-26", "date: 2025-03-31")
)


@dataclass
class World:
    workdir: Path
    repo: Path
    directory: object
    mail: object
    env: dict[str, str]

    @property
    def audit_log(self) -> Path:
        return self.workdir / "state" / "audit.jsonl"

    @property
    def archive(self) -> Path:
        return self.workdir / "archive"

    def playbook(self, *args: str, expect_rc: int = 0) -> str:
        command = [
            str(BIN / "ansible-playbook"),
            "-i",
            str(self.repo / "inventory" / "test.yml"),
            str(ROOT / "playbooks" / "apply.yml"),
            *args,
        ]
        done = subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=300)
        output = done.stdout + done.stderr
        assert done.returncode == expect_rc, f"{' '.join(command)} exited {done.returncode}:\n{output}"
        return output

    def exists(self, uid: str) -> bool:
        conn = self.directory.connect("binhthuan")
        try:
            return bool(conn.search("dc=binhthuan,dc=gov,dc=vn", f"(uid={uid})"))
        finally:
            conn.unbind()

    def messages(self, uid: str) -> list[str]:
        """SHA-256 of each message in the mailbox, sorted."""
        home = self.mail.home("binhthuan", uid)
        files = [p for p in home.glob("Maildir/*/*") if p.parent.name in ("cur", "new") and p.is_file()]
        return sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in files)

    def retire_records(self, uid: str) -> list[dict]:
        records = AuditLog(self.audit_log).records()
        return [r for r in records if r["op"] == "archive-mailbox" and r["uid"] == uid]

    def set_archive_dir(self, folder: Path) -> None:
        path = self.repo / "inventory/group_vars/all/hopthu.yml"
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r"archive_dir: .*", f"archive_dir: {folder}", text, count=1), encoding="utf-8")


def archived_messages(path: Path) -> list[str]:
    """SHA-256 of each message in an archive, read back from the file, sorted."""
    with tarfile.open(path) as tar:
        members = [m for m in tar if m.isreg() and ("/cur/" in m.name or "/new/" in m.name)]
        return sorted(hashlib.sha256(tar.extractfile(m).read()).hexdigest() for m in members)


def hosts_file(mail) -> dict:
    local = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    mail_host = local | {
        "hopthu_mail_root": str(mail.mail_root),
        "hopthu_mail_organisations": ["binhthuan", "ctu", "danang"],
    }
    return {
        "all": {
            "children": {
                "test": {
                    "children": {
                        "audit_hosts": {"hosts": {"audit": local}},
                        "mail_servers": {"hosts": {"mail": mail_host}},
                    }
                }
            }
        }
    }


@pytest.fixture(scope="module")
def world():
    reason = mail_servers_missing()
    if reason:
        pytest.skip(reason)
    from hopthu.directory.server import LocalDirectory
    from hopthu.mail.server import LocalMail, orgs_for_directory

    workdir = Path(tempfile.mkdtemp(prefix="hopthu-retire-"))
    workdir.chmod(0o711)  # Dovecot's mail user must pass through to the mailboxes
    repo = copy_of_repo(workdir / "repo", "inventory/group_vars/all", BDT)
    (repo / BDT / "2025-03-26-bdt-khoa-2.yaml").write_text(LOCK_MINHNV, encoding="utf-8")
    inventory_file = repo / "inventory/group_vars/all/hopthu.yml"
    # Bình Thuận keeps locked accounts 0 days here, so the deletes can follow the locks at once.
    text = inventory_file.read_text(encoding="utf-8").replace("retention_days: 90", "retention_days: 0", 1)
    inventory_file.write_text(text, encoding="utf-8")
    organisations = load_inventory(repo / "inventory").organisations.values()
    directory = LocalDirectory.start(workdir / "ldap", organisations, fresh=True)
    directory.set_nosync(True)
    mail = LocalMail.start(
        workdir / "mail", orgs_for_directory(directory, organisations), ldap_uri=directory.uri
    )
    try:
        (repo / "inventory/test.yml").write_text(json.dumps(hosts_file(mail), indent=1), encoding="utf-8")
        (repo / "inventory/group_vars/test").mkdir()
        state = workdir / "state"
        (repo / "inventory/group_vars/test/main.yml").write_text(
            f"hopthu_audit_log: {state / 'audit.jsonl'}\nhopthu_outbox: {state / 'outbox'}\n",
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HOPTHU_", "ANSIBLE_"))}
        env |= {
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            "HOPTHU_DIRECTORY": str(directory.workdir / "directory.json"),
            KEY_ENV: os.environ[KEY_ENV],  # the outbox key, as the vault or a CI variable gives it
            "PATH": f"{BIN}:{env.get('PATH', '')}",
        }
        world = World(workdir, repo, directory, mail, env)
        world.set_archive_dir(world.archive)
        # Everything of the unit but the delete, by the CLI: thodn and minhnv are locked afterwards.
        requests = [str(p) for p in sorted((repo / BDT).glob("*.yaml")) if DELETE_THODN not in p.name]
        paths = ["--audit-log", str(world.audit_log), "--outbox", str(state / "outbox")]
        subprocess.run(
            [str(BIN / "hopthu"), "-i", str(repo / "inventory"), "apply", "--quiet", *paths, *requests],
            cwd=repo,
            env=env,
            check=True,
            capture_output=True,
        )
        for uid, count in (("thodn", 2), ("minhnv", 3)):  # locked_mail: accept, so mail still arrives
            for n in range(count):
                send(mail, f"{uid}@bdt.binhthuan.gov.vn", f"Thư số {n + 1}")
            assert len(wait_for_files(mail, "binhthuan", uid, count)) == count
        yield world
    finally:
        mail.stop()
        directory.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_check_mode_lists_the_mailbox_the_delete_would_retire_and_changes_nothing(world):
    before = AuditLog(world.audit_log).head()
    output = world.playbook("--check")
    assert "binhthuan/thodn: would archive 2 message(s), then remove the mailbox (on mail)" in output
    assert world.exists("thodn") and len(world.messages("thodn")) == 2
    assert not world.archive.exists()
    assert AuditLog(world.audit_log).head() == before


def test_a_delete_through_the_playbook_archives_the_mailbox_then_removes_it_and_records_it(world):
    delivered = world.messages("thodn")
    output = world.playbook()
    assert not world.exists("thodn")
    assert not world.mail.home("binhthuan", "thodn").exists()
    (archive,) = (world.archive / "binhthuan").iterdir()
    assert archived_messages(archive) == delivered  # read back: every message, byte for byte

    (record,) = world.retire_records("thodn")
    assert (record["event"], record["request"], record["result"]) == ("change", DELETE_THODN, "ok")
    assert record["after"] == {
        "archive": [str(archive)],
        "sha256": [hashlib.sha256(archive.read_bytes()).hexdigest()],
        "messages": ["2"],
        "mail_host": ["mail"],
    }
    log = AuditLog(world.audit_log)
    assert [p for p in log.verify() if p.severity == "error"] == []  # in the hash chain
    (deleted,) = [
        r for r in log.records() if (r["event"], r["op"], r["uid"]) == ("change", "delete", "thodn")
    ]
    assert deleted["result"] == "ok" and deleted["seq"] < record["seq"]
    assert f"audit head {log.head()}" in output  # the anchor printed is the one after the record


def test_a_second_run_changes_nothing_and_records_nothing_twice(world):
    before = AuditLog(world.audit_log).head()
    output = world.playbook()
    assert re.search(r"audit\s+: ok=\d+\s+changed=0", output)
    assert re.search(r"mail\s+: ok=0\s+changed=0 .* skipped=1", output)
    assert AuditLog(world.audit_log).head() == before
    assert len(world.retire_records("thodn")) == 1
    assert len(list((world.archive / "binhthuan").iterdir())) == 1


def test_an_unwritable_archive_folder_keeps_the_mailbox_fails_the_play_and_records_the_failure(world):
    blocker = world.workdir / "blocker"
    blocker.write_text("")  # a file where a folder should be: not even root can write there
    world.set_archive_dir(blocker / "archive")
    (world.repo / BDT / "2025-03-31-bdt-xoa-2.yaml").write_text(DELETE_MINHNV, encoding="utf-8")
    delivered = world.messages("minhnv")

    output = world.playbook(expect_rc=2)
    assert not world.exists("minhnv")  # the account is deleted; only its mailbox waits
    assert "Fail when a mailbox was not retired" in output
    assert "binhthuan/minhnv: NOT retired: cannot write the archive of" in output
    assert world.messages("minhnv") == delivered  # kept, every message
    (record,) = world.retire_records("minhnv")
    assert (
        record["result"].startswith("cannot write the archive of")
        and "nothing was removed" in record["result"]
    )
    assert record["after"] == {"mail_host": ["mail"]}
    assert [p for p in AuditLog(world.audit_log).verify() if p.severity == "error"] == []
    assert len(world.retire_records("thodn")) == 1


def test_once_the_folder_is_fixed_the_next_run_retires_the_mailbox_even_beside_a_refusal(world):
    delivered = world.messages("minhnv")
    world.set_archive_dir(world.archive)
    refused = DELETE_MINHNV.replace("2025-03-31-bdt-xoa-2", "2025-04-01-bdt-xoa-3").replace(
        "minhnv", "khongco"
    )
    (world.repo / BDT / "2025-04-01-bdt-xoa-3.yaml").write_text(refused, encoding="utf-8")

    output = world.playbook(expect_rc=2)  # the refusal fails the play, after the mailboxes are done
    assert "Fail when a request was refused" in output
    assert "1 account(s) do not exist in binhthuan: khongco" in output  # refusals.py's English text
    assert not world.mail.home("binhthuan", "minhnv").exists()
    failed, done = world.retire_records("minhnv")
    assert failed["result"] != "ok" and done["result"] == "ok"
    assert archived_messages(Path(done["after"]["archive"][0])) == delivered
