"""Result notices: what the unit reads (text, HTML, PDF), the e-mail built around it, and numbering."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import json
from pathlib import Path

import pypdf
import pytest

from hopthu.model import Document, Kind, Organisation, Request, Requester, Unit
from hopthu.notices import (
    PASSWORD_PLACEHOLDER,
    NoticeData,
    NoticeLedger,
    NoticeRow,
    NoticeTemplateError,
    build_message,
    notice_number,
    render,
    vn_long_date,
)
from hopthu.notices.ledger import LedgerError, ledger_path_for, locked
from hopthu.notices.render import PASSWORD_IN_EMAIL
from hopthu.refusals import Refusal

PASSWORDS = ("Xk3#pq9LmZ2v!a", "R7%tYw2qNc8e+K", "b4$Hz9Uq2LmW#s")
ROWS = [
    NoticeRow("Nguyễn Văn Minh", "Văn phòng Ban", "minhnv@bdt.cantho.gov.vn", PASSWORDS[0]),
    NoticeRow("Võ Thị Thu Ân", "Phòng Chính sách dân tộc", "anvtt@bdt.cantho.gov.vn", PASSWORDS[1]),
    NoticeRow(
        "Trương Hoàng Tiến Minh", "Phòng Chính sách dân tộc", "tienminhth@bdt.cantho.gov.vn", PASSWORDS[2]
    ),
]


def make_org(mailbox: str = "bdt@cantho.gov.vn") -> Organisation:
    unit = Unit(code="bdt", name="Ban Dân tộc thành phố Cần Thơ", mailbox=mailbox, requesters=())
    return Organisation(
        code="cantho",
        name="Hệ thống thư điện tử thành phố Cần Thơ",
        parent="UBND THÀNH PHỐ CẦN THƠ",
        mail_domain="cantho.gov.vn",
        base_dn="dc=cantho,dc=gov,dc=vn",
        naming_rule=("{given}{s}{m}",),
        reserved=frozenset(),
        retention_days=90,
        sla_working_days=2,
        units={"bdt": unit},
        app_groups={},
        place="Cần Thơ",
        issuer="SỞ THÔNG TIN VÀ TRUYỀN THÔNG",
        issuer_abbrev="STTTT",
    )


def make_request(
    kind: Kind = Kind.CREATE, request_id: str = "2026-01-20-bdt-cap-moi", accounts=()
) -> Request:
    return Request(
        id=request_id,
        org="cantho",
        unit="bdt",
        kind=kind,
        document=Document(number="123/BDT-VP", date=dt.date(2026, 1, 20), signer="Lê Văn Tám"),
        requester=Requester(name="Lê Văn Tám", position="Chánh Văn phòng"),
        reason="Công chức mới tiếp nhận",
        accounts=tuple(accounts),
    )


def make_data(
    kind: Kind = Kind.CREATE, outcome: str = "applied", reason: str | None = None, rows=ROWS, **changes
) -> NoticeData:
    org = make_org()
    values = {
        "org": org,
        "unit": org.units["bdt"],
        "request": make_request(kind),
        "outcome": outcome,
        "reason": reason,
        "rows": list(rows),
        "number": notice_number(5, org),
        "issued": dt.date(2026, 2, 5),
        "signer_title": "KT. GIÁM ĐỐC\nPHÓ GIÁM ĐỐC",
        "signer_name": "Trần Thị Hồng",
    }
    values.update(changes)
    return NoticeData(**values)


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def squash(text: str) -> str:
    """Whitespace-insensitive comparison: the PDF and the wrapped text break lines where they like."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def create_notice():
    return render(make_data())


# --- Vietnamese dates and numbers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (dt.date(2026, 2, 5), "ngày 05 tháng 02 năm 2026"),
        (dt.date(2026, 1, 31), "ngày 31 tháng 01 năm 2026"),
        (dt.date(2026, 3, 9), "ngày 09 tháng 3 năm 2026"),
        (dt.date(2026, 12, 10), "ngày 10 tháng 12 năm 2026"),
    ],
)
def test_date_takes_a_leading_zero_for_days_below_10_and_months_1_and_2(day, expected):
    assert vn_long_date(day) == expected


