"""``hopthu audit verify|show|head``: exit codes and what a person reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hopthu.audit import AuditLog
from hopthu.cli import main


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, commit="c0ffee", ci=None)
    log.append(
        [
            {
                "event": "intent",
                "request": "R1",
                "op": "create",
                "uid": "minhnv",
                "after": {"cn": ["Nguyễn Văn Minh"]},
            },
            {"event": "intent", "request": "R1", "op": "add-member", "uid": "minhnv", "group": "qlvb"},
            {"event": "intent", "request": "R2", "op": "lock", "uid": "anvtt"},
        ]
    )
    log.append(
        [
            {
                "event": "change",
                "request": "R1",
                "op": "create",
                "uid": "minhnv",
                "result": "ok",
                "after": {"cn": ["Nguyễn Văn Minh"], "userPassword": ["s3cret!Pass12"]},
            },
            {
                "event": "change",
                "request": "R1",
                "op": "add-member",
                "uid": "minhnv",
                "group": "qlvb",
                "result": "ok",
            },
            {"event": "request", "request": "R1", "result": "applied"},
            {
                "event": "request",
                "request": "R2",
                "result": "refused",
                "reason": "tài khoản không thuộc đơn vị",
            },
        ]
    )
    return path


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, ["audit", *args], env=env)


def test_verify_an_intact_log(log_path: Path) -> None:
    result = run("verify", "--log", str(log_path))
    assert result.exit_code == 0, result.output
    assert f"{log_path}: 7 record(s), chain intact; head 7:" in result.stdout
    assert result.stderr == ""


def test_verify_names_each_problem_as_path_line_message(log_path: Path) -> None:
    lines = log_path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b"qlvb", b"qlns")
    del lines[4]
    log_path.write_bytes(b"".join(lines))

    result = run("verify", "--log", str(log_path))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{log_path}:2: seq 2: record was edited (hash mismatch)",
        f"{log_path}:5: seq 5 expected, found 6: record 5 was removed",
        f"{log_path}: 2 problem(s): the audit log cannot be trusted",
    ]


def test_verify_with_an_anchor_catches_a_truncated_tail(log_path: Path) -> None:
    anchor = run("head", "--log", str(log_path)).stdout.strip()
    assert anchor.startswith("7:") and len(anchor) == 2 + 64
    assert run("verify", "--log", str(log_path), "--expect-head", anchor).exit_code == 0

    log_path.write_bytes(b"".join(log_path.read_bytes().splitlines(keepends=True)[:5]))
    assert run("verify", "--log", str(log_path)).exit_code == 0  # the chain alone cannot see it
    result = run("verify", "--log", str(log_path), "--expect-head", anchor)
    assert result.exit_code == 1
    assert "records 6–7 were removed from the end" in result.stderr


def test_verify_reports_a_torn_last_line_as_a_warning(log_path: Path) -> None:
    with log_path.open("ab") as handle:
        handle.write(b'{"after":{"cn":')
    result = run("verify", "--log", str(log_path))
    assert result.exit_code == 0
    assert f"{log_path}:8: warning: incomplete last line" in result.stderr


def test_verify_refuses_a_missing_log_and_a_bad_anchor(tmp_path: Path, log_path: Path) -> None:
    result = run("verify", "--log", str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 1 and "no audit log here" in result.stderr
    result = run("verify", "--log", str(log_path), "--expect-head", "not-a-hash")
    assert result.exit_code == 2 and "SEQ:HASH" in result.stderr


def test_the_log_path_defaults_to_the_environment(log_path: Path) -> None:
    result = run("verify", env={"HOPTHU_AUDIT_LOG": str(log_path)})
    assert result.exit_code == 0 and "chain intact" in result.stdout


def test_show_prints_a_table(log_path: Path) -> None:
    result = run("show", "--log", str(log_path))
    assert result.exit_code == 0
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["SEQ", "TIME", "EVENT", "REQUEST", "OP", "UID", "RESULT"]
    assert len(rows) == 7
    assert "minhnv → qlvb" in rows[1]
    assert "reason: tài khoản không thuộc đơn vị" in rows[6]
    assert "********" not in result.stdout and "s3cret" not in result.stdout


def test_show_filters_and_prints_json(log_path: Path) -> None:
    result = run("show", "--log", str(log_path), "--request", "R1", "--account", "minhnv", "--json")
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["seq"], r["event"], r["op"]) for r in records] == [
        (1, "intent", "create"),
        (2, "intent", "add-member"),
        (4, "change", "create"),
        (5, "change", "add-member"),
    ]
    assert records[2]["after"]["userPassword"] == ["********"]
    assert run("show", "--log", str(log_path), "--account", "nobody").stdout == "no matching records\n"


def test_show_of_a_damaged_log_is_an_error_not_a_traceback(log_path: Path) -> None:
    lines = log_path.read_bytes().splitlines(keepends=True)
    lines[2] = b"garbage\n"
    log_path.write_bytes(b"".join(lines))
    result = run("show", "--log", str(log_path))
    assert result.exit_code == 1
    assert f"{log_path}:3: not a valid audit record" in result.stderr
