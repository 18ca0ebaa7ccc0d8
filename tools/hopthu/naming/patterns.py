"""Naming rules: an ordered list of candidate patterns, compiled once.

A pattern is literal text (only characters an address may hold: ``a-z 0-9 . _ -``) and placeholders.

Person rules (``compile_rule(patterns)``), for *surname [middle…] given*:

============== =====================================================================================
``{given}``    the given name in full                                  *Nguyễn Văn Minh* → ``minh``
``{surname}``  the surname in full                                     → ``nguyen``
``{middle}``   all middle names run together                           → ``van``
``{s}``        the initial of the surname                              → ``n``
``{m}``        the initials of the middle names                        → ``v``
``{adjacent}`` the middle name next to the given name, in full         → ``van``
``{rest}``     initials of the surname and of the other middle names   → ``n``
``{born:FMT}`` the birth date; FMT may use the strftime directives %d %m %y %Y %j (they give digits)
``{unit}``     the unit code, lower-cased
``{n}``        a counter: the first value, from 1 (``{n:START}``: from START), that gives a free address
============== =====================================================================================

Unit-mailbox rules (``compile_rule(patterns, agency=True)``), for a unit's name such as *Sở Giao thông
Vận tải*: ``{initials}`` (first letter of each word, skipping "và"; a number counts whole: ``sgtvt``),
``{slug}`` (every word run together: ``sogiaothongvantai``), ``{place}`` (the words after the last
huyện/quận/thị xã/thành phố/tỉnh/xã/phường/thị trấn: *… huyện Đăk Đoa* → ``dakdoa``) and ``{n}``.

What "the name lacks a part" means — a candidate that needs a missing part is skipped, never filled in:

- a *word* is missing when the name has no such word: ``{surname}`` and ``{s}`` of a one-word name;
  ``{middle}`` and ``{adjacent}`` of a name without middle names; ``{born:…}`` without a birth date;
  ``{unit}`` without a unit code; ``{place}`` of a unit name that names no place.
- *initials of nothing* are empty, not missing: ``{m}`` of *Nguyễn Minh* is ``""``, so the common rule
  ``{given}{s}{m}`` gives ``minhn``. The one exception is ``{rest}``: it is defined as "all but
  ``{adjacent}``", so it is missing exactly when ``{adjacent}`` is.
- consequently the default rule cannot name a one-word person (it needs ``{s}``); an organisation that has
  such staff adds a pattern without a surname, e.g. ``{given}{n:2}``.

A candidate that is not a valid address (see ``address_problem``) is skipped too, never truncated.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from hopthu.naming.normalise import NamingError

__all__ = [
    "AGENCY_DEFAULT_RULE",
    "DEFAULT_RULE",
    "MAX_ADDRESS_LENGTH",
    "Rule",
    "address_problem",
    "compile_rule",
    "is_address",
]

# The common rule (Gia Lai, Bình Thuận and many others) followed by Gia Lai's two fall-backs.
DEFAULT_RULE: tuple[str, ...] = ("{given}{s}{m}", "{adjacent}{given}{rest}", "{given}{s}{m}{born:%d%m%Y}")
AGENCY_DEFAULT_RULE: tuple[str, ...] = ("{initials}",)

MAX_ADDRESS_LENGTH = 64

PERSON_FIELDS = frozenset({"given", "surname", "middle", "s", "m", "adjacent", "rest", "unit"})
AGENCY_FIELDS = frozenset({"initials", "slug", "place"})
# Fields derived from the name itself: a pattern without one would give everybody the same address.
_NAME_FIELDS = {False: PERSON_FIELDS - {"unit"}, True: AGENCY_FIELDS}
_BORN_DIRECTIVES = frozenset("dmyYj")

_ADDRESS = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?")
_LITERAL = re.compile(r"[a-z0-9._-]*")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# Marks a placeholder among the literal segments while compiling; literals can never hold it.
_PLACEHOLDER_MARK = "\x00"


def is_address(text: str) -> bool:
    """True when ``text`` is a valid address (local part): see ``address_problem``."""
    return len(text) <= MAX_ADDRESS_LENGTH and _ADDRESS.fullmatch(text) is not None and ".." not in text


def address_problem(text: str) -> str | None:
    """Why ``text`` is not a valid address, or None when it is.

    An address is 1–64 characters of ``a-z 0-9 . _ -``, starts and ends with a letter or digit and has no
    ``..``.
    """
    if not text:
        return "it is empty"
    if len(text) > MAX_ADDRESS_LENGTH:
        return f"it is {len(text)} characters long (at most {MAX_ADDRESS_LENGTH})"
    bad = sorted(set(re.sub(r"[a-z0-9._-]", "", text)))
    if bad:
        return f"it contains {''.join(bad)!r} (only a-z, 0-9, '.', '_' and '-' are allowed)"
    if not _ADDRESS.fullmatch(text):
        return "it starts or ends with '.', '_' or '-'"
    if ".." in text:
        return "it contains '..'"
    return None


# While compiling, a segment is a literal string or a placeholder key ("given", "born:%d%m%Y"…).
# Compiled, each half of a pattern is a str.format template with one "{}" per placeholder, and the keys.
Template = tuple[str, tuple[str, ...]]
Values = dict[str, "str | None"]


@dataclass(frozen=True, slots=True)
class Pattern:
    """One compiled candidate pattern: ``head`` [counter ``tail``]."""

    source: str
    head: Template
    tail: Template | None  # None: no counter
    start: int  # the counter's first value

    def fields(self) -> list[str]:
        """The placeholder keys the pattern uses, in order ("born:FMT" for a birth date)."""
        return [*self.head[1], *(self.tail[1] if self.tail else ())]


def render(template: Template, values: Values) -> str | None:
    """The text of one half of a pattern for one name, or None when the name lacks a part it needs."""
    text, keys = template
    parts = [values[key] for key in keys]
    if None in parts:
        return None
    return text.format(*parts)


@dataclass(frozen=True)
class Rule:
    """A compiled naming rule: immutable and hashable. ``compile_rule`` builds (and caches) it;
    ``Rule(patterns)`` works too and compiles on construction."""

    patterns: tuple[str, ...]
    agency: bool = False
    compiled: tuple[Pattern, ...] = field(default=(), repr=False, compare=False)
    # ("born:FMT", str.format template over d, m, y, Y, j) for each birth-date format the rule uses
    born_formats: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.compiled:
            done = compile_rule(self.patterns, agency=self.agency)
            object.__setattr__(self, "patterns", done.patterns)
            object.__setattr__(self, "compiled", done.compiled)
            object.__setattr__(self, "born_formats", done.born_formats)

    def add_born(self, values: Values, born: dt.date | None) -> Values:
        """Put the rule's birth-date placeholders into ``values`` (None without a birth date)."""
        for key, template in self.born_formats:
            values[key] = None if born is None else _format_born(born, template)
        return values


