"""The first free candidate of a rule for a name.

Free means: a valid address that is not in ``taken``. ``taken`` holds lower-case addresses and is the
caller's union of the directory, the organisation's reserved names and — in a batch — the addresses given
to earlier names of the same batch (``generate_batch`` does that last part).

``holders`` says who holds a taken address (address → full name: the directory's ``cn``, another request's
account); a batch adds its own earlier people. Only candidates with a condition (``unless same-full-name``…,
see ``patterns``) ask it. An address missing from it, or held by None or by a name that cannot be read, has
an unknown holder, and an unknown holder never meets a condition: skipping a candidate is a claim about a
person, made only on what is known. (Assuming the worst instead would turn every reserved name, unit
mailbox or bare ``--taken`` into a demand for a birth date, personal data the rule then stores for ever.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache

from hopthu.naming.normalise import NameParts, NamingError, ascii_words
from hopthu.naming.patterns import (
    MAX_ADDRESS_LENGTH,
    SAME_ADJACENT,
    SAME_FULL_NAME,
    Pattern,
    Rule,
    Values,
    address_problem,
    compile_rule,
    is_address,
    render,
)

__all__ = [
    "Holders",
    "Person",
    "generate",
    "generate_batch",
    "iter_generate",
    "person_values",
    "rule_admits",
]

# A counter stops after this many values: a bound for a hostile or mistaken `taken` (e.g. a Container
# that claims to hold everything); no real directory holds 100,000 people of one name.
MAX_COUNTER_TRIES = 100_000

# A batch item: a name, or a (name, birth date) pair.
Person = str | NameParts | tuple["str | NameParts", "dt.date | None"]
# Who holds a taken address: its holder's full name (None: not known, or not a person).
Holders = Mapping[str, "str | NameParts | None"]

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


def _name_values(full_name: str | NameParts, unit: str | None) -> tuple[Values, str]:
    """The placeholder values of a name, and the name as conditions compare it (ASCII words)."""
    if isinstance(full_name, NameParts):
        return person_values(full_name, unit), " ".join(full_name.words)
    # The hot path of a batch: straight from the words, without building a NameParts.
    words = ascii_words(full_name)
    if len(words) == 1:
        return _values(None, (), words[0], unit), words[0]
    return _values(words[0], words[1:-1], words[-1], unit), " ".join(words)


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


def _holder_key(holder: str | NameParts) -> tuple[str, str | None] | None:
    """A holder's name as conditions compare it: (ASCII words, adjacent middle name); None if unreadable."""
    if isinstance(holder, NameParts):
        words = holder.words
        return " ".join(words), words[-2] if len(words) > 2 else None
    return _written_holder_key(holder)


@lru_cache(maxsize=1 << 16)  # a directory repeats common names; each is read once
def _written_holder_key(full_name: str) -> tuple[str, str | None] | None:
    try:
        words = ascii_words(full_name)
    except NamingError:
        return None  # e.g. a hand-made entry's cn "Admin 2": its holder counts as unknown
    return " ".join(words), words[-2] if len(words) > 2 else None


def _skip_reason(
    pattern: Pattern, tried: list[str], holders: Holders | _Holders | None, name: str, adjacent: str | None
) -> tuple[str, str, str] | None:
    """(condition, address, holder) of the first proven condition of ``pattern``, or None.

    ``tried`` are the taken addresses of the earlier candidates; ``name`` and ``adjacent`` are the new
    person's (``_name_values``)."""
    if holders is None:
        return None
    for address in tried:
        holder = holders.get(address)
        key = None if holder is None else _holder_key(holder)
        if key is None:
            continue
        shown = str(holder)
        for condition in pattern.unless:
            if condition == SAME_FULL_NAME and key[0] == name:
                return condition, address, shown
            if condition == SAME_ADJACENT and adjacent is not None and key[1] == adjacent:
                return condition, address, shown
    return None


class _Holders:
    """``get`` over the batch's own holders, then the caller's (cheaper than a ChainMap)."""

    __slots__ = ("first", "second")

    def __init__(self, first: Holders, second: Holders) -> None:
        self.first = first
        self.second = second

    def get(self, address: str) -> str | NameParts | None:
        return self.first.get(address) or self.second.get(address)


def first_free(
    values: Values,
    rule: Rule,
    taken: Container[str],
    counters: dict[tuple[str, str, int], int] | None = None,
    holders: Holders | _Holders | None = None,
    name: str = "",
) -> str | None:
    """The first free candidate, or None; ``values`` must hold the rule's birth-date keys (Rule.add_born).

    ``counters`` remembers, within one batch, where each counter's search may resume: every lower value is
    known to be taken (valid only while ``taken`` only grows). ``holders`` and ``name`` (the new person's
    ASCII words) decide the candidates with a condition."""
    # The taken addresses of the candidates so far: whose holders a condition is about.
    tried: list[str] | None = [] if rule.conditional else None
    for pattern in rule.compiled:
        head = render(pattern.head, values)
        if head is None:
            continue
        if pattern.unless and tried and _skip_reason(pattern, tried, holders, name, values["adjacent"]):
            if pattern.tail is None and head in taken:
                tried.append(head)  # its holder still counts for the conditions of later candidates
            continue
        if pattern.tail is None:
            if head not in taken:
                if is_address(head):
                    return head
            elif tried is not None:
                tried.append(head)
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


