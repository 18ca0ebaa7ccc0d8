"""Text from untrusted files: what a text field may hold, and how it is stored.

Every string that reaches LDAP, a notice or the audit log comes from a request file or the inventory. In
double quotes YAML writes any character (``"\\0"``, ``"\\e"``, ``"\\x85"``, ``"\\t"``); slapd's
DirectoryString syntax refuses an empty value, and the stored value is ``clean_text`` of what was written.
So a text field is refused, at the edge, when it holds a control character (C0, DEL, C1; a line break
only where the field may run over several lines) or nothing visible once cleaned.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container, Iterator
from typing import Any

# C0 controls (tab and line breaks included), DEL, C1 controls, and lone surrogates (not characters at all:
# they cannot be encoded as UTF-8).
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
CONTROL_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_NAMES = {"\x00": "NUL", "\x1b": "ESC", "\x7f": "DEL", "\x85": "NEL"}

FieldPath = tuple[str | int, ...]


def clean_text(value: str) -> str:
    """NFC, format characters (zero-width…) removed, whitespace collapsed: how names are stored."""
    value = unicodedata.normalize("NFC", value)
    if not value.isprintable():  # a format character is never printable: most values skip the scan
        value = "".join(ch for ch in value if unicodedata.category(ch) != "Cf")
    return " ".join(value.split())


def control_character(value: str, *, multiline: bool = False) -> tuple[int, str] | None:
    """(0-based index, character) of the first control character of ``value``, or None."""
    found = (CONTROL_BUT_NEWLINE if multiline else CONTROL).search(value)
    return (found.start(), found.group()) if found else None


def describe(char: str) -> str:
    """``U+001B (ESC)``, ``a tab``, ``a line break``: a character people cannot see, named."""
    if char == "\t":
        return "a tab"
    if char in "\n\r":
        return "a line break"
    code = f"U+{ord(char):04X}"
    if "\ud800" <= char <= "\udfff":
        return f"{code}, which is not a character"
    name = _NAMES.get(char)
    return f"the control character {code}" + (f" ({name})" if name else "")


def text_problem(value: str, *, multiline: bool = False) -> tuple[str, str] | None:
    """(message, rule) saying why ``value`` cannot be stored as text, or None.

    A blank value is not reported here: the schema's ``\\S`` pattern says "must not be blank".
    """
    if value.isprintable():  # no control, format or separator character: the usual case, decided at once
        return None
    found = control_character(value, multiline=multiline)
    if found is not None:
        index, char = found
        if char == "\t":
            advice = "use spaces"
        elif char in "\n\r":
            advice = "write the value on one line"
        else:
            advice = "remove it (in double quotes, YAML escapes such as \\0, \\e or \\N write one)"
        return f"contains {describe(char)} at character {index + 1}: {advice}", "text-control"
    if value.strip() and not clean_text(value):
        return (
            "holds only invisible characters (zero-width spaces and the like): write the text",
            "text-invisible",
        )
    return None


def text_problems(
    data: Any, *, multiline: Container[str] = (), here: FieldPath = ()
) -> Iterator[tuple[FieldPath, str, str]]:
    """(path, message, rule) of every string in ``data`` (plain YAML values) that cannot be stored as text.

    ``multiline`` names the fields (by key) whose value may hold line breaks.
    """
    if isinstance(data, str):
        problem = text_problem(data, multiline=bool(here) and here[-1] in multiline)
        if problem is not None:
            yield (here, *problem)
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from text_problems(value, multiline=multiline, here=(*here, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from text_problems(value, multiline=multiline, here=(*here, index))
