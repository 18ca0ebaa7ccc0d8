"""Vietnamese text → plain ASCII words, and a person's full name → its parts.

Real input is messy: NFC or NFD, old or new tone-mark placement (*hoà*/*hòa*), ALL CAPS exports from HR
software, non-breaking or repeated spaces, zero-width characters, typographic apostrophes and dashes in
ethnic-minority names (*K'Rẻm*, *Ksor H'Bia*). Every spelling of one name gives the same words:

- format characters (Unicode category Cf: zero-width space/joiners, BOM, soft hyphen…) are dropped;
- any white space, apostrophe variant (``' ’ ‘ ʼ ʻ ` ´ ′``…) and dash/hyphen variant separates words,
  so *K'Rẻm* is the two words ``k`` ``rem``;
- ``đ Đ Ð ð Ɖ ɖ`` become ``d`` (legacy Vietnamese encodings turn Đ into the look-alike Ð);
- every other letter is decomposed (NFKD), its marks dropped and the rest lower-cased; a letter that does
  not reduce to ASCII (CJK, ``ø``, ``ß``…) is an error, and so is a digit or any other character.

The first word is the surname and the last the given name. Compound surnames (*Công Tằng Tôn Nữ*) and
Ê Đê names that put the family name last (*Y Ngông Niê Kdăm*) cannot be told apart from the words alone:
such usernames are edited by hand in the request, and review sees it.

The work is one ``str.translate`` over a table filled lazily, character by character, so a batch of
100,000 names costs a few microseconds per name.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["NameParts", "NamingError", "ascii_words", "parse_name", "unit_words"]


class NamingError(ValueError):
    """A name, rule or pattern the naming engine cannot handle; the message says what and why."""


_SPACE = " "
_D_LIKE = frozenset("đĐÐðƉɖ")
_APOSTROPHES = frozenset("'’‘‛ʼʻʽʹˈ`´′‵＇")
_HYPHENS = frozenset("-‐‑‒–—―−⁃﹘﹣－")
# Characters the agency (unit name) tokenizer also treats as word separators: "Sở Văn hóa, Thể thao và
# Du lịch", "Trung tâm CNTT&TT", "Phòng Tài chính - Kế hoạch (TCKH)".
_UNIT_SEPARATORS = frozenset(',.;:/&+()[]"“”«»')
_UNIT_SEPARATOR_TABLE = {ord(c): " " for c in _UNIT_SEPARATORS}
_UNIT_WORD_SPLIT = re.compile(
    "[\\s" + "".join(re.escape(c) for c in sorted(_APOSTROPHES | _HYPHENS | _UNIT_SEPARATORS)) + "]+"
)

_ALLOWED = "a name may contain only letters, spaces, apostrophes and hyphens"
_ALLOWED_IN_UNIT_NAME = (
    "a unit name may contain only letters, digits, spaces, apostrophes, hyphens, quotes "
    "and , . ; : / & + ( ) [ ]"
)
_WORDS_ONLY = re.compile(r"[a-z ]*")
_WORDS_AND_DIGITS = re.compile(r"[a-z0-9 ]*")
_TOKEN = re.compile(r"[a-z]+")


def _translation(char: str) -> str:
    """What one character becomes: ASCII lower-case letters, a space, nothing, or itself (= not handled)."""
    if char in _D_LIKE:
        return "d"
    category = unicodedata.category(char)
    if category == "Cf":
        return ""
    if char.isspace() or category in ("Zs", "Zl", "Zp") or char in _APOSTROPHES or char in _HYPHENS:
        return _SPACE
    if category in ("Mn", "Mc", "Me"):  # a combining mark of NFD input
        return ""
    out = []
    for part in unicodedata.normalize("NFKD", char):
        if unicodedata.category(part) in ("Mn", "Mc", "Me"):
            continue
        part = "d" if part in _D_LIKE else part.lower()
        if not (part.isascii() and (part.isalpha() or part.isdigit())):
            return char
        out.append(part)
    return "".join(out) or char


class _Table(dict[int, str]):
    """``str.translate`` table computing each code point's translation on first use."""

    def __missing__(self, code: int) -> str:
        value = _translation(chr(code))
        self[code] = value
        return value