@lru_cache(maxsize=1 << 16)  # a batch has far fewer distinct birth dates than people
def _format_born(born: dt.date, template: str) -> str:
    yday = born.toordinal() - dt.date(born.year, 1, 1).toordinal() + 1
    return template.format(d=born.day, m=born.month, y=born.year % 100, Y=born.year, j=yday)


def compile_rule(patterns: Sequence[str] | Rule, *, agency: bool = False) -> Rule:
    """Compile candidate patterns into a Rule; raise NamingError naming the first bad pattern.

    Compiled rules are cached, so calling this again with the same patterns costs a dictionary look-up.
    """
    if isinstance(patterns, Rule):
        if patterns.agency != agency:
            kind = "a unit-mailbox" if patterns.agency else "a person"
            raise NamingError(
                f"{kind} rule was given where a {'unit-mailbox' if agency else 'person'} rule is needed"
            )
        return patterns
    if isinstance(patterns, str) or not isinstance(patterns, Sequence):
        raise NamingError(f"a naming rule is a list of patterns, got {patterns!r}")
    return _compile(tuple(patterns), agency)


@lru_cache(maxsize=256)
def _compile(patterns: tuple[str, ...], agency: bool) -> Rule:
    if not patterns:
        raise NamingError("a naming rule needs at least one pattern")
    compiled = tuple(_compile_pattern(p, agency) for p in patterns)
    born_keys = dict.fromkeys(key for p in compiled for key in p.fields() if key.startswith("born:"))
    born_formats = tuple((key, _born_template(key.removeprefix("born:"))) for key in born_keys)
    return Rule(patterns, agency, compiled, born_formats)


