"""The pipeline's state survives the loss of the apply host: the audit log, the encrypted credentials outbox
and the notice ledger are also kept in the replicated directory (``state: {org: …}``), the apply host's
state directory is removed, ``hopthu state restore`` brings it back as docs/adopting.md says, and the next
runs converge and send no password twice, against two real slapd providers and a real SMTP server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hopthu.audit import AuditLog
from hopthu.directory.connection import connect
from hopthu.inventory import load_inventory
from hopthu.passwords import KEY_ENV, Outbox
from hopthu.statestore import STATE_OU
from replication import connections_file, tree
from smtpfixtures import Recorder
from workspace import ROOT, copy_of_repo

sys.path.insert(0, str(ROOT / "bench"))
from workload import HOPTHU, write_create_request

FIRST, SECOND = "2026-11-20-bulk", "2026-11-21-bulk"

pytestmark = pytest.mark.slow


class Site:
    """A repository, two providers, a connections file naming binhthuan as the state organisation, the
    apply host's state directory and an SMTP server; ``run`` runs hopthu there."""

    def __init__(self, tmp: Path, providers, smtp: Recorder) -> None:
        self.repo = tmp / "repo"
        self.providers = providers
        self.smtp = smtp
        self.state = tmp / "apply-host" / "state"  # what dies with the host
        self.directory = connections_file(
            tmp / "connections.json", providers, providers.uris, timeout=5, state={"org": "binhthuan"}
        )
        self.org = load_inventory(self.repo / "inventory").organisations["binhthuan"]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        where = {
            "apply": ["--quiet", "--audit-log", str(self.audit_log), "--outbox", str(self.outbox)],
            "notify": [
                "--audit-log",
                str(self.audit_log),
                "--outbox",
                str(self.outbox),
                "--smtp-host",
                "127.0.0.1",
                "--smtp-port",
                str(self.smtp.port),
                "--sender",
                "hopthu@stttt.binhthuan.gov.vn",
                "--signer-name",
                "Nguyễn Văn Ký",
            ],
            "state": [],
        }[args[0]]
        command = [HOPTHU, *args, *where, "--directory", str(self.directory)]
        done = subprocess.run(command, cwd=self.repo, capture_output=True, text=True, timeout=300)
        if check:
            assert done.returncode == 0, f"{' '.join(args)}: {done.stderr}"
        assert "Traceback" not in done.stderr
        return done

    @property
    def audit_log(self) -> Path:
        return self.state / "audit.jsonl"

    @property
    def outbox(self) -> Path:
        return self.state / "outbox"

    def restore(self, *extra: str) -> subprocess.CompletedProcess:
        return self.run(
            "state", "restore", "--audit-log", str(self.audit_log), "--outbox", str(self.outbox), *extra
        )

    def head(self) -> str:
        return str(AuditLog(self.audit_log).head())

    def passwords_sent(self) -> list[str]:
        """Every one-time password that reached the SMTP server, once per message it was in."""
        texts = [message.text() for message in self.smtp.received]
        return [word for text in texts for word in text.split() if word in self.all_passwords]


@pytest.fixture
def site(tmp_path, start_providers, smtp_server):
    repo = tmp_path / "repo"
    (repo / "requests").mkdir(parents=True)
    copy_of_repo(repo, "inventory")
    org = load_inventory(repo / "inventory").organisations["binhthuan"]
    write_create_request(repo, org, "bdt", 3, request_id=FIRST)
    providers = start_providers([org], tmp_path / "ldap")
    providers.set_nosync(True)
    site = Site(tmp_path, providers, smtp_server)
    site.all_passwords = set()
    return site


