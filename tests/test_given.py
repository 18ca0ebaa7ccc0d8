"""The cheap reader of what a request file gives (id, usernames) is never wrong: where it answers, it says
what the full check says; where a layout could fool a line-by-line reading, it declines."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from hopthu.given import scan
from hopthu.inventory import load_inventory
from hopthu.requests import check_file, known_by, read_known, request_files
from test_validate import PATH
from test_validate import REQUEST as BASE
from workspace import ROOT, copy_of_repo

sys.path.insert(0, str(ROOT / "bench"))
from history import write_history

REASON = "reason: Tuyển dụng mới.\n"

# Layouts the scanner must read, or decline; a reading by lines alone would get some of them wrong.
VARIANTS = {
    "as written": BASE,
    "a signed letter by file and hash": BASE.replace(
        "  signer: Nguyễn Hữu Phước\n",
        "  signer: Nguyễn Hữu Phước\n  file: 2025-04-01-bdt-cap-moi.pdf\n"
        '  sha256: "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b"\n',
    ),
    "comments everywhere": BASE.replace(
        "    username: baopq\n", "    # username: gia\n    username: baopq  # ok\n"
    ).replace("accounts:\n", "accounts:  # two people\n# username: top\n"),
    "block scalar reason hiding an item": BASE.replace(
        REASON, "reason: |\n  Tuyển dụng mới.\n  - username: gia\naccounts_note: x\n"
    ).replace("accounts_note: x\n", ""),
    "folded reason": BASE.replace(REASON, "reason: >\n  Tuyển dụng\n  mới.\n"),
    "multi-line plain reason": BASE.replace(REASON, "reason: Tuyển dụng\n  mới theo đợt.\n"),
    "multi-line quoted reason hiding an id": BASE.replace(REASON, 'reason: "Tuyển dụng\n  id: gia"\n'),
    "flow document and requester": BASE.replace(
        "document:\n  number: 70/BDT-VP\n  date: 2025-04-01\n  signer: Nguyễn Hữu Phước\n",
        "document: {number: 70/BDT-VP, date: 2025-04-01, signer: Nguyễn Hữu Phước}\n",
    ),
    "flow accounts": BASE[: BASE.index("accounts:")]
    + "accounts: [{full_name: Phạm Quốc Bảo, username: baopq, staff_code: BDT-0201, position: Chuyên viên,"
    " department: Văn phòng, phone: '0912 000 201', services: [email, qlvb]}]\n",
    "items at column 0": BASE.replace("\n  - ", "\n- ").replace("\n    ", "\n  "),
    "items indented by 4": BASE.replace("\n  - ", "\n    - ")
    .replace("\n    ", "\n      ")
    .replace("\n      - ", "\n    - "),
    "services as a block list": BASE.replace("    services: [email]\n", "    services:\n      - email\n"),
    "indentless services list": BASE.replace("    services: [email]\n", "    services:\n    - email\n"),
    "username first": BASE.replace(
        "  - full_name: Ngô Thị Hoa\n    username: hoant\n",
        "  - username: hoant\n    full_name: Ngô Thị Hoa\n",
    ),
    "quoted username": BASE.replace("username: baopq", 'username: "baopq"'),
    "quoted id": BASE.replace("id: 2025-04-01-bdt-cap-moi", "id: '2025-04-01-bdt-cap-moi'"),
    "hash inside a value": BASE.replace("number: 70/BDT-VP", "number: 70/BDT#VP"),
    "unit mailbox with a manager": BASE.replace(
        BASE[BASE.index("  - full_name: Ngô Thị Hoa") :],
        "  - type: unit\n    unit_name: Văn phòng Ban\n    username: vpb\n"
        '    parent_agency: Ban Dân tộc\n    phone: "0252 3821 100"\n'
        '    manager:\n      name: Trần Thị Mỹ Lệ\n      phone: "0252 3821 104"\n',
    ),
    "a key of the item after a nested mapping": BASE.replace("    username: hoant\n", "").replace(
        '    phone: "0912 000 202"\n', '    phone: "0912 000 202"\n    username: hoant\n'
    ),
    "lock": BASE.replace("kind: create", "kind: lock")
    .replace("\n    staff_code: BDT-0201\n    position: Chuyên viên\n    department: Văn phòng\n", "\n")
    .replace('    phone: "0912 000 201"\n    services: [email, qlvb]\n', "")
    .replace("\n    staff_code: BDT-0202\n    position: Chuyên viên\n    department: Văn phòng\n", "\n")
    .replace('    phone: "0912 000 202"\n    services: [email]\n', ""),
    "no final line break": BASE.rstrip("\n"),
    "a document start": "---\n" + BASE,
    "an explicit key": BASE.replace("    username: baopq\n", "    ? username\n    : baopq\n"),
}


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    copy_of_repo(tmp_path, "inventory")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def full_reading(path: Path) -> tuple:
    known = known_by(check_file(path, load_inventory(Path("inventory"))))
    return known.id, known.org, known.usernames


def scanned(text: str) -> tuple | None:
    given = scan(text)
    if given is None:
        return None
    return given.id, given.org, [(("accounts", index), username) for index, username in given.usernames]


@pytest.mark.parametrize("text", VARIANTS.values(), ids=VARIANTS.keys())
def test_where_the_scanner_answers_it_says_what_the_full_check_says(repo, text):
    path = Path(PATH)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    truth = full_reading(path)
    found = scanned(text)
    assert found is None or found == truth, (found, truth)
    # and read_known, which falls back to the full check, always does
    known = read_known(path, load_inventory(Path("inventory")))
    assert (known.id, known.org, known.usernames) == truth


@pytest.mark.parametrize(
    "name",
    [
        "block scalar reason hiding an item",
        "multi-line plain reason",
        "multi-line quoted reason hiding an id",
        "flow accounts",
        "items at column 0",
        "indentless services list",
        "quoted username",
        "a document start",
        "an explicit key",
    ],
)
def test_layouts_a_line_reading_could_get_wrong_are_declined(name):
    assert scan(VARIANTS[name]) is None


@pytest.mark.parametrize(
    "name",
    [
        "as written",
        "a signed letter by file and hash",
        "comments everywhere",
        "flow document and requester",
        "items indented by 4",
        "services as a block list",
        "username first",
        "hash inside a value",
        "unit mailbox with a manager",
        "a key of the item after a nested mapping",
        "lock",
        "no final line break",
    ],
)
def test_the_layouts_requests_are_written_in_are_read_without_a_parser(name):
    assert scan(VARIANTS[name]) is not None


@pytest.mark.parametrize(
    "bad",
    ["\t", "\r", "\x85", "\u2028", "\ufeff", "&anchor ", "!tag "],
    ids=["tab", "CR", "NEL", "line separator", "BOM", "anchor", "tag"],
)
def test_characters_and_constructs_outside_the_layout_are_declined(bad):
    assert scan(BASE.replace("username: baopq", f"username: {bad}baopq")) is None


def test_the_shipped_examples_and_a_generated_history_are_read_exactly(repo):
    shutil.copytree(ROOT / "requests", repo / "requests")
    write_history(repo, 300)
    inventory = load_inventory(Path("inventory"))
    files = request_files([Path("requests")])
    assert len(files) > 300
    for path in files:
        text = path.read_text(encoding="utf-8")
        known = known_by(check_file(path, inventory))
        assert known.id is not None and not check_file(path, inventory).findings, path
        if "\nkind: merge\n" in text:  # a merger (rare, IT's) is read by the parser: the scanner declines
            assert scan(text) is None and known.usernames, path
            continue
        assert scanned(text) == (known.id, known.org, known.usernames), path
