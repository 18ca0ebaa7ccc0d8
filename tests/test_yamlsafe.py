"""The untrusted-YAML reader accepts plain YAML only and remembers where everything was written."""

from __future__ import annotations

import os
import time

import pytest

from hopthu import yamlsafe
from hopthu.yamlsafe import YamlError, load


@pytest.fixture(autouse=True, params=yamlsafe.LOADERS, ids=lambda loader: loader.__name__)
def loader(request, monkeypatch):
    """Every test runs over libyaml's parser (when PyYAML has it) and over the pure-Python one."""
    monkeypatch.setattr(yamlsafe, "LOADERS", (request.param,))
    return request.param


def problems(text: str, **kwargs) -> list[tuple[int, int, str]]:
    with pytest.raises(YamlError) as caught:
        load(text, **kwargs)
    return [(p.line, p.col, p.rule) for p in caught.value.problems]


def test_plain_yaml_becomes_plain_values_with_dates_left_as_text():
    document = load("id: r-001\ndate: 2025-03-10\ncount: 3\nok: true\nnothing: ~\nlist: [a, 'b']\n")
    assert document.data == {
        "id": "r-001",
        "date": "2025-03-10",  # no datetime: the schema checks the text
        "count": 3,
        "ok": True,
        "nothing": None,
        "list": ["a", "b"],
    }


def test_locate_points_at_keys_of_nested_fields_and_at_list_items():
    text = "accounts:\n  - full_name: A\n    phone: '1'\n  -   full_name: B\n"
    document = load(text)
    assert document.locate(("accounts",)) == (1, 1)
    assert document.locate(("accounts", 0, "phone")) == (3, 5)
    assert document.locate(("accounts", 1)) == (4, 7)
    assert document.locate_value(("accounts", 0, "phone")) == (3, 12)


def test_locate_of_a_missing_field_falls_back_to_its_parent():
    document = load("document:\n  number: 1/X\n")
    assert document.locate(("document", "date")) == (1, 1)
    assert document.locate(("nowhere", 3)) == (1, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: !!python/object/apply:os.system ['true']\n", [(1, 4, "tag")]),
        ("a: !custom x\n", [(1, 4, "tag")]),
        ("a: !!str 123\n", [(1, 4, "tag")]),
        ("a: !!map {b: 1}\n", [(1, 4, "tag")]),
        ("a: &x 1\nb: *x\n", [(1, 4, "anchor"), (2, 4, "alias")]),
        ("a: 1\nb: 2\na: 3\n", [(3, 1, "duplicate-key")]),
        ("a:\n  b: 1\n  b: 2\n", [(3, 3, "duplicate-key")]),
        ("1: x\n", [(1, 1, "key-type")]),
        ("on: x\n", [(1, 1, "key-type")]),
        ("~: x\n", [(1, 1, "key-type")]),
        ("? [a, b]\n: x\n", [(1, 3, "key-type")]),
        ("<<: {a: 1}\n", [(1, 1, "merge-key")]),
    ],
)
def test_non_plain_yaml_is_refused_at_its_position(text, expected):
    assert problems(text) == expected


def test_every_problem_of_a_file_is_reported_at_once():
    text = "a: !tag 1\nb: &anchor 2\nc: *anchor\na: 4\n"
    assert [rule for _, _, rule in problems(text)] == ["tag", "anchor", "alias", "duplicate-key"]


def test_an_alias_bomb_is_refused_without_being_expanded():
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    started = time.perf_counter()
    found = problems("\n".join(lines) + "\n")
    assert time.perf_counter() - started < 1.0  # 9**10 strings if it were expanded
    assert {rule for _, _, rule in found} == {"anchor", "alias"}


@pytest.mark.parametrize(
    ("text", "line", "col", "words"),
    [
        ("a: [1, 2\nb: 3\n", 2, 2, "YAML syntax"),
        ("a: 'open\n", 2, 1, "YAML syntax"),
        ("a: 1\n---\nb: 2\n", 2, 1, "one YAML document per file"),
        ("a: 1\nb: x\x00y\n", 2, 5, "unreadable"),
    ],
)
def test_syntax_errors_are_located(text, line, col, words):
    with pytest.raises(YamlError) as caught:
        load(text)
    (problem,) = caught.value.problems
    assert (problem.line, problem.col) == (line, col)
    assert words in problem.message
    assert problem.rule == "syntax"


def test_an_empty_file_is_empty_not_an_error():
    assert load("# only a comment\n").data is None


def test_allowed_tags_keep_the_value_as_text():
    text = "secret: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\nplain: 1\n"
    document = load(text, allowed_tags=frozenset({"!vault"}))
    assert document.data["secret"].startswith("$ANSIBLE_VAULT")
    assert problems(text) == [(1, 9, "tag")]


# --- hostile sizes: refused, located, never a RecursionError or a ValueError ------------------------------


def deep(levels: int, opener: str = "[", closer: str = "]", inner: str = "1") -> str:
    return opener * levels + inner + closer * levels


