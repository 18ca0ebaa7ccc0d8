"""`hopthu import` of a 5,000-row annex sheet: the whole command (read, name, validate, write).

Writes an .xlsx as a unit would send it (title rows, a header, 5,000 people with staff codes, birth dates,
phones as numbers, the signature block) into a copy of the repository's inventory and requests, runs
`hopthu import` on it and prints the time and rows per second. The target is under 10 s on 2 cores.

    .venv/bin/python bench/import.py [ROWS]
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openpyxl
from workload import HOPTHU, full_names

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 10.0


def write_annex(path: Path, rows: int) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Phụ lục"
    sheet.append(["UBND THÀNH PHỐ ĐÀ NẴNG", None, None, None, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"])
    sheet.append(["SỞ NỘI VỤ", None, None, None, "Độc lập - Tự do - Hạnh phúc"])
    sheet.append([])
    sheet.append(["DANH SÁCH ĐỀ NGHỊ CẤP MỚI HỘP THƯ ĐIỆN TỬ"])
    sheet.merge_cells("A4:H4")
    sheet.append(["STT", "Mã số CB", "Họ và tên", "Ngày sinh", "Chức vụ", "Phòng ban", "Số điện thoại"])
    sheet["H5"] = "Ghi chú"
    born = dt.datetime(1970, 1, 1)
    for number, name in enumerate(full_names(rows), 1):
        sheet.append(
            [
                number,
                f"SNV-{number:06d}",
                name,
                born + dt.timedelta(days=number),  # two people may share a name: the birth date tells
                "Chuyên viên",
                "Văn phòng",
                900_000_000 + number,  # a phone typed as a number: Excel drops the leading zero
                "email, qlvb" if number % 3 == 0 else "email",
            ]
        )
    sheet.append([])
    sheet.append([None, None, None, None, "GIÁM ĐỐC"])
    workbook.save(path)


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with tempfile.TemporaryDirectory(prefix="hopthu-bench-import-") as work:
        repo = Path(work)
        for part in ("inventory", "requests", "schemas"):
            shutil.copytree(ROOT / part, repo / part)
        annex = repo / "phu-luc.xlsx"
        write_annex(annex, rows)
        command = [HOPTHU, "import", str(annex), "--org", "danang", "--unit", "snv", "--kind", "create"]
        command += ["--document-number", "999/SNV-VP", "--document-date", "2026-11-20", "--signer", "Lê B"]
        command += ["--requester-email", "hangptt@danang.gov.vn"]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=repo, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"hopthu import failed:\n{done.stderr[-3000:]}")
        written = (repo / done.stdout.strip()).read_text(encoding="utf-8")
        accounts = written.count("\n  - full_name: ")
        size = annex.stat().st_size / 1024
        print(f"hopthu import: {rows:,} rows ({size:.0f} KB xlsx) -> {accounts:,} accounts")
        rate = rows / seconds
        print(f"  {seconds:.2f} s for the whole command (read, name, validate, write): {rate:,.0f} rows/s")
        verdict = "within" if seconds < TARGET_SECONDS else "OVER"
        print(f"  {verdict} the {TARGET_SECONDS:.0f} s target")


if __name__ == "__main__":
    main()
