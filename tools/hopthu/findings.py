"""A located problem (``Finding``) and its renderers.

One list of findings is rendered for people (text, like yamllint), for programs (json) and for GitLab
(JUnit test report, Code Quality report): every format says the same thing, from the same data.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs

if TYPE_CHECKING:
    import jsonschema

    from hopthu.yamlsafe import Document

SEVERITIES = ("error", "warning")
# GitLab Code Quality severities: info, minor, major, critical, blocker.
_CODEQUALITY_SEVERITY = {"error": "major", "warning": "minor"}


@dataclass(frozen=True, order=True)
class Finding:
    """A problem in a file, at a 1-based line and column. ``rule`` names the check (like a linter rule).

    ``field`` is the path of the offending field inside the file (``accounts[2].username``, see
    ``field_name``) when the check knows it, else ``None`` (a YAML syntax error, a whole file). Line and
    column say where to look; the field says *what* is wrong, and stays the same when lines move.
    """

    path: str
    line: int
    col: int
    message: str
    rule: str
    severity: str = "error"
    field: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(finding.severity == "error" for finding in findings)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(set(findings), key=lambda f: (f.path, f.line, f.col, f.rule, f.message))


def render_text(findings: Sequence[Finding], files: Sequence[str] = ()) -> str:
    """``path:line:col: message [rule]``, one a line (errors of severity warning say so)."""
    lines = []
    for finding in findings:
        level = "" if finding.severity == "error" else f"{finding.severity}: "
        lines.append(
            f"{finding.path}:{finding.line}:{finding.col}: {level}{finding.message} [{finding.rule}]"
        )
    return "".join(line + "\n" for line in lines)


def render_json(findings: Sequence[Finding], files: Sequence[str] = ()) -> str:
    return json.dumps([asdict(finding) for finding in findings], ensure_ascii=False, indent=2) + "\n"


def render_junit(findings: Sequence[Finding], files: Sequence[str] = ()) -> str:
    """JUnit XML: one test case per file (files without findings pass), one failure per finding."""
    by_file: dict[str, list[Finding]] = {path: [] for path in files}
    for finding in findings:
        by_file.setdefault(finding.path, []).append(finding)
    failed = sum(1 for problems in by_file.values() if problems)
    suites = ET.Element("testsuites", name="hopthu validate", tests=str(len(by_file)), failures=str(failed))
    suite = ET.SubElement(
        suites, "testsuite", name="hopthu validate", tests=str(len(by_file)), failures=str(failed), errors="0"
    )
    for path in sorted(by_file):
        case = ET.SubElement(suite, "testcase", classname="hopthu.validate", name=path, file=path)
        for finding in by_file[path]:
            failure = ET.SubElement(
                case,
                "failure",
                message=f"{finding.line}:{finding.col}: {finding.message}",
                type=finding.rule,
            )
            failure.text = render_text([finding])
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def fingerprint(finding: Finding, occurrence: int = 0) -> str:
    """What GitLab matches between the merge request's report and the target branch's: SHA-256 of the
    rule, the file and the field path — never the line or column (a line inserted above must not make
    an old finding look new and fixed) nor the message (it may quote values and line numbers).

    ``occurrence`` tells apart findings that share all three (two problems of one rule in one field, or
    in a file without field paths, such as YAML syntax errors): the first has none (0), the next 1, 2…
    in the file's order, so a finding added below another leaves the first one's fingerprint alone.
    """
    parts = [finding.rule, finding.path, finding.field or ""]
    if occurrence:
        parts.append(str(occurrence))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def fingerprints(findings: Sequence[Finding]) -> list[str]:
    """The fingerprint of each finding, occurrences counted in file order (line, column) per identity."""
    seen: dict[tuple[str, str, str | None], int] = {}
    result = [""] * len(findings)
    for index in sorted(range(len(findings)), key=lambda i: (findings[i].line, findings[i].col)):
        finding = findings[index]
        identity = (finding.rule, finding.path, finding.field)
        result[index] = fingerprint(finding, seen.get(identity, 0))
        seen[identity] = seen.get(identity, 0) + 1
    return result


def render_codequality(findings: Sequence[Finding], files: Sequence[str] = ()) -> str:
    """GitLab Code Quality report (a JSON array of issues). The line is for display; the fingerprint,
    which GitLab compares with the target branch's report, does not depend on it."""
    issues = [
        {
            "description": finding.message,
            "check_name": f"hopthu/{finding.rule}",
            "fingerprint": mark,
            "severity": _CODEQUALITY_SEVERITY[finding.severity],
            "location": {"path": finding.path, "lines": {"begin": finding.line}},
        }
        for finding, mark in zip(findings, fingerprints(findings), strict=True)
    ]
    return json.dumps(issues, ensure_ascii=False, indent=2) + "\n"


