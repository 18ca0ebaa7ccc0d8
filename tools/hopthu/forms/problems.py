"""A located problem in an office file: ``FILE:SHEET!CELL: message`` (``FILE:table 2 row 5`` for Word,
``FILE:line 7`` for CSV), and a refusal of a whole file."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# The same digit runs hopthu.requests treats as identity numbers (CMND 9, CCCD 12 digits).
_NATIONAL_ID = re.compile(r"(?<![0-9])(?:[0-9]{12}|[0-9]{9})(?![0-9])")


@dataclass(frozen=True)
class Problem:
    """One problem of one cell, row or file; ``where`` is already rendered (``f.xlsx:Sheet1!C7``)."""

    where: str
    message: str
    rule: str
    severity: str = "error"  # "error" stops the import; "note" is said and the import goes on

    def render(self) -> str:
        level = "" if self.severity == "error" else f"{self.severity}: "
        return f"{self.where}: {level}{self.message} [{self.rule}]"


class FormError(Exception):
    """The file as a whole cannot be read (not a spreadsheet, encrypted, too large…)."""

    def __init__(self, where: str, message: str, rule: str) -> None:
        super().__init__(f"{where}: {message}")
        self.problem = Problem(where, message, rule)


_CELL = re.compile(r"!\$?([A-Z]{1,3})\$?(\d+)$")
_ROW = re.compile(r"(?:row|line) (\d+)(?: column (\d+))?$")


def in_order(problems: Iterable[Problem]) -> list[Problem]:
    """Problems in reading order: by file, then row, then column (C10 after C9, not before)."""

    def order(problem: Problem) -> tuple:
        where = problem.where
        if match := _CELL.search(where):
            letters = match.group(1)
            column = sum((ord(ch) - 64) * 26**i for i, ch in enumerate(reversed(letters)))
            return (where[: match.start()], int(match.group(2)), column)
        if match := _ROW.search(where):
            return (where[: match.start()], int(match.group(1)), int(match.group(2) or 0))
        return (where, 0, 0)

    return sorted(problems, key=order)


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def shown(value: object, limit: int = 60) -> str:
    """A cell's text as a message may quote it: one line, shortened, identity numbers masked (a CCCD typed
    into the wrong column must not reach a log through an error message)."""
    text = " ".join(str(value).split())
    text = _NATIONAL_ID.sub(lambda m: "•" * len(m.group()), text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
