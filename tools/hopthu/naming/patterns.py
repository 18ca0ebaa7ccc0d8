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
``{born:FMT}`` the birth date; FMT may use %d %m %y %Y %j (zero-padded digits, as strftime writes
               them) and %-d %-m %-y %-j (without leading zeros, as GNU strftime spells it): for 15/8/1963
               ``%d%m%Y`` → ``15081963``, ``%-d%-m%Y`` → ``1581963``. Formatted here, never by the
               platform's strftime, so every platform gives the same digits
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

Conditions on the holder. A candidate may end with ``unless`` and one or more conditions joined by ``or``:
``{adjacent}{given}{rest} unless same-full-name or same-adjacent`` is skipped when a holder of the
addresses of the earlier candidates (those without a counter that were found taken) has

- ``same-full-name``: the same full name as the new person;
- ``same-adjacent``: the same middle name next to the given name (``{adjacent}``);

both compared the way addresses see names (without diacritics or case: *Tấn* and *Tân* are the same).
That is Gia Lai's regulation: the adjacent-middle-name form only when the full names differ and the
adjacent middle names differ, otherwise the base form + the birth date. A condition is met only when it is
proven: a holder whose name is not known (a reserved name, a unit mailbox, a bare ``--taken NAME``) never
makes a candidate skipped. The first candidate has no earlier addresses, so it cannot carry a condition;
neither can a unit-mailbox rule (units have no middle names).
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
    "CONDITIONS",
    "DEFAULT_RULE",
    "MAX_ADDRESS_LENGTH",
    "PatternError",
    "Rule",
    "address_problem",
    "compile_rule",
    "is_address",
]

# The common rule (Gia Lai, Bình Thuận and many others) followed by Gia Lai's two fall-backs.
DEFAULT_RULE: tuple[str, ...] = (
    "{given}{s}{m}",
    "{adjacent}{given}{rest} unless same-full-name or same-adjacent",
    "{given}{s}{m}{born:%d%m%Y}",
)
AGENCY_DEFAULT_RULE: tuple[str, ...] = ("{initials}",)

MAX_ADDRESS_LENGTH = 64

PERSON_FIELDS = frozenset({"given", "surname", "middle", "s", "m", "adjacent", "rest", "unit"})
AGENCY_FIELDS = frozenset({"initials", "slug", "place"})
# Fields derived from the name itself: a pattern without one would give everybody the same address.
_NAME_FIELDS = {False: PERSON_FIELDS - {"unit"}, True: AGENCY_FIELDS}
_BORN_DIRECTIVES = frozenset("dmyYj")
# What a condition after "unless" compares between the new person and a holder (see generate.py).
SAME_FULL_NAME = "same-full-name"
SAME_ADJACENT = "same-adjacent"
CONDITIONS = (SAME_FULL_NAME, SAME_ADJACENT)

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


