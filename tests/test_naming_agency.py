"""Unit-mailbox (hộp thư cơ quan/đơn vị) addresses from unit names."""

from __future__ import annotations

import unicodedata

import pytest

from hopthu.naming import NamingError, agency_name, agency_values, compile_rule, iter_agency_names


@pytest.mark.parametrize(
    ("unit_name", "address"),
    [
        ("Sở Giao thông Vận tải", "sgtvt"),
        ("Sở Nội vụ", "snv"),
        ("Ban Dân tộc", "bdt"),
        ("Sở Thông tin và Truyền thông", "stttt"),  # "và" is skipped
        ("SỞ THÔNG TIN VÀ TRUYỀN THÔNG", "stttt"),
        (unicodedata.normalize("NFD", "Sở Thông tin và Truyền thông"), "stttt"),
        ("Sở Văn hóa, Thể thao và Du lịch", "svhttdl"),
        ("Sở Tài chính & Kế hoạch", "stckh"),
        ("Phòng Tài chính - Kế hoạch", "ptckh"),
        ("Đài Phát thanh\u00a0và Truyền hình", "dptth"),
        ("Ủy ban nhân dân Phường 1", "ubndp1"),  # a number counts whole
        ("Trường THCS số 12A", "tts12a"),
    ],
)
def test_initials_skip_va(unit_name: str, address: str) -> None:
    assert agency_name(unit_name, None, set()) == address


def test_prefix_and_place_slug() -> None:
    assert agency_name("Đăk Đoa", ["vhtt{slug}"], set()) == "vhttdakdoa"
    full = "Phòng Văn hóa và Thông tin huyện Đăk Đoa"
    assert agency_name(full, ["vhtt{place}"], set()) == "vhttdakdoa"
    assert agency_name("UBND thành phố Pleiku", ["ubnd{place}"], set()) == "ubndpleiku"
    assert agency_name("Công an thị trấn Kon Dơng", ["ca{place}"], set()) == "cakondong"


def test_place_words_need_their_diacritics() -> None:
    # "quản" (manage) is not "quận" (district), "va" is not "và".
    assert agency_values("Ban Quản lý dự án")["place"] is None
    assert agency_values("Phòng Quản lý quận Hải Châu")["place"] == "haichau"
    assert agency_values("Đội Va Chạm")["initials"] == "dvc"


def test_missing_place_is_skipped_and_explained() -> None:
    rule = compile_rule(["vhtt{place}", "{initials}"], agency=True)
    assert agency_name("Sở Nội vụ", rule, set()) == "snv"
    with pytest.raises(NamingError, match="names no place"):
        agency_name("Sở Nội vụ", ["vhtt{place}"], set())


def test_taken_unit_address_uses_the_counter() -> None:
    rule = ["{initials}", "{initials}{n:2}"]
    assert agency_name("Sở Nội vụ", rule, {"snv"}) == "snv2"
    assert list(iter_agency_names(["Sở Nội vụ", "Sở Nông nghiệp và Vận tải", "Sở Nội vụ"], rule, set())) == [
        "snv",
        "snnvt",
        "snv2",
    ]
    with pytest.raises(NamingError, match="every candidate address for 'Sở Nội vụ' is taken: snv"):
        agency_name("Sở Nội vụ", None, {"snv"})


@pytest.mark.parametrize(
    ("unit_name", "message"),
    [("", "empty"), ("Sở Nội vụ @ Gia Lai", "'@'"), ("Sở 内务", "no ASCII form")],
)
def test_bad_unit_names(unit_name: str, message: str) -> None:
    with pytest.raises(NamingError, match=message):
        agency_name(unit_name, None, set())


@pytest.mark.parametrize(
    ("patterns", "message"),
    [(["{given}"], r"unknown placeholder \{given\} in a unit-mailbox rule"), (["vhtt"], "uses no part")],
)
def test_bad_agency_patterns(patterns: list[str], message: str) -> None:
    with pytest.raises(NamingError, match=message):
        agency_name("Sở Nội vụ", patterns, set())


def test_a_person_rule_is_not_a_unit_mailbox_rule() -> None:
    with pytest.raises(NamingError, match="person rule was given"):
        agency_name("Sở Nội vụ", compile_rule(["{given}{s}{m}"]), set())