def test_notice_number_is_sequence_type_and_issuer():
    assert notice_number(5, make_org()) == "05/TB-STTTT"
    assert notice_number(125, make_org()) == "125/TB-STTTT"


# --- the create notice has every part of the official layout --------------------------------------


def test_create_notice_text_has_every_field(create_notice):
    text = create_notice.text
    for expected in (
        "UBND THÀNH PHỐ CẦN THƠ",
        "SỞ THÔNG TIN VÀ TRUYỀN THÔNG",
        "Số: 05/TB-STTTT",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "Cần Thơ, ngày 05 tháng 02 năm 2026",
        "THÔNG BÁO",
        "Kết quả cấp mới hộp thư điện tử",
        "Kính gửi: Ban Dân tộc thành phố Cần Thơ",
        "Nơi nhận:",
        "- Như trên;",
        "- Lưu: VT, STTTT.",
        "KT. GIÁM ĐỐC",
        "PHÓ GIÁM ĐỐC",
        "Trần Thị Hồng",
    ):
        assert expected in text, expected
    flat = squash(text)
    assert "Căn cứ văn bản số 123/BDT-VP ngày 20/01/2026 của Ban Dân tộc thành phố Cần Thơ" in flat
    assert "đổi mật khẩu ngay khi đăng nhập lần đầu" in flat
    assert "giao mật khẩu trực tiếp cho từng người sử dụng" in flat
    for row in ROWS:
        assert row.full_name in text and row.address in text and row.password in text
    # the motto comes before the title, the signer after the recipients list
    assert (
        text.index("CỘNG HÒA")
        < text.index("THÔNG BÁO\n")
        < text.index("Nơi nhận:")
        < text.index("Trần Thị Hồng")
    )


def test_text_never_breaks_an_address_or_password_across_lines(create_notice):
    lines = create_notice.text.splitlines()
    for row in ROWS:
        assert any(row.address in line for line in lines)
        assert any(row.password in line for line in lines)
    assert max(len(line) for line in lines) <= 80


def test_create_notice_html_has_the_table_and_layout(create_notice):
    html = create_notice.html
    assert '<html lang="vi">' in html
    assert "@page { size: A4 portrait; margin: 20mm 15mm 20mm 30mm; }" in html
    assert '"Times New Roman", "Liberation Serif"' in html
    for heading in ("STT", "Họ và tên", "Đơn vị", "Địa chỉ thư điện tử", "Mật khẩu lần đầu"):
        assert f"<th>{heading}</th>" in html
    for number, row in enumerate(ROWS, start=1):
        assert f'<td class="stt">{number}</td>' in html
        assert f"<td>{row.full_name}</td>" in html
        assert f'<td class="secret">{row.password}</td>' in html
    assert "Số: 05/TB-STTTT" in html and "ngày 05 tháng 02 năm 2026" in html


def test_pdf_attachment_is_a4_and_reads_back_with_names_and_addresses_but_never_a_password(create_notice):
    """The PDF is the official document that is signed and kept for years: each one-time password is in
    the e-mail's text and HTML only, and the PDF says so in its password column."""
    assert create_notice.attachment_mime == "application/pdf"
    assert create_notice.attachment_name == "TB-STTTT-05-2026_2026-01-20-bdt-cap-moi.pdf"
    reader = pypdf.PdfReader(io.BytesIO(create_notice.attachment_bytes))
    width, height = (float(v) for v in reader.pages[0].mediabox.upper_right)
    assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == (210, 297)
    text = squash(pdf_text(create_notice.attachment_bytes))
    for expected in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Số: 05/TB-STTTT", "ngày 05 tháng 02 năm 2026"):
        assert expected in text
    for row in ROWS:
        assert row.full_name in text and row.address in text and row.password not in text
    assert text.count(squash(PASSWORD_IN_EMAIL)) == len(ROWS)
    assert all(row.password in create_notice.text and row.password in create_notice.html for row in ROWS)


def test_pdf_embeds_times_new_roman_or_a_metric_compatible_serif(create_notice):
    reader = pypdf.PdfReader(io.BytesIO(create_notice.attachment_bytes))
    fonts = {
        str(font["/BaseFont"]).split("+")[-1]
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
        for font in [font.get_object()]
    }
    serif = {name for name in fonts if "Liberation-Serif" in name or "Times" in name or "Tinos" in name}
    assert serif, f"no Times New Roman compatible font embedded, only {fonts}"
    assert not any("DejaVu" in name for name in fonts)


