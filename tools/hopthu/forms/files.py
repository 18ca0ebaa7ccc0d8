"""What kind of office file this is, and the refusals that come before any parser touches it.

An .xlsx or .docx file is a zip archive of XML parts. Its central directory says how large each part is
once inflated, and Python's zipfile never returns more than that, so checking the directory first bounds
the memory and time of everything that follows: an archive bomb (a huge sheet or shared-strings table
that packs into a few kilobytes) is refused before openpyxl or python-docx sees it. A password-protected
workbook or document is not a zip at all but an OLE compound file holding an ``EncryptedPackage``
stream, like the old binary .xls and .doc; macro-enabled files (.xlsm, .docm) carry ``vbaProject.bin``.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from hopthu.forms.problems import FormError

MAX_FILE_BYTES = 50 * 1024 * 1024  # what a unit mails as an annex is far smaller
MAX_MEMBERS = 2000
MAX_TOTAL_INFLATED = 256 * 1024 * 1024
MAX_RATIO = 200  # inflated / packed of one large part; real sheets pack 5-30 times
RATIO_FLOOR = 1024 * 1024  # parts smaller than this may pack as well as they like
# The inflated size of the parts the parsers read whole or stream.
PART_LIMITS = {
    "sheet": 64 * 1024 * 1024,  # xl/worksheets/*.xml: streamed row by row, bounded by MAX_ROWS too
    "shared_strings": 32 * 1024 * 1024,  # xl/sharedStrings.xml: openpyxl keeps every string in memory
    "document": 32 * 1024 * 1024,  # word/document.xml: python-docx parses it whole
    "other": 16 * 1024 * 1024,  # styles, themes, relationships…
}

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP = b"PK\x05\x06"
_MACRO_TYPES = (b"macroEnabled", b"vbaProject")
_SAVE_AS = {"xlsx": "Excel Workbook (*.xlsx)", "docx": "Word Document (*.docx)"}


@dataclass(frozen=True)
class OfficeFile:
    path: Path
    shown: str  # the file as messages name it
    kind: str  # "xlsx" | "docx" | "csv"


def identify(path: Path, shown: str) -> OfficeFile:
    """The kind of ``path`` from its content (not its name), or a FormError saying why it is refused."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(8)
    except FileNotFoundError:
        raise FormError(shown, "no such file", "file-missing") from None
    except OSError as error:
        raise FormError(
            shown, f"cannot read the file: {error.strerror or error}", "file-unreadable"
        ) from None
    if size > MAX_FILE_BYTES:
        raise FormError(
            shown,
            f"the file is {size / 1048576:.0f} MB; an annex list is at most {MAX_FILE_BYTES // 1048576} MB: "
            "split it, or remove pictures and unused sheets",
            "file-too-large",
        )
    if head.startswith(_OLE_MAGIC):
        raise FormError(shown, _ole_refusal(path), "file-encrypted-or-legacy")
    if head.startswith((_ZIP_MAGIC, _EMPTY_ZIP)):
        return OfficeFile(path, shown, _zip_kind(path, shown))
    if head.startswith(b"%PDF"):
        raise FormError(
            shown,
            "this is a PDF, not a spreadsheet: ask the unit for the annex as the Excel (.xlsx) or Word "
            "(.docx) file it was made from",
            "file-not-spreadsheet",
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FormError(
            shown,
            'UTF-16 text (Excel\'s "Unicode Text"): save the sheet as CSV UTF-8 (Comma delimited) (*.csv)',
            "file-encoding",
        )
    if _looks_like_text(path):
        return OfficeFile(path, shown, "csv")
    raise FormError(
        shown,
        "not a spreadsheet: hopthu reads annex lists as .xlsx (Excel), .docx (Word) or .csv (CSV UTF-8)",
        "file-not-spreadsheet",
    )


def _ole_refusal(path: Path) -> str:
    data = path.read_bytes()  # at most MAX_FILE_BYTES
    if "EncryptedPackage".encode("utf-16-le") in data:
        return (
            "the file is protected with a password: open it, remove the password (File → Info → Protect → "
            "Encrypt with Password, clear the box), save it and send it again"
        )
    if "WordDocument".encode("utf-16-le") in data:
        return "a Word 97-2003 document (.doc): open it in Word and save it as Word Document (*.docx)"
    return "an Excel 97-2003 workbook (.xls): open it in Excel and save it as Excel Workbook (*.xlsx)"


def _zip_kind(path: Path, shown: str) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            names = {info.filename for info in members}
            if "mimetype" in names and b"opendocument" in archive.read("mimetype")[:100]:
                raise FormError(
                    shown,
                    "an OpenDocument file (LibreOffice .ods/.odt): save it as Excel Workbook (*.xlsx) or "
                    "Word Document (*.docx)",
                    "file-not-spreadsheet",
                )
            if "xl/workbook.xml" in names:
                kind = "xlsx"
            elif "word/document.xml" in names:
                kind = "docx"
            else:
                raise FormError(
                    shown,
                    "a zip archive, but not an Excel or Word file: send the annex as .xlsx, .docx or .csv",
                    "file-not-spreadsheet",
                )
            _check_members(members, kind, shown)
            content_types = archive.read("[Content_Types].xml") if "[Content_Types].xml" in names else b""
    except zipfile.BadZipFile as error:
        raise FormError(
            shown, f"a damaged Excel or Word file ({error}): save it again", "file-damaged"
        ) from None
    if any(name.endswith("vbaProject.bin") for name in names) or any(
        t in content_types for t in _MACRO_TYPES
    ):
        raise FormError(
            shown,
            f"a macro-enabled file (.xlsm/.docm): hopthu does not open files with macros; save it as "
            f"{_SAVE_AS[kind]} (without macros) and send that",
            "file-macro",
        )
    return kind


def part_class(name: str) -> str:
    if name.startswith("xl/worksheets/") and name.endswith(".xml"):
        return "sheet"
    if name == "xl/sharedStrings.xml":
        return "shared_strings"
    if name == "word/document.xml":
        return "document"
    return "other"


def _check_members(members: list[zipfile.ZipInfo], kind: str, shown: str) -> None:
    if len(members) > MAX_MEMBERS:
        raise FormError(
            shown,
            f"the file has {len(members)} parts (at most {MAX_MEMBERS}): not an annex list",
            "file-bomb",
        )
    total = 0
    for info in members:
        total += info.file_size
        limit = PART_LIMITS[part_class(info.filename)]
        packed = max(info.compress_size, 1)
        if info.file_size > limit or (info.file_size > RATIO_FLOOR and info.file_size / packed > MAX_RATIO):
            raise FormError(
                shown,
                f"part {info.filename} inflates to {info.file_size / 1048576:.0f} MB from "
                f"{info.compress_size / 1024:.0f} KB: refused as an archive bomb (a real annex list is far "
                "smaller); if it is genuine, copy the list into a new workbook",
                "file-bomb",
            )
    if total > MAX_TOTAL_INFLATED:
        raise FormError(
            shown,
            f"the file inflates to {total / 1048576:.0f} MB: refused as an archive bomb",
            "file-bomb",
        )


def _looks_like_text(path: Path) -> bool:
    """CSV is text: no NUL byte in its first 64 KB (UTF-16 and binary files have them)."""
    with path.open("rb") as handle:
        sample = handle.read(65536)
    return b"\x00" not in sample
