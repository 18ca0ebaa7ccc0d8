"""The usage review (hopthu usage), the yearly report (hopthu report) and the demo's last step, on the
shipped example requests applied to a real slapd, with a real Dovecot that logs users in by LDAP bind:
an IMAP login is what moves an account from "never used" to "used"."""

from __future__ import annotations

import datetime as dt
import imaplib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
from pypdf import PdfReader

from hopthu.directory import dn
from hopthu.inventory import load_inventory
from hopthu.passwords import KEY_ENV, Outbox
from hopthu.reports.sources import today_in_vietnam
from mailfixtures import mail_servers_missing
from workspace import ROOT, copy_of_repo

pytestmark = [pytest.mark.mail, pytest.mark.slapd]
BIN = Path(sys.executable).parent
CREATE = "2025-03-03-bdt-cap-moi"


@dataclass
class World:
    repo: Path
    directory: object
    mail: object
    env: dict[str, str]
    passwords: dict[str, dict[str, str]]

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [str(BIN / "hopthu"), *args],
            cwd=self.repo,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert (done.returncode == 0) == ok, f"hopthu {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done

    def usage(self, *args: str) -> dict[str, dict]:
        return {
            row["uid"]: row
            for row in json.loads(self.run("usage", "--org", "binhthuan", "--format", "json", *args).stdout)
        }

    def imap_login(self, address: str, password: str) -> None:
        imap = imaplib.IMAP4(self.mail.host, self.mail.imap_port, timeout=10)
        try:
            imap.login(address, password)
        finally:
            imap.logout()


@pytest.fixture(scope="module")
def world():
    reason = mail_servers_missing()
    if reason:
        pytest.skip(reason)
    from hopthu.directory.server import LocalDirectory
    from hopthu.mail.server import LocalMail, orgs_for_directory

    workdir = Path(tempfile.mkdtemp(prefix="hopthu-usage-"))
    workdir.chmod(0o711)  # Dovecot's mail user must pass through to the mailboxes
    repo = copy_of_repo(workdir / "repo", "inventory", "requests", "schemas")
    # Bình Thuận before the merger (sáp nhập) moved its Sở Nội vụ to Lâm Đồng: the reviews count that unit
    shutil.rmtree(repo / "requests" / "lamdong" / "_merge")
    organisations = load_inventory(repo / "inventory").organisations.values()
    directory = LocalDirectory.start(workdir / "ldap", organisations, fresh=True)
    directory.set_nosync(True)
    mail = LocalMail.start(
        workdir / "mail", orgs_for_directory(directory, organisations), ldap_uri=directory.uri
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HOPTHU_")},
        "PATH": f"{BIN}:{os.environ['PATH']}",
        KEY_ENV: os.environ[KEY_ENV],  # the outbox key, as the vault or a CI variable gives it
        "HOPTHU_DIRECTORY": str(directory.workdir / "directory.json"),
        "HOPTHU_PLAN_DIRECTORY": str(directory.workdir / "plan-directory.json"),  # the reports' identity
        "HOPTHU_AUDIT_LOG": str(workdir / "audit.jsonl"),
        "HOPTHU_OUTBOX": str(workdir / "outbox"),
    }
    world = World(repo, directory, mail, env, {})
    try:
        world.run("apply", "--quiet")
        box = Outbox(workdir / "outbox")
        world.passwords = {rid: dict(box.credentials(rid).passwords) for rid in box.pending()}
        yield world
    finally:
        mail.stop()
        directory.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def shipped_requests(world, org: str) -> list:
    from hopthu.requests import load_requests

    inventory = load_inventory(world.repo / "inventory")
    requests, findings = load_requests([world.repo / "requests" / org], inventory, repo_root=world.repo)
    assert findings == []
    return requests


def accounts_made(requests) -> dict[str, list[str]]:
    """Per unit, the usernames the shipped create requests give (where the accounts were made)."""
    made: dict[str, list[str]] = {}
    for request in requests:
        if request.kind.value == "create":
            made.setdefault(request.unit, []).extend(account.username for account in request.accounts)
    return made


