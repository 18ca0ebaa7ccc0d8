"""The only YAML reader for untrusted files (request files, inventory).

Plain YAML only: tags (``!!python/object``, any ``!tag``), anchors and aliases (alias bombs), duplicate keys,
merge keys and non-string keys are rejected. Timestamps are not resolved, so ``2025-03-10`` stays the string
the schema checks. Every node's line and column is kept so that a problem points at the offending field.

Hostile sizes are refused, located, before they cost anything: a file larger than ``MAX_FILE_BYTES`` is not
read (``read_text``), and reading stops at the first collection nested deeper than ``MAX_DEPTH`` (the values
are built recursively) or past ``MAX_NODES`` values and keys. A number longer than ``MAX_NUMBER_CHARS`` is
never converted (Python refuses ints of more than 4,300 digits, and YAML's base-60 ints cost quadratic
time), nor is a key longer than ``MAX_KEY_CHARS`` or holding a control character accepted.

Built on PyYAML: its parser (libyaml's when PyYAML has it, about 8 times faster than the pure-Python one, so
checking thousands of request files stays quick) emits events, and the events become Python values here in
one pass, the non-plain ones refused and every position recorded on the way (no node tree in between: a
10,000-account request is read in about half the time).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    Event,
    MappingEndEvent,
    NodeEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.scanner import Scanner, ScannerError

from hopthu.findings import field_name
from hopthu.text import control_character, describe

try:
    from yaml._yaml import CParser  # libyaml
except ImportError:  # PyYAML built without libyaml
    CParser = None


PathInDoc = tuple[str | int, ...]

# Limits of every untrusted file (README, "The request format"): far above what a request (4 levels, about
# 20 values and keys per account, 10,000 accounts: 2 MB, 200,000 values) or the inventory (7 levels) needs.
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 20
MAX_NODES = 500_000
MAX_NUMBER_CHARS = 64
MAX_KEY_CHARS = 256

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
# Scalar tags the resolver may give a plain scalar, and the values we accept for them.
_PLAIN_SCALAR_TAGS = {
    _STR,
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_NUMBER_TAGS = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})
_SURROGATE = re.compile("[\ud800-\udfff]")
_KIND_OF_TAG = {
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "a boolean",
    "tag:yaml.org,2002:null": "null",
}


@dataclass(frozen=True)
class Problem:
    """A reason the file is not plain YAML, at a 1-based line and column."""

    line: int
    col: int
    message: str
    rule: str


class YamlError(Exception):
    """The file cannot be read as plain YAML; ``problems`` lists every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.line}:{p.col}: {p.message}" for p in problems))
        self.problems = problems


class FileRefused(Exception):
    """A file not read at all (not a regular file, or too large); ``rule`` names the check."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.message, self.rule = message, rule


class _TooBig(Exception):
    """Stops reading a file at a limit: the rest is not worth reading (nor safe to build)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass
class Document:
    """A parsed file: its plain Python value and where each part of it was written."""

    data: Any
    text: str
    _values: dict[PathInDoc, tuple[int, int]] = field(default_factory=dict, repr=False)
    _keys: dict[PathInDoc, tuple[int, int]] = field(default_factory=dict, repr=False)

    def locate(self, path_in_doc: Iterable[str | int] = ()) -> tuple[int, int]:
        """Line and column (1-based) of the field at ``path_in_doc``.

        A mapping entry is located at its key (where a reader looks for the field). A path that does not
        exist (a missing field) falls back to its nearest existing parent.
        """
        path = tuple(path_in_doc)
        while path:
            if path in self._keys:
                return self._keys[path]
            if path in self._values:
                return self._values[path]
            path = path[:-1]
        return self._values.get((), (1, 1))

    def locate_value(self, path_in_doc: Iterable[str | int]) -> tuple[int, int]:
        """Line and column of the value (not the key) at ``path_in_doc``, or of its nearest parent."""
        path = tuple(path_in_doc)
        while path and path not in self._values:
            path = path[:-1]
        return self._values.get(path, (1, 1))


def _position(event: NodeEvent) -> tuple[int, int]:
    mark = event.start_mark
    return (mark.line + 1, mark.column + 1)


# Without the timestamp resolver dates stay strings: the schema checks them, and no datetime sneaks in.
# By first character, with the resolvers for any first character (none in PyYAML) after them.
_ANY_FIRST = tuple(yaml.SafeLoader.yaml_implicit_resolvers.get(None, ()))
_RESOLVERS: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    first: tuple((tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP) + _ANY_FIRST
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    if first is not None
}


