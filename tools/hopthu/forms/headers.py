"""Column headers matched by meaning.

The agencies' forms name the same column many ways: *Họ tên*, *Họ và tên*, *HỌ VÀ TÊN*, *Ho ten*, *Họ tên
người dùng*, with line breaks inside the cell. A header is compared as its *key*: diacritics removed,
đ → d, lower case, every run of other characters one space. The rules below are tried in order and the
first whose phrase occurs in the key (as whole words) wins, so the specific ones come first: *Số điện
thoại cơ quan* is the unit's phone before *Số điện thoại* is a person's, *Email dự phòng* is the backup
address before *Email* is an address, and the unit-mailbox manager column (*Công chức được phân công quản
lý hộp thư (Họ tên, điện thoại, địa chỉ hộp thư liên lạc)*) is recognised before the name and phone it
mentions. Headers of two rows (a merged group over sub-headers) are matched as the sub-header, in the
group's context: *Họ tên* under the manager's group is the manager's name.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# field → phrases (whole words of the key). Order matters: see the module's docstring.
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("national_id", ("cmnd", "cccd", "can cuoc", "chung minh nhan dan", "so dinh danh", "ho chieu")),
    ("reason", ("ly do",)),
    ("backup_email", ("du phong",)),
    ("manager", ("quan ly hop thu", "phan cong quan ly", "nguoi quan ly", "cong chuc quan ly")),
    ("unit_phone", ("dien thoai co quan", "dien thoai don vi", "dien thoai cua co quan")),
    ("parent_agency", ("cap tren", "chu quan")),
    ("unit_name", ("de nghi cap moi", "ten co quan", "ten don vi")),
    (
        "staff_code",
        (
            "ma so",
            "ma cb",
            "ma can bo",
            "ma nhan vien",
            "ma nv",
            "ma cong chuc",
            "ma vien chuc",
            "so hieu",
            "ma ns",
            "ma nhan su",
        ),
    ),
    ("full_name", ("ho va ten", "ho ten", "ten nguoi dung", "ten can bo", "ten nhan vien")),
    ("services", ("dich vu", "loai tai khoan", "tai khoan de nghi cap", "ung dung", "phan mem")),
    (
        "username",
        (
            "tai khoan",
            "ten hop thu",
            "dia chi hop thu",
            "dia chi email",
            "dia chi thu",
            "email",
            "e mail",
            "hop thu",
            "thu dien tu",
            "username",
            "ten dang nhap",
        ),
    ),
    ("position", ("chuc vu", "chuc danh")),
    (
        "department",
        ("phong ban", "truc thuoc", "khoa phong", "phong khoa", "bo phan", "to chuyen mon", "khoa bo mon"),
    ),
    ("unit", ("don vi", "co quan")),
    ("phone", ("dien thoai", "sdt", "so dt", "di dong")),
    ("birth_date", ("ngay sinh", "ngay thang nam sinh")),
    ("status", ("tinh trang", "trang thai", "con cong tac", "dang cong tac", "nghi viec")),
    ("note", ("ghi chu",)),
)
# Keys that are a field only when they are the whole header (too short or too common to be a phrase).
EXACT: dict[str, str] = {
    "stt": "stt",
    "tt": "stt",
    "so tt": "stt",
    "so thu tu": "stt",
    "phong": "department",
    "khoa": "department",
    "ten": "full_name",
}
# Fields of a unit mailbox's manager, when a two-row header puts them under the manager's group.
MANAGER_FIELDS = {
    "full_name": "manager_name",
    "phone": "manager_phone",
    "username": "manager_email",
    "position": "manager_position",
    "backup_email": "manager_email",
}

# What each field is called in messages (the forms' own words).
LABELS = {
    "stt": "STT",
    "staff_code": "Mã số CB",
    "full_name": "Họ và tên",
    "position": "Chức vụ",
    "department": "Phòng ban",
    "unit": "Đơn vị",
    "unit_name": "Tên cơ quan/đơn vị",
    "parent_agency": "Tên cơ quan cấp trên",
    "manager": "Công chức quản lý hộp thư",
    "manager_name": "Họ tên người quản lý",
    "manager_phone": "Điện thoại người quản lý",
    "manager_email": "Hộp thư liên lạc của người quản lý",
    "manager_position": "Chức vụ người quản lý",
    "unit_phone": "Số điện thoại cơ quan",
    "phone": "Số điện thoại",
    "username": "Tài khoản / Địa chỉ hộp thư",
    "backup_email": "Email dự phòng",
    "services": "Dịch vụ",
    "note": "Ghi chú",
    "national_id": "Số CMND/CCCD",
    "birth_date": "Ngày sinh",
    "status": "Tình trạng",
    "reason": "Lý do",
}

_SEPARATORS = re.compile(r"[^0-9a-z]+")


@lru_cache(maxsize=4096)
def key(text: str) -> str:
    """``'Họ và\\nTÊN'`` → ``'ho va ten'``: the form a header (or a service name) is compared in."""
    decomposed = unicodedata.normalize("NFD", str(text).replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn").lower()
    return _SEPARATORS.sub(" ", stripped).strip()


def contains(haystack: str, phrase: str) -> bool:
    """``phrase`` occurs in ``haystack`` as whole words (both are keys)."""
    return f" {phrase} " in f" {haystack} "


def field_of(text: object) -> str | None:
    """The field a header cell names, or None when it names none hopthu knows."""
    if text is None:
        return None
    header = key(str(text))
    if not header:
        return None
    if header in EXACT:
        return EXACT[header]
    for field, phrases in RULES:
        if any(contains(header, phrase) for phrase in phrases):
            return field
    return None


def sub_field_of(group: str | None, text: object) -> str | None:
    """The field of a sub-header under a group header (two-row headers): the manager's name, phone…"""
    field = field_of(text)
    if group == "manager" and field in MANAGER_FIELDS:
        return MANAGER_FIELDS[field]
    return field
