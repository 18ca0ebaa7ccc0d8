"""Wrong input to the CLI ends in one clear message on stderr and exit 1 or 2, never a Python traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hopthu.audit import AuditLog
from hopthu.cli import main
from workspace import copy_of_repo

HOSTS = "inventory/group_vars/all/hopthu.yml"


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """A copy of the shipped inventory and example requests; the working directory."""
    copy_of_repo(tmp_path, "inventory", "requests")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HOPTHU_DIRECTORY", raising=False)
    monkeypatch.setenv("HOPTHU_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    return tmp_path


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    # An exception click did not turn into a message would be kept here (and shown as a traceback).
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


def break_inventory() -> str:
    """Make the first organisation's mail domain a number; return the located finding's prefix."""
    hosts = Path(HOSTS)
    text = hosts.read_text(encoding="utf-8")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "mail_domain:" in row)
    rows = text.splitlines(keepends=True)
    rows[line - 1] = rows[line - 1].split("mail_domain:")[0] + "mail_domain: 12\n"
    hosts.write_text("".join(rows), encoding="utf-8")
    return f"{HOSTS}:{line}:"


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["plan", "--directory", "directory.json"],
        ["drift", "--directory", "directory.json"],
        ["assign"],
        ["validate"],
        ["codeowners", "generate"],
        ["mailbox", "retire", "--mail-root", "."],
        ["notify", "--dry-run", "--output", "out"],
    ],
    ids=lambda command: " ".join(command[:2]),
)
def test_a_broken_inventory_is_shown_once_located_then_one_error(repo, command):
    where = break_inventory()
    result = run(*command)
    assert result.exit_code == 1
    assert result.output.count(where) == 1, result.output  # the finding, once, with file:line:col
    assert result.stderr.rstrip().endswith("Error: the inventory has problems (above); fix it first")


@pytest.mark.parametrize(
    "content, message",
    [
        ("{bad", "directory.json: not valid json"),
        ("[]", "directory.json: expected a mapping with an 'organisations' mapping"),
        ('{"organisations": {"binhthuan": "ldap://x"}}', "organisations.binhthuan: expected a mapping"),
        (
            '{"organisations": {"binhthuan": {"uri": 5}}}',
            "organisations.binhthuan: 'uri' must be an LDAP URI or a list of them",
        ),
    ],
)
@pytest.mark.parametrize("command", ["plan", "apply", "drift", "assign"])
def test_a_malformed_connections_file_is_named(repo, command, content, message):
    Path("directory.json").write_text(content, encoding="utf-8")
    result = run(command, "--directory", "directory.json")
    assert result.exit_code == 1
    assert message in result.stderr


def test_a_missing_connections_file_says_how_to_get_one(repo):
    result = run("plan", "--directory", "nowhere/directory.json")
    assert result.exit_code == 1
    assert "nowhere/directory.json: cannot read the connections file" in result.stderr
    assert "hopthu server start" in result.stderr


def test_plan_without_connections_says_which_option_gives_them(repo):
    result = run("plan")
    assert result.exit_code == 2
    assert "pass --directory FILE or set $HOPTHU_DIRECTORY" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["plan", "--directory", "directory.json"],
        ["apply", "--directory", "directory.json"],
        ["drift", "--directory", "directory.json"],
        ["status"],
        ["assign"],
        ["validate"],
    ],
    ids=lambda command: command[0],
)
def test_a_request_path_that_does_not_exist_is_located(repo, command):
    Path("directory.json").write_text(json.dumps({"organisations": {}}), encoding="utf-8")
    result = run(*command, "requests/nope")
    assert result.exit_code == 1
    assert "requests/nope:1:1: no such file" in result.output


def test_a_damaged_audit_log_is_named_by_status(repo):
    Path("audit.jsonl").write_text("garbage\n", encoding="utf-8")
    result = run("status")
    assert result.exit_code == 1
    assert "audit.jsonl:1: not a valid audit record; run `hopthu audit verify`" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["validate", "--format", "junit", "-o", "a-file/report.xml"],
        ["codeowners", "generate", "-o", "a-file/CODEOWNERS"],
    ],
    ids=lambda command: command[0],
)
def test_an_output_path_under_a_file_is_named(repo, command):
    Path("a-file").write_text("not a folder\n", encoding="utf-8")
    result = run(*command)
    assert result.exit_code == 1
    assert result.stderr.endswith("a-file is a file, not a folder\n"), result.stderr


def test_notify_names_a_preview_folder_it_cannot_make(repo):
    AuditLog(repo / "audit.jsonl", commit=None, ci=None).append(
        [{"event": "request", "request": "2025-03-13-cit-khoa", "result": "applied"}]
    )
    Path("a-file").write_text("not a folder\n", encoding="utf-8")
    result = run("notify", "--dry-run", "--output", "a-file/notices", "--outbox", "outbox")
    assert result.exit_code == 1
    assert "cannot use a-file/notices: Not a directory" in result.stderr


def test_reports_go_into_a_folder_made_for_them(repo):
    result = run("validate", "--format", "junit", "-o", "reports/validate.xml")
    assert result.exit_code == 0, result.output
    assert Path("reports/validate.xml").read_text(encoding="utf-8").startswith("<?xml")


def test_mailbox_retire_that_cannot_archive_keeps_the_mailbox_records_why_and_exits_1(repo):
    log = AuditLog(repo / "audit.jsonl", commit=None, ci=None)
    deleted = {"event": "change", "request": "2025-03-24-bdt-xoa", "org": "binhthuan", "op": "delete"}
    log.append([deleted | {"uid": "thodn", "result": "ok"}])
    message = Path("mail/binhthuan/thodn/Maildir/new/1700000001.M1P1.host")
    message.parent.mkdir(parents=True)
    message.write_bytes(b"Subject: 1\r\n\r\none\r\n")
    blocker = repo / "a-file"  # even root cannot make a folder inside a file
    blocker.write_text("not a folder\n", encoding="utf-8")
    hosts = Path(HOSTS)
    text = hosts.read_text(encoding="utf-8").replace("/srv/mail-archive", str(blocker))
    hosts.write_text(text, encoding="utf-8")

    result = run("mailbox", "retire", "--mail-root", "mail")
    assert result.exit_code == 1
    expected = (
        f"binhthuan/thodn: NOT retired: cannot write the archive of mail/binhthuan/thodn into {blocker}"
    )
    assert expected in result.stderr
    assert message.is_file()
    (record,) = [r for r in log.records() if r["op"] == "archive-mailbox"]
    assert record["result"].startswith("cannot write the archive") and record["uid"] == "thodn"