def test_subject_is_one_line_and_names_number_and_result(create_notice):
    assert create_notice.subject == "Thông báo số 05/TB-STTTT: Kết quả cấp mới hộp thư điện tử"
    assert create_notice.has_secrets


# --- other kinds and refusals ----------------------------------------------------------------------


def test_refused_notice_states_every_reason_in_vietnamese_with_the_accounts_concerned():
    rows = [row._replace(password=None) for row in ROWS]
    too_early = Refusal(
        "delete-too-early",
        {"days": 90, "org": "cantho"},
        tuple({"uid": f"user{i}", "locked_on": "01/11/2026", "earliest": "30/01/2027"} for i in range(7)),
    )
    missing = Refusal("account-missing", {"org": "cantho"}, ({"uid": "khongco"},))
    data = make_data(outcome="refused", reason="(the English line)", refusals=(too_early, missing), rows=rows)
    notice = render(data, with_attachment=False)
    assert notice.subject.endswith("Về việc không thực hiện yêu cầu cấp mới hộp thư điện tử")
    flat = squash(notice.text)
    assert "không được thực hiện vì lý do sau" in flat
    assert "1. 7 tài khoản chưa hết thời hạn lưu giữ 90 ngày kể từ ngày khóa, nên chưa được xóa." in flat
    assert "2. 1 tài khoản được đề nghị không có trong hệ thống thư điện tử." in flat
    for i in range(7):  # every account concerned, not the first few
        assert f"Tài khoản: user{i}; Ngày khóa: 01/11/2026; Được xóa từ ngày: 30/01/2027" in flat
        assert f"<td>user{i}</td><td>01/11/2026</td><td>30/01/2027</td>" in notice.html
    assert "<th>Được xóa từ ngày</th>" in notice.html
    assert "English" not in notice.text + notice.html
    assert "Mật khẩu" not in notice.text and "<th>Mật khẩu" not in notice.html
    assert "đăng nhập lần đầu" not in flat
    assert "gửi văn bản đề nghị mới" in flat
    assert not notice.has_secrets


def test_a_refusal_kept_without_its_reasons_still_reads_in_vietnamese():
    rows = [row._replace(password=None) for row in ROWS]
    notice = render(
        make_data(outcome="refused", reason="account x is locked", rows=rows), with_attachment=False
    )
    assert "chưa đáp ứng điều kiện thực hiện" in squash(notice.text)
    assert "locked" not in notice.text + notice.html


def test_refusal_without_a_reason_or_with_passwords_is_rejected():
    with pytest.raises(ValueError, match="must state the reason"):
        make_data(outcome="refused", reason=" ")
    with pytest.raises(ValueError, match="carries no passwords"):
        make_data(outcome="refused", reason="Thiếu chữ ký số.")


@pytest.mark.parametrize(
    ("kind", "subject", "heading"),
    [
        (Kind.RESET_PASSWORD, "Kết quả cấp lại mật khẩu", "Mật khẩu mới"),
        (Kind.LOCK, "Kết quả khóa tài khoản", None),
        (Kind.UNLOCK, "Kết quả mở khóa tài khoản", None),
        (Kind.DELETE, "Kết quả xóa tài khoản", None),
        (Kind.UPDATE, "Kết quả thay đổi thông tin tài khoản", None),
    ],
)
def test_each_kind_has_its_subject(kind, subject, heading):
    rows = ROWS if heading else [row._replace(password=None) for row in ROWS]
    notice = render(make_data(kind=kind, rows=rows), with_attachment=False)
    assert notice.subject == f"Thông báo số 05/TB-STTTT: {subject}"
    assert subject in notice.text
    if heading:
        assert f"<th>{heading}</th>" in notice.html
    else:
        assert "Mật khẩu" not in notice.text


def test_lock_notice_says_mail_is_kept():
    notice = render(
        make_data(kind=Kind.LOCK, rows=[r._replace(password=None) for r in ROWS]), with_attachment=False
    )
    assert "thư và dữ liệu của tài khoản vẫn được lưu giữ" in squash(notice.text)


# --- dry run and secrets ---------------------------------------------------------------------------


