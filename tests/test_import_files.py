"""Files `hopthu import` refuses before any parser reads them: not a spreadsheet, password-protected,
macro-enabled, or an archive bomb — each with a clear message, in bounded memory and time."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from msoffcrypto.format.ooxml import OOXMLFile

from annexes import docx_file, xlsx
from workspace import copy_of_repo

ROWS = [["STT", "Họ và tên", "Chức vụ", "Ghi chú"], [1, "Lê Văn Tám", "Chuyên viên", "email"]]
ARGS = [
    "--org",
    "binhthuan",
    "--unit",
    "bdt",
    "--kind",
    "create",
    "--document-number",
    "1/X",
    "--document-date",
    "2025-04-03",
    "--signer",
    "A",
    "--requester-email",
    "letm@bdt.binhthuan.gov.vn",
]
# Runs the command in a child and reports its peak memory, so the limit is the import's own: VmHWM of the
# child's own memory (ru_maxrss would carry the high-water mark of the pytest process it was forked from).
MEASURED = """\
import json, sys
from hopthu.cli import main
try:
    main(sys.argv[1:], prog_name="hopthu")
except SystemExit as stop:
    code = stop.code
status = open("/proc/self/status").read().split("VmHWM:")[1]
print(json.dumps({"code": code, "peak_mb": int(status.split()[0]) / 1024}), file=sys.stderr)
"""


@pytest.fixture
def repo(tmp_path) -> Path:
    return copy_of_repo(tmp_path / "repo", "inventory", "requests", "schemas")


def run(repo: Path, file: Path) -> tuple[int, str, float, float]:
    """(exit code, stderr, seconds, peak MB) of `hopthu import FILE …`."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", MEASURED, "import", str(file), *ARGS],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    *lines, last = done.stderr.strip().splitlines()
    report = json.loads(last)
    return report["code"], "\n".join(lines), elapsed, report["peak_mb"]


def refusal(repo: Path, file: Path) -> str:
    code, stderr, _, _ = run(repo, file)
    assert code == 1, stderr
    assert "Traceback" not in stderr
    assert not list((repo / "requests/binhthuan/bdt/2025").glob("2025-04-03-*"))
    return stderr


def test_a_pdf_an_image_and_other_archives_are_not_spreadsheets(repo, tmp_path):
    pdf = tmp_path / "phu-luc.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
    assert "this is a PDF, not a spreadsheet: ask the unit for the annex as the Excel" in refusal(repo, pdf)
    png = tmp_path / "anh.xlsx"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))
    assert "anh.xlsx: not a spreadsheet: hopthu reads annex lists as .xlsx" in refusal(repo, png)
    archive = tmp_path / "nen.xlsx"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("danh-sach.txt", "Lê Văn Tám")
    assert "a zip archive, but not an Excel or Word file" in refusal(repo, archive)


def test_a_password_protected_workbook_is_refused_with_what_to_do(repo, tmp_path):
    plain = xlsx(tmp_path / "plain.xlsx", ROWS)
    locked = tmp_path / "co-mat-khau.xlsx"
    with plain.open("rb") as source, locked.open("wb") as out:
        OOXMLFile(source).encrypt("matkhau123", out)
    assert locked.read_bytes()[:4] == b"\xd0\xcf\x11\xe0"  # what Excel writes: an OLE compound file
    stderr = refusal(repo, locked)
    assert "co-mat-khau.xlsx: the file is protected with a password: open it, remove the password" in stderr


