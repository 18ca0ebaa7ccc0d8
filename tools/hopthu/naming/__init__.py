"""Usernames (addresses) from Vietnamese names: the organisation's naming rule, applied.

- ``normalise``: any spelling of a name → lower-case ASCII words (``parse_name``);
- ``patterns``: a rule = ordered candidate patterns, compiled once (``compile_rule``); the placeholders and
  what "a name lacks a part" means are documented there;
- ``generate``: the first free candidate (``generate``, ``generate_batch``, ``rule_admits``), with
  ``holders`` (who holds a taken address) for candidates with a condition;
- ``agency``: unit-mailbox addresses from a unit's name (``agency_name``).

>>> import datetime as dt
>>> rule = compile_rule(DEFAULT_RULE)
>>> generate("Trần Huỳnh Tấn Minh", rule, {"minhtht"})
'tanminhth'
>>> generate("Trương Hoàng Tấn Minh", rule, {"minhtht"}, holders={"minhtht": "Trần Huỳnh Tấn Minh"},
...          born=dt.date(1963, 8, 15))
'minhtht15081963'
"""

from hopthu.naming.agency import agency_name, agency_values, iter_agency_names
from hopthu.naming.generate import (
    Holders,
    Person,
    generate,
    generate_batch,
    iter_generate,
    person_values,
    rule_admits,
)
from hopthu.naming.normalise import NameParts, NamingError, ascii_words, parse_name
from hopthu.naming.patterns import (
    AGENCY_DEFAULT_RULE,
    CONDITIONS,
    DEFAULT_RULE,
    MAX_ADDRESS_LENGTH,
    PatternError,
    Rule,
    address_problem,
    compile_rule,
    is_address,
)

__all__ = [
    "AGENCY_DEFAULT_RULE",
    "CONDITIONS",
    "DEFAULT_RULE",
    "MAX_ADDRESS_LENGTH",
    "Holders",
    "NameParts",
    "NamingError",
    "PatternError",
    "Person",
    "Rule",
    "address_problem",
    "agency_name",
    "agency_values",
    "ascii_words",
    "compile_rule",
    "generate",
    "generate_batch",
    "is_address",
    "iter_agency_names",
    "iter_generate",
    "parse_name",
    "person_values",
    "rule_admits",
]
