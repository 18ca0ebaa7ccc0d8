"""The compiled schema check (jsonschema-rs) never accepts what the Python walk refuses.

``schema_problems`` skips the Python walk when the compiled validator accepts a document, so it must never
be more lenient: checked on the shipped examples, on every request the validation tests use, and on
documents broken field by field in every way YAML can break them. It may be stricter (``$`` does not match
before a final newline in ECMA-262 as it does in Python): the Python walk then has the last word.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import test_validate
from hopthu.findings import SchemaValidator, fast_validator, schema_validator
from hopthu.inventory import SCHEMA_DIR
from hopthu.yamlsafe import YamlError, load

ROOT = Path(__file__).resolve().parents[1]
REQUEST_SCHEMA = SCHEMA_DIR / "request.schema.json"
INVENTORY_SCHEMA = SCHEMA_DIR / "inventory.schema.json"
# Values YAML can produce, each wrong somewhere: blank, Python-only whitespace, numbers, huge and odd;
# too long for every maxLength, in characters of 3 UTF-8 bytes (lengths count characters, not bytes).
ODD_VALUES = ["", " ", "\x1c", "\x85", "a\n", 0, 1.5, float("nan"), 10**30, True, None, {}, "Ễ" * 4096]


def python_accepts(validator, data: Any) -> bool:
    return next(iter(validator.iter_errors(data)), None) is None


def documents(pattern: str) -> list[Any]:
    return [load(path.read_text(encoding="utf-8")).data for path in sorted(ROOT.glob(pattern))]


def paths_in(data: Any, here: tuple = ()) -> Iterator[tuple]:
    yield here
    if isinstance(data, dict):
        for key, value in data.items():
            yield from paths_in(value, (*here, key))
    elif isinstance(data, list):
        for index, value in enumerate(data[:1]):  # the first item stands for the rest
            yield from paths_in(value, (*here, index))


def broken(data: Any) -> Iterator[Any]:
    """``data`` broken in one place at a time: a field removed, replaced by an odd value, or joined by an
    unknown sibling."""
    for path in paths_in(data):
        if not path:
            continue
        parent = path[:-1]
        for value in [*ODD_VALUES, "__removed__", "__sibling__"]:
            copied = copy.deepcopy(data)
            holder = copied
            for part in parent:
                holder = holder[part]
            if value == "__removed__":
                del holder[path[-1]]
            elif value == "__sibling__":
                if not isinstance(holder, dict):
                    continue
                holder["unknown_field"] = "x"
            else:
                holder[path[-1]] = value
            yield copied


def validate_cases() -> list[str]:
    """Every request text of test_validate's located-problem cases."""
    (mark,) = test_validate.test_each_problem_is_found_at_its_place.pytestmark
    texts = [test_validate.REQUEST, test_validate.LOCK]
    texts += [test_validate.REQUEST.replace(old, new, 1) for old, new, _ in mark.args[1]]
    return texts


def test_the_shipped_schemas_have_a_fast_path_that_accepts_the_shipped_examples():
    requests = documents("requests/**/*.yaml")
    inventories = documents("inventory/group_vars/*/*.yml")
    assert len(requests) >= 10 and inventories
    for data in requests:
        assert schema_validator(REQUEST_SCHEMA).accepts(data)
    for data in inventories:
        assert schema_validator(INVENTORY_SCHEMA).accepts(data)


@pytest.mark.parametrize(
    ("schema", "pattern"),
    [(REQUEST_SCHEMA, "requests/**/*.yaml"), (INVENTORY_SCHEMA, "inventory/group_vars/*/*.yml")],
)
def test_the_fast_path_accepts_no_document_broken_field_by_field_that_python_refuses(schema, pattern):
    validator = schema_validator(schema)
    checked = refused = fast = 0
    for original in documents(pattern):
        for data in broken(original):
            python = python_accepts(validator, data)
            if validator.accepts(data):
                assert python, data
                fast += 1
            checked += 1
            refused += not python
    assert refused > checked // 2  # most breakages are refused: the corpus does exercise the schema
    assert fast > (checked - refused) // 2  # and most valid ones take the fast path


def test_the_fast_path_agrees_on_the_requests_of_the_validation_tests():
    validator = schema_validator(REQUEST_SCHEMA)
    agreed = 0
    for text in validate_cases():
        try:
            data = load(text).data
        except YamlError:
            continue  # refused before the schema is asked
        assert validator.accepts(data) == python_accepts(validator, data), text
        agreed += 1
    assert agreed >= 25


def test_the_compiled_text_pattern_is_never_more_lenient_than_pythons():
    """``\\S`` is ECMA-262's in the compiled validator, whose whitespace is not quite Python's
    (str.isspace): no character Python calls whitespace may pass as a text on its own."""
    text_schema = schema_validator(REQUEST_SCHEMA).schema["properties"]["reason"]
    assert text_schema["pattern"] == "\\S"
    compiled = fast_validator(text_schema)
    assert compiled is not None
    for code in range(0x10000):
        if 0xD800 <= code < 0xE000:
            continue
        if compiled.is_valid(chr(code)):
            assert re.search(r"\S", chr(code)), f"U+{code:04X} passes the compiled check only"


@pytest.mark.parametrize("pattern", [r"^\d+$", r"\w", r"^\s*$", r"\bword", r"(?P<x>\p{L})"])
def test_a_pattern_construct_not_vouched_for_leaves_the_schema_on_the_python_path(pattern):
    assert fast_validator({"type": "string", "pattern": pattern}) is None


def test_plain_patterns_and_escaped_punctuation_take_the_fast_path():
    compiled = fast_validator({"type": "string", "pattern": r"^\+?[0-9][0-9 .()-]{5,22}[0-9]$"})
    assert compiled is not None
    assert compiled.is_valid("+84 252 3822 123") and not compiled.is_valid("084 252 3822 123\n")


def test_a_broken_schema_is_still_refused_when_read():
    import jsonschema

    with pytest.raises(jsonschema.SchemaError):
        SchemaValidator({"type": "object", "properties": {"id": {"type": 5}}})


def test_valid_files_are_checked_without_importing_the_python_validator():
    code = """
import sys
from pathlib import Path
from hopthu.inventory import load_inventory
from hopthu.requests import load_requests
root = Path(sys.argv[1])
_, findings = load_requests([root / "requests"], load_inventory(root / "inventory"), repo_root=root)
assert not findings, findings
assert "jsonschema" not in sys.modules, "jsonschema was imported"
"""
    subprocess.run([sys.executable, "-c", code, str(ROOT)], check=True, capture_output=True, text=True)
