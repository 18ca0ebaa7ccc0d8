"""Addresses of unit mailboxes (hộp thư cơ quan/đơn vị) from the unit's name.

*Sở Giao thông Vận tải* → ``sgtvt`` and *Sở Nội vụ* → ``snv`` (``{initials}``: the first letter of each
word, skipping "và"; a word with a digit counts whole, *Phường 1* → ``p1``); ``vhtt{place}`` for *Phòng Văn
hóa và Thông tin huyện Đăk Đoa* or ``vhtt{slug}`` for *Đăk Đoa* → ``vhttdakdoa``. See ``patterns`` for
the placeholders.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Sequence

from hopthu.naming.generate import _Union, explain_failure, first_free
from hopthu.naming.normalise import NamingError, unit_words
from hopthu.naming.patterns import AGENCY_DEFAULT_RULE, Rule, Values, compile_rule

__all__ = ["agency_name", "agency_values", "iter_agency_names"]

_SKIPPED_IN_INITIALS = frozenset({"và"})
# Administrative divisions: the words after the last of them name the place.
_PLACE_WORDS = frozenset({"huyện", "quận", "tỉnh", "xã", "phường"})
_PLACE_WORD_PAIRS = frozenset({("thị", "trấn"), ("thành", "phố")})  # "thị xã" ends with "xã"


def agency_values(unit_name: str) -> Values:
    """The value of every unit-mailbox placeholder for one unit name."""
    pairs = unit_words(unit_name)
    raw = [written for written, _ in pairs]
    words = [ascii for _, ascii in pairs]
    initials = "".join(
        ascii if any(c.isdigit() for c in ascii) else ascii[0]
        for word, ascii in zip(raw, words, strict=True)
        if word not in _SKIPPED_IN_INITIALS
    )
    place_start = 0
    for index, word in enumerate(raw):
        if word in _PLACE_WORDS or (index and (raw[index - 1], word) in _PLACE_WORD_PAIRS):
            place_start = index + 1
    place = "".join(words[place_start:]) if place_start else ""
    return {"initials": initials or None, "slug": "".join(words), "place": place or None}


def _agency_rule(rule: Rule | Sequence[str] | None) -> Rule:
    return compile_rule(AGENCY_DEFAULT_RULE if rule is None else rule, agency=True)


def agency_name(unit_name: str, rule: Rule | Sequence[str] | None, taken: Container[str]) -> str:
    """The first free unit-mailbox address for ``unit_name`` (rule None: ``{initials}``)."""
    compiled = _agency_rule(rule)
    values = agency_values(unit_name)
    found = first_free(values, compiled, taken)
    if found is None:
        raise explain_failure(repr(unit_name), values, compiled)
    return found


def iter_agency_names(
    unit_names: Iterable[str], rule: Rule | Sequence[str] | None, taken: Container[str]
) -> Iterator[str | NamingError]:
    """One result per unit name, in order; later names treat earlier results as taken."""
    compiled = _agency_rule(rule)
    issued: set[str] = set()
    in_use = _Union(issued, taken)
    counters: dict[tuple[str, str, int], int] = {}
    for unit_name in unit_names:
        try:
            values = agency_values(unit_name)
        except NamingError as error:
            yield error
            continue
        found = first_free(values, compiled, in_use, counters)
        if found is None:
            yield explain_failure(repr(unit_name), values, compiled)
            continue
        issued.add(found)
        yield found