_TABLE = _Table()


def _describe(char: str) -> str:
    name = unicodedata.name(char, None)
    shown = repr(char) if char.isprintable() else f"U+{ord(char):04X}"
    return f"{shown} ({name})" if name else shown


def _problem(text: str, unit_name: bool) -> str:
    """Explain why ``text`` does not translate to words (only called on the error path)."""
    allowed = _ALLOWED_IN_UNIT_NAME if unit_name else _ALLOWED
    for char in text:
        if unit_name and char in _UNIT_SEPARATORS:
            continue
        if (_WORDS_AND_DIGITS if unit_name else _WORDS_ONLY).fullmatch(char.translate(_TABLE)):
            continue
        category = unicodedata.category(char)
        if category == "Nd" or char.translate(_TABLE).isdigit():
            return f"it contains the digit {_describe(char)}; {allowed}"
        if category.startswith("L"):
            return f"it contains the letter {_describe(char)}, which has no ASCII form"
        return f"it contains the character {_describe(char)}; {allowed}"
    return "it contains no letters"


def ascii_words(text: str, *, unit_name: bool = False) -> list[str]:
    """``text`` as lower-case ASCII words; raise NamingError saying which character is the problem.

    With ``unit_name`` digits are words too ("Phường 1") and common punctuation separates words.
    """
    if not isinstance(text, str):
        raise NamingError(f"expected a name as text, got {type(text).__name__}")
    out = text.translate(_TABLE)
    if unit_name:
        out = out.translate(_UNIT_SEPARATOR_TABLE)
        valid = _WORDS_AND_DIGITS.fullmatch(out)
    else:
        valid = _WORDS_ONLY.fullmatch(out)
    words = out.split()
    if valid is None or not words:
        what = "unit name" if unit_name else "name"
        if not text.strip():
            raise NamingError(f"the {what} is empty")
        raise NamingError(f"cannot handle the {what} {text!r}: {_problem(text, unit_name)}")
    return words


@dataclass(frozen=True, slots=True)
class NameParts:
    """A person's name as lower-case ASCII words: ``surname [middles…] given``.

    A one-word name has ``surname=None`` and no middles.
    """

    surname: str | None
    middles: tuple[str, ...]
    given: str

    def __post_init__(self) -> None:
        # NameParts built by hand (not by parse_name) must hold the same kind of words.
        for word in (self.surname or "a", *self.middles, self.given):
            if not isinstance(word, str) or not _TOKEN.fullmatch(word):
                raise NamingError(f"a name part must be lower-case ASCII letters, got {word!r}")
        if self.surname is None and self.middles:
            raise NamingError("a name with middle names needs a surname")

    @property
    def words(self) -> tuple[str, ...]:
        return (*((self.surname,) if self.surname else ()), *self.middles, self.given)

    def __str__(self) -> str:
        return " ".join(self.words)


def parse_name(full_name: str) -> NameParts:
    """Split a full name (``surname [middle…] given``) into ASCII parts.

    >>> parse_name("NGUYỄN  VĂN\u00a0MINH")
    NameParts(surname='nguyen', middles=('van',), given='minh')
    >>> parse_name("K'Rẻm")
    NameParts(surname='k', middles=(), given='rem')
    """
    words = ascii_words(full_name)
    if len(words) == 1:
        return NameParts(None, (), words[0])
    return NameParts(words[0], tuple(words[1:-1]), words[-1])


def unit_words(unit_name: str) -> list[tuple[str, str]]:
    """The words of a unit name as pairs (the word as written, NFC and case-folded; its ASCII form).

    The written form tells "và" from "va" and "quận" from "quản"; agency names need both.
    """
    ascii_words(unit_name, unit_name=True)  # validates the whole name: the error names the bad character
    visible = "".join(c for c in unicodedata.normalize("NFC", unit_name) if unicodedata.category(c) != "Cf")
    pairs = []
    for word in _UNIT_WORD_SPLIT.split(visible):
        ascii = word.translate(_TABLE)
        if ascii:
            pairs.append((word.casefold(), ascii))
    return pairs