def test_dry_run_contains_no_password_anywhere():
    notice = render(make_data(), dry_run=True)
    pdf = pdf_text(notice.attachment_bytes)
    for password in PASSWORDS:
        for part in (notice.subject, notice.text, notice.html, pdf, repr(notice)):
            assert password not in part
    assert notice.text.count(PASSWORD_PLACEHOLDER) == len(ROWS)
    assert not notice.has_secrets


def test_reprs_never_show_a_password(create_notice):
    data = make_data()
    for text in (repr(data), repr(data.rows), repr(create_notice)):
        for password in PASSWORDS:
            assert password not in text


def test_html_escapes_what_units_wrote():
    rows = [NoticeRow("<script>x</script> & Co", "Phòng <b>", "a@b.vn", None)]
    notice = render(make_data(rows=rows), with_attachment=False)
    assert "<script>" not in notice.html
    assert "&lt;script&gt;x&lt;/script&gt; &amp; Co" in notice.html
    assert "<script>x</script> & Co" in notice.text  # plain text is not HTML: no entities there


# --- templates the organisation overrides ----------------------------------------------------------


def test_organisation_template_overrides_one_kind_and_keeps_the_rest(tmp_path):
    (tmp_path / "kinds").mkdir()
    (tmp_path / "kinds" / "create.j2").write_text(
        '{% extends "common.j2" %}\n'
        "{% block activity %}cấp tài khoản thư công vụ{% endblock %}\n"
        "{% block done %}Đã cấp {{ rows | length }} tài khoản thư công vụ.{% endblock %}\n",
        encoding="utf-8",
    )
    notice = render(make_data(), templates_dir=tmp_path, with_attachment=False)
    assert notice.subject.endswith("Kết quả cấp tài khoản thư công vụ")
    assert "Đã cấp 3 tài khoản thư công vụ." in notice.text
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in notice.text  # the built-in layout is still used


def test_a_broken_template_names_its_file_and_line(tmp_path):
    (tmp_path / "kinds").mkdir()
    (tmp_path / "kinds" / "create.j2").write_text(
        '{% extends "common.j2" %}\n{% block done %}\n{{ rows | length }\n{% endblock %}\n', encoding="utf-8"
    )
    with pytest.raises(NoticeTemplateError, match=r"create\.j2:3"):
        render(make_data(), templates_dir=tmp_path, with_attachment=False)


def test_an_unknown_variable_in_a_template_is_an_error_not_an_empty_string(tmp_path):
    (tmp_path / "kinds").mkdir()
    (tmp_path / "kinds" / "create.j2").write_text(
        '{% extends "common.j2" %}\n{% block done %}\nĐã cấp cho {{ unit.nmae }}.\n{% endblock %}\n',
        encoding="utf-8",
    )
    with pytest.raises(NoticeTemplateError, match=r"create\.j2:3.*nmae"):
        render(make_data(), templates_dir=tmp_path, with_attachment=False)


def test_templates_are_sandboxed(tmp_path):
    (tmp_path / "kinds").mkdir()
    (tmp_path / "kinds" / "create.j2").write_text(
        '{% extends "common.j2" %}\n{% block done %}{{ rows.__class__.__mro__ }}{% endblock %}\n',
        encoding="utf-8",
    )
    with pytest.raises(NoticeTemplateError):
        render(make_data(), templates_dir=tmp_path, with_attachment=False)


# --- the e-mail ------------------------------------------------------------------------------------


def test_email_is_text_and_html_alternatives_plus_the_pdf(create_notice):
    message = build_message(create_notice, sender="hopthu@stttt.cantho.gov.vn", recipient="bdt@cantho.gov.vn")
    raw = message.as_bytes()
    assert b"C\xe1\xbb\x98NG" not in raw.split(b"\n\n", 1)[0], "headers must be 7-bit (RFC 2047)"
    assert b"Subject: =?utf-8?" in raw
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == create_notice.subject
    assert parsed["To"] == "bdt@cantho.gov.vn"
    assert parsed["Message-ID"].endswith("@stttt.cantho.gov.vn>")
    assert parsed["Date"] is not None and parsed["Auto-Submitted"] == "auto-generated"
    assert parsed.get_content_type() == "multipart/mixed"
    alternative, attachment = parsed.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    text, html = alternative.iter_parts()
    assert text.get_content_type() == "text/plain" and text.get_content_charset() == "utf-8"
    assert html.get_content_type() == "text/html"
    assert text.get_content() == create_notice.text
    assert "Nguyễn Văn Minh" in html.get_content()
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == create_notice.attachment_name
    assert attachment.get_content() == create_notice.attachment_bytes


