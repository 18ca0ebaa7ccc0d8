"""Hostile request files, one class a case, through `hopthu validate` and `hopthu apply` (real slapd).

Each case breaks the shipped example request in one way. Both commands must exit 1 with a located
``path:line:col: field: … [rule]`` finding and no traceback; the apply must not touch the directory:
no entry written, no audit record, no one-time password reserved in the outbox.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hopthu.cli import main
from hopthu.directory.server import LocalDirectory
from hopthu.inventory import load_inventory
from hopthu.yamlsafe import MAX_FILE_BYTES, MAX_NODES
from workspace import ROOT, copy_of_repo

pytestmark = pytest.mark.slapd

EXAMPLE = "requests/binhthuan/bdt/2025/2025-03-03-bdt-cap-moi.yaml"
TEXT = (ROOT / EXAMPLE).read_text(encoding="utf-8")
REASON = next(line for line in TEXT.splitlines() if line.startswith("reason: "))
FIRST_ACCOUNT = TEXT[
    TEXT.index("  - full_name: Nguyễn Văn Minh") : TEXT.index("  - full_name: Võ Thị Thu An")
]


def replacing(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert text.count(old) == 1, old
        return text.replace(old, new)

    return edit


def nested(levels: int, opener: str, closer: str) -> str:
    return opener * levels + "1" + closer * levels


def appended(tail: str) -> Callable[[str], str]:
    return lambda text: text + tail


@dataclass(frozen=True)
class Case:
    edit: Callable[[str], str]
    rule: str
    line: int
    field: str | None  # the field the message names, when the problem is in one


CASES = {
    "deep mapping": Case(
        replacing(REASON, "reason: " + nested(600, "{a: ", "}")), "yaml-too-deep", 16, "reason"
    ),
    "deep list": Case(replacing(REASON, "reason: " + nested(990, "[", "]")), "yaml-too-deep", 16, "reason"),
    "huge int": Case(
        replacing("staff_code: BDT-0112", "staff_code: " + "1" * 5000),
        "yaml-number-too-long",
        20,
        "accounts[0].staff_code",
    ),
    "huge scalar": Case(
        replacing(
            "position: Chuyên viên\n    department: Phòng Chính",
            "position: " + "Ễ" * 2_000_000 + "\n    department: Phòng Chính",
        ),
        "schema-too-long",
        21,
        "accounts[0].position",
    ),
    "huge file": Case(appended("#" * MAX_FILE_BYTES + "\n"), "file-too-large", 1, None),
    "too many accounts": Case(appended(FIRST_ACCOUNT * 9998), "schema-too-long", 17, "accounts"),
    "too many values": Case(
        replacing("services: [email]", "services: [" + "email, " * MAX_NODES + "email]"),
        "yaml-too-many-values",
        38,
        None,
    ),
    "NUL in document number": Case(
        replacing("number: 45/BDT-VP", 'number: "45\\0/BDT-VP"'), "text-control", 8, "document.number"
    ),
    "ESC in a position": Case(
        replacing(
            "position: Chuyên viên\n    department: Phòng Chính",
            'position: "Chuyên\\e[2Jviên"\n    department: Phòng Chính',
        ),
        "text-control",
        21,
        "accounts[0].position",
    ),
    "NEL in a department": Case(
        replacing("department: Văn phòng", 'department: "Văn\\x85phòng"'),
        "text-control",
        29,
        "accounts[1].department",
    ),
    "C1 escape in a signer": Case(
        replacing("signer: Nguyễn Hữu Phước", 'signer: "Nguyễn\\N Hữu Phước"'),
        "text-control",
        10,
        "document.signer",
    ),
    "tab in a full name": Case(
        replacing("full_name: Đàng Năng Thọ", 'full_name: "Đàng\\tNăng Thọ"'),
        "text-control",
        32,
        "accounts[2].full_name",
    ),
    "line break in a one-line field": Case(
        replacing("  name: Trần Thị Mỹ Lệ", '  name: "Trần Thị\\nMỹ Lệ"'),
        "text-control",
        12,
        "requester.name",
    ),
    "DEL in the multi-line reason": Case(
        replacing(REASON, 'reason: "Công chức\\x7f mới"'), "text-control", 16, "reason"
    ),
    "CSI in a phone number": Case(
        replacing('phone: "0912 345 601"', 'phone: "0912\\x9b345 601"'),
        "text-control",
        23,
        "accounts[0].phone",
    ),
    "invisible only": Case(
        replacing("department: Văn phòng", 'department: "\\u200b\\u2060"'),
        "text-invisible",
        29,
        "accounts[1].department",
    ),
    "control character in a key": Case(replacing(REASON, '"rea\\eson": x'), "yaml-key-control", 16, None),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> LocalDirectory:
    """The example organisations' directory: one for the module, as no case may write to it."""
    inventory = load_inventory(ROOT / "inventory")
    server = LocalDirectory.start(tmp_path_factory.mktemp("slapd"), inventory.organisations.values())
    yield server
    server.stop()


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    copy_of_repo(tmp_path, "inventory", "requests")
    monkeypatch.chdir(tmp_path)
    for variable in ("HOPTHU_DIRECTORY", "HOPTHU_AUDIT_LOG", "HOPTHU_OUTBOX"):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    # An exception click did not turn into a message would be kept here (and shown as a traceback).
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output
    return result