def test_the_state_comes_back_from_the_directory_and_nothing_is_sent_twice(
    site: Site, tmp_path: Path
) -> None:
    # Run 1: the apply; the host dies before its notice went out.
    site.run("apply")
    passwords = Outbox(site.outbox).credentials(FIRST).passwords
    site.all_passwords |= set(passwords.values())
    anchor = site.head()  # what the CI job printed and kept as an artifact
    raw = site.outbox.joinpath(f"{FIRST}.json").read_bytes()
    assert not any(password.encode() in raw for password in passwords.values())  # encrypted at rest
    for provider in site.providers.providers:  # the copy is replicated like the accounts
        kept = tree(provider, site.org)
        assert f"ou=outbox,ou={STATE_OU},{site.org.base_dn}".lower() in kept
        blob = kept[f"cn={FIRST},ou=outbox,ou={STATE_OU},{site.org.base_dn}".lower()]["description"][0]
        assert not any(password in blob for password in passwords.values())  # without the key: nothing
    shutil.rmtree(site.state.parent)

    # The new host: restore as docs/adopting.md says, against the anchor, then send what was waiting.
    restored = site.restore("--expect-head", anchor)
    assert "wrote the audit log" in restored.stdout and "1 wait for their notice" in restored.stdout
    assert site.head() == anchor
    assert Outbox(site.outbox).credentials(FIRST).passwords == passwords
    site.run("notify")
    assert len(site.smtp.received) == 1
    assert sorted(site.passwords_sent()) == sorted(passwords.values())
    for uid, password in passwords.items():  # the notice's passwords open the accounts, on each provider
        for uri in site.providers.uris:
            connect(uri, f"uid={uid},ou=people,{site.org.base_dn}", password, timeout=5).unbind()

    # Run 2, then the host is lost again after its notice went out.
    taken = frozenset(passwords)
    write_create_request(site.repo, site.org, "bdt", 2, request_id=SECOND, taken=taken)
    site.run("apply")
    site.all_passwords |= set(Outbox(site.outbox).credentials(SECOND).passwords.values())
    site.run("notify")
    assert len(site.smtp.received) == 2
    anchor = site.head()
    shutil.rmtree(site.state.parent)
    restored = site.restore("--expect-head", anchor)
    assert "0 wait for their notice" in restored.stdout
    ledger = json.loads((site.state / "outbox.notices.json").read_text())["notices"]
    assert {FIRST, SECOND} <= {request for request, entry in ledger.items() if entry["sent_at"]}

    # The next run converges (nothing to redo) and sends nothing again.
    again = site.run("apply")
    assert "applied 0 request(s), 0 change(s)" in again.stdout or "already done" in again.stderr
    site.run("notify")
    assert len(site.smtp.received) == 2
    sent = site.passwords_sent()
    assert len(sent) == len(set(sent)) == len(site.all_passwords)  # every password sent, and only once
    assert [p for p in AuditLog(site.audit_log).verify(anchor) if p.severity == "error"] == []


def test_a_host_with_older_state_refuses_to_write(site: Site, tmp_path: Path) -> None:
    site.run("apply")
    stale = tmp_path / "stale"
    shutil.copytree(site.state, stale)  # a backup of the host, taken now
    write_create_request(site.repo, site.org, "bdt", 2, request_id=SECOND, taken=frozenset({"x"}))
    site.run("apply")
    shutil.rmtree(site.state)
    shutil.copytree(stale, site.state)  # the host came back from the older backup
    refused = site.run("apply", check=False)
    assert refused.returncode == 1
    assert "this host's state is older than the pipeline's; restore it first" in refused.stderr
    site.restore()
    site.run("apply")  # after the restore the host is up to date and converges: nothing to redo
    finals = [r["request"] for r in AuditLog(site.audit_log).records() if r["event"] == "request"]
    assert finals == [FIRST, SECOND]


def test_a_restore_never_overwrites_and_without_the_key_no_password_is_readable(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.run("apply")
    anchor = site.head()
    check = site.restore("--check")
    assert "the audit log here already holds the copy's" in check.stdout
    site.audit_log.write_bytes(site.audit_log.read_bytes().replace(b'"bdt"', b'"snv"', 1))
    forked = site.run(
        "state", "restore", "--audit-log", str(site.audit_log), "--outbox", str(site.outbox), check=False
    )
    assert forked.returncode == 1 and "is not a beginning of the replicated copy" in forked.stderr
    wrong_anchor = site.run(
        "state",
        "restore",
        "--audit-log",
        str(tmp_path / "new" / "audit.jsonl"),
        "--outbox",
        str(tmp_path / "new" / "outbox"),
        "--expect-head",
        "1:" + "0" * 64,
        check=False,
    )
    assert wrong_anchor.returncode == 1 and "does not verify" in wrong_anchor.stderr
    assert not (tmp_path / "new" / "audit.jsonl").exists()
    monkeypatch.delenv(KEY_ENV)
    keyless = Outbox(tmp_path / "keyless")
    with pytest.raises(Exception, match="no outbox key"):
        keyless.restore({FIRST: site.outbox.joinpath(f"{FIRST}.json").read_bytes()})
    assert anchor