# --- numbering -------------------------------------------------------------------------------------


def test_numbers_count_per_org_and_year_and_stay_with_their_request(tmp_path):
    ledger = NoticeLedger(tmp_path / "outbox.notices.json")
    day = dt.date(2026, 2, 5)
    assert ledger.assign("a", "cantho", day).sequence == 1
    assert ledger.assign("b", "cantho", day).sequence == 2
    assert ledger.assign("c", "ctu", day).sequence == 1
    assert ledger.assign("a", "cantho", dt.date(2026, 3, 1)).sequence == 1  # a retry keeps its number …
    assert ledger.entries["a"].issued == "2026-02-05"  # … and its date
    assert ledger.assign("d", "cantho", dt.date(2027, 1, 2)).sequence == 1  # a new year starts at 01
    ledger.save()
    again = NoticeLedger.load(ledger.path)
    assert again.entries == ledger.entries
    assert again.assign("e", "cantho", day).sequence == 3


def test_ledger_records_sending_without_secrets(tmp_path):
    ledger = NoticeLedger(tmp_path / "outbox.notices.json")
    ledger.assign("a", "cantho", dt.date(2026, 2, 5))
    assert not ledger.is_sent("a")
    ledger.mark_sent("a", recipient="bdt@cantho.gov.vn", message_id="<1@x>", at=dt.datetime(2026, 2, 5, 9))
    ledger.save()
    saved = json.loads(ledger.path.read_text(encoding="utf-8"))
    assert saved["notices"]["a"]["recipient"] == "bdt@cantho.gov.vn"
    assert NoticeLedger.load(ledger.path).is_sent("a")


def test_a_damaged_ledger_is_a_clear_error(tmp_path):
    path = tmp_path / "outbox.notices.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(LedgerError, match="not a readable notice ledger"):
        NoticeLedger.load(path)


def test_ledger_sits_beside_the_outbox_and_one_notify_runs_at_a_time(tmp_path):
    path = ledger_path_for(tmp_path / "outbox")
    assert path == tmp_path / "outbox.notices.json"
    with locked(path), pytest.raises(LedgerError, match="in use"), locked(path):
        pass


def test_builtin_templates_exist_for_every_kind():
    templates = Path(__file__).parents[1] / "tools" / "hopthu" / "notices" / "templates" / "kinds"
    assert {path.stem for path in templates.glob("*.j2")} == {kind.value for kind in Kind}


def test_a_unit_mailbox_is_called_a_unit_mailbox_and_application_accounts_are_listed():
    box = NoticeRow("Văn phòng Ban", "Ban Dân tộc", "vpbdt@cantho.gov.vn", PASSWORDS[0], unit_mailbox=True)
    alone = squash(render(make_data(rows=[box]), with_attachment=False).text)
    assert "Đã cấp mới 1 hộp thư cơ quan/đơn vị theo danh sách dưới đây." in alone
    assert "Hộp thư cơ quan/đơn vị do người được phân công quản lý chịu trách nhiệm" in alone
    assert "hộp thư cá nhân" not in alone.lower() and "tài khoản cá nhân" not in alone.lower()

    person = ROWS[0]._replace(granted=("Hệ thống quản lý văn bản",), removed=("Một cửa",))
    both = render(make_data(rows=[person, box]), with_attachment=False)
    flat = squash(both.text)
    assert "Đã cấp mới 1 hộp thư cá nhân và 1 hộp thư cơ quan/đơn vị" in flat
    assert "Hộp thư cá nhân là tài khoản của riêng từng người" in flat
    assert "Tài khoản phần mềm được cấp: Hệ thống quản lý văn bản" in flat
    assert "Tài khoản phần mềm thu hồi: Một cửa" in flat
    assert "<th>Tài khoản phần mềm</th>" in both.html
    assert "Cấp: Hệ thống quản lý văn bản; Thu hồi: Một cửa" in both.html