def entries(server: LocalDirectory) -> dict[str, list[str]]:
    found = {}
    for org in ("binhthuan", "danang", "ctu"):
        conn = server.connect(org)
        conn.search(server.base_dn(org), "(objectClass=*)", attributes=["member"])
        found[org] = sorted(f"{entry.entry_dn} {entry.entry_attributes_as_dict}" for entry in conn.entries)
        conn.unbind()
    return found


def assert_located(output: str, case: Case) -> None:
    lines = [line for line in output.splitlines() if line.endswith(f"[{case.rule}]")]
    assert lines, output[-3000:]
    prefix = f"{EXAMPLE}:{case.line}:"
    located = [line for line in lines if line.startswith(prefix)]
    assert located, lines
    if case.field is not None:
        assert any(line.split(": ", 1)[1].startswith(f"{case.field}: ") for line in located), located
    assert all(len(line) < 400 for line in lines)  # never the hostile value itself


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_validate_refuses_each_hostile_input_located(repo, case):
    path = repo / EXAMPLE
    path.write_text(case.edit(TEXT), encoding="utf-8")
    result = run("validate")
    assert result.exit_code == 1
    assert_located(result.stdout, case)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_apply_refuses_each_hostile_input_and_touches_nothing(repo, server, case):
    before = entries(server)
    (repo / EXAMPLE).write_text(case.edit(TEXT), encoding="utf-8")
    audit_log, outbox = repo / "audit" / "audit.jsonl", repo.parent / "outbox"
    result = run(
        "apply",
        "--directory",
        str(server.workdir / "directory.json"),
        "--audit-log",
        str(audit_log),
        "--outbox",
        str(outbox),
    )
    assert result.exit_code == 1
    assert_located(result.stderr, case)
    assert "problem(s) in the request files: fix them first" in result.stderr
    assert entries(server) == before  # the other, valid, example requests are not applied either
    assert not audit_log.exists() or audit_log.read_text(encoding="utf-8") == ""
    assert not outbox.exists() or not any(outbox.rglob("*"))


def test_the_unbroken_example_applies_in_the_same_set_up(repo, tmp_path_factory):
    """The control case: without a hostile edit the same command applies, so the tests above would see
    a write if there were one. On a server of its own, as it writes."""
    inventory = load_inventory(ROOT / "inventory")
    own = LocalDirectory.start(tmp_path_factory.mktemp("slapd"), inventory.organisations.values())
    try:
        result = run(
            "apply",
            "--directory",
            str(own.workdir / "directory.json"),
            "--audit-log",
            str(repo / "audit.jsonl"),
            "--outbox",
            str(repo.parent / "outbox"),
            EXAMPLE,
        )
        assert result.exit_code == 0, result.output
        conn = own.connect("binhthuan")
        conn.search(own.base_dn("binhthuan"), "(uid=minhnv)")
        assert len(conn.entries) == 1
        conn.unbind()
    finally:
        own.stop()


# --- the limits themselves: what validation passes, the directory accepts ---------------------------------

FULL_NAME = "Nguyễn" + " Thị" * 29 + " Thuận"  # 128 characters, the most a name may have
PHONE = "+84 (252) 382.11-04"  # every character a phone number may hold (telephoneNumber: PrintableString)
EMAIL = "a" * 64 + "@" + ("b" * 60 + ".") * 3 + "vn"  # 250 characters
REASON_LINES = ["Ễ" * 99] * 20  # 2,000 characters with the line breaks: a reason may run over lines


