"""A copy of this repository's data for a test to change: the parts of it the test names."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository


def copy_of_repo(target: Path, *parts: str) -> Path:
    """``target`` with a copy of each of the repository's ``parts`` ("inventory", "requests/ctu", …) at the
    same place in it; returns ``target``."""
    for part in parts:
        shutil.copytree(ROOT / part, target / part)
    return target
