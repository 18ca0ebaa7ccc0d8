"""`hopthu import`: annex lists from Excel, Word and CSV become request files — or, when anything is wrong,
every problem of every row is located at its cell and nothing is written."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner

from annexes import SIGNATURE_ROWS, TITLE_ROWS, csv_file, docx_file, xlsx
from hopthu.cli import main
from hopthu.forms.importer import ImportRefused, Spec, import_annex
from hopthu.inventory import load_inventory
from hopthu.model import Kind
from hopthu.requests import load_requests
from workspace import copy_of_repo

BDT = dict(
    org="binhthuan", unit="bdt", requester_email="letm@bdt.binhthuan.gov.vn", signer="Nguyễn Hữu Phước"
)
HEADER = [
    "STT",
    "Mã số CB",
    "Họ và tên",
    "Chức vụ",
    "Phòng ban",
    "Số điện thoại",
    "Email dự phòng",
    "Ghi chú",
]
TARGET = Path("requests/binhthuan/bdt/2025/2025-04-03-bdt-cap-moi.yaml")


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    copy_of_repo(tmp_path, "inventory", "requests", "schemas")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def spec(kind: Kind = Kind.CREATE, **changes) -> Spec:
    values = dict(BDT, kind=kind, document_number="50/BDT-VP", document_date=dt.date(2025, 4, 3))
    return Spec(**(values | changes))


def run(file: Path, **changes):
    return import_annex(file, spec(**changes), load_inventory(Path("inventory")), Path.cwd())


def refused(file: Path, **changes) -> list[tuple[str, str]]:
    with pytest.raises(ImportRefused) as caught:
        run(file, **changes)
    return [(p.where, p.rule) for p in caught.value.problems if p.severity == "error"]


OPTIONS = ["--org", "binhthuan", "--unit", "bdt", "--kind", "create", "--document-number", "1/X"]
OPTIONS += ["--document-date", "2025-04-03", "--signer", "A"]


def cli(file: Path, requester: str = BDT["requester_email"]):
    return CliRunner().invoke(main, ["import", str(file), *OPTIONS, "--requester-email", requester])


# --- a real sheet, as units make them -----------------------------------------------------------------------

MESSY = [
    *TITLE_ROWS,  # rows 1-6: the heading of the letter, the national motto, the title (merged)
    # rows 7-8: a header of two rows; "Liên hệ" is merged over its two sub-headers, the others down
    ["STT", "MÃ SỐ CB", "HỌ VÀ\nTÊN", "Chức vụ", "Phòng ban", "Liên hệ", None, "Ghi chú\n(email, phần mềm)"],
    [None, None, None, None, None, "Điện thoại", "Email dự phòng", None],
    ["(1)", "(2)", "(3)", "(4)", "(5)", "(6)", "(7)", "(8)"],  # row 9: column numbers
    ["I. Văn phòng Ban"],  # row 10: a group heading merged across
    [1, 2871, "Nguyễn  Văn Minh", "Chuyên viên", None, 912345601, "minh.nv@gmail.com", "email, QLVB"],
    [2, "BDT-0302", "VÕ THỊ THU AN", "Chuyên viên", None, "0912 345 602", None, "Email"],
    [],  # row 13: blank
    ["II. Phòng Chính sách dân tộc"],
    [3, "BDT-0303", "Đàng Năng Hòa", "Phó Trưởng phòng", None, "0912 345 603", None, None],
    [4],  # a numbered, empty line of the form
    *SIGNATURE_ROWS,
]
MESSY_MERGES = [
    "A4:H4",
    "A5:H5",
    "F7:G7",
    "A7:A8",
    "B7:B8",
    "C7:C8",
    "D7:D8",
    "E7:E8",
    "H7:H8",
    "A10:H10",
    "A14:H14",
]


def test_a_messy_sheet_becomes_a_request_written_like_a_hand_written_one(repo, tmp_path):
    file = xlsx(tmp_path / "phu-luc.xlsx", MESSY, merges=MESSY_MERGES, formats={"B11": "000000"})
    result = run(file)
    assert result.state == "written" and result.path == repo / TARGET
    # minhnv and anvtt are taken by the shipped requests: the rule's next candidates
    assert result.accounts == [
        ("Nguyễn Văn Minh", "minhnv2"),
        ("VÕ THỊ THU AN", "anvtt2"),
        ("Đàng Năng Hòa", "hoadn"),
    ]
    text = TARGET.read_text(encoding="utf-8")
    assert text == (
        "# yaml-language-server: $schema=../../../../schemas/request.schema.json\n"
        "# Cấp mới hộp thư: nhập từ phụ lục phu-luc.xlsx (trang Phụ lục) bằng `hopthu import`.\n"
        "id: 2025-04-03-bdt-cap-moi\n"
        "org: binhthuan\n"
        "unit: bdt\n"
        "kind: create\n"
        "document:\n"
        '  number: "50/BDT-VP"\n'
        "  date: 2025-04-03\n"
        "  signer: Nguyễn Hữu Phước\n"
        "requester:\n"
        "  name: Trần Thị Mỹ Lệ\n"
        "  position: Chánh Văn phòng\n"
        '  phone: "0252 3821 104"\n'
        "  email: letm@bdt.binhthuan.gov.vn\n"
        "reason: Theo văn bản số 50/BDT-VP ngày 03/04/2025 của Ban Dân tộc tỉnh Bình Thuận.\n"
        "accounts:\n"
        "  # phụ lục: Phụ lục, dòng 11\n"
        "  - full_name: Nguyễn Văn Minh\n"  # spaces collapsed
        "    username: minhnv2\n"
        '    staff_code: "002871"\n'  # a number in a 000000 cell keeps its zeros
        "    position: Chuyên viên\n"
        "    department: Văn phòng Ban\n"  # from the group heading above it
        '    phone: "0912345601"\n'  # the leading zero Excel dropped is back
        "    services: [email, qlvb]\n"
        "    backup_email: minh.nv@gmail.com\n"
        "  # phụ lục: Phụ lục, dòng 12\n"
        "  - full_name: VÕ THỊ THU AN\n"
        "    username: anvtt2\n"
        '    staff_code: "BDT-0302"\n'
        "    position: Chuyên viên\n"
        "    department: Văn phòng Ban\n"
        '    phone: "0912 345 602"\n'
        "    services: [email]\n"
        "  # phụ lục: Phụ lục, dòng 15\n"
        "  - full_name: Đàng Năng Hòa\n"
        "    username: hoadn\n"
        '    staff_code: "BDT-0303"\n'
        "    position: Phó Trưởng phòng\n"
        "    department: Phòng Chính sách dân tộc\n"
        '    phone: "0912 345 603"\n'
        "    services: [email]\n"  # an empty Ghi chú: the mailbox the form asks for
    )
    requests, findings = load_requests([TARGET], load_inventory(Path("inventory")))
    assert findings == [] and len(requests[0].accounts) == 3


@pytest.mark.parametrize(
    "name_header",
    ["Họ tên", "Họ và tên", "HỌ VÀ TÊN", "Ho ten", "Họ tên người dùng", "họ và\ntên", "Họ  và  tên"],
)
def test_headers_are_matched_whatever_their_case_diacritics_line_breaks_or_wording(
    repo, tmp_path, name_header
):
    rows = [
        ["Stt", "Mã số CB", name_header, "Chức vụ", "Ghi chú"],
        [1, "CB-1", "Lê Văn Tám", "Chuyên viên", "email"],
    ]
    result = run(xlsx(tmp_path / "a.xlsx", rows))
    assert result.accounts == [("Lê Văn Tám", "tamlv")]


def test_the_forms_of_the_regulations_are_read_as_printed(repo, tmp_path):
    # Trường ĐH Y Dược Cần Thơ, BM-CNTT-11: no department and no phone; the reason under the table
    rows = [
        ["Stt", "Mã số CB", "Họ và tên", "Chức vụ", "Ghi chú"],
        [1, "002871", "Trần Hoàng Việt", "Giảng viên", "email"],
        [],
        ["Lý do cấp email: Giảng viên mới tiếp nhận."],
    ]
    result = run(xlsx(tmp_path / "bm-cntt-11.xlsx", rows))
    text = result.path.read_text(encoding="utf-8")
    assert "reason: Giảng viên mới tiếp nhận.\n" in text
    assert "    department: Ban Dân tộc tỉnh Bình Thuận\n" in text  # the unit itself
    assert "phone:" not in text.split("accounts:")[1]
    # Sở TT&TT Đà Nẵng, Phụ lục II: the unit proposes the address
    result.path.unlink()
    rows = [
        [
            "STT",
            "Họ và tên",
            "Phòng ban/Đơn vị trực thuộc",
            "Số điện thoại",
            "Tên hộp thư đề nghị tạo mới/thay đổi/hủy bỏ",
        ],
        [1, "Lê Văn Tám", "Văn phòng", "0905 111 222", "tamlv"],
    ]
    text = run(xlsx(tmp_path / "phu-luc-ii.xlsx", rows)).path.read_text(encoding="utf-8")
    assert '    username: tamlv\n    department: Văn phòng\n    phone: "0905 111 222"\n' in text


# --- every problem of every row, located --------------------------------------------------------------------


BAD_ROWS = [
    ["DANH SÁCH ĐỀ NGHỊ CẤP HỘP THƯ"],
    ["STT", "Mã số CB", "Họ và tên", "Đơn vị", "Số điện thoại", "Ghi chú"],
    [1, "BDT-1", None, "bdt", "0912 000 001", "email"],  # row 3: no name
    [2, "BDT-2", "Lê Văn Tám", "Sở Y tế", "0912 000 002", "email"],  # row 4: unknown unit
    [3, "BDT-3", "Lê Văn Chín", "bdt", "0912 000 003", "email, lương"],  # row 5: unknown service
    [4, "BDT-3", "Lê Thị Mười", "Ban Dân tộc tỉnh Bình Thuận", "0912 000 004", "email"],  # row 6: same code
    [5, "BDT-5", "Lê Văn Một", "bdt", "0912 000 005", "email", "ở nhà"],  # row 7: a value under no header
    [6, "BDT-6", "Lê Văn Hai", "snv", "091 2", "email"],  # row 8: another unit's person, a bad phone
]


def test_every_problem_of_every_row_of_a_sheet_is_located_and_nothing_is_written(repo, tmp_path):
    file = xlsx(tmp_path / "bad.xlsx", BAD_ROWS, sheet="DS")
    assert refused(file) == [
        (f"{file.name}:DS!C3", "name-missing"),
        (f"{file.name}:DS!D4", "unit-unknown"),
        (f"{file.name}:DS!F5", "service-unknown"),
        (f"{file.name}:DS!G7", "cell-unexplained"),
        (f"{file.name}:DS!D8", "unit-other"),
        (f"{file.name}:DS!E8", "phone-invalid"),
    ]
    assert not TARGET.exists()
    # the duplicate staff code is found by the request check, and located at its cell too
    rows = [BAD_ROWS[1], *(row[:6] for row in BAD_ROWS[4:6])]
    rows[1][5] = "email"
    assert refused(xlsx(tmp_path / "dup.xlsx", rows, sheet="DS")) == [("dup.xlsx:DS!B3", "person-duplicate")]
    assert not TARGET.exists()


def test_problems_in_a_word_table_are_located_by_table_and_row(repo, tmp_path):
    heading = [
        ["BAN DÂN TỘC", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"],
        ["Số: 50/BDT-VP", "Độc lập - Tự do - Hạnh phúc"],
    ]
    annex = [
        ["STT", "Mã số CB", "Họ và tên", "Chức vụ", "Ghi chú"],
        ["1", "CB-1", "", "Chuyên viên", "email"],
        ["2", "CB-2", "Lê Văn Tám", "Chuyên viên", "phần mềm"],
    ]
    file = docx_file(tmp_path / "cong-van.docx", [heading, annex])
    assert refused(file) == [
        (f"{file.name}:table 2 row 2 column 3", "name-missing"),
        (f"{file.name}:table 2 row 3 column 5", "service-ambiguous"),
    ]


def test_problems_in_a_csv_file_are_located_by_line(repo, tmp_path):
    rows = [
        ["Danh sách"],
        ["STT", "Họ và tên", "Chức vụ", "Ghi chú"],
        [1, "Lê Văn\nTám", "CV", "email"],
        [2, "", "CV", "email"],
    ]
    file = csv_file(tmp_path / "ds.csv", rows, separator=";")
    assert refused(file) == [(f"{file.name}:line 5 column 2", "name-missing")]  # the quoted line break counts


# --- national ID numbers ------------------------------------------------------------------------------------


def test_a_national_id_column_is_never_copied_anywhere(repo, tmp_path):
    rows = [
        [
            "STT",
            "Họ tên người dùng",
            "Tên cơ quan cấp trên",
            "Đơn vị",
            "Chức vụ",
            "Số CMND/CCCD",
            "Số điện thoại",
            "Ghi chú",
        ],
        [1, "Lê Văn Tám", "UBND tỉnh", "Văn phòng", "Chuyên viên", "079203001234", "0912 000 001", "email"],
        [2, "Lê Văn Chín", "UBND tỉnh", "Văn phòng", "Chuyên viên", 212345678, "0912 000 002", "email"],
    ]
    file = xlsx(tmp_path / "cccd.xlsx", rows)
    result = cli(file)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{TARGET}\n"
    assert "Số CMND/CCCD' left out: national ID numbers (CMND/CCCD) are never copied" in result.stderr
    text = TARGET.read_text(encoding="utf-8")
    assert "Cột số CMND/CCCD của phụ lục không được chép" in text
    for number in ("079203001234", "212345678"):
        assert number not in text and number not in result.stderr and number not in result.stdout


def test_an_identity_number_in_another_column_is_refused_without_repeating_it(repo, tmp_path):
    rows = [["STT", "Họ và tên", "Chức vụ", "Ghi chú"], [1, "Lê Văn Tám", "Chuyên viên", "CCCD 079203001234"]]
    result = cli(xlsx(tmp_path / "a.xlsx", rows))
    assert result.exit_code == 1
    assert "a.xlsx:'Phụ lục'!D2: unknown service 'CCCD ••••••••••••'" in result.stderr
    assert "079203001234" not in result.stderr + result.stdout
    assert not TARGET.exists()


# --- other kinds --------------------------------------------------------------------------------------------


def test_a_password_reset_list_names_accounts_by_address(repo, tmp_path):
    rows = [
        ["STT", "Họ và tên", "Địa chỉ hộp thư"],
        [1, "Nguyễn Văn Minh", "minhnv@bdt.binhthuan.gov.vn"],
        [2, "Lê Văn Tám", "tamlv@gmail.com"],
    ]
    file = xlsx(tmp_path / "reset.xlsx", rows)
    assert refused(file, kind=Kind.RESET_PASSWORD) == [(f"{file.name}:'Phụ lục'!C3", "username-domain")]
    result = run(xlsx(tmp_path / "reset.xlsx", rows[:2]), kind=Kind.RESET_PASSWORD)
    assert result.path.name == "2025-04-03-bdt-cap-lai-mat-khau.yaml"
    assert "  - username: minhnv\n    full_name: Nguyễn Văn Minh\n" in result.path.read_text(encoding="utf-8")


def test_an_update_list_without_addresses_is_refused_at_the_header(repo, tmp_path):
    rows = [["DS"], ["STT", "Họ và tên", "Chức vụ"], [1, "Nguyễn Văn Minh", "Trưởng phòng"]]
    file = xlsx(tmp_path / "u.xlsx", rows)
    assert refused(file, kind=Kind.UPDATE) == [(f"{file.name}:'Phụ lục'!A2", "header-missing")]


def test_unit_mailboxes_from_the_city_form_with_the_manager_in_one_cell(repo, tmp_path):
    rows = [
        [
            "STT",
            "Tên cơ quan nhà nước/đơn vị đề nghị cấp mới",
            "Tên cơ quan cấp trên",
            "Công chức được phân công quản lý hộp thư (Họ tên, điện thoại, địa chỉ hộp thư liên lạc)",
            "Số điện thoại cơ quan",
            "Ghi chú",
        ],
        [
            1,
            "Chi cục Văn thư - Lưu trữ",
            "Sở Nội vụ",
            "Hồ Thị Thanh Hương\n0935 240 117\nhuonghtt@danang.gov.vn",
            "0236 3886 240",
            None,
        ],
        [2, "Trung tâm Lưu trữ lịch sử", None, "Lê Văn Tám, ĐT: 0905 111 222", "0236 3886 241", None],
    ]
    danang = dict(org="danang", unit="snv", requester_email="hangptt@danang.gov.vn")
    result = run(xlsx(tmp_path / "don-vi.xlsx", rows), **danang)
    # ccvtlt is the shipped example's: the organisation's mailbox_rule goes on to its counter
    assert result.accounts == [
        ("Chi cục Văn thư - Lưu trữ", "ccvtlt2"),
        ("Trung tâm Lưu trữ lịch sử", "ttltls"),
    ]
    text = result.path.read_text(encoding="utf-8")
    assert result.path.name == "2025-04-03-snv-hop-thu-don-vi.yaml"
    assert (
        "  - type: unit\n    unit_name: Chi cục Văn thư - Lưu trữ\n    username: ccvtlt2\n"
        "    parent_agency: Sở Nội vụ\n"
        '    phone: "0236 3886 240"\n    manager:\n      name: Hồ Thị Thanh Hương\n'
        '      phone: "0935 240 117"\n      email: huonghtt@danang.gov.vn\n'
    ) in text
    assert "    parent_agency: Sở Nội vụ thành phố Đà Nẵng\n" in text  # the requesting unit, when empty
    assert '      name: Lê Văn Tám\n      phone: "0905 111 222"\n' in text


# --- dates, and running again -------------------------------------------------------------------------------


def test_birth_dates_in_any_form_excel_stores_them_when_the_rule_needs_them(repo, tmp_path):
    rows = [
        ["STT", "Họ và tên", "Ngày sinh", "Ghi chú"],
        [1, "Trương Hoàng Tiến Minh", dt.datetime(1973, 2, 11), "email"],  # a date cell
        [2, "Trương Hoàng Tiến Mỹ", 26706, "email"],  # a serial number: 1973-02-11
        [3, "Trương Hoàng Tiến Mai", "11/02/1973", "email"],
        [4, "Trương Hoàng Tiến Mẫn", "11.2.1973", "email"],
        [5, "Trương Hoàng Tiến Mạnh", "1973-02-11", "email"],
        [6, "Trương Hoàng Tiến Mận", "02/30/1973", "email"],  # month first: refused
    ]
    danang = dict(org="danang", unit="snv", requester_email="hangptt@danang.gov.vn")
    file = xlsx(tmp_path / "ngay-sinh.xlsx", rows)
    assert refused(file, **danang) == [(f"{file.name}:'Phụ lục'!C7", "date-invalid")]
    text = run(xlsx(tmp_path / "ngay-sinh.xlsx", rows[:6]), **danang).path.read_text(encoding="utf-8")
    assert text.count("    birth_date: 1973-02-11\n") == 5
    # Bình Thuận's rule needs no birth date: the column is left out, and said so
    result = run(xlsx(tmp_path / "ngay-sinh.xlsx", rows[:3]))
    assert "birth_date" not in result.path.read_text(encoding="utf-8")
    assert [n.rule for n in result.notes] == ["birth-date-left-out"]


def test_importing_again_is_harmless_and_a_different_file_is_never_overwritten(repo, tmp_path):
    rows = [["STT", "Họ và tên", "Chức vụ", "Ghi chú"], [1, "Lê Văn Tám", "Chuyên viên", "email"]]
    first = run(xlsx(tmp_path / "a.xlsx", rows))
    again = run(xlsx(tmp_path / "a.xlsx", rows))
    assert (first.state, again.state) == ("written", "unchanged")
    assert again.accounts == first.accounts == [("Lê Văn Tám", "tamlv")]  # its own names are not "taken"
    rows.append([2, "Lê Văn Chín", "Chuyên viên", "email"])
    before = TARGET.read_text(encoding="utf-8")
    assert refused(xlsx(tmp_path / "b.xlsx", rows)) == [(str(TARGET), "request-exists")]
    assert TARGET.read_text(encoding="utf-8") == before
    assert run(xlsx(tmp_path / "b.xlsx", rows), request_id="2025-04-03-bdt-cap-moi-2").accounts[1] == (
        "Lê Văn Chín",
        "chinlv",
    )


def test_the_command_line_reports_every_problem_and_exits_1(repo, tmp_path):
    file = xlsx(tmp_path / "bad.xlsx", BAD_ROWS, sheet="DS")
    result = cli(file)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == f"{file.name}:DS!C3: no full name (Họ và tên): fill it in [name-missing]"
    assert lines[-1] == "Error: 6 problem(s): nothing written"
    assert result.stdout == ""
    wrong = cli(file, "x@y.vn")
    assert wrong.exit_code == 1 and wrong.stderr.startswith("--requester-email: x@y.vn is not a requester")
    assert "Traceback" not in result.stderr + wrong.stderr


def test_a_word_table_with_merged_cells_after_the_letters_heading(repo, tmp_path):
    heading = [
        ["BAN DÂN TỘC", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"],
        ["Số: 50/BDT-VP", "Độc lập - Tự do - Hạnh phúc"],
    ]
    annex = [
        ["STT", "Họ và tên", "Phòng ban", "Liên hệ", None, "Ghi chú"],
        [None, None, None, "Điện thoại", "Email dự phòng", None],
        ["1", "Lê Văn Tám", "Văn phòng", "0912 000 001", "tam@gmail.com", "email"],
        ["2", "Lê Văn Chín", None, "0912 000 002", None, "email, quản lý văn bản"],
    ]
    file = docx_file(
        tmp_path / "cong-van.docx",
        [heading, annex],
        paragraphs_before=["Kính gửi: Sở Thông tin và Truyền thông"],
        paragraphs_after=["Lý do: Công chức mới tuyển dụng.", "TRƯỞNG BAN"],
        across=[(1, 0, 3, 4)],  # "Liên hệ" over its two sub-headers
        down=[(1, 0, 0, 1), (1, 1, 0, 1), (1, 2, 0, 1), (1, 5, 0, 1), (1, 2, 2, 3)],  # headers; a department
    )
    text = run(file).path.read_text(encoding="utf-8")
    assert "reason: Công chức mới tuyển dụng.\n" in text
    assert "# phụ lục: bảng 2, dòng 3\n" in text
    assert (
        "  - full_name: Lê Văn Chín\n    username: chinlv\n    department: Văn phòng\n"  # merged down
        '    phone: "0912 000 002"\n    services: [email, qlvb]\n'
    ) in text
    assert '    phone: "0912 000 001"\n    services: [email]\n    backup_email: tam@gmail.com\n' in text


@pytest.mark.parametrize(("separator", "bom"), [(",", True), (";", True), (",", False)])
def test_csv_as_excel_saves_it(repo, tmp_path, separator, bom):
    rows = [
        ["DANH SÁCH ĐỀ NGHỊ CẤP HỘP THƯ", "", "", ""],
        ["STT", "Mã số CB", "Họ và tên", "Số điện thoại"],
        ["1", "002871", "Lê Văn Tám", "0912 000 001"],
        ["", "", "", ""],
        ["", "", "Người lập biểu", ""],
    ]
    result = run(csv_file(tmp_path / "ds.csv", rows, separator=separator, bom=bom))
    text = result.path.read_text(encoding="utf-8")
    assert '    staff_code: "002871"\n' in text and '    phone: "0912 000 001"\n' in text
    assert result.accounts == [("Lê Văn Tám", "tamlv")]


def test_a_csv_file_in_the_windows_code_page_is_refused_with_what_to_do(repo, tmp_path):
    file = tmp_path / "ds.csv"
    file.write_bytes("STT,Ho va ten\r\n1,Lê Văn\r\n".encode("cp1258"))  # ê and ă are one byte each there
    assert refused(file) == [(f"{file.name}:line 2", "file-encoding")]


def test_with_the_live_directory_its_names_count_as_taken(repo, tmp_path, start_directory):
    inventory = load_inventory(Path("inventory"))
    org = inventory.organisations["binhthuan"]
    server = start_directory(inventory.organisations.values())
    conn = server.connect(org)
    attrs = {"objectClass": ["inetOrgPerson", "hopthuAccount"], "cn": "Lê Văn Tám", "sn": "Lê"}
    assert conn.add(f"uid=tamlv,ou=people,{org.base_dn}", attributes=attrs), conn.result
    conn.unbind()
    rows = [["STT", "Họ và tên", "Chức vụ", "Ghi chú"], [1, "Lê Văn Tám", "Chuyên viên", "email"]]
    file = xlsx(tmp_path / "a.xlsx", rows)
    options = [*OPTIONS, "--requester-email", BDT["requester_email"]]
    directory = ["--directory", str(server.workdir / "directory.json")]
    result = CliRunner().invoke(main, ["import", str(file), *options, *directory])
    assert result.exit_code == 0, result.output
    assert "    username: tamlv2\n" in TARGET.read_text(encoding="utf-8")


def test_an_identity_number_typed_into_a_kept_column_is_refused_at_its_cell(repo, tmp_path):
    rows = [["STT", "Họ và tên", "Chức vụ", "Phòng ban"], [1, "Lê Văn Tám", "Chuyên viên", "079203001234"]]
    file = xlsx(tmp_path / "a.xlsx", rows)
    with pytest.raises(ImportRefused) as caught:
        run(file)
    [problem] = caught.value.problems
    assert (problem.where, problem.rule) == ("a.xlsx:'Phụ lục'!D2", "national-id")
    assert "079203001234" not in problem.render()


def test_the_sheet_or_table_can_be_named(repo, tmp_path):
    rows = [["STT", "Họ và tên", "Chức vụ"], [1, "Lê Văn Tám", "Chuyên viên"]]
    other = [["STT", "Họ và tên", "Chức vụ"], [1, "Lê Văn Chín", "Chuyên viên"]]
    workbook = xlsx(tmp_path / "a.xlsx", rows, sheet="Đợt 2", before=["Bìa"])
    assert run(workbook).accounts == [("Lê Văn Tám", "tamlv")]  # the empty cover sheet is passed over
    TARGET.unlink()
    assert refused(workbook, sheet="Đợt 3") == [("a.xlsx", "annex-missing")]
    letter = docx_file(tmp_path / "b.docx", [rows, other])
    assert run(letter, table=2).accounts == [("Lê Văn Chín", "chinlv")]
    TARGET.unlink()
    assert run(letter).accounts == [("Lê Văn Tám", "tamlv")]