class _PlainComposer(SafeConstructor):
    """Composes parser events straight into plain values, noting (and neutralising) every tag, anchor and
    alias instead of honouring them, and recording where each value and key was written.

    Mixed in before an event source (a parser), whose ``get_event``/``peek_event``/``check_event`` it
    reads; libyaml's parser has composing methods of its own, which are never used. A plain scalar (no
    tag, no anchor: nearly every event) takes a short path written out where it is met.
    """

    def __init__(self, allowed_tags: frozenset[str], max_depth: int, max_nodes: int) -> None:
        SafeConstructor.__init__(self)
        # Not plain YAML (tags, anchors, aliases): reported even when the file has a syntax error further on.
        self.problems: list[Problem] = []
        # Bad keys (duplicates, non-strings, merge keys): reported when the whole file could be read.
        self.key_problems: list[Problem] = []
        self.allowed_tags = allowed_tags
        self.values: dict[PathInDoc, tuple[int, int]] = {}
        self.keys: dict[PathInDoc, tuple[int, int]] = {}
        self.max_depth, self.max_nodes = max_depth, max_nodes
        self.depth = 0  # collections open around the node being read
        self.nodes = 0  # values and keys read so far

    def single_document(self) -> tuple[bool, Any]:
        """(whether the stream has a document, its value); ComposerError if it has more than one."""
        self.get_event()  # stream start
        if self.check_event(StreamEndEvent):
            self.get_event()
            return False, None
        self.get_event()  # document start
        root = self.get_event()
        data = self._value(root, ())
        self.get_event()  # document end
        if not self.check_event(StreamEndEvent):
            event = self.get_event()
            raise ComposerError(
                "expected a single document in the stream",
                root.start_mark,
                "but found another document",
                event.start_mark,
            )
        self.get_event()
        return True, data

    def _examine(self, event: Event) -> tuple[tuple[int, int], str | None]:
        """The position of the node ``event`` starts, and for a scalar its tag as resolved for a plain
        scalar (``None`` for an alias or a collection). Tags, anchors and aliases are noted here."""
        line, col = position = _position(event)
        if type(event) is AliasEvent:
            self.problems.append(
                Problem(
                    line, col, f"alias '*{event.anchor}' is not allowed: write the value out in full", "alias"
                )
            )
            return position, None
        if event.anchor is not None:
            self.problems.append(
                Problem(line, col, f"anchor '&{event.anchor}' is not allowed: plain YAML only", "anchor")
            )
        is_scalar = type(event) is ScalarEvent
        if is_scalar and event.tag in self.allowed_tags:
            # An allowed tag (Ansible's ``!vault``) marks an opaque value: keep its text, tag dropped.
            return position, _STR
        if event.tag is not None:
            tag = event.tag.replace("tag:yaml.org,2002:", "!!")
            self.problems.append(
                Problem(line, col, f"tag '{tag}' is not allowed: remove it, plain YAML only", "tag")
            )
        # A refused tag is dropped too: the scalar is resolved as if it had none.
        return position, _resolve(event.value, event.implicit) if is_scalar else None

    def _value(self, event: Event, path: PathInDoc | None) -> Any:
        """The node that ``event`` starts as a plain value at ``path``, its positions recorded. With
        ``path`` None the node is only read past: its tags, anchors and aliases are still noted."""
        self.nodes += 1
        if self.nodes > self.max_nodes:
            self._too_many(event)
        kind = type(event)
        if kind is ScalarEvent and event.tag is None and event.anchor is None:
            if path is None:
                return None
            mark = event.start_mark
            self.values[path] = (mark.line + 1, mark.column + 1)
            tag = _resolve(event.value, event.implicit)
            return event.value if tag == _STR else self._scalar(event, tag, path)
        position, tag = self._examine(event)
        if path is not None:
            self.values[path] = position
        if kind is ScalarEvent:
            return None if path is None else self._scalar(event, tag, path)
        if kind is AliasEvent:
            return None  # a harmless stand-in: the alias is never expanded, so an alias bomb costs nothing
        self._enter(event, path)
        value = self._sequence(path) if kind is SequenceStartEvent else self._mapping(path)
        self.depth -= 1
        return value

    def _enter(self, start: Event, path: PathInDoc | None) -> None:
        """One level deeper, or stop: values are built recursively, so the depth is bounded here."""
        if self.depth >= self.max_depth:
            line, col = _position(start)
            raise _TooBig(_too_deep(line, col, self.max_depth, path[:1] if path else ()))
        self.depth += 1

    def _too_many(self, event: Event) -> None:
        line, col = _position(event)
        raise _TooBig(
            Problem(
                line,
                col,
                f"more than {self.max_nodes:,} values and keys in one file: split it into several files",
                "too-many-values",
            )
        )

    def _sequence(self, path: PathInDoc | None) -> list[Any] | None:
        items: list[Any] = []
        while True:
            item = self.get_event()
            if type(item) is SequenceEndEvent:
                return items if path is not None else None
            items.append(self._value(item, None if path is None else (*path, len(items))))

    def _scalar(self, event: ScalarEvent, tag: str | None, path: PathInDoc) -> Any:
        if tag == _STR:
            return event.value
        if tag in _NUMBER_TAGS and len(event.value) > MAX_NUMBER_CHARS:
            line, col = _position(event)
            self.problems.append(
                Problem(
                    line,
                    col,
                    f"{field_name(path)}: a number {len(event.value):,} characters long is more than any "
                    "field holds: if it is text (a code), put it in quotes",
                    "number-too-long",
                )
            )
            return event.value
        if tag in _PLAIN_SCALAR_TAGS:
            node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
            return self.yaml_constructors[tag](self, node)
        # Resolver tags with no plain meaning ("=" is tag:yaml.org,2002:value): keep the text.
        return event.value

    def _mapping(self, path: PathInDoc | None) -> dict[str, Any] | None:
        result: dict[str, Any] = {}
        while True:
            key_event = self.get_event()
            kind = type(key_event)
            if kind is MappingEndEvent:
                return result if path is not None else None
            self.nodes += 1
            if self.nodes > self.max_nodes:
                self._too_many(key_event)
            if kind is ScalarEvent and key_event.tag is None and key_event.anchor is None:
                mark = key_event.start_mark
                line, col = mark.line + 1, mark.column + 1
                tag = _resolve(key_event.value, key_event.implicit)
            else:
                (line, col), tag = self._examine(key_event)
                if kind is not ScalarEvent and kind is not AliasEvent:
                    self._rest_of(key_event)
            if path is None:
                self._value(self.get_event(), None)
                continue
            problem = _key_problem(key_event, tag, line, col)
            if problem is None and key_event.value in result:
                first_line, _ = self.keys[(*path, key_event.value)]
                problem = Problem(
                    line,
                    col,
                    f"duplicate key '{key_event.value}' (first on line {first_line})",
                    "duplicate-key",
                )
            if problem is not None:
                self.key_problems.append(problem)
                self._value(self.get_event(), None)
                continue
            key = key_event.value
            self.keys[(*path, key)] = (line, col)
            result[key] = self._value(self.get_event(), (*path, key))

    def _rest_of(self, start: Event) -> None:
        """Read past the rest of a collection whose start event was just read."""
        self._enter(start, None)
        end = SequenceEndEvent if type(start) is SequenceStartEvent else MappingEndEvent
        while True:
            event = self.get_event()
            if type(event) is end:
                self.depth -= 1
                return
            self._value(event, None)


