"""One-time passwords and the credentials outbox."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hopthu import passwords
from hopthu.model import PasswordPolicy
from hopthu.passwords import (
    CLASSES,
    KEY_ENV,
    KEY_FILE_ENV,
    Credentials,
    Outbox,
    OutboxError,
    default_outbox_root,
    generate_password,
    new_outbox_key,
    outbox_keys,
)

AMBIGUOUS = set("0Oo1lI")
ALL_CHARS = "".join(CLASSES.values())

policies = st.builds(
    PasswordPolicy,
    length=st.integers(min_value=12, max_value=64),
    classes=st.lists(st.sampled_from(sorted(CLASSES)), min_size=1, max_size=4, unique=True).map(tuple),
)


@given(policies)
def test_a_password_keeps_its_policy(policy: PasswordPolicy) -> None:
    password = generate_password(policy)
    assert len(password) == policy.length
    allowed = "".join(CLASSES[name] for name in policy.classes)
    assert set(password) <= set(allowed)
    for name in policy.classes:
        assert set(password) & set(CLASSES[name]), f"no {name} character in a password"
    assert not set(password) & AMBIGUOUS


def test_the_alphabet_is_unambiguous_and_safe_to_type() -> None:
    assert not set(ALL_CHARS) & AMBIGUOUS
    assert len(set(ALL_CHARS)) == len(ALL_CHARS)
    # No characters Word or a mail client rewrites (smart quotes, dashes, markup), no spaces.
    assert not set(ALL_CHARS) & set("'\"`-_*~@<>&\\/ .,;:()[]{}|^")


def test_every_character_of_the_alphabet_is_used() -> None:
    seen = set("".join(generate_password(PasswordPolicy()) for _ in range(2000)))
    assert seen == set(ALL_CHARS)  # 28,000 draws of 63 characters: missing one is astronomically unlikely


def test_passwords_do_not_repeat() -> None:
    assert len({generate_password(PasswordPolicy()) for _ in range(1000)}) == 1000


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (PasswordPolicy(length=11), "too short"),
        (PasswordPolicy(length=8), "at least 12"),
        (PasswordPolicy(classes=("lower", "emoji")), "unknown password character class"),
        (PasswordPolicy(classes=()), "at least one character class"),
    ],
)
def test_a_weak_or_unknown_policy_is_refused(policy: PasswordPolicy, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_password(policy)


# --- the outbox ------------------------------------------------------------------------------------


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(tmp_path / "state" / "outbox")


def reserve(outbox: Outbox, request: str, uids: list[str], **kwargs) -> dict[str, str]:
    where = {"org": "cantho", "unit": "snv", "recipient": "snv@cantho.gov.vn", **kwargs}
    return outbox.reserve(request, uids, PasswordPolicy(), **where)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_credentials_are_written_owner_only_and_encrypted(outbox: Outbox) -> None:
    made = reserve(outbox, "2025-001", ["minhnv", "anvtt"])
    path = outbox.path("2025-001")
    assert mode(outbox.root) == 0o700 and mode(path) == 0o600
    raw = path.read_bytes()
    assert not any(password.encode() in raw for password in made.values())
    assert b"minhnv" not in raw and b"cantho" not in raw  # nothing readable without the key
    stored = json.loads(outbox_keys().decrypt(raw.strip()))
    assert stored == {
        "request": "2025-001",
        "org": "cantho",
        "unit": "snv",
        "recipient": "snv@cantho.gov.vn",
        "created": stored["created"],
        "passwords": made,
    }
    assert stored["created"].endswith("Z")


def test_an_existing_loose_directory_is_tightened(tmp_path: Path) -> None:
    root = tmp_path / "outbox"
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)
    reserve(Outbox(root), "R1", ["a"])
    assert mode(root) == 0o700


@pytest.mark.parametrize("git_marker", ["dir", "file"])
def test_an_outbox_inside_a_git_work_tree_is_refused(tmp_path: Path, git_marker: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    if git_marker == "dir":
        (repo / ".git").mkdir()
    else:  # a linked work tree or submodule has a .git file
        (repo / ".git").write_text("gitdir: /elsewhere/.git/worktrees/repo\n")
    with pytest.raises(OutboxError, match=r"inside the git work tree .*repo.*HOPTHU_OUTBOX"):
        Outbox(repo / "var" / "outbox")
    assert not (repo / "var").exists()


def test_reserve_is_idempotent_and_adds_only_the_missing(outbox: Outbox) -> None:
    first = reserve(outbox, "R1", ["minhnv", "anvtt"])
    again = reserve(outbox, "R1", ["anvtt", "minhnv"], recipient="changed@cantho.gov.vn")
    assert again == first
    more = reserve(outbox, "R1", ["minhnv", "tienminhth"])
    assert more["minhnv"] == first["minhnv"] and len(more["tienminhth"]) == 14
    credentials = outbox.credentials("R1")
    assert credentials.passwords == {**first, **more}
    assert credentials.recipient == "snv@cantho.gov.vn"  # the mailbox at creation time


def test_ten_thousand_uids_are_one_write(outbox: Outbox, monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[Path] = []
    real = passwords._write_atomically
    monkeypatch.setattr(
        passwords, "_write_atomically", lambda path, data: (writes.append(path), real(path, data))
    )
    uids = [f"user{i:05d}" for i in range(10_000)]
    made = reserve(outbox, "R-big", uids)
    assert len(writes) == 1 and len(made) == 10_000 and len(set(made.values())) == 10_000
    assert reserve(outbox, "R-big", uids) == made and len(writes) == 1  # nothing new: no write


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(
    outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = reserve(outbox, "R1", ["a"])
    before = outbox.path("R1").read_bytes()

    def crash(src, dst) -> None:
        raise OSError("crash before the rename")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", crash)
        with pytest.raises(OSError, match="crash"):
            reserve(outbox, "R1", ["a", "b"])
    assert outbox.path("R1").read_bytes() == before
    assert sorted(p.name for p in outbox.root.iterdir()) == [".lock", "R1.json"]
    assert reserve(outbox, "R1", ["a"]) == first


def test_a_request_id_is_a_safe_file_name(outbox: Outbox) -> None:
    for request in ("snv/2025-03-01-cap-moi", "../escape", ".hidden", "Số 12/CV"):
        reserve(outbox, request, ["a"])
        assert outbox.path(request).parent == outbox.root
        assert not outbox.path(request).name.startswith(".")
    assert outbox.pending() == sorted(["snv/2025-03-01-cap-moi", "../escape", ".hidden", "Số 12/CV"])
    assert not (outbox.root.parent / "escape.json").exists()


def test_pending_and_remove(outbox: Outbox) -> None:
    assert outbox.pending() == []
    reserve(outbox, "R2", ["a"])
    reserve(outbox, "R1", ["b"])
    assert outbox.pending() == ["R1", "R2"]
    assert outbox.remove("R1") is True
    assert outbox.remove("R1") is False
    assert outbox.pending() == ["R2"] and outbox.credentials("R1") is None


def test_a_request_id_reused_for_another_unit_is_refused(outbox: Outbox) -> None:
    reserve(outbox, "R1", ["a"])
    with pytest.raises(OutboxError, match="cantho/snv, not cantho/stc"):
        reserve(outbox, "R1", ["b"], unit="stc")


def test_a_damaged_file_is_a_clear_error(outbox: Outbox) -> None:
    reserve(outbox, "R1", ["a"])
    outbox.path("R1").write_text('{"request": "R1"}')
    with pytest.raises(OutboxError, match=r"R1\.json: not a credentials file"):
        outbox.credentials("R1")


def test_credentials_never_show_a_password(outbox: Outbox) -> None:
    made = reserve(outbox, "R1", ["minhnv", "anvtt"])
    credentials = outbox.credentials("R1")
    assert isinstance(credentials, Credentials)
    for text in (repr(credentials), str(credentials), f"{credentials}", repr([credentials])):
        assert "<2 hidden>" in text
        assert not any(password in text for password in made.values())


def test_no_key_no_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = Outbox(tmp_path / "outbox")
    reserve(written, "R1", ["a"])
    for name in (KEY_ENV, KEY_FILE_ENV):
        monkeypatch.delenv(name, raising=False)
    keyless = Outbox(tmp_path / "outbox")
    assert keyless.pending() == ["R1"]  # what waits is known, what it holds is not
    with pytest.raises(OutboxError, match="no outbox key: set HOPTHU_OUTBOX_KEY"):
        keyless.credentials("R1")
    with pytest.raises(OutboxError, match="no outbox key"):
        reserve(keyless, "R2", ["b"])
    assert not keyless.path("R2").exists()
    monkeypatch.setenv(KEY_ENV, new_outbox_key())  # another key is no key either
    with pytest.raises(OutboxError, match="cannot be decrypted with the outbox keys"):
        Outbox(tmp_path / "outbox").credentials("R1")


def test_a_malformed_key_is_named_but_never_shown(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(KEY_ENV, "not-a-key-Secret42")
    with pytest.raises(OutboxError, match="HOPTHU_OUTBOX_KEY: not outbox keys") as raised:
        Outbox(tmp_path / "outbox")
    assert "Secret42" not in str(raised.value)


def test_keys_rotate_and_the_key_may_come_from_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = new_outbox_key(), new_outbox_key()
    monkeypatch.setenv(KEY_ENV, old)
    made = reserve(Outbox(tmp_path / "outbox"), "R1", ["a", "b"])
    monkeypatch.setenv(KEY_ENV, f"{new} {old}")  # the new key first: it encrypts, both decrypt
    assert Outbox(tmp_path / "outbox").rekey() == ["R1"]
    key_file = tmp_path / "key"
    key_file.write_text(new + "\n")
    monkeypatch.delenv(KEY_ENV)
    monkeypatch.setenv(KEY_FILE_ENV, str(key_file))  # the old key dropped: the file still opens
    assert Outbox(tmp_path / "outbox").credentials("R1").passwords == made


def test_a_file_written_in_clear_by_an_earlier_version_is_read_and_rekey_encrypts_it(
    outbox: Outbox,
) -> None:
    document = {
        "request": "R1",
        "org": "cantho",
        "unit": "snv",
        "recipient": "snv@cantho.gov.vn",
        "created": "2025-01-01T00:00:00Z",
        "passwords": {"a": "Old-Clear-Pass-1"},
    }
    outbox.root.mkdir(parents=True, mode=0o700)
    outbox.path("R1").write_text(json.dumps(document))
    assert outbox.credentials("R1").passwords == {"a": "Old-Clear-Pass-1"}
    assert outbox.rekey() == ["R1"]
    assert b"Old-Clear-Pass-1" not in outbox.path("R1").read_bytes()
    assert outbox.credentials("R1").passwords == {"a": "Old-Clear-Pass-1"}


def test_the_default_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOPTHU_OUTBOX", str(tmp_path / "box"))
    assert default_outbox_root() == tmp_path / "box"
    monkeypatch.delenv("HOPTHU_OUTBOX")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_outbox_root() == tmp_path / "state" / "hopthu" / "outbox"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_outbox_root() == tmp_path / ".local" / "state" / "hopthu" / "outbox"