def add_migrated_account(world, uid: str, password: str) -> str:
    """An account that came with its own password (brought over from an older mail system, as a merger
    does: no pwdReset), never used here yet: its first bind can be an IMAP login. IMAP refuses a one-time
    password, and the first-login change on the password page is a bind (a use) of its own."""
    org = load_inventory(world.repo / "inventory").organisations["binhthuan"]
    address = f"{uid}@{org.domain_of('bdt')}"
    conn = world.directory.connect("binhthuan")
    attributes = {
        "uid": uid, "cn": "Lê Văn Chuyển", "sn": "Lê", "givenName": "Chuyển", "departmentNumber": "bdt",
        "mail": address, "userPassword": password,
    }  # fmt: skip
    assert conn.add(dn.person_dn(org, uid), ["inetOrgPerson", "hopthuAccount"], attributes), conn.result
    conn.unbind()
    return address


def test_an_imap_login_moves_an_account_from_never_used_to_used(world):
    address = add_migrated_account(world, "chuyenlv", "Da-chuyen-sang-2025")
    before = world.usage()
    assert before["chuyenlv"]["state"] == "never-used" and before["chuyenlv"]["last_login"] is None
    assert before["minhnv"]["created"] is not None and before["thodn"]["state"] == "locked"
    world.imap_login(address, "Da-chuyen-sang-2025")
    after = world.usage()
    assert after["chuyenlv"]["state"] == "active" and after["chuyenlv"]["idle_days"] == 0
    login = dt.datetime.fromisoformat(after["chuyenlv"]["last_login"])
    assert abs(dt.datetime.now(dt.UTC) - login) < dt.timedelta(minutes=5)
    assert after["anvtt"]["state"] == "never-used"  # nobody else logged in
    # A failed login (wrong password) is no use of the account.
    with pytest.raises(imaplib.IMAP4.error):
        world.imap_login("anvtt@snv.binhthuan.gov.vn", "not-the-password")
    assert world.usage()["anvtt"]["last_login"] is None


def test_idle_accounts_per_unit_and_draft_locks_that_lock_nothing(world, tmp_path):
    world.imap_login("chuyenlv@bdt.binhthuan.gov.vn", "Da-chuyen-sang-2025")  # the account of the test above
    later = (today_in_vietnam() + dt.timedelta(days=200)).isoformat()
    rows = world.usage("--today", later)
    assert (rows["chuyenlv"]["state"], rows["chuyenlv"]["idle_days"]) == ("idle", 200)  # logged in today
    assert all(row["propose_lock"] for uid, row in rows.items() if row["state"] in ("idle", "never-used"))
    world.run(
        "usage", "--org", "binhthuan", "--today", later, "--format", "xlsx", "-o", str(tmp_path / "u.xlsx")
    )
    book = openpyxl.load_workbook(tmp_path / "u.xlsx")
    assert book.sheetnames == ["Ban Dân tộc tỉnh Bình Thuận", "Sở Nội vụ tỉnh Bình Thuận"]
    cells = [[c.value for c in row] for row in book["Sở Nội vụ tỉnh Bình Thuận"].iter_rows()]
    assert cells[3][0] == "BÁO CÁO KIỂM TRA SỬ DỤNG HỆ THỐNG THƯ ĐIỆN TỬ"
    listed = {row[1]: row for row in cells[7:] if isinstance(row[0], int)}
    assert listed["anvtt"][8] == "Chưa sử dụng lần nào" and listed["anvtt"][9] == "Khóa"
    assert listed["anvtt"][5].date() == today_in_vietnam()  # made today (in Vietnam), a real date

    done = world.run(
        "usage", "--org", "binhthuan", "--today", later, "--draft-locks", "--requests-dir", "requests"
    )
    drafts = sorted((world.repo / "requests" / "binhthuan").rglob("*-khoa-khong-su-dung.yaml"))
    assert [p.parent.parent.name for p in drafts] == ["bdt", "snv"] and "nothing is locked" in done.stderr
    text = drafts[1].read_text(encoding="utf-8")
    assert "kind: lock" in text and "- username: anvtt" in text and "BẢN NHÁP" in text
    world.run("validate", *map(str, drafts))  # a request file IT can review and merge as it is
    again = world.run("usage", "--org", "binhthuan", "--today", later, "--draft-locks", ok=False)
    assert "exists already" in again.stderr  # never overwritten
    conn = world.directory.connect("binhthuan")
    conn.search(dn.person_dn(world.directory.base_dn("binhthuan"), "anvtt"), "(objectClass=*)", "BASE",
                attributes=["pwdAccountLockedTime"])  # fmt: skip
    assert not conn.response[0]["raw_attributes"].get("pwdAccountLockedTime")  # a draft locks nothing
    conn.unbind()
    for draft in drafts:
        draft.unlink()