def _too_deep(line: int, col: int, limit: int, field: PathInDoc) -> Problem:
    where = f"{field_name(field)}: " if field else ""
    message = f"{where}mappings and lists nested more than {limit} levels deep (a request needs 4)"
    return Problem(line, col, message + ": remove the extra levels", "too-deep")


def _resolve(value: str, implicit: tuple[bool, bool]) -> str:
    """The tag PyYAML's resolver gives a scalar with no tag of its own (less timestamps)."""
    if implicit[0]:
        for tag, regexp in _RESOLVERS.get(value[:1], _ANY_FIRST):
            if regexp.match(value):
                return tag
    return _STR


def _key_problem(event: Event, tag: str | None, line: int, col: int) -> Problem | None:
    if type(event) is AliasEvent:
        tag, text = _NULL, ""  # an alias stands for an empty null
    elif type(event) is ScalarEvent:
        text = event.value
    else:
        return Problem(line, col, "a key must be a plain string", "key-type")
    if len(text) > MAX_KEY_CHARS:
        return Problem(
            line, col, f"a key {len(text):,} characters long: no field has such a name", "key-too-long"
        )
    found = control_character(text)
    if found is not None:
        return Problem(
            line, col, f"a key contains {describe(found[1])}: no field has such a name", "key-control"
        )
    if tag == _MERGE:
        return Problem(line, col, "merge key '<<' is not allowed: write the fields out in full", "merge-key")
    if tag != _STR:
        kind = _KIND_OF_TAG.get(tag, "not a string")
        return Problem(
            line, col, f"key '{text}' is read as {kind}, not a string: put it in quotes", "key-type"
        )
    return None


