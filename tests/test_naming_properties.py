"""Properties of the username engine, over generated Vietnamese names (hypothesis)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from hopthu.naming import (
    DEFAULT_RULE,
    NamingError,
    compile_rule,
    generate,
    generate_batch,
    is_address,
    parse_name,
    rule_admits,
)

ADDRESS = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?")

VOWELS = "aàáảãạăằắẳẵặâầấẩẫậeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵ"
CONSONANTS = "bcdđghklmnpqrstvx"
REAL_WORDS = [
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương",
    "Văn", "Thị", "Hữu", "Đức", "Ngọc", "Thanh", "Quốc", "Xuân", "Thuỳ", "Thụy", "Hoà", "Hòa", "Khoẻ",
    "Minh", "An", "Tiến", "Tấn", "Hương", "Nguyệt", "Khuyến", "Ánh", "Ksor", "Rơ", "Châm", "Niê", "Y",
]  # fmt: skip
RULES = [
    DEFAULT_RULE,
    ("{given}{s}{m}", "{given}{s}{m}{n:2}"),
    ("{s}{m}{given}.{unit}", "{s}{m}{given}.{unit}{n}"),
    ("{surname}.{given}", "{given}_{middle}", "{adjacent}-{given}{rest}{born:%y}"),
]

word = st.one_of(
    st.sampled_from(REAL_WORDS),
    st.text(st.sampled_from(CONSONANTS + VOWELS + VOWELS.upper()), min_size=1, max_size=7),
)
full_name = st.lists(word, min_size=1, max_size=7)
birth = st.none() | st.dates(min_value=dt.date(1940, 1, 1), max_value=dt.date(2010, 12, 31))
taken_names = st.sets(st.from_regex(r"[a-z]{2,10}[0-9]{0,2}", fullmatch=True), max_size=30)

SEPARATORS = [" ", "  ", "\u00a0", "\t", " \u200b", "\u2003", " \ufeff "]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
TONE_ON_FIRST = re.compile("([oOuU])([\u0300\u0301\u0303\u0309\u0323])([aAeEyY])(?![\u0300-\u036f])")


def old_tone_placement(text: str) -> str:
    """hòa → hoà: move the tone mark from the first to the second vowel of oa/oe/uy."""
    return unicodedata.normalize("NFC", TONE_ON_FIRST.sub(r"\1\3\2", unicodedata.normalize("NFD", text)))


@st.composite
def spelling(draw: st.DrawFn, words: list[str]) -> str:
    """The same name, written the way some real source would write it."""
    text = draw(st.sampled_from(SEPARATORS)).join(words)
    text = draw(st.sampled_from([str.lower, str.upper, str.title, lambda s: s]))(text)
    text = draw(st.sampled_from([old_tone_placement, lambda s: s]))(text)
    text = unicodedata.normalize(draw(st.sampled_from(["NFC", "NFD"])), text)
    for _ in range(draw(st.integers(0, 3))):
        position = draw(st.integers(0, len(text)))
        text = text[:position] + draw(st.sampled_from(INVISIBLE)) + text[position:]
    return draw(st.sampled_from(["", " ", "\u00a0"])) + text + draw(st.sampled_from(["", " \n"]))


def generate_or_error(name: str, rule: tuple[str, ...], taken: set[str], born: dt.date | None) -> str:
    try:
        return generate(name, compile_rule(rule), taken, born=born, unit="ctgl")
    except NamingError as error:
        return f"error: {error}"


@settings(max_examples=150)
@given(full_name, st.sampled_from(RULES), taken_names, birth)
def test_every_output_is_a_valid_free_address(
    words: list[str], rule: tuple[str, ...], taken: set[str], born: dt.date | None
) -> None:
    try:
        username = generate(" ".join(words), compile_rule(rule), taken, born=born, unit="ctgl")
    except NamingError:
        return  # a clear error is allowed (e.g. a one-word name and the default rule); a bad address is not
    assert len(username) <= 64
    assert ADDRESS.fullmatch(username)
    assert ".." not in username
    assert username not in taken
    assert rule_admits(username, " ".join(words), rule, born=born, unit="ctgl")


@settings(max_examples=150)
@given(full_name, st.sampled_from(RULES), taken_names, birth, st.data())
def test_every_spelling_of_a_name_gives_the_same_result(
    words: list[str], rule: tuple[str, ...], taken: set[str], born: dt.date | None, data: st.DataObject
) -> None:
    plain = generate_or_error(" ".join(words), rule, taken, born)
    variant = data.draw(spelling(words))
    assert parse_name(variant) == parse_name(" ".join(words))
    assert generate_or_error(variant, rule, taken, born).replace(repr(variant), "NAME") == plain.replace(
        repr(" ".join(words)), "NAME"
    )


@given(full_name, st.sampled_from(RULES), taken_names, birth)
def test_generation_is_deterministic(
    words: list[str], rule: tuple[str, ...], taken: set[str], born: dt.date | None
) -> None:
    name = " ".join(words)
    assert generate_or_error(name, rule, taken, born) == generate_or_error(name, rule, set(taken), born)


@given(
    st.lists(
        st.sampled_from(["Nguyễn Văn Minh", "Nguyễn Vũ Minh", "Ngô Văn Minh", "Nguyễn Minh"]), max_size=25
    )
)
def test_batch_equals_one_by_one_with_earlier_outputs_taken(names: list[str]) -> None:
    rule = compile_rule(["{given}{s}{m}", "{adjacent}{given}{rest}", "{given}{s}{m}{n:2}"])
    taken = {"minhnv3", "minhn"}
    expected: list[str] = []
    for name in names:
        expected.append(generate(name, rule, taken | set(expected)))
    assert generate_batch(names, rule, taken) == expected
    assert len(set(expected)) == len(expected)


@given(st.text(max_size=12))
def test_any_text_gives_an_address_or_a_naming_error(text: str) -> None:
    try:
        username = generate(text, DEFAULT_RULE, set())
    except NamingError as error:
        assert str(error)
    else:
        assert is_address(username)


@settings(max_examples=200)
@given(full_name, full_name, birth)
def test_the_adjacent_form_only_when_the_base_holder_differs_in_both_names(
    words: list[str], holder_words: list[str], born: dt.date | None
) -> None:
    name, holder = " ".join(words), " ".join(holder_words)
    try:
        base = generate(name, ["{given}{s}{m}"], set())
        username = generate(name, DEFAULT_RULE, {base}, born=born, holders={base: holder})
    except NamingError:
        return  # e.g. a one-word name, or no birth date when one is needed
    assert username != base and rule_admits(username, name, DEFAULT_RULE, born=born)
    new, held = parse_name(name), parse_name(holder)
    try:
        adjacent_form = generate(name, ["{adjacent}{given}{rest}"], set())
    except NamingError:
        adjacent_form = None  # no middle name
    if username == adjacent_form:
        assert new != held
        assert len(held.middles) == 0 or held.middles[-1] != new.middles[-1]
    else:
        assert born is not None and username.startswith(base) and username[len(base) :].isdigit()


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_birth_dates_are_written_the_same_on_every_platform(born: dt.date) -> None:
    # The digits follow from the date alone (hopthu formats them itself, never through strftime).
    rule = compile_rule(["{given}.{born:%d%m%Y}.{born:%-d%-m%Y}.{born:%y%-y}.{born:%j%-j}"])
    day_of_year = born.timetuple().tm_yday
    expected = (
        f"minh.{born.day:02d}{born.month:02d}{born.year}.{born.day}{born.month}{born.year}"
        f".{born.year % 100:02d}{born.year % 100}.{day_of_year:03d}{day_of_year}"
    )
    assert generate("Nguyễn Văn Minh", rule, set(), born=born) == expected
