"""The audit log's shortcuts change nothing: each record is serialised once yet hashed and written as the
documented format says, and a ledger is parsed once per content of the log."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hopthu.audit import MASK, AuditLog, canonical, hashed_line, mask_secrets, record_hash

json_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | json_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(json_text, inner, max_size=3),
    max_leaves=8,
)
# Field names on both sides of "hash" (and "hash" itself, which is never part of its own digest).
field_names = (
    st.sampled_from(["after", "ci", "group", "hasg", "hash", "hasi", "op", "seq", "uid"]) | json_text
)


@given(st.dictionaries(field_names, json_values, max_size=8))
def test_one_serialisation_gives_the_documented_hash_and_line(record):
    digest, line = hashed_line(record)
    assert digest == record_hash(record)
    assert line == canonical({**record, "hash": digest})


def test_attributes_with_nothing_to_mask_are_kept_as_given():
    after = {"cn": ["Nguyễn Văn Minh"], "mail": ["minhnv@snv.danang.gov.vn"]}
    assert mask_secrets(after) is after


def test_anything_secret_or_not_yet_text_is_still_converted():
    attrs = {"cn": ["Minh"], "userPassword": ["Xk7#pQ9$mW2!zR"]}
    assert mask_secrets(attrs) == {"cn": ["Minh"], "userPassword": [MASK]}
    assert mask_secrets({"cn": ("Minh",), "uidNumber": [1001], "jpeg": [b"\xff"]}) == {
        "cn": ["Minh"],
        "uidNumber": ["1001"],
        "jpeg": ["\\xff"],
    }


# --- the ledger, parsed once per content -------------------------------------------------------------


def write_log(path: Path) -> AuditLog:
    log = AuditLog(path, commit="c0ffee", ci=None)
    log.append([{"event": "intent", "request": "R1", "op": "create", "uid": "minhnv"}])
    log.append([{"event": "change", "request": "R1", "op": "create", "uid": "minhnv", "result": "ok"}])
    log.append([{"event": "request", "request": "R1", "result": "applied"}])
    return log


def test_an_unchanged_log_is_not_parsed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = write_log(tmp_path / "audit.jsonl")
    first = log.ledger()
    monkeypatch.setattr(AuditLog, "records", lambda self: pytest.fail("parsed again"))
    again = AuditLog(tmp_path / "audit.jsonl").ledger()
    assert again == first and again.finished == {"R1": "applied"}
    again.finished.clear()  # a caller's change does not reach the next caller
    assert AuditLog(tmp_path / "audit.jsonl").ledger().finished == {"R1": "applied"}


def test_an_appended_or_rewritten_log_is_parsed_again(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = write_log(path)
    assert log.ledger().finished == {"R1": "applied"}
    log.append([{"event": "request", "request": "R2", "result": "refused", "reason": "no"}])
    assert log.ledger().finished == {"R1": "applied", "R2": "refused"}
    # The same size, other bytes (what a careless edit does): not the ledger read before.
    path.write_bytes(path.read_bytes().replace(b'"result":"applied"', b'"result":"refused"'))
    assert log.ledger().finished == {"R1": "refused", "R2": "refused"}


# --- records prepared ahead of append -----------------------------------------------------------------


def fixed_clock() -> dt.datetime:
    return dt.datetime(2025, 3, 3, 8, 0, tzinfo=dt.UTC)


def test_prepared_records_are_written_byte_for_byte_as_the_records_themselves(tmp_path: Path) -> None:
    records = [
        {"event": "intent", "request": "R1", "op": "create", "uid": "minhnv", "after": {"cn": ["Minh"]}},
        {"event": "change", "request": "R1", "op": "create", "uid": "minhnv", "result": "ok"},
        {"event": "request", "request": "R1", "result": "applied"},
    ]
    context = {"commit": "c0ffee", "ci": {"merge_request": "7", "approved_by": ["lan"]}, "clock": fixed_clock}
    plain = AuditLog(tmp_path / "plain.jsonl", **context)
    early = AuditLog(tmp_path / "prepared.jsonl", **context)
    written = plain.append(records)
    assert early.append([early.prepare(record) for record in records[:2]] + records[2:]) == written
    assert (tmp_path / "plain.jsonl").read_bytes() == (tmp_path / "prepared.jsonl").read_bytes()
    assert early.verify() == []


def test_a_wrong_record_is_refused_when_prepared(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", commit="c0ffee", ci=None)
    with pytest.raises(ValueError, match="event"):
        log.prepare({"event": "bogus", "request": "R1"})
    assert not (tmp_path / "audit.jsonl").exists()