def at_the_limits() -> str:
    """A create request whose every text is as long as the schema allows, in 3-byte UTF-8 characters."""
    assert len(FULL_NAME) == 128
    return "\n".join(
        [
            "id: 2025-04-01-bdt-gioi-han",
            "org: binhthuan",
            "unit: bdt",
            "kind: create",
            "document:",
            f"  number: 45/{'Ễ' * 61}",
            "  date: 2025-04-01",
            f"  signer: {'Ễ' * 128}",
            "requester:",
            "  name: Trần Thị Mỹ Lệ",
            f"  position: {'Ễ' * 256}",
            '  phone: "0252 3821 104"',
            "  email: letm@bdt.binhthuan.gov.vn",
            "reason: |",
            *(f"  {line}" for line in REASON_LINES),
            "accounts:",
            f"  - full_name: {FULL_NAME}",
            f"    staff_code: {'Ễ' * 64}",
            f"    position: {'Ễ' * 256}",
            f"    department: {'Ỗ' * 256}",
            f'    phone: "{PHONE}"',
            "    services: [email, qlvb, motcua]",
            "  - type: unit",
            f"    unit_name: Văn phòng {'Ễ' * 246}",
            f"    parent_agency: {'Ỗ' * 256}",
            f'    phone: "{PHONE}"',
            "    manager:",
            f"      name: {FULL_NAME}",
            f"      position: {'Ễ' * 256}",
            f'      phone: "{PHONE}"',
            f"      email: {EMAIL}",
            "",
        ]
    )


def test_values_at_every_limit_validate_and_apply(repo, tmp_path_factory):
    path = repo / "requests/binhthuan/bdt/2025/2025-04-01-bdt-gioi-han.yaml"
    path.write_text(at_the_limits(), encoding="utf-8")
    assert run("assign", str(path)).exit_code == 0
    checked = run("validate", str(path))
    assert checked.exit_code == 0, checked.output
    inventory = load_inventory(ROOT / "inventory")
    own = LocalDirectory.start(tmp_path_factory.mktemp("slapd"), inventory.organisations.values())
    try:
        result = run(
            "apply",
            "--directory",
            str(own.workdir / "directory.json"),
            "--audit-log",
            str(repo / "audit.jsonl"),
            "--outbox",
            str(repo.parent / "outbox"),
            str(path),
        )
        assert result.exit_code == 0, result.output
        conn = own.connect("binhthuan")
        conn.search(own.base_dn("binhthuan"), "(uid=thuann*)", attributes=["*"])
        (person,) = (entry.entry_attributes_as_dict for entry in conn.entries)
        conn.search(own.base_dn("binhthuan"), "(objectClass=hopthuUnitMailbox)", attributes=["*"])
        (mailbox,) = (entry.entry_attributes_as_dict for entry in conn.entries)
        conn.unbind()
    finally:
        own.stop()
    assert person["cn"] == [FULL_NAME] and person["title"] == ["Ễ" * 256] and person["ou"] == ["Ỗ" * 256]
    assert person["telephoneNumber"] == [PHONE] and person["employeeNumber"] == ["Ễ" * 64]
    assert mailbox["o"] == ["Ỗ" * 256] and mailbox["hopthuManagerMail"] == [EMAIL]
    assert mailbox["hopthuManagerTitle"] == ["Ễ" * 256]


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("number: 45/BDT-VP", f"number: {'Ễ' * 65}", "document.number"),
        (
            "position: Chuyên viên\n    department: Phòng Chính",
            f"position: {'x' * 257}\n    department: Phòng Chính",
            "accounts[0].position",
        ),
        ("full_name: Đàng Năng Thọ", f"full_name: {FULL_NAME}h", "accounts[2].full_name"),
        ("email: letm@bdt.binhthuan.gov.vn", f"email: a{EMAIL}xxxx", "requester.email"),
        (REASON, "reason: " + "x" * 2001, "reason"),
    ],
    ids=["number", "position", "full_name", "email", "reason"],
)
def test_one_character_past_a_limit_is_refused_at_the_field(repo, old, new, field):
    (repo / EXAMPLE).write_text(replacing(old, new)(TEXT), encoding="utf-8")
    result = run("validate", EXAMPLE)
    assert result.exit_code == 1
    assert f": {field}: " in result.stdout and "more than the" in result.stdout, result.stdout
    assert "[schema-too-long]" in result.stdout


def test_a_request_of_the_most_accounts_validates(repo):
    sys.path.insert(0, str(ROOT / "bench"))
    from workload import write_create_request

    shutil.rmtree(repo / "requests")  # their usernames would clash with the generated ones
    organisation = load_inventory(repo / "inventory").organisations["binhthuan"]
    path = write_create_request(repo, organisation, "bdt", 10_000, services=("email", "qlvb"))
    result = run("validate", str(path))
    assert result.exit_code == 0, result.output[-2000:]