# --- JSON Schema errors as findings ---------------------------------------------------------------

_JSON_TYPE_NAMES = {
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    list: "a list",
    dict: "a mapping",
    type(None): "empty",
}
_SCHEMA_TYPE_NAMES = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "array": "a list",
    "object": "a mapping (field: value)",
    "boolean": "true or false",
}
# Digit runs that could be an identity number: never echoed into a message.
_LONG_DIGITS = re.compile(r"\d{9,}")


def field_name(path: Iterable[str | int]) -> str:
    """``accounts[0].full_name`` for ("accounts", 0, "full_name"); ``(document)`` for the whole file."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


def _show(value: Any) -> str:
    """A short, redacted rendering of a value for a message."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = _LONG_DIGITS.sub("…", text)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _schema_messages(error: jsonschema.ValidationError) -> list[tuple[tuple[str | int, ...], str, str]]:
    """(path of the offending field, message, rule) for one leaf schema error."""
    path = tuple(error.absolute_path)
    where = field_name(path)
    instance, schema, keyword = error.instance, error.schema, error.validator
    hint = schema.get("description")
    if keyword == "required":
        missing = [
            name for name in error.validator_value if isinstance(instance, dict) and name not in instance
        ]
        # The missing field's own path: locating it falls back to the mapping that lacks it.
        return [
            (
                (*path, name),
                f"{where}: missing required field '{name}'" + _field_hint(schema, name),
                "schema-required",
            )
            for name in missing
        ]
    if keyword == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        results = []
        for name in instance:
            if name in allowed:
                continue
            close = difflib.get_close_matches(name, allowed, n=1)
            advice = f"did you mean '{close[0]}'?" if close else f"allowed fields: {', '.join(allowed)}"
            results.append(
                ((*path, name), f"{where}: unknown field '{name}': {advice}", "schema-unknown-field")
            )
        return results
    if keyword == "type":
        wanted = error.validator_value
        wanted_name = _SCHEMA_TYPE_NAMES.get(wanted, str(wanted)) if isinstance(wanted, str) else str(wanted)
        got = _JSON_TYPE_NAMES.get(type(instance), type(instance).__name__)
        message = f"{where}: must be {wanted_name}, not {got}"
        if wanted == "string" and isinstance(instance, int | float | bool):
            message += " (YAML read it as a number or boolean: put the value in quotes)"
        elif instance is None:
            message += ": fill it in or remove the field"
        return [(path, message, "schema-type")]
    if keyword in ("enum", "const"):
        choices = error.validator_value if keyword == "enum" else [error.validator_value]
        listed = ", ".join(str(choice) for choice in choices)
        return [(path, f"{where}: {_show(instance)} is not allowed: use one of {listed}", "schema-value")]
    if keyword == "pattern" or keyword == "format":
        if isinstance(instance, str) and not instance.strip():
            return [(path, f"{where}: must not be blank", "schema-value")]
        return [(path, f"{where}: {_show(instance)} is not {hint or 'in the expected form'}", "schema-value")]
    if keyword in ("minItems", "minLength", "minProperties"):
        if error.validator_value <= 1:
            return [(path, f"{where}: must not be empty", "schema-value")]
        return [(path, f"{where}: needs at least {error.validator_value} items", "schema-value")]
    if keyword in ("maxLength", "maxItems"):  # never echo the value: it may be megabytes long
        limit = error.validator_value
        if keyword == "maxLength":
            size, advice = f"{len(instance):,} characters", "shorten it"
        else:
            size, advice = f"{len(instance):,} items", "split them over several requests"
        return [(path, f"{where}: {size}, more than the {limit:,} allowed: {advice}", "schema-too-long")]
    if keyword == "uniqueItems":
        return [(path, f"{where}: lists the same item more than once", "schema-value")]
    if keyword in ("minimum", "maximum"):
        bound = "at least" if keyword == "minimum" else "at most"
        return [(path, f"{where}: must be {bound} {error.validator_value}", "schema-value")]
    return [(path, f"{where}: {_LONG_DIGITS.sub('…', error.message)}", f"schema-{keyword}")]