_CONDITION_MET = {
    SAME_FULL_NAME: "the same full name",
    SAME_ADJACENT: "the same middle name next to the given name",
}


def explain_failure(
    what: str,
    values: Values,
    rule: Rule,
    taken: Container[str] | None = None,
    holders: Holders | _Holders | None = None,
    name: str = "",
) -> NamingError:
    """Why no candidate was free (the slow path: only runs when generation fails).

    ``taken``, ``holders`` and ``name`` are what ``first_free`` was given (only a rule with conditions
    needs them)."""
    in_use: list[str] = []
    skipped: list[str] = []
    tried: list[str] = []
    no_birth_date = False
    for pattern in rule.compiled:
        missing = next((key for key in pattern.fields() if values[key] is None), None)
        if missing:
            part = missing.partition(":")[0]
            no_birth_date = no_birth_date or part == "born"
            skipped.append(f"{pattern.source} ({_MISSING[part]})")
            continue
        head = render(pattern.head, values) or ""
        tail = render(pattern.tail, values) if pattern.tail is not None else None
        reason = _skip_reason(pattern, tried, holders, name, values["adjacent"]) if pattern.unless else None
        if tail is None and taken is not None and head in taken:
            tried.append(head)  # as first_free does: the holders later conditions look at
        shown = head if tail is None else f"{head}{pattern.start}{tail}"
        problem = address_problem(shown)
        if problem:
            skipped.append(f"{pattern.source} ({shown!r} is not a valid address: {problem})")
        elif reason:
            condition, address, holder = reason
            skipped.append(
                f"{pattern.source} (not used: {address} is held by {holder!r}, who has "
                f"{_CONDITION_MET[condition]})"
            )
        elif tail is None:
            in_use.append(head)
        else:
            in_use.append(f"{head}{{{pattern.start}…}}{tail}")
    hint = ""
    if no_birth_date:
        hint = "; a birth date is needed: give it (birth_date in the request, --born on the command line)"
    if in_use:
        note = f"; skipped {', '.join(skipped)}" if skipped else ""
        return NamingError(f"every candidate address for {what} is taken: {', '.join(in_use)}{note}{hint}")
    return NamingError(f"cannot make an address from {what}: {', '.join(skipped)}{hint}")


def _person_rule(rule: Rule | Sequence[str]) -> Rule:
    return compile_rule(rule, agency=False)


def generate(
    full_name: str | NameParts,
    rule: Rule | Sequence[str],
    taken: Container[str],
    *,
    born: dt.date | None = None,
    unit: str | None = None,
    holders: Holders | None = None,
) -> str:
    """The first free address the rule gives for ``full_name``; NamingError when there is none.

    ``holders``: who holds the taken addresses (see the module's docstring); only conditions need it."""
    rule = _person_rule(rule)
    values, name = _name_values(full_name, unit)
    values = rule.add_born(values, born)
    found = first_free(values, rule, taken, None, holders, name)
    if found is None:
        raise explain_failure(repr(str(full_name)), values, rule, taken, holders, name)
    return found


def iter_generate(
    people: Iterable[Person],
    rule: Rule | Sequence[str],
    taken: Container[str],
    *,
    unit: str | None = None,
    holders: Holders | None = None,
) -> Iterator[str | NamingError]:
    """One result per person, in order: the address, or the NamingError saying why there is none.

    Each later person treats the addresses given to earlier ones as taken, held by those earlier people;
    a person that fails takes nothing, and the batch goes on.
    """
    rule = _person_rule(rule)
    issued: set[str] = set()
    in_use = _Union(issued, taken)
    counters: dict[tuple[str, str, int], int] = {}
    issued_to: dict[str, str | NameParts] = {}  # filled only for a rule with conditions
    known = _Holders(issued_to, holders) if holders else issued_to
    for person in people:
        full_name, born = person if isinstance(person, tuple) else (person, None)
        try:
            values, name = _name_values(full_name, unit)
            values = rule.add_born(values, born)
        except NamingError as error:
            yield error
            continue
        found = first_free(values, rule, in_use, counters, known, name)
        if found is None:
            yield explain_failure(repr(str(full_name)), values, rule, in_use, known, name)
            continue
        issued.add(found)
        if rule.conditional:
            issued_to[found] = full_name
        yield found


def generate_batch(
    people: Iterable[Person],
    rule: Rule | Sequence[str],
    taken: Container[str],
    *,
    unit: str | None = None,
    holders: Holders | None = None,
) -> list[str]:
    """Addresses for a batch of people (names or (name, birth date) pairs), in order.

    Raises the NamingError of the first person that cannot get one, prefixed with its position (1-based).
    """
    out: list[str] = []
    for position, result in enumerate(iter_generate(people, rule, taken, unit=unit, holders=holders), 1):
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

    Validation uses it to catch a hand-edited username that breaks the organisation's rule. It knows
    neither which addresses are taken nor who holds them, so a candidate with a condition (``unless …``)
    is admitted like any other: whether the condition held is decided when ``hopthu assign`` writes the
    name, from the directory and the requests, and shown to the reviewer in the diff.
    """
    rule = _person_rule(rule)
    if not is_address(username):
        return False
    values = rule.add_born(_name_values(full_name, unit)[0], born)
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
