"""What a request file gives (its id, and the usernames of a ``create``), read from its text without a YAML
parser: a merge request is checked against every merged request for these, and parsing 20,000 files
costs 50 times more than scanning them. The register of requests (``hopthu status``) reads its columns
the same way (``scan_header``: place, document, accounts).

The scanner answers only for the layout request files are written in (block mappings, one field a line,
``hopthu assign``'s and the examples' layout) and declines (``None``) for anything else, so that the
caller reads such a file with the YAML parser instead. It declines unless every line is one of:

- blank, or a comment;
- a top-level field (``id: x``, or ``accounts:`` opening a block), each field at most once;
- an indented line under ``document:``, ``requester:`` or ``accounts:``: a ``key: value``, ``key:``, or a
  ``- `` list item, where ``accounts`` items start with ``- `` at one column and their own fields sit two
  columns further (deeper lines belong to a field: a manager, a list of services);

and every value is complete on its line: a plain scalar that starts with no YAML indicator and holds no
``": "``, a quoted scalar closed on the line (no escapes), or a one-line flow list or mapping of such
scalars. Then no line can belong to another node than its indentation says (no block scalar, no
multi-line scalar or collection, no tab, anchor, alias, tag or second document), and for a file that is
valid YAML the fields found are the parser's. The values used (id, org, kind, usernames) must be plain
and in the schema's form, or the scanner declines too.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

TOP_FIELDS = frozenset({"id", "org", "unit", "kind", "document", "requester", "reason", "accounts"})
BLOCKS = frozenset({"document", "requester", "accounts"})

# Characters where the scanner's reading could part from YAML's: tabs, a byte order mark, and line breaks
# other than "\n" (YAML's NEL and line separators; str.splitlines' vertical tab, form feed…).
_UNUSUAL = re.compile("[\t\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029\ufeff]")

# The layout, line by line, as one regular expression (run in C: scanning 20,000 files costs a fraction
# of a second). Separators are spaces: YAML's white space is space and tab (\s would take a no-break space
# too). Runs are atomic ((?>…)), so a line that does not fit is given up in linear time.
# A plain scalar complete on its line: no indicator first (but "-x", "?x", ":x"), no ": ", no final ":";
# a "#" inside it is part of it unless a space comes before (then a comment starts).
_PLAIN = r"(?:[^ \n\-?:,\[\]{}#&*!|>'\"%@`]|[-?:](?=[^ \n]))(?>[^:#\n]+|:(?=[^ \n])|(?<=[^ ])#)*"
_QUOTED = r"(?:\"[^\"\\\n]*\"|'[^'\n]*')"  # closed on the line, no escapes
# Inside a one-line flow collection: no nesting, and no colon or comment sign in a plain item.
_FLOW_ITEM = rf"(?:[^ \n,\[\]{{}}#&*!|>'\"%@`:?\-][^,\[\]{{}}#'\":\n]*|{_QUOTED})"
_FLOW_PAIR = rf"[A-Za-z_][A-Za-z0-9_]*: +{_FLOW_ITEM}"
_FLOW = (
    rf"(?:\[ *(?:{_FLOW_ITEM} *(?:, *{_FLOW_ITEM} *)*)?\]"
    rf"|\{{ *(?:{_FLOW_PAIR} *(?:, *{_FLOW_PAIR} *)*)?\}})"
)
_VALUE = rf"(?:{_PLAIN}(?:#[^\n]*)?|(?:{_QUOTED}|{_FLOW})(?: +#[^\n]*)?|#[^\n]*)"
_LINE = (  # the most frequent first
    rf"(?:(?: +(?:- )?|)[a-z_][a-z0-9_]*:(?: +{_VALUE})? *"  # key: value, indented (an item's) or top-level
    rf"| +- +{_VALUE} *"  # - value: an item of a nested list
    r"| *(?:#[^\n]*)?)"  # blank, or a comment
)
_LAYOUT = re.compile(rf"(?:{_LINE}\n)*{_LINE}")
# Given the layout, a line at column 0 is a field or a comment; any other line is indented.
_TOP = re.compile(r"^([a-z_][a-z0-9_]*):([^\n]*)", re.M)
_CONTENT = re.compile(r"^ +[^ #\n]", re.M)  # an indented line that holds something
_FIRST = re.compile(r"^( *)([^ #\n])", re.M)
_CODE = re.compile(r" +([a-z0-9][a-z0-9-]*) *(?: #.*)?")
_BLOCK_FIELD = re.compile(r"(?P<indent> +)(?P<key>[a-z_]+): +(?P<value>[^\n]*)")
_USERNAME = re.compile(r" +([a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?) *(?: #.*)?")


@dataclass(frozen=True)
class Given:
    """A request file's id, organisation, kind and, for a ``create``, (account index, username) pairs."""

    id: str
    org: str
    kind: str
    usernames: tuple[tuple[int, str], ...]


def scan(text: str) -> Given | None:
    """What ``text`` gives, or None when it is not in the layout this scanner vouches for."""
    layout = _scan(text)
    if layout is None:
        return None
    fields, accounts = layout
    values = [_CODE.fullmatch(fields.get(key, "")) for key in ("id", "org", "kind")]
    if not all(values):
        return None
    request_id, org, kind = (value.group(1) for value in values)
    usernames: tuple[tuple[int, str], ...] = ()
    if kind == "create" and accounts is not None:
        found = _usernames(accounts)
        if found is None:
            return None
        usernames = found
    return Given(request_id, org, kind, usernames)