class PythonLoader(_PlainComposer, Reader, Scanner, Parser):
    """Plain-YAML loader over PyYAML's pure-Python parser."""

    def __init__(self, stream: str, allowed_tags: frozenset[str], max_depth: int, max_nodes: int) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _PlainComposer.__init__(self, allowed_tags, max_depth, max_nodes)

    def scan_flow_scalar_non_spaces(self, double: bool, start_mark: Any) -> list[str]:
        """PyYAML's, refusing the escapes libyaml refuses: surrogates (``"\\ud800"``, not characters:
        no UTF-8 for them) and code points past U+10FFFF (where ``chr`` raises ValueError)."""
        mark = self.get_mark()
        try:
            chunks = super().scan_flow_scalar_non_spaces(double, start_mark)
        except ValueError:
            chunks = None
            mark = self.get_mark()
        if chunks is None or any(_SURROGATE.search(chunk) for chunk in chunks):
            raise ScannerError(
                "while scanning a double-quoted scalar",
                start_mark,
                "found invalid Unicode character escape code",
                mark,
            )
        return chunks


if CParser is not None:

    class LibyamlLoader(_PlainComposer, CParser):
        """Plain-YAML loader over libyaml's parser (same events, same checks, faster)."""

        def __init__(self, stream: str, allowed_tags: frozenset[str], max_depth: int, max_nodes: int) -> None:
            CParser.__init__(self, stream)
            _PlainComposer.__init__(self, allowed_tags, max_depth, max_nodes)

    LOADERS: tuple[type[_PlainComposer], ...] = (LibyamlLoader, PythonLoader)
else:
    LOADERS = (PythonLoader,)


def read_text(path: str | os.PathLike[str], *, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The text of the file at ``path``, read only when it is a regular file of at most ``max_bytes``.

    Raises ``FileRefused`` (a device, a pipe, a folder, or too large: nothing is read), ``OSError`` and
    ``UnicodeDecodeError``. Line breaks are read as ``Path.read_text`` reads them.
    """
    # O_NONBLOCK: opening a named pipe must not wait for a writer; it makes no difference to a file.
    # Plain os.read: a buffered file object costs more than the read itself (thousands of small files).
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused("not a regular file (a folder, a device, a pipe): not read", "file-not-regular")
        data = b""
        if info.st_size <= max_bytes:
            data = os.read(descriptor, info.st_size + 1)
            while len(data) > info.st_size and len(data) <= max_bytes:  # it grew since the fstat
                chunk = os.read(descriptor, 1 << 16)
                if not chunk:
                    break
                data += chunk
    finally:
        os.close(descriptor)
    if info.st_size > max_bytes or len(data) > max_bytes:
        size = max(info.st_size, len(data))
        raise FileRefused(
            f"the file is {size / 2**20:.1f} MiB, more than the {max_bytes / 2**20:g} MiB hopthu reads: "
            "split it into several files",
            "file-too-large",
        )
    text = data.decode("utf-8")
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def load(
    text: str,
    *,
    allowed_tags: frozenset[str] = frozenset(),
    max_depth: int = MAX_DEPTH,
    max_nodes: int = MAX_NODES,
) -> Document:
    """Parse one plain-YAML document. Raises ``YamlError`` listing every problem found.

    ``allowed_tags`` (e.g. Ansible's ``!vault`` in inventory files) are accepted on scalars, whose value is
    then kept as plain text. Reading stops at the first collection nested deeper than ``max_depth`` or
    past ``max_nodes`` values and keys.
    """
    try:
        loader = LOADERS[0](text, allowed_tags, max_depth, max_nodes)
    except yaml.reader.ReaderError as error:
        raise _unreadable(text, error) from None
    try:
        try:
            found, data = loader.single_document()
        except _TooBig as stop:
            raise YamlError([*loader.problems, stop.problem]) from None
        except yaml.reader.ReaderError as error:
            raise _unreadable(text, error) from None
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            problem = error.problem or error.context or "invalid YAML"
            if "maximum nesting depth" in problem:
                # libyaml's own limit (1,000 levels), met first when it scans a flow collection ahead
                raise YamlError([*loader.problems, _too_deep(line, col, max_depth, ())]) from None
            if "expected a single document" in str(error.context):
                problem = "only one YAML document per file (remove the extra '---')"
            raise YamlError(
                [*loader.problems, Problem(line, col, f"YAML syntax: {problem}", "syntax")]
            ) from None
        if not found:
            return Document(None, text, {(): (1, 1)}, {})
        problems = loader.problems + loader.key_problems
        if problems:
            raise YamlError(sorted(problems, key=lambda p: (p.line, p.col)))
        return Document(data, text, loader.values, loader.keys)
    finally:
        loader.dispose()


def _unreadable(text: str, error: yaml.reader.ReaderError) -> YamlError:
    """A character YAML refuses (control characters): located from its offset in the text."""
    position = max(0, min(error.position, len(text)))
    line = text.count("\n", 0, position) + 1
    col = position - (text.rfind("\n", 0, position) + 1) + 1
    character = f" #x{error.character:04x}" if isinstance(error.character, int) else ""
    return YamlError([Problem(line, col, f"unreadable: {error.reason}{character}", "syntax")])