def _compile_pattern(source: str, agency: bool) -> Pattern:
    if not isinstance(source, str) or not source:
        raise NamingError(f"a pattern must be non-empty text, got {source!r}")
    where = f"pattern {source!r}"
    known = AGENCY_FIELDS if agency else PERSON_FIELDS | {"born"}
    head: list[str] = []
    tail: list[str] | None = None
    start = 1
    position = 0
    for match in [*_PLACEHOLDER.finditer(source), None]:
        literal = source[position : match.start() if match else len(source)]
        if "{" in literal or "}" in literal:
            raise NamingError(f"{where}: unbalanced brace in {literal!r}")
        if not _LITERAL.fullmatch(literal):
            raise NamingError(
                f"{where}: literal text {literal!r} can never be part of an address "
                "(only a-z, 0-9, '.', '_' and '-' are allowed)"
            )
        if literal:
            (head if tail is None else tail).append(literal)
        if match is None:
            break
        position = match.end()
        name, colon, arg = match.group(1).partition(":")
        if name == "n":
            if tail is not None:
                raise NamingError(f"{where}: only one counter {{n}} is allowed")
            if colon:
                if not arg.isdigit() or not arg.isascii():
                    raise NamingError(f"{where}: the counter start in {{n:{arg}}} must be a whole number")
                start = int(arg)
            tail = []
            continue
        if name not in known:
            kinds = "unit-mailbox" if agency else "person"
            shown = {"born": "born:FMT"}
            choices = ", ".join(f"{{{shown.get(k, k)}}}" for k in sorted(known)) + ", {n}, {n:START}"
            raise NamingError(
                f"{where}: unknown placeholder {{{match.group(1)}}} in a {kinds} rule; use {choices}"
            )
        if name == "born":
            if not colon or not arg:
                raise NamingError(f"{where}: {{born}} needs a date format, e.g. {{born:%d%m%Y}}")
            _check_born_format(where, arg)
            name = f"born:{arg}"
        elif colon:
            raise NamingError(f"{where}: {{{name}}} takes no ':' argument")
        (head if tail is None else tail).append(_PLACEHOLDER_MARK + name)
    _check_can_be_address(where, head, tail)
    compiled = Pattern(source, _template(head), None if tail is None else _template(tail), start)
    if not set(compiled.fields()) & _NAME_FIELDS[agency]:
        needed = ", ".join(f"{{{k}}}" for k in sorted(_NAME_FIELDS[agency]))
        raise NamingError(
            f"{where} uses no part of the name ({needed}), so it would give everyone the same address"
        )
    return compiled


def _check_born_format(where: str, fmt: str) -> None:
    """Only directives that give digits, so that every birth date gives an address."""
    for match in re.finditer(r"%(.?)|([^%]+)", fmt):
        directive, literal = match.groups()
        if literal is not None:
            if not _LITERAL.fullmatch(literal):
                raise NamingError(f"{where}: {literal!r} in {{born:{fmt}}} can never be part of an address")
        elif directive not in _BORN_DIRECTIVES:
            raise NamingError(
                f"{where}: %{directive} in {{born:{fmt}}} is not allowed; "
                "use %d %m %y %Y %j (they give digits)"
            )


def _template(segments: list[str]) -> Template:
    text = "".join("{}" if seg.startswith(_PLACEHOLDER_MARK) else seg for seg in segments)
    return text, tuple(seg[1:] for seg in segments if seg.startswith(_PLACEHOLDER_MARK))


def _born_template(fmt: str) -> str:
    """strftime format (digit directives only, checked) → str.format template over d, m, y, Y, j."""
    widths = {"d": 2, "m": 2, "y": 2, "Y": 4, "j": 3}
    return re.sub(r"%(.)", lambda m: f"{{{m.group(1)}:0{widths[m.group(1)]}d}}", fmt)


def _check_can_be_address(where: str, head: list[str], tail: list[str] | None) -> None:
    """Reject a pattern whose every candidate would be invalid, e.g. ``.{given}`` or ``{given}..{s}``.

    Placeholders stand in as one letter (the counter as a digit): a pattern that fails even so can never
    give an address. (A real value may still make one candidate invalid, e.g. an empty ``{m}``.)
    """

    def skeleton(segments: list[str]) -> str:
        return "".join("x" if seg.startswith(_PLACEHOLDER_MARK) else seg for seg in segments)

    shown = skeleton(head) + ("" if tail is None else "1" + skeleton(tail))
    problem = address_problem(shown)
    if problem:
        raise NamingError(f"{where} can never give a valid address: {problem}")