@pytest.mark.parametrize(
    "text",
    [
        "reason: " + deep(600, "{a: ", "}") + "\n",  # mappings: 2 frames a level before the limit existed
        "reason: " + deep(990) + "\n",  # lists: 1 frame a level, below libyaml's own limit of 1,000
        "reason: " + deep(1100) + "\n",  # past libyaml's limit: the same problem, not a syntax error
        "reason:\n" + "".join(f"{'  ' * level}a:\n" for level in range(1, 600)) + "  " * 600 + "a: 1\n",
        "a: 1\na: " + deep(600, "{a: ", "}") + "\n",  # read past (a duplicate key's value)
        "? " + deep(600) + "\n: x\n",  # read past (a collection as a key)
    ],
    ids=["flow-mappings", "flow-lists", "flow-lists-past-libyaml", "block-mappings", "read-past", "as-key"],
)
def test_deep_nesting_is_one_located_problem(text):
    with pytest.raises(YamlError) as caught:
        load(text)
    found = [(p.line, p.rule) for p in caught.value.problems]
    assert ("too-deep" in [rule for _, rule in found]) and all(line >= 1 for line, _ in found), found
    deep_one = next(p for p in caught.value.problems if p.rule == "too-deep")
    assert "nested more than 20 levels deep" in deep_one.message


def test_nesting_up_to_the_limit_is_read():
    value = load("a: " + deep(19) + "\n").data["a"]  # 20 levels with the top mapping
    for _ in range(18):
        (value,) = value
    assert value == [1]
    assert problems("a: " + deep(20) + "\n") == [(1, 23, "too-deep")]  # the 21st level
    assert problems("a: " + deep(2) + "\n", max_depth=2) == [(1, 5, "too-deep")]


def test_reading_stops_past_the_node_limit():
    assert load("[" + ", ".join(["1"] * 99) + "]", max_nodes=100).data == [1] * 99
    with pytest.raises(YamlError) as caught:
        load("a: [" + ", ".join(["1"] * 200) + "]", max_nodes=100)
    (problem,) = caught.value.problems
    assert problem.rule == "too-many-values" and problem.line == 1
    assert "more than 100 values and keys in one file" in problem.message


@pytest.mark.parametrize(
    "number",
    ["1" * 5000, "0x" + "f" * 5000, "1" + ":30" * 5000, "1." + "5" * 100, "-" + "9" * 65],
    ids=["decimal", "hex", "base-60", "float", "negative"],
)
def test_a_number_too_long_is_refused_before_it_is_converted(number):
    started = time.perf_counter()
    with pytest.raises(YamlError) as caught:
        load(f"id: x\nstaff_code: {number}\n")
    assert time.perf_counter() - started < 1.0  # base 60 would cost quadratic time
    (problem,) = caught.value.problems
    assert (problem.line, problem.col, problem.rule) == (2, 13, "number-too-long")
    assert problem.message.startswith("staff_code: a number") and "put it in quotes" in problem.message


def test_numbers_of_ordinary_length_and_long_quoted_codes_are_read():
    assert load(f"a: {'9' * 64}\nb: '{'1' * 5000}'\n").data == {"a": int("9" * 64), "b": "1" * 5000}


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ('"na\\eme": 1\n', "key-control"),
        ('? "a\\0"\n: 1\n', "key-control"),
        ("k" * 257 + ": 1\n", "key-too-long"),
    ],
)
def test_keys_with_control_characters_or_of_huge_length_are_refused(text, rule):
    assert [found_rule for _, _, found_rule in problems(text)] == [rule]


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\U00110000"])
def test_escapes_that_are_not_characters_are_syntax_errors_on_both_parsers(escape):
    with pytest.raises(YamlError) as caught:
        load(f'a: "x{escape}"\n')
    (problem,) = caught.value.problems
    assert problem.rule == "syntax" and problem.line == 1
    assert "invalid Unicode character escape" in problem.message


def test_control_characters_in_values_are_read_as_written():
    # What a field may hold is the schema's and hopthu.text's to say; the reader keeps them.
    assert load('a: "\\0\\e\\N\\x85\\t"\n').data == {"a": "\x00\x1b\x85\x85\t"}


def test_read_text_refuses_a_file_too_large_before_reading_it(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: 1\r\n" + b"#" * 100)
    assert yamlsafe.read_text(path, max_bytes=106) == "a: 1\n" + "#" * 100  # read as Path.read_text reads
    with pytest.raises(yamlsafe.FileRefused) as caught:
        yamlsafe.read_text(path, max_bytes=100)
    assert caught.value.rule == "file-too-large" and "split it" in caught.value.message


def test_read_text_refuses_what_is_not_a_regular_file_without_waiting(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    for path in (fifo, tmp_path):
        with pytest.raises(yamlsafe.FileRefused) as caught:
            yamlsafe.read_text(path)
        assert caught.value.rule == "file-not-regular"