@dataclass(frozen=True)
class Header:
    """What the register of requests (``hopthu status``) needs of a request file: its place, its document
    and the usernames its accounts name (the ones a ``create`` gives, the ones other kinds act on)."""

    id: str
    org: str
    unit: str
    kind: str
    document_number: str
    document_date: str  # as written: YYYY-MM-DD when the file is valid
    accounts: int
    usernames: tuple[str, ...]


def scan_header(text: str) -> Header | None:
    """The register's view of ``text``, or None when it is not in the layout this scanner vouches for (or
    a value it needs is not plain): then read the file with the YAML parser."""
    layout = _scan(text)
    if layout is None:
        return None
    fields, accounts = layout
    codes = [_CODE.fullmatch(fields.get(key, "")) for key in ("id", "org", "unit", "kind")]
    document = _block_fields(fields.get("document", "")) if "document" in fields else None
    if not all(codes) or document is None or accounts is None:
        return None
    number, date = document.get("number"), document.get("date")
    items = _columns_of(accounts)
    found = _usernames(accounts)
    if number is None or date is None or items is None or found is None:
        return None
    request_id, org, unit, kind = (code.group(1) for code in codes)
    return Header(request_id, org, unit, kind, number, date, items, tuple(name for _, name in found))


def _scan(text: str) -> tuple[dict[str, str], str | None] | None:
    """The top-level fields of ``text`` (the rest of each one's line; a block's lines for ``document``)
    and the lines of its accounts block, or None when the text is not in the layout."""
    if _UNUSUAL.search(text) or _LAYOUT.fullmatch(text) is None:
        return None
    # Every line has its shape now; what is left is which node each line belongs to.
    tops = list(_TOP.finditer(text))
    if not tops or _CONTENT.search(text, 0, tops[0].start()):
        return None
    fields: dict[str, str] = {}
    accounts = None  # the lines of the accounts block
    for number, top in enumerate(tops):
        key, rest = top.groups()
        if key not in TOP_FIELDS or key in fields:
            return None
        fields[key] = rest
        end = tops[number + 1].start() if number + 1 < len(tops) else len(text)
        if key not in BLOCKS or (rest.strip() and not rest.lstrip().startswith("#")):
            if _CONTENT.search(text, top.end(), end):
                return None  # indented lines under a scalar: a multi-line value
        elif key == "accounts":
            accounts = text[top.end() : end]
        elif key == "document":
            fields[key] = text[top.end() : end]
    return fields, accounts


def _block_fields(block: str) -> dict[str, str] | None:
    """``key: value`` of a block mapping's lines (all at one column, plain or quoted one-line values), or
    None when it holds anything else."""
    values: dict[str, str] = {}
    column = None
    for line in block.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _BLOCK_FIELD.fullmatch(line)
        if match is None or (column is not None and len(match["indent"]) != column):
            return None
        column = len(match["indent"])
        value = _scalar(match["value"])
        if value is None or match["key"] in values:
            return None
        values[match["key"]] = value
    return values


def _scalar(raw: str) -> str | None:
    """The value of a one-line plain or quoted scalar the layout admits (a comment after it cut off)."""
    raw = raw.strip()
    if raw[:1] in ("'", '"'):
        end = raw.find(raw[0], 1)
        after = raw[end + 1 :].strip() if end > 0 else "unclosed"
        return raw[1:end] if not after or after.startswith("#") else None
    if raw[:1] in ("[", "{", ""):
        return None
    return raw.split(" #", 1)[0].rstrip()


def _columns_of(block: str) -> int | None:
    """How many items the accounts block has (None when its columns are not the layout's)."""
    first = _FIRST.search(block)
    if first is None:
        return 0
    column = len(first.group(1))
    if column == 0 or not block.startswith("- ", first.start(2)):
        return None
    return len(re.findall(rf"^{' ' * column}- ", block, re.M))


def _usernames(block: str) -> tuple[tuple[int, str], ...] | None:
    """(account index, username) of each item of the accounts block, or None if its columns are not the
    layout's: items "- key: …" at one column, their fields two columns further, deeper lines inside."""
    first = _FIRST.search(block)
    if first is None:
        return ()
    column = len(first.group(1))
    if column == 0 or not block.startswith("- ", first.start(2)):
        return None
    patterns = _columns(column)
    if patterns[0].search(block):
        return None
    found: list[tuple[int, str]] = []
    item = -1
    for line in patterns[1].finditer(block):
        on_item_line, own_field = line.groups()
        if own_field is None:
            item += 1
        value = own_field if own_field is not None else on_item_line
        if value is None:
            continue
        username = _USERNAME.fullmatch(value)
        if username is None or (found and found[-1][0] == item):
            return None
        found.append((item, username.group(1)))
    return tuple(found)


@functools.lru_cache(maxsize=16)
def _columns(column: int) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """For items at ``column``: a line out of place, and the item starts and usernames in order."""
    item, own = " " * column, " " * (column + 2)
    misplaced = re.compile(  # from the "\n" before the line: a literal first is found fast
        rf"\n(?=[ ]*[^ #\n])(?!{item}- [a-z_]+:(?: |$))(?!{own}[a-z_]+:(?: |$))(?!{own} )", re.M
    )
    walk = re.compile(rf"^{item}- (?:username:([^\n]*))?|^{own}username:([^\n]*)", re.M)
    return misplaced, walk