def _field_hint(parent_schema: dict[str, Any], name: str) -> str:
    description = parent_schema.get("properties", {}).get(name, {}).get("description")
    return f" ({description})" if description else ""


@cache
def schema_validator(path: Path) -> SchemaValidator:
    """A JSON Schema 2020-12 validator for the schema file at ``path``, its local ``$ref``s inlined.

    Inlining once halves the time of each validation (resolving a ``$ref`` costs more than checking the
    value), which counts when thousands of request files are checked on every merge request.
    """
    schema = json.loads(path.read_text(encoding="utf-8"))
    return SchemaValidator(_inline_refs(schema, schema.get("$defs", {})))


# --- the fast path: a compiled validator says "valid" in microseconds --------------------------------
#
# Checking a 10,000-account request with the Python validator takes seconds (an ``if`` per account); the
# compiled one (jsonschema-rs) takes milliseconds but words its errors differently. So it only answers
# "valid?": when it says yes, the Python walk is skipped; when it says no, the Python walk runs and the
# findings are exactly what they always were. That is only sound if the compiled validator is never more
# lenient than the Python one: its regular expressions are ECMA-262's, whose ``\S`` matches a few
# characters Python counts as whitespace, so such patterns are tightened for it; any construct not known
# to behave the same way leaves the schema on the Python path alone.

# Whitespace to Python's ``re`` (str.isspace) but not to ECMA-262's ``\s``.
_PYTHON_ONLY_SPACE = "\\x1c-\\x1f\\x85"