def test_the_yearly_report_as_pdf_and_xlsx(world, tmp_path):
    this_year = today_in_vietnam().year
    pdf = tmp_path / "bao-cao.pdf"
    world.run("report", "--org", "binhthuan", "--year", "2025", "-o", str(pdf), "--number", "05/BC-STTTT")
    text = " ".join(
        " ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf.read_bytes())).pages
    )
    assert (
        "BÁO CÁO" in text
        and "Số: 05/BC-STTTT" in text
        and "Kính gửi: Ủy ban nhân dân tỉnh Bình Thuận" in text
    )
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text and "Độc lập - Tự do - Hạnh phúc" in text
    shipped = shipped_requests(world, "binhthuan")
    received = sum(1 for request in shipped if request.document.date.year == 2025)
    assert f"tiếp nhận {received} yêu cầu" in text and "Nguyễn Thanh Sơn" in text  # the org's signer
    assert PdfReader(io.BytesIO(pdf.read_bytes())).pages[0].mediabox.width == pytest.approx(595.3, abs=1)

    sheet_file = tmp_path / "bao-cao.xlsx"
    world.run(
        "report", "--org", "binhthuan", "--year", str(this_year), "--format", "xlsx", "-o", str(sheet_file)
    )
    book = openpyxl.load_workbook(sheet_file)
    assert book.sheetnames == ["Theo loại", "Theo đơn vị", "Tài khoản", "Tình hình sử dụng"]
    accounts = {
        row[0]: row[1:5]
        for row in book["Tài khoản"].iter_rows(min_row=8, values_only=True)
        if row[1] is not None
    }
    # made this year by this test's apply (the audit log's creates: not the migrated account); thodn locked
    made = {unit: len(created) for unit, created in accounts_made(shipped).items()}
    assert accounts["Ban Dân tộc tỉnh Bình Thuận"] == (made["bdt"], 1, 0, 0)
    assert accounts["Sở Nội vụ tỉnh Bình Thuận"] == (made["snv"], 0, 0, 0)
    use = {
        row[0]: row[1:]
        for row in book["Tình hình sử dụng"].iter_rows(min_row=8, values_only=True)
        if row[1] is not None
    }
    bdt = use["Ban Dân tộc tỉnh Bình Thuận"]
    assert bdt[0] == made["bdt"] + 1 - 1 and bdt[4] == 1  # every account but the locked one; 1 locked


def test_the_demo_ends_with_the_danh_ba_and_the_usage_review(world, tmp_path):
    """scripts/demo's last step, run as the demo runs it: from the repository, as the plan-reader."""
    out = tmp_path / "reports"
    done = subprocess.run(
        [str(ROOT / "scripts" / "demo-reports"), str(out), world.env["HOPTHU_PLAN_DIRECTORY"], "binhthuan"],
        cwd=world.repo,
        env=world.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        f"{out}/danh-ba-binhthuan.xlsx" in done.stdout
        and f"{out}/kiem-tra-su-dung-binhthuan.xlsx" in done.stdout
    )
    book = openpyxl.load_workbook(out / "danh-ba-binhthuan.xlsx")
    addresses = {row[1] for sheet in book for row in sheet.iter_rows(min_row=8, values_only=True) if row[1]}
    assert {"minhnv@bdt.binhthuan.gov.vn", "bdt@binhthuan.gov.vn", "snv@binhthuan.gov.vn"} <= addresses
    assert "KIỂM TRA SỬ DỤNG" in done.stdout  # the review, shown in the demo's output too
    assert (out / "danh-ba-binhthuan.html").read_text(encoding="utf-8").count("<tr>") >= 4
    assert "demo-reports" in (ROOT / "scripts" / "demo").read_text(encoding="utf-8")
