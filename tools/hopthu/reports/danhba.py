"""The published list of staff mailboxes (danh bạ thư điện tử), as agencies publish it: grouped by unit,
``STT | Tài khoản người dùng | Họ và tên | Chức vụ | Email dự phòng``.

``phonebook`` decides what is listed (pure: person accounts that are not locked, by the inventory's unit
order, then by name); ``write_csv`` and ``write_xlsx`` write it. The list reads back with ``hopthu import``
(its header is one the import recognises), so a unit can mark changes on it and send it back.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hopthu.model import DirectoryAccount, EntryKind, Organisation

HEADER = ("STT", "Tài khoản người dùng", "Họ và tên", "Chức vụ", "Email dự phòng")


@dataclass(frozen=True)
class Entry:
    account: str  # the address, or the username of an account without mail
    full_name: str
    position: str
    backup_email: str


def phonebook(org: Organisation, accounts: Mapping[str, DirectoryAccount]) -> list[tuple[str, list[Entry]]]:
    """(unit name, its entries) in the inventory's unit order; units without a listed person are left out."""
    order = {code: index for index, code in enumerate(org.units)}
    groups: dict[str, list[tuple[str, Entry]]] = {}
    for account in accounts.values():
        if account.kind is not EntryKind.PERSON or account.locked_at is not None:
            continue
        unit = account.first("departmentNumber") or ""
        name = account.first("cn") or account.uid
        entry = Entry(
            account.first("mail") or account.uid,
            name,
            account.first("title") or "",
            account.first("hopthuBackupMail") or "",
        )
        groups.setdefault(unit, []).append((_sort_key(name), entry))
    result = []
    for unit in sorted(groups, key=lambda code: (order.get(code, len(order)), code)):
        title = org.units[unit].name if unit in org.units else unit or "(không rõ đơn vị)"
        result.append((title, [entry for _, entry in sorted(groups[unit], key=lambda pair: pair[0])]))
    return result


def _sort_key(full_name: str) -> tuple[str, str]:
    """Vietnamese lists sort by the given name, then the whole name."""
    words = full_name.casefold().split()
    return (words[-1] if words else "", " ".join(words))


def _rows(groups: Iterable[tuple[str, list[Entry]]]) -> list[list[str]]:
    rows: list[list[str]] = []
    number = 0
    for roman, (unit, entries) in enumerate(groups, 1):
        rows.append([f"{_roman(roman)}. {unit}"])
        for entry in entries:
            number += 1
            rows.append([str(number), entry.account, entry.full_name, entry.position, entry.backup_email])
    return rows


def _roman(number: int) -> str:
    values = ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))
    out = ""
    for value, letters in values:
        while number >= value:
            out, number = out + letters, number - value
    return out


def write_csv(path: Path, org: Organisation, groups: list[tuple[str, list[Entry]]]) -> None:
    """CSV UTF-8 with a BOM, as Excel opens it without asking."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f"DANH BẠ THƯ ĐIỆN TỬ — {org.name.upper()}"])
        writer.writerow(HEADER)
        writer.writerows(_rows(groups))


def write_xlsx(path: Path, org: Organisation, groups: list[tuple[str, list[Entry]]]) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Danh bạ"
    bold = Font(name="Times New Roman", bold=True)
    sheet.append([f"DANH BẠ THƯ ĐIỆN TỬ — {org.name.upper()}"])
    sheet.merge_cells("A1:E1")
    sheet["A1"].font, sheet["A1"].alignment = (
        Font(name="Times New Roman", size=14, bold=True),
        Alignment(horizontal="center"),
    )
    sheet.append(list(HEADER))
    for cell in sheet[2]:
        cell.font = bold
    for row in _rows(groups):
        sheet.append(row)
        if len(row) == 1:  # a unit's heading, across the table
            number = sheet.max_row
            sheet.merge_cells(f"A{number}:E{number}")
            sheet[f"A{number}"].font = bold
    for letter, width in zip("ABCDE", (6, 34, 28, 24, 30), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A3"
    workbook.save(path)
