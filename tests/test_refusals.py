"""Every reason a request can be refused (từ chối) reaches the unit in Vietnamese, naming every account.

Each refusal class of the catalogue is produced by the planner from a request it must refuse, then
rendered for each reader: the English line (CLI, logs, the audit log's ``reason``), the result notice
(text and HTML) and the merge-request summary, which must read as Vietnamese with no English sentence.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import subprocess

import pytest

import mergeworld
from hopthu.directory import dn
from hopthu.model import (
    AccountChange,
    DirectoryAccount,
    EntryKind,
    Kind,
    Manager,
    MergeSource,
    NewPerson,
    Snapshot,
)
from hopthu.notices.render import NoticeData, NoticeRow, notice_number, render
from hopthu.plan import Progress, make_plan
from hopthu.planview import plan_as_dict
from hopthu.refusals import CATALOGUE, Refusal, merged
from hopthu.summary import render_markdown
from test_plan import INVENTORY, NOW, existing, person, plan, request, snapshot

ORG = INVENTORY.organisations["bt"]
MAILBOX = DirectoryAccount(
    "vpbdt",
    "",
    EntryKind.MAILBOX,
    {"uid": ("vpbdt",), "cn": ("Văn phòng Ban",), "departmentnumber": ("bdt",)},
    frozenset(),
    None,
)
LOCKED = existing(locked_at=NOW - dt.timedelta(days=3), pwdAccountLockedTime=("000001010000Z",))
NO_USERNAME = NewPerson("Trần Thị Lan", "BDT-7", "Chuyên viên", "Văn phòng", "0912345670", ("email",), None)
MOVER = dataclasses.replace(existing(groups=("qlvb", "motcua")), kind=EntryKind.PERSON)
MERGE_SNAPSHOT = Snapshot({("bt", "minhnv"): MOVER}, taken={"ld": {"minhnv": "Nguyễn Văn Mạnh"}})
MANY = [
    dataclasses.replace(
        existing(), uid=f"nguoi{i:02d}", attrs={**existing().attrs, "uid": (f"nguoi{i:02d}",)}
    )
    for i in range(51)
]

# code → (request, the directory it is planned against): a request the planner must refuse for that reason
SCENARIOS = {
    "username-missing": (request(Kind.CREATE, NO_USERNAME), snapshot()),
    "account-twice": (
        request(Kind.LOCK, AccountChange("minhnv"), AccountChange("minhnv")),
        snapshot(existing()),
    ),
    "account-missing": (request(Kind.LOCK, AccountChange("nobody")), snapshot()),
    "name-mismatch": (
        request(Kind.LOCK, AccountChange("minhnv", full_name="Lê Văn Tám")),
        snapshot(existing()),
    ),
    "not-own-account": (request(Kind.LOCK, AccountChange("minhnv"), unit="snv"), snapshot(existing())),
    "unknown-group": (
        request(Kind.UPDATE, AccountChange("minhnv", services=("email", "khongco"))),
        snapshot(existing()),
    ),
    "username-taken": (
        request(Kind.CREATE, person()),
        snapshot(existing(employeeNumber=("SNV-9",), cn=("Nguyễn Văn Mình",))),
    ),
    "mailbox-full-name": (
        request(Kind.UPDATE, AccountChange("vpbdt", full_name="Lê Văn Tám")),
        snapshot(MAILBOX),
    ),
    "person-unit-name": (
        request(Kind.UPDATE, AccountChange("minhnv", unit_name="Phòng Tổng hợp")),
        snapshot(existing()),
    ),
    "person-manager": (
        request(Kind.UPDATE, AccountChange("minhnv", manager=Manager("Lê Văn Tám", "0909"))),
        snapshot(existing()),
    ),
    "unknown-unit": (request(Kind.UPDATE, AccountChange("minhnv", unit="khongco")), snapshot(existing())),
    "reset-locked": (request(Kind.RESET_PASSWORD, AccountChange("minhnv")), snapshot(LOCKED)),
    "delete-not-locked": (request(Kind.DELETE, AccountChange("minhnv")), snapshot(existing())),
    "delete-too-early": (request(Kind.DELETE, AccountChange("minhnv")), snapshot(LOCKED)),
    "merge-username-taken": (mergeworld.merger(), MERGE_SNAPSHOT, mergeworld.INVENTORY),
    "merge-group-unmapped": (
        mergeworld.merger(sources=(MergeSource("bt", {"bdt": "sdttg"}, {"qlvb": "vanban"}),)),
        Snapshot({("bt", "minhnv"): MOVER}),
        mergeworld.INVENTORY,
    ),
    "mass-change-cap": (request(Kind.LOCK, *[AccountChange(a.uid) for a in MANY]), snapshot(*MANY)),
    "mass-change-mismatch": (
        dataclasses.replace(request(Kind.LOCK, AccountChange("minhnv")), confirm_count=3),
        snapshot(existing()),
    ),
}

# Words of the English texts that no Vietnamese sentence contains.
ENGLISH = re.compile(
    r"\b(account|accounts|the|is|are|not|unit|request|must|run|belongs?|locked|delete|unlock|exist|"
    r"username|of|and|more|held|review|taken|only|before|after|rename|use|person|mailbox|unknown)\b",
    re.IGNORECASE,
)


def planned(code: str):
    req, snap, *inventory = SCENARIOS[code]
    return make_plan([req], inventory[0] if inventory else INVENTORY, snap, Progress(), NOW)


def refusal_of(code: str) -> Refusal:
    (rp,) = planned(code).requests
    assert rp.changes == () and [r.code for r in rp.refusals] == [code], rp.refusals
    return rp.refusals[0]


def notice(refusals) -> tuple[str, str]:
    data = NoticeData(
        org=ORG,
        unit=ORG.units["bdt"],
        request=request(Kind.LOCK, AccountChange("minhnv")),
        outcome="refused",
        reason="; ".join(r.english() for r in refusals),
        refusals=tuple(refusals),
        rows=[NoticeRow("Nguyễn Văn Minh", "Ban Dân tộc", "minhnv@bdt.binhthuan.gov.vn")],
        number=notice_number(3, ORG),
        issued=dt.date(2026, 11, 24),
        signer_title="GIÁM ĐỐC",
        signer_name="Nguyễn Thanh Sơn",
    )
    rendered = render(data, with_attachment=False)
    return rendered.text, rendered.html


def test_every_class_of_the_catalogue_has_a_scenario():
    assert set(SCENARIOS) == set(CATALOGUE)


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_each_refusal_reads_in_english_for_it_and_in_vietnamese_for_the_unit(code):
    refusal = refusal_of(code)
    english = refusal.english()
    assert ENGLISH.search(english), english  # the CLI's line is English
    vietnamese = refusal.vietnamese()
    assert not ENGLISH.search(vietnamese), vietnamese
    text, html = notice([refusal])
    summary = render_markdown(plan_as_dict(planned(code)))
    visible_html = re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", html, flags=re.S))
    for rendered in (text, visible_html, summary):
        assert vietnamese.split(":")[0] in " ".join(rendered.replace("\\", "").split())  # Markdown escapes
        assert english not in rendered
        # no English sentence anywhere the unit reads (request ids and usernames aside)
        words = set(ENGLISH.findall(rendered.replace("r-001", "")))
        assert words == set(), (code, words)


def test_a_refusal_names_every_account_concerned():
    """A delete of 500 accounts refused for retention names all 500: the notice as a table, the CLI with
    a count and the first few."""
    uids = [f"user{i:03d}" for i in range(500)]
    locked = [dataclasses.replace(LOCKED, uid=uid, attrs={**LOCKED.attrs, "uid": (uid,)}) for uid in uids]
    (rp,) = plan(request(Kind.DELETE, *[AccountChange(uid) for uid in uids]), snap=snapshot(*locked)).requests
    (refusal,) = rp.refusals
    assert [a["uid"] for a in refusal.accounts] == uids
    assert rp.refusal.startswith("500 account(s) were locked less than 90 days ago")
    assert "user000 (locked 20/11/2026, delete from 18/02/2027), user001" in rp.refusal
    assert rp.refusal.endswith("and 495 more")
    text, html = notice(rp.refusals)
    assert html.count("<td>20/11/2026</td>") == 500 and "user499" in text


def test_refusals_of_one_class_are_merged_and_of_different_classes_kept_apart():
    uids = ("a", "b")
    parts = [Refusal("delete-not-locked", {"org": "bt"}, ({"uid": uid},)) for uid in uids]
    parts.append(Refusal("account-missing", {"org": "bt"}, ({"uid": "c"},)))
    assert [(r.code, len(r.accounts)) for r in merged(parts)] == [
        ("delete-not-locked", 2),
        ("account-missing", 1),
    ]
    record = merged(parts)[0].as_record()
    assert Refusal.from_record(record) == merged(parts)[0]


def test_the_cli_names_the_count_and_the_first_few_accounts(start_directory, tmp_path):
    """`hopthu plan` against a real slapd: a delete of 500 accounts locked three days ago."""
    from hopthu.inventory import load_inventory
    from workspace import copy_of_repo

    repo = copy_of_repo(tmp_path / "repo", "inventory")
    org = load_inventory(repo / "inventory").organisations["binhthuan"]
    server = start_directory([org])
    locked_on = (dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).strftime("%Y%m%d%H%M%SZ")
    uids = [f"nguoi{i:03d}" for i in range(500)]
    (tmp_path / "people.ldif").write_text(
        "".join(
            f"dn: {dn.person_dn(org, uid)}\nobjectClass: inetOrgPerson\nobjectClass: hopthuAccount\n"
            f"uid: {uid}\n"
            f"cn: Nguoi {uid}\nsn: Nguoi\ndepartmentNumber: bdt\npwdAccountLockedTime: 000001010000Z\n"
            f"hopthuLockedTime: {locked_on}\n\n"
            for uid in uids
        )
    )
    server.bulk_load(org, tmp_path / "people.ldif")
    folder = repo / "requests/binhthuan/bdt/2026"
    folder.mkdir(parents=True)
    requester = org.units["bdt"].requesters[0]
    accounts = "".join(f"  - username: {uid}\n" for uid in uids)
    (folder / "2026-11-30-bdt-xoa.yaml").write_text(
        "id: 2026-11-30-bdt-xoa\norg: binhthuan\nunit: bdt\nkind: delete\n"
        "document: {number: 88/BDT-VP, date: 2026-11-30, signer: Nguyễn Hữu Phước}\n"
        f"requester: {{name: {requester.name}, position: {requester.position}, phone: '{requester.phone}', "
        f"email: {requester.email}}}\nreason: Cán bộ nghỉ việc\naccounts:\n{accounts}",
        encoding="utf-8",
    )
    from test_apply import HOPTHU

    done = subprocess.run(
        [
            HOPTHU,
            "plan",
            "--directory",
            str(server.workdir / "directory.json"),
            "--audit-log",
            str(tmp_path / "a"),
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if "REFUSED" in line)
    assert "500 account(s) were locked less than 90 days ago" in line
    assert "nguoi000 (locked " in line and "nguoi004 (locked " in line and "nguoi005" not in line
    assert line.endswith("and 495 more")
