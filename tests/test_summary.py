"""The merge request's plan summary (Vietnamese Markdown) and the Terraform-format counts, from plans."""

from __future__ import annotations

import datetime as dt
import json

from builders import BDT, organisation
from hopthu.model import (
    AccountChange,
    DirectoryAccount,
    Document,
    EntryKind,
    Inventory,
    Kind,
    NewPerson,
    Request,
    Requester,
    Snapshot,
)
from hopthu.plan import Progress, make_plan
from hopthu.planview import plan_as_dict
from hopthu.summary import cell, render_markdown, terraform_report, write_plan_reports

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
ORG = organisation(units={"bdt": BDT})
INVENTORY = Inventory({"bt": ORG})


def request(kind: Kind, *accounts, rid="r-001") -> Request:
    return Request(
        rid,
        "bt",
        "bdt",
        kind,
        Document("12/BDT-VP", dt.date(2026, 11, 20), "Nguyễn Văn A"),
        Requester("Lê Thị B", "Chánh Văn phòng"),
        "test",
        tuple(accounts),
    )


def person(name="Nguyễn Văn Minh", username="minhnv", staff="BDT-1") -> NewPerson:
    return NewPerson(name, staff, "Chuyên viên", "Văn phòng", "0912345678", ("email", "qlvb"), username)


def existing(uid: str) -> DirectoryAccount:
    attrs = {"uid": (uid,), "cn": ("Trần Thị Lan",), "departmentnumber": ("bdt",)}
    return DirectoryAccount(uid, f"uid={uid}", EntryKind.PERSON, attrs, frozenset(), None)


def plan_dict(*requests, accounts=()):
    snapshot = Snapshot({("bt", a.uid): a for a in accounts})
    return plan_as_dict(make_plan(requests, INVENTORY, snapshot, Progress(), NOW))


def test_summary_names_each_account_with_what_happens_to_it_in_vietnamese():
    plan = plan_dict(
        request(Kind.CREATE, person()),
        request(Kind.LOCK, AccountChange("lanbt"), rid="r-002"),
        accounts=[existing("lanbt")],
    )
    text = render_markdown(plan, unit_names={("bt", "bdt"): "Ban Dân tộc"})
    assert "**1** tài khoản tạo mới" in text
    assert "### Cấp mới: r-001" in text and "### Khóa: r-002" in text
    assert "Ban Dân tộc" in text and "Văn bản số 12/BDT-VP" in text
    row = next(line for line in text.splitlines() if line.startswith("| `minhnv`"))
    assert "tạo mới: Nguyễn Văn Minh" in row and "thêm vào nhóm qlvb" in row
    lock_row = next(line for line in text.splitlines() if line.startswith("| `lanbt`"))
    assert "khóa" in lock_row


def test_refused_request_shows_its_reason_in_vietnamese_with_every_account():
    lock = request(Kind.LOCK, AccountChange("nobody"), AccountChange("ghost"), AccountChange("lanbt"))
    plan = plan_dict(lock, accounts=[existing("lanbt")])
    text = render_markdown(plan)
    assert "**Bị từ chối:** 2 tài khoản được đề nghị không có trong hệ thống thư điện tử." in text
    assert "| Tài khoản |" in text and "| `nobody` |" in text and "| `ghost` |" in text
    assert "does not exist" not in text


def test_long_request_is_shortened_with_a_count():
    people = [person(f"Nguyễn Văn Minh{i}", f"user{i:03d}", f"BDT-{i}") for i in range(12)]
    text = render_markdown(plan_dict(request(Kind.CREATE, *people)), limit=5)
    rows = [line for line in text.splitlines() if line.startswith("| `user")]
    assert len(rows) == 5
    assert "và 7 tài khoản khác" in text


def test_text_from_request_files_cannot_break_the_table_or_inject_markdown():
    hostile = "A | B ![x](http://evil) <script> @all\nnew line"
    escaped = cell(hostile)
    assert "\n" not in escaped
    assert "\\|" in escaped and "\\!\\[x\\]" in escaped and "\\<script\\>" in escaped and "\\@all" in escaped
    text = render_markdown(plan_dict(request(Kind.CREATE, person(name="Nguyễn Văn | Minh"))))
    row = next(line for line in text.splitlines() if line.startswith("| `minhnv`"))
    assert row.count(" | ") == 1  # two cells, whatever the name holds


def test_nothing_pending_says_so():
    text = render_markdown({"counts": {"create": 0, "update": 0, "delete": 0}, "requests": []})
    assert "Không có yêu cầu nào cần thực hiện." in text


def test_terraform_report_is_the_plan_counts(tmp_path):
    plan = plan_dict(request(Kind.CREATE, person()))
    assert terraform_report(plan) == {"create": 1, "update": 0, "delete": 0}
    write_plan_reports(plan, INVENTORY, tmp_path / "plan.md", tmp_path / "tf.json")
    assert json.loads((tmp_path / "tf.json").read_text()) == {"create": 1, "update": 0, "delete": 0}
    assert "Ban Dân tộc" in (tmp_path / "plan.md").read_text(encoding="utf-8")


def test_a_transfer_shows_the_old_and_the_new_address_and_that_the_old_one_keeps_working():
    moving = DirectoryAccount(
        "lanbt",
        "uid=lanbt",
        EntryKind.PERSON,
        {
            "uid": ("lanbt",),
            "cn": ("Trần Thị Lan",),
            "departmentnumber": ("bdt",),
            "mail": ("lanbt@bdt.binhthuan.gov.vn",),
            "objectclass": ("inetOrgPerson", "hopthuAccount"),
        },
        frozenset(),
        None,
    )
    org = organisation()  # bdt and snv on their own sub-domains
    plan = plan_as_dict(
        make_plan(
            [request(Kind.UPDATE, AccountChange("lanbt", unit="snv"))],
            Inventory({"bt": org}),
            Snapshot({("bt", "lanbt"): moving}),
            Progress(),
            NOW,
        )
    )
    row = next(line for line in render_markdown(plan).splitlines() if line.startswith("| `lanbt`"))
    row = row.replace("\\", "")  # Markdown escapes
    assert "bdt → snv" in row
    assert "lanbt@bdt.binhthuan.gov.vn → lanbt@snv.binhthuan.gov.vn" in row
    assert "địa chỉ cũ vẫn nhận thư" in row and "objectClass" not in row