class SchemaValidator:
    """One schema's two validators: the compiled one answers "valid?"; the Python one (jsonschema), built
    on first need, finds and words every error. Valid documents never import jsonschema at all."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.compiled = fast_validator(schema)  # it refuses a schema that breaks the meta-schema
        self._python: jsonschema.protocols.Validator | None = None
        if self.compiled is None:  # without the compiled check, a broken schema is refused here
            self._python = _python_validator(schema)

    @property
    def python(self) -> jsonschema.protocols.Validator:
        if self._python is None:
            self._python = _python_validator(self.schema)
        return self._python

    def accepts(self, instance: Any) -> bool:
        """True when the compiled validator accepts ``instance`` (False: ask ``iter_errors``)."""
        if self.compiled is None:
            return False
        try:
            return self.compiled.is_valid(instance)
        except (ValueError, TypeError, OverflowError):  # a value JSON cannot hold: let Python judge it
            return False

    def iter_errors(self, instance: Any) -> Iterator[jsonschema.ValidationError]:
        return self.python.iter_errors(instance)


def _python_validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    import jsonschema  # about 50 ms: only imported when a document has errors to report

    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def fast_validator(schema: dict[str, Any]) -> Any:
    """A compiled validator of ``schema`` that never accepts what the Python one refuses, or None."""
    try:
        tightened = _tighten_patterns(schema)
        return jsonschema_rs.Draft202012Validator(tightened, validate_formats=False, offline=True)
    except ValueError:  # a construct we cannot vouch for, or one the compiled validator refuses
        return None


# Keywords whose values are data, not schemas: a "pattern" key in there is not a pattern.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})


def _tighten_patterns(node: Any) -> Any:
    """``node`` with each ``pattern`` rewritten for the ECMA-262 engine; ValueError if one cannot be."""
    if isinstance(node, list):
        return [_tighten_patterns(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {}
    for key, value in node.items():
        if key in ("patternProperties", "format") and isinstance(value, dict | str):
            raise ValueError(f"{key} is not vouched for on the fast path")  # our schemas do without
        if key == "pattern" and isinstance(value, str):
            result[key] = _ecma_pattern(value)
        else:
            result[key] = value if key in _DATA_KEYWORDS else _tighten_patterns(value)
    return result


def _ecma_pattern(pattern: str) -> str:
    """``pattern`` for an ECMA-262 engine, matching nothing Python's ``re`` would not.

    Escaped punctuation means the same in both; ``\\S`` outside a character class becomes a class that
    also excludes Python's extra whitespace. Other escapes (``\\d``, ``\\w``, ``\\s``…) differ in subtle
    ways: ValueError.
    """
    out: list[str] = []
    in_class = False
    position = 0
    while position < len(pattern):
        char = pattern[position]
        if char == "\\":
            escaped = pattern[position + 1 : position + 2]
            if escaped == "S" and not in_class:
                out.append(f"[^\\s{_PYTHON_ONLY_SPACE}]")
            elif escaped.isascii() and escaped and not escaped.isalnum():
                out.append(char + escaped)
            else:
                raise ValueError(f"escape \\{escaped} in pattern {pattern!r} is not vouched for")
            position += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        position += 1
    return "".join(out)


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` with every ``{"$ref": "#/$defs/x"}`` replaced by ``x`` (the schemas are not recursive).

    The referenced schema wins over its siblings, as its own ``description`` is what explains its pattern.
    """
    if isinstance(node, list):
        return [_inline_refs(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    inlined = {key: _inline_refs(value, defs) for key, value in node.items() if key != "$defs"}
    reference = inlined.pop("$ref", None)
    if reference is None:
        return inlined
    prefix = "#/$defs/"
    if not reference.startswith(prefix) or reference[len(prefix) :] not in defs:
        raise ValueError(f"unsupported $ref {reference!r}: only local #/$defs/ references")
    return {**inlined, **_inline_refs(defs[reference[len(prefix) :]], defs)}


def schema_problems(
    validator: SchemaValidator | jsonschema.protocols.Validator, document: Document, path: str
) -> list[tuple[tuple[str | int, ...], Finding]]:
    """Every schema violation of ``document``: (path of the offending field, finding located there)."""
    if isinstance(validator, SchemaValidator) and validator.accepts(document.data):
        return []
    problems = []
    for error in validator.iter_errors(document.data):
        for field_path, message, rule in _schema_messages(error):
            line, col = document.locate(field_path)
            problems.append(
                (field_path, Finding(path, line, col, message, rule, field=field_name(field_path)))
            )
    return problems


def schema_findings(
    validator: SchemaValidator | jsonschema.protocols.Validator, document: Document, path: str
) -> list[Finding]:
    """Every schema violation of ``document`` as a finding located at the offending field."""
    return sort_findings(finding for _, finding in schema_problems(validator, document, path))


RENDERERS: dict[str, Callable[[Sequence[Finding], Sequence[str]], str]] = {
    "text": render_text,
    "json": render_json,
    "junit": render_junit,
    "codequality": render_codequality,
}


def render(fmt: str, findings: Sequence[Finding], files: Sequence[str] = ()) -> str:
    """Render ``findings`` (about ``files``, the files that were checked) in format ``fmt``."""
    return RENDERERS[fmt](findings, files)