class PatternError(NamingError):
    """A bad pattern in a rule; ``index`` is its position in the rule (0-based), to locate it."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


# While compiling, a segment is a literal string or a placeholder key ("given", "born:%d%m%Y"…).
# Compiled, each half of a pattern is a str.format template with one "{}" per placeholder, and the keys.
Template = tuple[str, tuple[str, ...]]
Values = dict[str, "str | None"]


@dataclass(frozen=True, slots=True)
class Pattern:
    """One compiled candidate pattern: ``head`` [counter ``tail``], skipped ``unless`` a condition holds."""

    source: str  # as written, with its condition
    head: Template
    tail: Template | None  # None: no counter
    start: int  # the counter's first value
    form: str = ""  # the pattern without its condition
    unless: tuple[str, ...] = ()  # conditions (CONDITIONS) under which the candidate is not used

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
    conditional: bool = field(default=False, repr=False, compare=False)  # some candidate has ``unless``

    def __post_init__(self) -> None:
        if not self.compiled:
            done = compile_rule(self.patterns, agency=self.agency)
            object.__setattr__(self, "patterns", done.patterns)
            object.__setattr__(self, "compiled", done.compiled)
            object.__setattr__(self, "born_formats", done.born_formats)
            object.__setattr__(self, "conditional", done.conditional)

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
    compiled: list[Pattern] = []
    for index, pattern in enumerate(patterns):
        try:
            compiled.append(_compile_pattern(pattern, agency))
        except NamingError as error:
            raise PatternError(str(error), index) from None
    if compiled[0].unless:
        raise PatternError(
            f"pattern {compiled[0].source!r}: 'unless' compares with whoever holds the addresses of the "
            "earlier candidates, and the first candidate has none: put the condition on a later candidate",
            0,
        )
    born_keys = dict.fromkeys(key for p in compiled for key in p.fields() if key.startswith("born:"))
    born_formats = tuple((key, _born_template(key.removeprefix("born:"))) for key in born_keys)
    return Rule(patterns, agency, tuple(compiled), born_formats, any(p.unless for p in compiled))


def _split_condition(source: str, agency: bool) -> tuple[str, tuple[str, ...]]:
    """``"P unless A or B"`` → (``"P"``, (A, B)); a pattern itself never holds a space."""
    form, space, clause = source.partition(" ")
    if not space or not form:
        return source, ()  # no condition (a leading space is refused as literal text)
    where = f"pattern {source!r}"
    words = [word for word in clause.split(" ") if word]  # runs of spaces separate words too
    if not words or words[0] != "unless":
        raise NamingError(
            f"{where}: a pattern has no spaces; after it only 'unless CONDITION' may follow "
            f"(conditions: {', '.join(CONDITIONS)})"
        )
    if agency:
        raise NamingError(f"{where}: 'unless' compares people's names; a unit-mailbox rule cannot use it")
    conditions = words[1::2]
    joins = words[2::2]
    if not conditions or len(joins) != len(conditions) - 1 or any(join != "or" for join in joins):
        raise NamingError(
            f"{where}: write the condition as 'unless {CONDITIONS[0]}', 'unless {CONDITIONS[1]}' or "
            f"'unless {CONDITIONS[0]} or {CONDITIONS[1]}'"
        )
    for condition in conditions:
        if condition not in CONDITIONS:
            raise NamingError(
                f"{where}: unknown condition {condition!r} after 'unless'; use {' or '.join(CONDITIONS)}"
            )
    return form, tuple(dict.fromkeys(conditions))


def _compile_pattern(source: str, agency: bool) -> Pattern:
    if not isinstance(source, str) or not source:
        raise NamingError(f"a pattern must be non-empty text, got {source!r}")
    full_source = source
    source, unless = _split_condition(source, agency)
    where = f"pattern {full_source!r}"
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
    compiled = Pattern(
        full_source, _template(head), None if tail is None else _template(tail), start, source, unless
    )
    if not set(compiled.fields()) & _NAME_FIELDS[agency]:
        needed = ", ".join(f"{{{k}}}" for k in sorted(_NAME_FIELDS[agency]))
        raise NamingError(
            f"{where} uses no part of the name ({needed}), so it would give everyone the same address"
        )
    return compiled


_BORN_PART = re.compile(r"%(-?)(.?)|([^%]+)")


def _check_born_format(where: str, fmt: str) -> None:
    """Only directives that give digits, so that every birth date gives an address."""
    for match in _BORN_PART.finditer(fmt):
        unpadded, directive, literal = match.groups()
        if literal is not None:
            if not _LITERAL.fullmatch(literal):
                raise NamingError(f"{where}: {literal!r} in {{born:{fmt}}} can never be part of an address")
        elif directive not in _BORN_DIRECTIVES:
            raise NamingError(
                f"{where}: %{unpadded}{directive} in {{born:{fmt}}} is not allowed; use %d %m %y %Y %j "
                "(digits with leading zeros) or %-d %-m %-y %-j (without)"
            )


def _template(segments: list[str]) -> Template:
    text = "".join("{}" if seg.startswith(_PLACEHOLDER_MARK) else seg for seg in segments)
    return text, tuple(seg[1:] for seg in segments if seg.startswith(_PLACEHOLDER_MARK))


def _born_template(fmt: str) -> str:
    """strftime format (digit directives only, checked) → str.format template over d, m, y, Y, j.

    ``%-d`` (GNU's "no padding" flag) becomes ``{d}``: str.format, not the platform's strftime, so the
    flag means the same on every platform.
    """
    widths = {"d": 2, "m": 2, "y": 2, "Y": 4, "j": 3}

    def field(match: re.Match[str]) -> str:
        unpadded, directive = match.groups()
        return f"{{{directive}}}" if unpadded else f"{{{directive}:0{widths[directive]}d}}"

    return re.sub(r"%(-?)(.)", field, fmt)


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
