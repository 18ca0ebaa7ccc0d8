"""The untrusted-YAML reader accepts plain YAML only and remembers where everything was written."""

from __future__ import annotations

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
