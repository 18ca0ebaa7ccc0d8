"""The hash-chained audit log: writing, masking, crash safety, the lock, tamper detection, the ledger."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hopthu import audit
from hopthu.audit import (
    GENESIS,
    MASK,
    AuditLog,
    AuditLogBusy,
    AuditLogCorrupt,
    canonical,
    ci_context,
    current_commit,
    line_hash,
    record_hash,
)
from hopthu.gitlab import MergeRequestLookup

T0 = dt.datetime(2025, 3, 3, 8, 0, tzinfo=dt.UTC)


class Clock:
    """A clock the test moves forward."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def tick(self, minutes: int = 1) -> None:
        self.now += dt.timedelta(minutes=minutes)


def new_log(path: Path, clock: Clock | None = None) -> AuditLog:
    return AuditLog(path, commit="c0ffee", ci=None, clock=clock or Clock())


def intent(uid: str, request: str = "R1", op: str = "create", **extra) -> dict:
    return {"event": "intent", "request": request, "document": "12/CV-SNV", "op": op, "uid": uid, **extra}


def change(uid: str, result: str = "ok", request: str = "R1", op: str = "create", **extra) -> dict:
    return {"event": "change", "request": request, "op": op, "uid": uid, "result": result, **extra}


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "audit" / "audit.jsonl"


def write_records(path: Path, n: int) -> AuditLog:
    log = new_log(path)
    log.append(intent(f"user{i}") for i in range(1, n + 1))
    return log


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rewrite(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def errors(log: AuditLog, **kwargs) -> list[audit.Problem]:
    return [p for p in log.verify(**kwargs) if p.severity == "error"]


def forge(line: bytes, **changes) -> bytes:
    """The line with fields changed and its own hash recomputed: what a careful tamperer does."""
    record = json.loads(line)
    record.update(changes)
    record["hash"] = record_hash(record)
    return canonical(record) + b"\n"


# --- writing ---------------------------------------------------------------------------------------


def test_records_are_canonical_lines_chained_by_hash(log_path: Path) -> None:
    log = new_log(log_path)
    written = log.append([intent("minhnv"), intent("anvtt")])
    written += log.append([change("minhnv")])

    raw = lines_of(log_path)
    assert len(raw) == 3 and all(line.endswith(b"\n") for line in raw)
    records = list(log.records())
    assert records == written
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[0]["prev"] == GENESIS
    for previous_line, record in zip(raw, records[1:], strict=False):
        assert record["prev"] == line_hash(previous_line[:-1])
    for line, record in zip(raw, records, strict=True):
        assert line[:-1] == canonical(record)  # sorted keys, no spaces
        assert record["hash"] == record_hash(record)
        assert record["commit"] == "c0ffee" and record["ci"] is None
        assert record["time"] == "2025-03-03T08:00:00.000000Z"
    assert log.verify() == []


def test_every_record_has_every_field(log_path: Path) -> None:
    record = new_log(log_path).append([{"event": "request", "request": "R1", "result": "applied"}])[0]
    assert set(record) == set(audit.CALLER_FIELDS) | {"seq", "time", "commit", "ci", "prev", "hash"}
    assert record["uid"] is None and record["before"] is None


def test_secrets_never_reach_the_file(log_path: Path) -> None:
    secret = "Xk7#pQ9$mW2!zR"
    attrs = {
        "userPassword": [secret],
        "userPassword;binary": [secret.encode()],
        "sambaNTPassword": secret,
        "pwdHistory": [secret],
        "cn": ["Nguyễn Văn Minh"],
    }
    written = new_log(log_path).append(
        [intent("minhnv", op="set-password", before=attrs, after=attrs), change("minhnv", after=attrs)]
    )

    data = log_path.read_bytes()
    assert secret.encode() not in data
    assert written[0]["after"]["userPassword"] == [MASK]
    assert written[0]["before"]["sambaNTPassword"] == [MASK]
    assert written[1]["after"]["cn"] == ["Nguyễn Văn Minh"]
    assert "Nguyễn Văn Minh".encode() in data  # UTF-8, not \u escapes


def test_a_whole_batch_costs_one_fsync(log_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_fsync = os.fsync
    with new_log(log_path) as log:
        monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd)))
        log.append(intent(f"user{i}") for i in range(2000))
        assert len(calls) == 1
        log.append(change(f"user{i}") for i in range(2000))
        assert len(calls) == 2
    assert len(lines_of(log_path)) == 4000
    assert [r["seq"] for r in log.records()][-1] == 4000