@pytest.mark.parametrize("kind", ["xlsx", "docx"])
def test_macro_enabled_files_are_refused(repo, tmp_path, kind):
    plain = (
        xlsx(tmp_path / "plain.xlsx", ROWS) if kind == "xlsx" else docx_file(tmp_path / "plain.docx", [ROWS])
    )
    part = "xl" if kind == "xlsx" else "word"
    macro = tmp_path / f"macro.{kind}m"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(macro, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "[Content_Types].xml":  # as Excel/Word save .xlsm/.docm
                data = data.replace(b"sheet.main+xml", b"sheet.macroEnabled.main+xml")
                data = data.replace(b"document.main+xml", b"document.macroEnabled.main+xml")
            out.writestr(item, data)
        out.writestr(f"{part}/vbaProject.bin", b"\xd0\xcf\x11\xe0" + bytes(512))
    assert "a macro-enabled file (.xlsm/.docm): hopthu does not open files with macros" in refusal(
        repo, macro
    )


def with_part(plain: Path, target: Path, name: str, write) -> Path:
    """``plain`` with its part ``name`` replaced by what ``write(stream)`` streams (never held in memory)."""
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            if item.filename != name:
                out.writestr(item, source.read(item.filename))
        with out.open(name, "w", force_zip64=True) as stream:
            write(stream)
    return target


def sheet_rows(count: int, start: int = 1):
    def write(stream) -> None:
        stream.write(
            b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        )
        for first in range(start, start + count, 10_000):
            stream.write(
                b"".join(
                    b'<row r="%d"><c r="A%d" t="inlineStr"><is><t>x</t></is></c></row>' % (n, n)
                    for n in range(first, min(first + 10_000, start + count))
                )
            )
        stream.write(b"</sheetData></worksheet>")

    return write


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("huge sheet", "part xl/worksheets/sheet1.xml inflates to 83 MB"),  # over the part's size limit
        ("packed sheet", "refused as an archive bomb"),  # 1,000 times smaller packed than inflated
        ("many rows", "the sheet has more than 100,000 rows"),  # small enough to inflate, too long to read
        ("far row", "the sheet has more than 100,000 rows"),  # one row numbered 1,048,576
        ("huge shared strings", "part xl/sharedStrings.xml inflates to"),
    ],
)
def test_xlsx_bombs_are_refused_in_bounded_memory_and_time(repo, tmp_path, case, message):
    plain = xlsx(tmp_path / "plain.xlsx", ROWS)
    sheet = "xl/worksheets/sheet1.xml"
    if case == "huge sheet":
        bomb = with_part(plain, tmp_path / "bomb.xlsx", sheet, sheet_rows(1_200_000))
    elif case == "packed sheet":
        bomb = with_part(
            plain, tmp_path / "bomb.xlsx", sheet, lambda s: [s.write(b" " * (1 << 20)) for _ in range(20)]
        )
    elif case == "many rows":
        bomb = with_part(plain, tmp_path / "bomb.xlsx", sheet, sheet_rows(150_000))
    elif case == "far row":
        bomb = with_part(plain, tmp_path / "bomb.xlsx", sheet, sheet_rows(1, start=1_048_576))
    else:
        strings = b"<si><t>" + b"Nguy\xe1\xbb\x85n V\xc4\x83n Minh " * 40 + b"</t></si>"
        bomb = with_part(
            plain,
            tmp_path / "bomb.xlsx",
            "xl/sharedStrings.xml",
            lambda s: [s.write(strings * 1000) for _ in range(60)],
        )
    assert bomb.stat().st_size < 10 * 1024 * 1024
    code, stderr, seconds, peak_mb = run(repo, bomb)
    assert code == 1 and message in stderr, stderr
    assert "Traceback" not in stderr
    assert seconds < 15 and peak_mb < 200, (seconds, peak_mb)


def test_a_workbook_whose_sheet_is_damaged_is_refused_clearly(repo, tmp_path):
    plain = xlsx(tmp_path / "plain.xlsx", ROWS)
    namespace = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    start = b'<worksheet xmlns="' + namespace + b'"><dimension ref="A1:D9"/>'
    cut = start + b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>STT</t></is></c></row><row r="2"><c'
    broken = with_part(plain, tmp_path / "hong.xlsx", "xl/worksheets/sheet1.xml", lambda s: s.write(cut))
    stderr = refusal(repo, broken)
    assert "hong.xlsx:Phụ lục: cannot read the sheet (ParseError): open the workbook in Excel" in stderr
