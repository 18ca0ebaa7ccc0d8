"""Usernames from Vietnamese names: normalisation, rules, generation, rule_admits."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest

from hopthu.naming import (
    DEFAULT_RULE,
    NameParts,
    NamingError,
    PatternError,
    Rule,
    address_problem,
    compile_rule,
    generate,
    generate_batch,
    is_address,
    iter_generate,
    parse_name,
    rule_admits,
)

GIA_LAI = compile_rule(DEFAULT_RULE)
COUNTER = compile_rule(["{given}{s}{m}", "{given}{s}{m}{n:2}"])


# --- the examples of the specification -------------------------------------------------------------


def test_common_rule_given_name_then_initials() -> None:
    assert generate("Nguyễn Văn Minh", GIA_LAI, set()) == "minhnv"
    assert generate("Võ Thị Thu An", GIA_LAI, set()) == "anvtt"


def test_gia_lai_second_candidate_is_adjacent_middle_name_given_and_the_other_initials() -> None:
    assert generate("Trương Hoàng Tiến Minh", GIA_LAI, {"minhtht"}) == "tienminhth"
    assert generate("Trần Huỳnh Tấn Minh", GIA_LAI, {"minhtht"}) == "tanminhth"


def test_gia_lai_third_candidate_adds_the_birth_date() -> None:
    born = dt.date(1973, 2, 11)
    assert generate("Trần Huỳnh Tấn Minh", GIA_LAI, {"minhtht", "tanminhth"}, born=born) == "minhtht11021973"


def test_default_rule_is_the_gia_lai_rule() -> None:
    assert DEFAULT_RULE == (
        "{given}{s}{m}",
        "{adjacent}{given}{rest} unless same-full-name or same-adjacent",
        "{given}{s}{m}{born:%d%m%Y}",
    )


# --- the Gia Lai rule, exactly as written: who holds the base name decides --------------------------

BORN_1963 = dt.date(1963, 8, 15)


def test_same_full_name_as_the_holder_gives_the_birth_date_form() -> None:
    holders = {"minhtht": "Trương Hoàng Tiến Minh"}
    got = generate("Trương Hoàng Tiến Minh", GIA_LAI, {"minhtht"}, born=BORN_1963, holders=holders)
    assert got == "minhtht15081963"


def test_same_adjacent_middle_name_as_the_holder_gives_the_birth_date_form() -> None:
    # tanminhth is free, but the regulation keeps the adjacent form for different adjacent names only.
    holders = {"minhtht": "Trần Huỳnh Tấn Minh"}
    got = generate("Trương Hoàng Tấn Minh", GIA_LAI, {"minhtht"}, born=BORN_1963, holders=holders)
    assert got == "minhtht15081963"


def test_different_full_name_and_adjacent_middle_name_give_the_adjacent_form() -> None:
    holders = {"minhtht": "Trần Huỳnh Tấn Minh"}
    assert generate("Trương Hoàng Tiến Minh", GIA_LAI, {"minhtht"}, holders=holders) == "tienminhth"
    assert generate("Trương Hoàng Tiến Minh", GIA_LAI, {"minhtht"}, born=BORN_1963, holders=holders) == (
        "tienminhth"
    )


def test_same_full_name_twice_in_a_batch_needs_a_birth_date() -> None:
    why = r"person 2: .*minhtht is held by 'Trương Hoàng Tiến Minh', who has the same full name"
    with pytest.raises(NamingError, match=why + ".*a birth date is needed"):
        generate_batch(["Trương Hoàng Tiến Minh", "Trương Hoàng Tiến Minh"], GIA_LAI, set())
    people = [("Trương Hoàng Tiến Minh", dt.date(1970, 1, 2)), ("TRƯƠNG HOÀNG TIẾN MINH", BORN_1963)]
    assert generate_batch(people, GIA_LAI, set()) == ["minhtht", "minhtht15081963"]


def test_holders_are_compared_as_addresses_see_names() -> None:
    # Tân and Tấn give the same letters: the adjacent form would not tell the two people apart.
    nfd_caps = unicodedata.normalize("NFD", "TRẦN HUỲNH TÂN MINH")
    got = generate(
        "Trương Hoàng Tấn Minh", GIA_LAI, {"minhtht"}, born=BORN_1963, holders={"minhtht": nfd_caps}
    )
    assert got == "minhtht15081963"
    holder = NameParts("truong", ("hoang", "tien"), "minh")
    assert generate(
        "Trương Hoàng Tiến Minh", GIA_LAI, {"minhtht"}, born=BORN_1963, holders={"minhtht": holder}
    ) == ("minhtht15081963")


@pytest.mark.parametrize(
    "holders",
    [None, {}, {"minhtht": None}, {"minhtht": "Quản trị 2"}, {"tienminhth": "Trương Hoàng Tiến Minh"}],
    ids=["no-holders", "not-listed", "none", "unreadable", "other-address"],
)
def test_an_unknown_holder_never_meets_a_condition(holders) -> None:
    # A reserved name, a unit mailbox, a bare --taken: nothing proves the names are the same.
    assert generate("Trương Hoàng Tiến Minh", GIA_LAI, {"minhtht"}, holders=holders) == "tienminhth"


def test_a_condition_looks_at_the_holders_of_every_earlier_candidate() -> None:
    rule = compile_rule(
        ["{given}{s}{m}", "{s}{m}{given}", "{adjacent}{given}{rest} unless same-full-name", "{given}{n:2}"]
    )
    holders = {"minhtht": "Nguyễn Văn Minh", "thtminh": "Trương Hoàng Tiến Minh"}
    taken = {"minhtht", "thtminh"}
    assert generate("Trương Hoàng Tiến Minh", rule, taken, holders=holders) == "minh2"
    assert generate("Trương Hoàng Tiến Minh", rule, taken, holders={"minhtht": "Nguyễn Văn Minh"}) == (
        "tienminhth"
    )


def test_without_the_condition_an_organisation_keeps_the_adjacent_form() -> None:
    plain = compile_rule(["{given}{s}{m}", "{adjacent}{given}{rest}", "{given}{s}{m}{born:%d%m%Y}"])
    holders = {"minhtht": "Trương Hoàng Tiến Minh"}
    assert generate("Trương Hoàng Tiến Minh", plain, {"minhtht"}, holders=holders) == "tienminhth"
    only_full_name = compile_rule(
        ["{given}{s}{m}", "{adjacent}{given}{rest} unless same-full-name", "{given}{s}{m}{born:%d%m%Y}"]
    )
    holders = {"minhtht": "Trần Huỳnh Tấn Minh"}
    assert generate("Trương Hoàng Tấn Minh", only_full_name, {"minhtht"}, holders=holders) == "tanminhth"


def test_unpadded_day_and_month_as_the_regulation_writes_them() -> None:
    rule = compile_rule(["{given}{s}{m}", "{given}{s}{m}{born:%-d%-m%Y}"])
    assert generate("Trương Hoàng Tiến Minh", rule, {"minhtht"}, born=BORN_1963) == "minhtht1581963"
    assert (
        generate("Trương Hoàng Tiến Minh", rule, {"minhtht"}, born=dt.date(1973, 11, 20)) == "minhtht20111973"
    )
    assert rule_admits("minhtht1581963", "Trương Hoàng Tiến Minh", rule, born=BORN_1963)
    assert not rule_admits("minhtht15081963", "Trương Hoàng Tiến Minh", rule, born=BORN_1963)
    every = compile_rule(["{given}{born:%-d.%-m.%-y.%-j}"])
    assert generate("Nguyễn Văn Minh", every, set(), born=dt.date(2005, 2, 3)) == "minh3.2.5.34"


# --- hard names ------------------------------------------------------------------------------------

HARD_NAMES = [
    # (as written, words after normalisation, default-rule username)
    ("Nguyễn Văn Minh", "nguyen van minh", "minhnv"),
    ("NGUYỄN VĂN MINH", "nguyen van minh", "minhnv"),
    (unicodedata.normalize("NFD", "Nguyễn Văn Minh"), "nguyen van minh", "minhnv"),
    ("  Nguyễn \u00a0 Văn\u2003\tMinh  ", "nguyen van minh", "minhnv"),
    ("Nguy\u200bễn\u200d Văn\ufeff Minh\u00ad", "nguyen van minh", "minhnv"),
    ("\ufeffNguyễn Văn Minh", "nguyen van minh", "minhnv"),
    ("Ｎｇｕｙễｎ Văn Minh", "nguyen van minh", "minhnv"),  # full-width letters from some input methods
    ("Nguyễn Thị Hoà", "nguyen thi hoa", "hoant"),  # old tone-mark placement
    ("Nguyễn Thị Hòa", "nguyen thi hoa", "hoant"),  # new placement
    ("Lê Thị Thu Hương", "le thi thu huong", "huongltt"),
    ("Trần Thị Ngọc Ánh", "tran thi ngoc anh", "anhttn"),
    ("Đặng Thị Đào", "dang thi dao", "daodt"),
    ("ĐẶNG THỊ ĐÀO", "dang thi dao", "daodt"),
    ("Ðặng Thị Ðào", "dang thi dao", "daodt"),  # U+00D0 (Icelandic eth) from legacy encodings
    ("K'Rẻm", "k rem", "remk"),
    ("K’Rẻm", "k rem", "remk"),
    ("Kʼ Rẻm", "k rem", "remk"),
    ("Ksor H'Bia", "ksor h bia", "biakh"),
    ("KSOR H’BIA", "ksor h bia", "biakh"),
    ("Rơ Châm H'Yuin", "ro cham h yuin", "yuinrch"),
    ("Nguyễn-Trần Minh Anh", "nguyen tran minh anh", "anhntm"),
    ("Nguyễn – Văn Minh", "nguyen van minh", "minhnv"),  # en dash between words
    ("Nguyễn Minh", "nguyen minh", "minhn"),  # two words: {m} of no middle name is empty
    ("Công Tằng Tôn Nữ Thị Minh", "cong tang ton nu thi minh", "minhcttnt"),  # six words
    ("Phạm Ngọc Thụy", "pham ngoc thuy", "thuypn"),
    ("Phạm Ngọc Thuỵ", "pham ngoc thuy", "thuypn"),
]


@pytest.mark.parametrize(("written", "words", "username"), HARD_NAMES)
def test_hard_names(written: str, words: str, username: str) -> None:
    assert str(parse_name(written)) == words
    assert generate(written, GIA_LAI, set()) == username


def test_parts_of_a_name() -> None:
    assert parse_name("Võ Thị Thu An") == NameParts("vo", ("thi", "thu"), "an")
    assert parse_name("Minh") == NameParts(None, (), "minh")


def test_one_word_name_cannot_use_the_default_rule_and_says_why() -> None:
    with pytest.raises(
        NamingError, match=r"cannot make an address from 'Minh'.*one-word name has no surname"
    ):
        generate("Minh", GIA_LAI, set())


def test_one_word_name_with_a_rule_that_needs_no_surname() -> None:
    rule = compile_rule(["{given}{s}{m}", "{given}{n:2}"])
    assert generate("Minh", rule, set()) == "minh2"
    assert generate("Nguyễn Văn Minh", rule, set()) == "minhnv"


BAD_NAMES = [
    ("", "empty"),
    ("   \u00a0", "empty"),
    ("\u200b\u200b", "no letters"),
    ("Nguyễn Văn 2", "digit '2'"),
    ("Nguyễn Văn Minh ２", "digit"),
    ("王小明", "letter '王'.*no ASCII form"),
    ("Søren Nguyễn", "letter 'ø'.*no ASCII form"),
    ("Nguyễn Văn Minh (cũ)", r"character '\('"),
    ("Nguyễn V. Minh", "character '.'"),
    ("Nguyễn\x00 Minh", "U\\+0000"),
    ("Nguyễn 😀 Minh", "character"),
]


@pytest.mark.parametrize(("written", "message"), BAD_NAMES)
def test_a_name_that_cannot_be_handled_is_an_error_saying_what_is_wrong(written: str, message: str) -> None:
    with pytest.raises(NamingError, match=message):
        parse_name(written)
    with pytest.raises(NamingError, match=message):
        generate(written, GIA_LAI, set())


def test_name_parts_built_by_hand_are_checked() -> None:
    with pytest.raises(NamingError, match="lower-case ASCII"):
        NameParts("Nguyễn", (), "minh")
    with pytest.raises(NamingError, match="needs a surname"):
        NameParts(None, ("van",), "minh")
    assert generate(NameParts("nguyen", ("van",), "minh"), GIA_LAI, set()) == "minhnv"


# --- candidates, skipping, counters ----------------------------------------------------------------


def test_all_candidates_taken_names_them_and_the_skipped_ones() -> None:
    with pytest.raises(NamingError) as caught:
        generate("Nguyễn Văn Minh", GIA_LAI, {"minhnv", "vanminhn"})
    message = str(caught.value)
    assert "every candidate address for 'Nguyễn Văn Minh' is taken: minhnv, vanminhn" in message
    assert "no birth date was given" in message
    assert message.endswith(
        "a birth date is needed: give it (birth_date in the request, --born on the command line)"
    )


def test_two_word_name_skips_the_adjacent_candidate() -> None:
    born = dt.date(1990, 1, 5)
    assert generate("Nguyễn Minh", GIA_LAI, {"minhn"}, born=born) == "minhn05011990"
    with pytest.raises(NamingError, match="no middle name"):
        generate("Nguyễn Minh", GIA_LAI, {"minhn"})


def test_counter_starts_at_its_start_and_takes_the_first_free_value() -> None:
    assert generate("Nguyễn Văn Minh", COUNTER, {"minhnv"}) == "minhnv2"
    assert generate("Nguyễn Văn Minh", COUNTER, {"minhnv", "minhnv2", "minhnv3", "minhnv5"}) == "minhnv4"
    assert generate("Nguyễn Văn Minh", compile_rule(["{given}{s}{m}{n}"]), set()) == "minhnv1"
    assert (
        generate("Nguyễn Văn Minh", compile_rule(["{given}.{n:10}.{s}{m}"]), {"minh.10.nv"}) == "minh.11.nv"
    )


def test_batch_treats_earlier_outputs_as_taken() -> None:
    names = ["Nguyễn Văn Minh"] * 4 + ["Nguyễn Minh", "Nguyễn Văn Minh"]
    assert generate_batch(names, COUNTER, {"minhnv3"}) == [
        "minhnv",
        "minhnv2",
        "minhnv4",
        "minhnv5",
        "minhn",
        "minhnv6",
    ]


def test_batch_with_birth_dates() -> None:
    people = [
        ("Trần Huỳnh Tấn Minh", None),
        ("Trương Hoàng Tiến Minh", None),
        ("Trần Huỳnh Tấn Minh", dt.date(1973, 2, 11)),
    ]
    assert generate_batch(people, GIA_LAI, set()) == ["minhtht", "tienminhth", "minhtht11021973"]
    plain = compile_rule(["{given}{s}{m}", "{adjacent}{given}{rest}", "{given}{s}{m}{born:%d%m%Y}"])
    same = [("Trần Huỳnh Tấn Minh", None), ("Trần Huỳnh Tấn Minh", None), people[2]]
    assert generate_batch(same, plain, set()) == ["minhtht", "tanminhth", "minhtht11021973"]


def test_batch_reports_the_failing_person_and_iter_generate_goes_on() -> None:
    with pytest.raises(NamingError, match="person 2: cannot handle the name 'Nguyễn 2'"):
        generate_batch(["Nguyễn Văn Minh", "Nguyễn 2", "Lê Văn Tám"], GIA_LAI, set())
    results = list(iter_generate(["Nguyễn Văn Minh", "Nguyễn 2", "Nguyễn Vũ Minh"], GIA_LAI, set()))
    assert results[0] == "minhnv"
    assert isinstance(results[1], NamingError)
    assert results[2] == "vuminhn"


def test_tax_office_style_with_unit() -> None:
    rule = compile_rule(["{s}{m}{given}.{unit}"])
    assert generate("Nguyễn Văn Minh", rule, set(), unit="CTGL") == "nvminh.ctgl"
    with pytest.raises(NamingError, match="no unit code was given"):
        generate("Nguyễn Văn Minh", rule, set())


def test_all_placeholders() -> None:
    rule = compile_rule(["{surname}_{middle}_{given}_{s}_{m}_{adjacent}_{rest}_{born:%Y%m%d}_{born:%y%j}"])
    got = generate("Trương Hoàng Tiến Minh", rule, set(), born=dt.date(1973, 2, 11))
    assert got == "truong_hoangtien_minh_t_ht_tien_th_19730211_73042"


def test_invalid_candidates_are_skipped_not_truncated() -> None:
    long_rule = compile_rule(["{surname}{middle}{given}{surname}{middle}{given}", "{given}{s}{m}"])
    name = "Nguyễn Thị Hoàng Phương Thanh Xuân Nguyệt"  # 2 × 38 letters > 64
    assert generate(name, long_rule, set()) == "nguyetnthptx"
    # {m} of a two-word name is empty: "minh." and "minh..n" are not addresses.
    dotted = compile_rule(["{given}.{m}", "{given}.{m}.{s}", "{given}.{s}"])
    assert generate("Nguyễn Minh", dotted, set()) == "minh.n"
    assert generate("Nguyễn Văn Minh", dotted, set()) == "minh.v"
    with pytest.raises(NamingError, match=r"'minh\.' is not a valid address"):
        generate("Nguyễn Minh", compile_rule(["{given}.{m}"]), set())


def test_candidate_of_exactly_64_characters_is_allowed_65_is_not() -> None:
    rule = compile_rule(["{given}{n}"])
    given_60 = NameParts("a", (), "b" * 60)
    assert generate(given_60, rule, {"b" * 60 + "1"}) == "b" * 60 + "2"
    given_63 = NameParts("a", (), "b" * 63)
    assert generate(given_63, rule, set()) == "b" * 63 + "1"
    with pytest.raises(NamingError, match="is taken"):
        generate(given_63, rule, {f"{'b' * 63}{n}" for n in range(1, 10)})


# --- addresses -------------------------------------------------------------------------------------


@pytest.mark.parametrize("good", ["minhnv", "a", "nvminh.ctgl", "minh_nv-2", "9x", "a" * 64])
def test_valid_addresses(good: str) -> None:
    assert is_address(good)
    assert address_problem(good) is None


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("", "empty"),
        ("a" * 65, "65 characters"),
        ("Minh", "'M'"),
        ("minh nv", "' '"),
        ("minh@nv", "'@'"),
        (".minh", "starts or ends"),
        ("minh-", "starts or ends"),
        ("_minh", "starts or ends"),
        ("minh..nv", "'..'"),
        ("minhñ", "'ñ'"),
    ],
)
def test_invalid_addresses(bad: str, problem: str) -> None:
    assert not is_address(bad)
    assert problem in (address_problem(bad) or "")


# --- rule_admits -----------------------------------------------------------------------------------


def test_rule_admits_every_candidate_of_the_rule() -> None:
    born = dt.date(1973, 2, 11)
    for username in ("minhtht", "tanminhth", "minhtht11021973"):
        assert rule_admits(username, "Trần Huỳnh Tấn Minh", GIA_LAI, born=born)
    assert rule_admits("tanminhth", unicodedata.normalize("NFD", "TRẦN HUỲNH TẤN MINH"), GIA_LAI)


@pytest.mark.parametrize("username", ["minhhtt", "MinhTHT", "minhtht11021974", "tanminh", "minhtht.", ""])
def test_rule_admits_rejects_what_the_rule_cannot_give(username: str) -> None:
    assert not rule_admits(username, "Trần Huỳnh Tấn Minh", GIA_LAI, born=dt.date(1973, 2, 11))


def test_rule_admits_a_candidate_whatever_its_condition() -> None:
    # Validation knows no holders: both forms may be right, the diff of `hopthu assign` shows which.
    for username in ("tienminhth", "minhtht15081963"):
        assert rule_admits(username, "Trương Hoàng Tiến Minh", GIA_LAI, born=BORN_1963)


def test_rule_admits_needs_the_birth_date_for_a_born_candidate() -> None:
    assert not rule_admits("minhtht11021973", "Trần Huỳnh Tấn Minh", GIA_LAI)


def test_rule_admits_any_counter_value_from_the_start() -> None:
    assert rule_admits("minhnv", "Nguyễn Văn Minh", COUNTER)
    assert rule_admits("minhnv2", "Nguyễn Văn Minh", COUNTER)
    assert rule_admits("minhnv137", "Nguyễn Văn Minh", COUNTER)
    assert not rule_admits("minhnv1", "Nguyễn Văn Minh", COUNTER)  # below the start
    assert not rule_admits("minhnv02", "Nguyễn Văn Minh", COUNTER)  # not how a counter is written
    assert not rule_admits("minhnvx", "Nguyễn Văn Minh", COUNTER)
    assert not rule_admits("minhnt2", "Nguyễn Văn Minh", COUNTER)


def test_rule_admits_with_unit() -> None:
    rule = compile_rule(["{s}{m}{given}.{unit}"])
    assert rule_admits("nvminh.ctgl", "Nguyễn Văn Minh", rule, unit="ctgl")
    assert not rule_admits("nvminh.ctgl", "Nguyễn Văn Minh", rule, unit="stc")
    assert not rule_admits("nvminh.ctgl", "Nguyễn Văn Minh", rule)


# --- rules -----------------------------------------------------------------------------------------

BAD_PATTERNS = [
    (["{given}{x}"], r"unknown placeholder \{x\}"),
    (["{Given}{s}"], r"unknown placeholder \{Given\}"),
    (["{initials}"], r"unknown placeholder \{initials\} in a person rule"),
    (["{given"], "unbalanced brace"),
    (["given}"], "unbalanced brace"),
    (["{given}@{s}"], "can never be part of an address"),
    (["Minh{s}"], "can never be part of an address"),
    (["{born}{given}"], "needs a date format"),
    (["{given}{born:%B}"], "%B .* not allowed"),
    (["{given}{born:%d/%m}"], "can never be part of an address"),
    (["{given}{n:x}"], "whole number"),
    (["{given}{n:-1}"], "whole number"),
    (["{given}{n}{n}"], "only one counter"),
    (["{given:x}"], "takes no ':' argument"),
    (["{n}"], "uses no part of the name"),
    (["{unit}{n}"], "uses no part of the name"),
    ([".{given}"], "can never give a valid address"),
    (["{given}..{s}"], "can never give a valid address"),
    ([""], "non-empty"),
    ([], "at least one pattern"),
    ("{given}{s}{m}", "list of patterns"),
    (["{given}{s}{m}", "{adjacent}{given} unless same-nam"], "unknown condition 'same-nam' after 'unless'"),
    (["{given}{s}{m}", "{adjacent}{given} unless"], "write the condition as 'unless same-full-name'"),
    (["{given}{s}{m}", "{adjacent}{given} unless same-full-name and same-adjacent"], "write the condition"),
    (["{given}{s}{m}", "{adjacent}{given} unless same-adjacent or"], "write the condition"),
    (["{given}{s}{m}", "{adjacent}{given} if same-full-name"], "only 'unless CONDITION' may follow"),
    (["{given} {s}"], "only 'unless CONDITION' may follow"),
    (["{adjacent}{given}{rest} unless same-full-name"], "the first candidate has none"),
    (["{given}{born:%-}"], "%- in .* is not allowed"),
    (["{given}{born:%-B}"], "%-B in .* is not allowed"),
]


@pytest.mark.parametrize(("patterns", "message"), BAD_PATTERNS)
def test_bad_patterns_are_configuration_errors(patterns: list[str], message: str) -> None:
    with pytest.raises(NamingError, match=message):
        compile_rule(patterns)


def test_a_bad_pattern_says_which_one_it_is() -> None:
    with pytest.raises(PatternError, match="unknown condition") as caught:
        compile_rule(["{given}{s}{m}", "{given}{n:2}", "{adjacent}{given} unless same"])
    assert caught.value.index == 2


def test_conditions_are_for_person_rules() -> None:
    with pytest.raises(NamingError, match="a unit-mailbox rule cannot use it"):
        compile_rule(["{initials}", "{slug} unless same-full-name"], agency=True)


def test_compiled_rules_are_reused() -> None:
    assert compile_rule(list(DEFAULT_RULE)) is compile_rule(DEFAULT_RULE)
    assert compile_rule(GIA_LAI) is GIA_LAI


def test_generate_accepts_plain_patterns_and_rules_built_directly() -> None:
    assert generate("Nguyễn Văn Minh", DEFAULT_RULE, set()) == "minhnv"
    assert generate("Nguyễn Văn Minh", Rule(("{s}{m}{given}",)), set()) == "nvminh"
    with pytest.raises(NamingError, match="unknown placeholder"):
        Rule(("{x}",))


def test_a_unit_mailbox_rule_is_not_a_person_rule() -> None:
    agency_rule = compile_rule(["{initials}"], agency=True)
    with pytest.raises(NamingError, match="unit-mailbox rule was given where a person rule is needed"):
        generate("Nguyễn Văn Minh", agency_rule, set())
