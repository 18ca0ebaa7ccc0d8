"""The first free candidate of a rule for a name.

Free means: a valid address that is not in ``taken``. ``taken`` holds lower-case addresses and is the
caller's union of the directory, the organisation's reserved names and — in a batch — the addresses given
to earlier names of the same batch (``generate_batch`` does that last part).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Container, Iterable, Iterator, Sequence

from hopthu.naming.normalise import NameParts, NamingError, ascii_words
from hopthu.naming.patterns import (
    MAX_ADDRESS_LENGTH,
    Rule,
    Values,
    address_problem,
    compile_rule,
    is_address,
    render,
)

__all__ = ["Person", "generate", "generate_batch", "iter_generate", "person_values", "rule_admits"]

# A counter stops after this many values: a bound for a hostile or mistaken `taken` (e.g. a Container
# that claims to hold everything); no real directory holds 100,000 people of one name.
MAX_COUNTER_TRIES = 100_000

# A batch item: a name, or a (name, birth date) pair.
Person = str | NameParts | tuple["str | NameParts", "dt.date | None"]

_MISSING = {
    "surname": "a one-word name has no surname",
    "s": "a one-word name has no surname",
    "middle": "the name has no middle name",
    "adjacent": "the name has no middle name",
    "rest": "the name has no middle name",
    "unit": "no unit code was given",
    "born": "no birth date was given",
    "place": "the unit name names no place (huyện, xã, phường… followed by the place's name)",
}


def person_values(parts: NameParts, unit: str | None = None) -> Values:
    """The value of every person placeholder for one name (None = the name lacks that part)."""
    return _values(parts.surname, parts.middles, parts.given, unit)


def _name_values(full_name: str | NameParts, unit: str | None) -> Values:
    if isinstance(full_name, NameParts):
        return person_values(full_name, unit)
    # The hot path of a batch: straight from the words, without building a NameParts.
    words = ascii_words(full_name)
    if len(words) == 1:
        return _values(None, (), words[0], unit)
    return _values(words[0], words[1:-1], words[-1], unit)


def _values(surname: str | None, middles: Sequence[str], given: str, unit: str | None) -> Values:
    initials = "".join([word[0] for word in middles])
    unit_code = unit.strip().lower() if unit else None
    return {
        "given": given,
        "surname": surname,
        "middle": "".join(middles) or None,
        "s": surname[0] if surname else None,
        "m": initials,
        "adjacent": middles[-1] if middles else None,
        "rest": surname[0] + initials[:-1] if surname and middles else None,
        "unit": unit_code or None,
    }


class _Union:
    """``in`` over two containers without copying a directory of a million names."""

    __slots__ = ("first", "second")

    def __init__(self, first: Container[str], second: Container[str]) -> None:
        self.first = first
        self.second = second

    def __contains__(self, item: object) -> bool:
        return item in self.first or item in self.second


def first_free(
    values: Values,
    rule: Rule,
    taken: Container[str],
    counters: dict[tuple[str, str, int], int] | None = None,
) -> str | None:
    """The first free candidate, or None; ``values`` must hold the rule's birth-date keys (Rule.add_born).

    ``counters`` remembers, within one batch, where each counter's search may resume: every lower value is
    known to be taken (valid only while ``taken`` only grows)."""
    for pattern in rule.compiled:
        head = render(pattern.head, values)
        if head is None:
            continue
        if pattern.tail is None:
            if head not in taken and is_address(head):
                return head
            continue
        tail = render(pattern.tail, values)
        if tail is None or not is_address(f"{head}{pattern.start}{tail}"):
            continue
        key = (head, tail, pattern.start)
        first = counters.get(key, pattern.start) if counters is not None else pattern.start
        for n in range(first, pattern.start + MAX_COUNTER_TRIES):
            candidate = f"{head}{n}{tail}"
            if len(candidate) > MAX_ADDRESS_LENGTH:
                break
            if candidate not in taken:
                if counters is not None:
                    counters[key] = n + 1
                return candidate
        else:
            if counters is not None:
                counters[key] = pattern.start + MAX_COUNTER_TRIES
    return None


def explain_failure(what: str, values: Values, rule: Rule) -> NamingError:
    """Why no candidate was free (the slow path: only runs when generation fails)."""
    taken: list[str] = []
    skipped: list[str] = []
    for pattern in rule.compiled:
        missing = next((key for key in pattern.fields() if values[key] is None), None)
        if missing:
            skipped.append(f"{pattern.source} ({_MISSING[missing.partition(':')[0]]})")
            continue
        head = render(pattern.head, values) or ""
        tail = render(pattern.tail, values) if pattern.tail is not None else None
        shown = head if tail is None else f"{head}{pattern.start}{tail}"
        problem = address_problem(shown)
        if problem:
            skipped.append(f"{pattern.source} ({shown!r} is not a valid address: {problem})")
        elif tail is None:
            taken.append(head)
        else:
            taken.append(f"{head}{{{pattern.start}…}}{tail}")
    note = f"; skipped {', '.join(skipped)}" if skipped else ""
    if taken:
        return NamingError(f"every candidate address for {what} is taken: {', '.join(taken)}{note}")
    return NamingError(f"cannot make an address from {what}: {', '.join(skipped)}")


def _person_rule(rule: Rule | Sequence[str]) -> Rule:
    return compile_rule(rule, agency=False)


def generate(
    full_name: str | NameParts,
    rule: Rule | Sequence[str],
    taken: Container[str],
    *,
    born: dt.date | None = None,
    unit: str | None = None,
) -> str:
    """The first free address the rule gives for ``full_name``; NamingError when there is none."""
    rule = _person_rule(rule)
    values = rule.add_born(_name_values(full_name, unit), born)
    found = first_free(values, rule, taken)
    if found is None:
        raise explain_failure(repr(str(full_name)), values, rule)
    return found


def iter_generate(
    people: Iterable[Person],
    rule: Rule | Sequence[str],
    taken: Container[str],
    *,
    unit: str | None = None,
) -> Iterator[str | NamingError]:
    """One result per person, in order: the address, or the NamingError saying why there is none.

    Each later person treats the addresses given to earlier ones as taken; a person that fails takes
    nothing, and the batch goes on.
    """
    rule = _person_rule(rule)
    issued: set[str] = set()
    in_use = _Union(issued, taken)
    counters: dict[tuple[str, str, int], int] = {}
    for person in people:
        name, born = person if isinstance(person, tuple) else (person, None)
        try:
            values = rule.add_born(_name_values(name, unit), born)
        except NamingError as error:
            yield error
            continue
        found = first_free(values, rule, in_use, counters)
        if found is None:
            yield explain_failure(repr(str(name)), values, rule)
            continue
        issued.add(found)
        yield found


def generate_batch(
    people: Iterable[Person],
    rule: Rule | Sequence[str],
    taken: Container[str],
    *,
    unit: str | None = None,
) -> list[str]:
    """Addresses for a batch of people (names or (name, birth date) pairs), in order.

    Raises the NamingError of the first person that cannot get one, prefixed with its position (1-based).
    """
    out: list[str] = []
    for position, result in enumerate(iter_generate(people, rule, taken, unit=unit), 1):
        if isinstance(result, NamingError):
            raise NamingError(f"person {position}: {result}") from result
        out.append(result)
    return out


def rule_admits(
    username: str,
    full_name: str | NameParts,
    rule: Rule | Sequence[str],
    *,
    born: dt.date | None = None,
    unit: str | None = None,
) -> bool:
    """True when the rule can produce ``username`` for this name: any candidate, any counter value.

    Validation uses it to catch a hand-edited username that breaks the organisation's rule.
    """
    rule = _person_rule(rule)
    if not is_address(username):
        return False
    values = rule.add_born(_name_values(full_name, unit), born)
    for pattern in rule.compiled:
        head = render(pattern.head, values)
        if head is None:
            continue
        if pattern.tail is None:
            if username == head:
                return True
            continue
        tail = render(pattern.tail, values)
        if tail is None or not username.startswith(head) or not username.endswith(tail):
            continue
        digits = username[len(head) : len(username) - len(tail)]
        # str(n) is the only spelling of a counter value: no sign, no leading zeros.
        canonical = digits.isdigit() and digits.isascii() and str(int(digits)) == digits
        if canonical and pattern.start <= int(digits) < pattern.start + MAX_COUNTER_TRIES:
            return True
    return False