def test_a_bad_record_writes_nothing_of_its_batch(log_path: Path) -> None:
    log = write_records(log_path, 2)
    before = log_path.read_bytes()
    with pytest.raises(ValueError, match=r"unknown field.*password"):
        log.append([intent("a"), {**intent("b"), "password": "x"}])
    with pytest.raises(ValueError, match="applied or refused"):
        log.append([{"event": "request", "request": "R1", "result": "done"}])
    with pytest.raises(ValueError, match="no result"):
        log.append([{"event": "change", "request": "R1", "op": "lock", "uid": "a"}])
    assert log_path.read_bytes() == before


def test_a_failed_write_leaves_no_half_batch(log_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = write_records(log_path, 3)
    before = log_path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", disk_full)
        with pytest.raises(OSError, match="No space"):
            log.append([intent("x"), intent("y")])
    assert log_path.read_bytes() == before
    log.append([intent("z")])
    assert log.verify() == [] and [r["uid"] for r in log.records()][-1] == "z"


# --- crash: a torn last line -------------------------------------------------------------------------


def test_a_torn_last_line_is_not_a_record_and_is_cut_off_on_the_next_append(log_path: Path) -> None:
    log = write_records(log_path, 3)
    complete = log_path.read_bytes()
    torn_line = canonical(new_log(log_path.parent / "other").append([intent("ghost")])[0])[:57]
    log_path.write_bytes(complete + torn_line)  # the crash came in the middle of the write

    assert [r["uid"] for r in log.records()] == ["user1", "user2", "user3"]
    (warning,) = log.verify()
    assert warning.severity == "warning" and warning.line == 4
    assert "incomplete last line (57 bytes" in warning.message

    written = log.append([intent("user4")])
    assert written[0]["seq"] == 5  # seq 4 is the repair record
    raw = lines_of(log_path)
    assert b"".join(raw[:3]) == complete and len(raw) == 5
    assert all(line.endswith(b"\n") and json.loads(line) for line in raw)  # the torn bytes are gone
    records = list(log.records())
    assert records[3]["event"] == "repair"
    assert "incomplete last line was removed (57 bytes" in records[3]["reason"]
    problems = log.verify()
    assert [(p.line, p.seq, p.severity) for p in problems] == [(4, 4, "warning")]
    assert "repaired after a crash" in problems[0].message


def test_a_torn_first_line_leaves_an_empty_chain(log_path: Path) -> None:
    log_path.parent.mkdir(parents=True)
    log_path.write_bytes(b'{"after":nu')
    log = new_log(log_path)
    assert list(log.records()) == [] and log.head() is None
    log.append([intent("a")])
    assert [r["event"] for r in log.records()] == ["repair", "intent"]
    assert errors(log) == []


def test_a_damaged_last_record_stops_the_writer(log_path: Path) -> None:
    write_records(log_path, 3)
    raw = lines_of(log_path)
    raw[-1] = raw[-1].replace(b"user3", b"userX")
    rewrite(log_path, raw)
    with pytest.raises(AuditLogCorrupt, match="last record is damaged"):
        new_log(log_path).append([intent("y")])


def test_appends_after_a_reopen_continue_the_chain(log_path: Path) -> None:
    write_records(log_path, 3)
    with new_log(log_path) as log:
        log.append([intent("x")])
    assert [r["seq"] for r in log.records()] == [1, 2, 3, 4] and log.verify() == []


def test_the_tail_is_found_when_the_last_line_is_longer_than_a_read_chunk(log_path: Path) -> None:
    log = write_records(log_path, 2)
    log.append([intent("big", after={"description": ["x" * 200_000]})])
    log.append([intent("after-big")])
    assert log.verify() == [] and log.head().seq == 4


# --- one writer at a time ----------------------------------------------------------------------------


def test_a_second_writer_is_refused_while_the_first_holds_the_log(log_path: Path) -> None:
    with new_log(log_path) as first:
        first.append([intent("a")])
        with pytest.raises(AuditLogBusy, match="another process"):
            new_log(log_path).append([intent("b")])
        first.append([intent("c")])
    new_log(log_path).append([intent("d")])  # released
    assert [r["uid"] for r in new_log(log_path).records()] == ["a", "c", "d"]


def test_a_writer_in_another_process_holds_the_lock(log_path: Path) -> None:
    holder = textwrap.dedent(
        f"""
        import sys
        from hopthu.audit import AuditLog
        with AuditLog({str(log_path)!r}, commit=None, ci=None):
            print("locked", flush=True)
            sys.stdin.read()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(AuditLogBusy):
            new_log(log_path).append([intent("a")])
    finally:
        child.stdin.close()
        child.wait(timeout=10)
    new_log(log_path).append([intent("a")])
    assert len(list(new_log(log_path).records())) == 1


# --- tamper detection --------------------------------------------------------------------------------


def test_an_edited_record_is_named(log_path: Path) -> None:
    log = write_records(log_path, 8)
    raw = lines_of(log_path)
    raw[3] = raw[3].replace(b"user4", b"user9")
    rewrite(log_path, raw)
    (problem,) = log.verify()
    assert (problem.line, problem.seq) == (4, 4)
    assert str(problem) == "line 4 (seq 4): record was edited (hash mismatch)"


def test_an_edited_record_with_a_recomputed_hash_is_named(log_path: Path) -> None:
    log = write_records(log_path, 8)
    raw = lines_of(log_path)
    raw[3] = forge(raw[3][:-1], uid="attacker")
    rewrite(log_path, raw)
    (problem,) = log.verify()
    assert (problem.line, problem.seq) == (4, 4)
    assert "changed after record 5 (line 5) was written" in problem.message


def test_a_reformatted_record_is_named(log_path: Path) -> None:
    log = write_records(log_path, 5)
    raw = lines_of(log_path)
    raw[1] = json.dumps(json.loads(raw[1]), indent=None).encode() + b"\n"  # spaces after ':' and ','
    rewrite(log_path, raw)
    (problem,) = log.verify()
    assert (problem.line, problem.seq) == (2, 2) and "reformatted" in problem.message


def test_a_removed_record_is_named(log_path: Path) -> None:
    log = write_records(log_path, 10)
    raw = lines_of(log_path)
    del raw[8]
    rewrite(log_path, raw)
    (problem,) = log.verify()
    assert str(problem) == "line 9: seq 9 expected, found 10: record 9 was removed"


def test_several_removed_records_are_named(log_path: Path) -> None:
    log = write_records(log_path, 10)
    raw = lines_of(log_path)
    del raw[2:5]
    rewrite(log_path, raw)
    (problem,) = log.verify()
    assert str(problem) == "line 3: seq 3 expected, found 6: records 3–5 were removed"


def test_removing_the_first_records_is_detected(log_path: Path) -> None:
    log = write_records(log_path, 5)
    rewrite(log_path, lines_of(log_path)[2:])
    (problem,) = log.verify()
    assert str(problem) == "line 1: seq 1 expected, found 3: records 1–2 were removed"


def test_an_inserted_copy_is_named(log_path: Path) -> None:
    log = write_records(log_path, 6)
    raw = lines_of(log_path)
    raw.insert(5, raw[2])  # record 3 again, after record 5
    rewrite(log_path, raw)
    (problem,) = errors(log)
    assert (problem.line, problem.seq) == (6, 3)
    assert "inserted" in problem.message


def test_an_inserted_forged_record_is_named(log_path: Path) -> None:
    log = write_records(log_path, 6)
    raw = lines_of(log_path)
    # A forged record 4 that links correctly to record 3, placed before the real record 4.
    forged = forge(raw[3][:-1], uid="ghost")
    raw.insert(3, forged)
    rewrite(log_path, raw)
    (problem,) = errors(log)
    assert (problem.line, problem.seq) == (4, 4)
    assert "inserted" in problem.message and "chain continues from line 5" in problem.message


def test_reordered_records_are_named(log_path: Path) -> None:
    log = write_records(log_path, 8)
    raw = lines_of(log_path)
    raw[3], raw[4] = raw[4], raw[3]
    rewrite(log_path, raw)
    (problem,) = log.verify()
    assert problem.line in (4, 5) and problem.seq in (4, 5)
    assert "out of order" in problem.message


def test_a_record_moved_to_the_front_is_the_one_named(log_path: Path) -> None:
    log = write_records(log_path, 8)
    raw = lines_of(log_path)
    raw.insert(0, raw.pop(7))
    rewrite(log_path, raw)
    (problem,) = log.verify()
    assert (problem.line, problem.seq) == (1, 8) and "out of order" in problem.message


def test_a_damaged_line_in_the_middle_is_an_error(log_path: Path) -> None:
    log = write_records(log_path, 5)
    raw = lines_of(log_path)
    raw[2] = raw[2][:40] + b"\n"
    rewrite(log_path, raw)
    (problem,) = log.verify()
    assert problem.line == 3 and "not valid JSON" in problem.message
    with pytest.raises(AuditLogCorrupt, match=":3: not a valid audit record"):
        list(log.records())


def test_a_first_record_that_does_not_start_the_chain(log_path: Path) -> None:
    log = write_records(log_path, 1)
    rewrite(log_path, [forge(lines_of(log_path)[0][:-1], prev="ab" * 32)])
    (problem,) = log.verify()
    assert (problem.line, problem.seq) == (1, 1) and "does not start the chain" in problem.message


def test_a_truncated_tail_is_caught_only_with_an_anchor(log_path: Path) -> None:
    log = write_records(log_path, 8)
    anchor = str(log.head())
    assert anchor.startswith("8:")
    rewrite(log_path, lines_of(log_path)[:6])

    assert log.verify() == []  # the chain alone cannot see it: documented
    (problem,) = log.verify(expect_head=anchor)
    assert "the log ends at seq 6 but the anchor is seq 8: records 7–8 were removed from the end" in str(
        problem
    )
    (problem,) = log.verify(expect_head=anchor.split(":")[1])
    assert "is not in the log" in problem.message


def test_an_anchor_stays_valid_while_the_log_grows(log_path: Path) -> None:
    log = write_records(log_path, 3)
    anchor = str(log.head())
    log.append([intent("later")])
    assert log.verify(expect_head=anchor) == []


def test_a_rewritten_log_does_not_match_its_anchor(log_path: Path) -> None:
    log = write_records(log_path, 5)
    anchor = str(log.head())
    log_path.unlink()
    AuditLog(log_path, commit="other", ci=None, clock=Clock()).append(intent(f"user{i}") for i in range(1, 6))
    assert log.verify() == []  # a consistent new chain
    (problem,) = log.verify(expect_head=anchor)
    assert (problem.line, problem.seq) == (5, 5) and "rewritten" in problem.message


def test_an_emptied_log_does_not_match_its_anchor(log_path: Path) -> None:
    log = write_records(log_path, 2)
    anchor = str(log.head())
    log_path.write_bytes(b"")
    (problem,) = log.verify(expect_head=anchor)
    assert "empty" in problem.message


def test_a_malformed_anchor_is_refused(log_path: Path) -> None:
    log = write_records(log_path, 1)
    with pytest.raises(ValueError, match="SEQ:HASH"):
        log.verify(expect_head="12:nothex")


# --- reading -----------------------------------------------------------------------------------------


def test_show_filters_by_request_and_account(log_path: Path) -> None:
    log = new_log(log_path)
    log.append([intent("a", request="R1"), intent("b", request="R1"), intent("a", request="R2", op="lock")])
    assert [(r["request"], r["uid"]) for r in log.show(request="R1")] == [("R1", "a"), ("R1", "b")]
    assert [(r["request"], r["op"]) for r in log.show(account="a")] == [("R1", "create"), ("R2", "lock")]
    assert [r["seq"] for r in log.show(request="R2", account="a")] == [3]
    assert list(AuditLog(log_path.parent / "missing.jsonl").records()) == []


def test_the_ledger_says_what_is_done_what_failed_and_what_was_interrupted(log_path: Path) -> None:
    clock = Clock()
    log = new_log(log_path, clock)
    log.append([intent("a"), intent("b"), intent("c"), intent("a", op="add-member", group="qlvb")])
    clock.tick()
    log.append([change("a"), change("b", result="LDAP error 68: entry already exists")])
    log.append([change("a", op="add-member", group="qlvb")])
    log.append([{"event": "request", "request": "R0", "result": "refused", "reason": "không đúng đơn vị"}])
    clock.tick()
    log.append([intent("b")])  # a second run retries b, then crashes
    log.append([{"event": "request", "request": "R9", "result": "applied"}])

    ledger = log.ledger()
    assert ledger.finished == {"R0": "refused", "R9": "applied"}
    assert ledger.outcomes["R0"].reason == "không đúng đơn vị"
    assert ledger.completed == {("R1", "create", "a", ""), ("R1", "add-member", "a", "qlvb")}
    assert ledger.failed == {("R1", "create", "b", ""): "LDAP error 68: entry already exists"}
    assert ledger.intents == {
        ("R1", "create", "c", ""): T0,
        ("R1", "create", "b", ""): T0 + dt.timedelta(minutes=2),
    }


def test_a_later_success_clears_a_failure(log_path: Path) -> None:
    log = new_log(log_path)
    log.append([intent("b"), change("b", result="timeout"), intent("b"), change("b")])
    ledger = log.ledger()
    assert ledger.failed == {} and ledger.intents == {}
    assert ledger.completed == {("R1", "create", "b", "")}


# --- context -----------------------------------------------------------------------------------------


def test_ci_context_from_gitlab_variables() -> None:
    env = {
        "CI_PIPELINE_ID": "1001",
        "CI_JOB_URL": "https://gitlab.example.vn/cntt/hopthu/-/jobs/7",
        "GITLAB_USER_LOGIN": "lan.nt",
    }
    lookup = MergeRequestLookup("no-token", error="HOPTHU_GITLAB_TOKEN is not set")
    assert ci_context(env, lookup) == {
        "pipeline_id": "1001",
        "job_url": "https://gitlab.example.vn/cntt/hopthu/-/jobs/7",
        "user": "lan.nt",
        "merge_request": None,
        "merge_request_lookup": "no-token",
        "merge_request_lookup_error": "HOPTHU_GITLAB_TOKEN is not set",
    }
    assert ci_context({"HOME": "/root", "CI": "true"}, None) is None


def test_commit_comes_from_ci_or_git(tmp_path: Path) -> None:
    assert current_commit({"CI_COMMIT_SHA": "abc123"}) == "abc123"
    assert current_commit({}, cwd=tmp_path) is None  # not a repository
    repo = Path(__file__).resolve().parent
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True)
    if head.returncode == 0:
        assert current_commit({}, cwd=repo) == head.stdout.strip()


def test_the_context_is_recorded_in_every_record(log_path: Path) -> None:
    log = AuditLog(log_path, commit="abc", ci={"pipeline_id": "9", "approved_by": ["lan.nt"]}, clock=Clock())
    records = log.append([intent("a"), change("a")])
    assert all(
        r["ci"] == {"pipeline_id": "9", "approved_by": ["lan.nt"]} and r["commit"] == "abc" for r in records
    )


def test_the_quick_scan_of_finished_requests_agrees_with_the_ledger(log_path: Path) -> None:
    log = new_log(log_path)
    log.append([intent("a"), change("a"), {"event": "request", "request": "R1", "result": "applied"}])
    log.append([intent("b", request="R2")])  # interrupted: not finished
    # A reason that spells the marker the scan looks for must not fool it.
    tricky = 'uid "x": "event":"request"'
    log.append(
        [change("c", request="R3", result=tricky), {"event": "request", "request": "R4", "result": "refused"}]
    )
    assert log.finished_requests() == log.ledger().finished == {"R1": "applied", "R4": "refused"}
