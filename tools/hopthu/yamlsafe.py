"""The only YAML reader for untrusted files (request files, inventory).

Plain YAML only: tags (``!!python/object``, any ``!tag``), anchors and aliases (alias bombs), duplicate keys,
merge keys and non-string keys are rejected. Timestamps are not resolved, so ``2025-03-10`` stays the string
the schema checks. Every node's line and column is kept so that a problem points at the offending field.

Built on PyYAML: its parser (libyaml's when PyYAML has it, about 8 times faster than the pure-Python one, so
checking thousands of request files stays quick) emits events, PyYAML's composer turns them into nodes
through a hook that refuses the non-plain events, and the nodes become Python values here, their positions
recorded on the way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, NodeEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

try:
    from yaml._yaml import CParser  # libyaml
except ImportError:  # PyYAML built without libyaml
    CParser = None


PathInDoc = tuple[str | int, ...]

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_STR = "tag:yaml.org,2002:str"
# Scalar tags the resolver may give a plain scalar, and the values we accept for them.
_PLAIN_SCALAR_TAGS = {
    _STR,
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
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


def _position(node_or_event: Node | NodeEvent) -> tuple[int, int]:
    mark = node_or_event.start_mark
    return (mark.line + 1, mark.column + 1)


class _PlainComposer(Composer, SafeConstructor, Resolver):
    """Composes nodes, noting (and neutralising) every tag, anchor and alias instead of honouring them.

    Mixed in before an event source (a parser), so that these Python composing methods, with the hook
    below, are the ones used even over libyaml's parser, which has composing methods of its own.
    """

    # Without the timestamp resolver dates stay strings: the schema checks them, and no datetime sneaks in.
    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, re.Pattern[str]]]]] = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, allowed_tags: frozenset[str]) -> None:
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.problems: list[Problem] = []
        self.allowed_tags = allowed_tags

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        event = self.peek_event()
        line, col = _position(event)
        if isinstance(event, AliasEvent):
            self.get_event()
            self.problems.append(
                Problem(
                    line, col, f"alias '*{event.anchor}' is not allowed: write the value out in full", "alias"
                )
            )
            # A harmless stand-in: the alias is never expanded, so an alias bomb costs nothing.
            return ScalarNode("tag:yaml.org,2002:null", "", event.start_mark, event.end_mark)
        if event.anchor is not None:
            self.problems.append(
                Problem(line, col, f"anchor '&{event.anchor}' is not allowed: plain YAML only", "anchor")
            )
            event.anchor = None
        if isinstance(event, ScalarEvent) and event.tag in self.allowed_tags:
            # An allowed tag (Ansible's ``!vault``) marks an opaque value: keep its text, tag dropped.
            event.tag, event.implicit = None, (False, True)
        elif event.tag is not None:
            tag = event.tag.replace("tag:yaml.org,2002:", "!!")
            self.problems.append(
                Problem(line, col, f"tag '{tag}' is not allowed: remove it, plain YAML only", "tag")
            )
            event.tag = None
        return super().compose_node(parent, index)


class PythonLoader(_PlainComposer, Reader, Scanner, Parser):
    """Plain-YAML loader over PyYAML's pure-Python parser."""

    def __init__(self, stream: str, allowed_tags: frozenset[str]) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _PlainComposer.__init__(self, allowed_tags)


if CParser is not None:

    class LibyamlLoader(_PlainComposer, CParser):
        """Plain-YAML loader over libyaml's parser (same events, same checks, faster)."""

        def __init__(self, stream: str, allowed_tags: frozenset[str]) -> None:
            CParser.__init__(self, stream)
            _PlainComposer.__init__(self, allowed_tags)

    LOADERS: tuple[type[_PlainComposer], ...] = (LibyamlLoader, PythonLoader)
else:
    LOADERS = (PythonLoader,)


class _Builder:
    """Turns composed nodes into plain values, recording positions and refusing bad keys."""

    def __init__(self, loader: _PlainComposer) -> None:
        self.loader = loader
        self.problems = loader.problems
        self.values: dict[PathInDoc, tuple[int, int]] = {}
        self.keys: dict[PathInDoc, tuple[int, int]] = {}

    def build(self, node: Node, path: PathInDoc) -> Any:
        self.values[path] = _position(node)
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        return self._scalar(node)

    def _scalar(self, node: ScalarNode) -> Any:
        if node.tag in _PLAIN_SCALAR_TAGS:
            return self.loader.construct_object(node, deep=True)
        # Resolver tags with no plain meaning ("=" is tag:yaml.org,2002:value): keep the text.
        return node.value

    def _mapping(self, node: MappingNode, path: PathInDoc) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line, col = _position(key_node)
            if not isinstance(key_node, ScalarNode):
                self.problems.append(Problem(line, col, "a key must be a plain string", "key-type"))
                continue
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.problems.append(
                    Problem(
                        line, col, "merge key '<<' is not allowed: write the fields out in full", "merge-key"
                    )
                )
                continue
            if key_node.tag != _STR:
                kind = _KIND_OF_TAG.get(key_node.tag, "not a string")
                self.problems.append(
                    Problem(
                        line,
                        col,
                        f"key '{key_node.value}' is read as {kind}, not a string: put it in quotes",
                        "key-type",
                    )
                )
                continue
            key = key_node.value
            if key in result:
                first_line, _ = self.keys[(*path, key)]
                self.problems.append(
                    Problem(line, col, f"duplicate key '{key}' (first on line {first_line})", "duplicate-key")
                )
                continue
            self.keys[(*path, key)] = (line, col)
            result[key] = self.build(value_node, (*path, key))
        return result


def load(text: str, *, allowed_tags: frozenset[str] = frozenset()) -> Document:
    """Parse one plain-YAML document. Raises ``YamlError`` listing every problem found.

    ``allowed_tags`` (e.g. Ansible's ``!vault`` in inventory files) are accepted on scalars, whose value is
    then kept as plain text.
    """
    try:
        loader = LOADERS[0](text, allowed_tags)
    except yaml.reader.ReaderError as error:
        raise _unreadable(text, error) from None
    try:
        try:
            node = loader.get_single_node()
        except yaml.reader.ReaderError as error:
            raise _unreadable(text, error) from None
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            problem = error.problem or error.context or "invalid YAML"
            if "expected a single document" in str(error.context):
                problem = "only one YAML document per file (remove the extra '---')"
            raise YamlError(
                [*loader.problems, Problem(line, col, f"YAML syntax: {problem}", "syntax")]
            ) from None
        if node is None:
            return Document(None, text, {(): (1, 1)}, {})
        builder = _Builder(loader)
        data = builder.build(node, ())
        if loader.problems:
            raise YamlError(sorted(loader.problems, key=lambda p: (p.line, p.col)))
        return Document(data, text, builder.values, builder.keys)
    finally:
        loader.dispose()


def _unreadable(text: str, error: yaml.reader.ReaderError) -> YamlError:
    """A character YAML refuses (control characters): located from its offset in the text."""
    position = max(0, min(error.position, len(text)))
    line = text.count("\n", 0, position) + 1
    col = position - (text.rfind("\n", 0, position) + 1) + 1
    character = f" #x{error.character:04x}" if isinstance(error.character, int) else ""
    return YamlError([Problem(line, col, f"unreadable: {error.reason}{character}", "syntax")])
