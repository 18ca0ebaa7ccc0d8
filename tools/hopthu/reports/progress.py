"""Progress of a report that reads many entries (request files, accounts), on standard error.

Silent for the few entries of an everyday run; past ``every`` entries, one line per ``every`` more, so a
person waiting on 100,000 accounts sees that something happens and a CI log stays short.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

EVERY = 5000


class Progress:
    def __init__(
        self,
        what: str,
        total: int | None = None,
        *,
        every: int = EVERY,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.what = what  # "request files", "accounts"
        self.total = total
        self.every = every
        self.done = 0
        self._echo = echo or (lambda line: print(line, file=sys.stderr, flush=True))
        self._next = every

    def advance(self, count: int = 1) -> None:
        self.done += count
        while self.done >= self._next:
            of = f" of {self.total:,}" if self.total else ""
            self._echo(f"{self.what}: {self._next:,}{of} read")
            self._next += self.every
