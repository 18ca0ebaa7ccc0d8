"""``hopthu validate --base REF``: a merge request's checks, which scale with the change, not the history.

The files a merge request adds or changes (since the merge base with REF, uncommitted and untracked ones
included) are checked in full. Every other request file only takes part in the cross-file checks, through
the id and usernames it gives, read cheaply (``requests.read_known``): merged requests never change
(``request-immutable``), and each was checked in full by the merge request that added it. That holds
only while what they were checked against holds too: when the merge request changes anything outside
``requests/`` (the inventory, the schemas, the tool), or the inventory is outside git, every request file
is checked in full, as without ``--base``. The findings are those of a full run for the merge request's
files; problems of files it does not touch are not reported again.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hopthu.findings import Finding, sort_findings
from hopthu.model import Inventory
from hopthu.requests import (
    REQUESTS_DIR,
    SUFFIXES,
    CheckedFile,
    check_across,
    check_file,
    check_tree,
    read_known,
    request_files,
    run_git,
    shown_path,
)

UNTRACKED = "?"
LETTER_SUFFIXES = (".pdf",)


@dataclass(frozen=True)
class Changes:
    """What differs from the merge base: each path (relative to the work tree's top) with git's status
    letter (A added, M modified, D deleted, T type changed…; ``?`` untracked)."""

    top: str  # its real path, as git gives it
    merge_base: str
    status: dict[str, str]

    def touched(self) -> set[str]:
        """Real paths of the files that were added or changed (they exist in the work tree)."""
        return {os.path.join(self.top, name) for name, letter in self.status.items() if letter != "D"}

    def outside(self, folder: Path) -> list[str]:
        """The changed paths that are not below ``folder``."""
        prefix = _relative(folder, self.top)
        return sorted(name for name in self.status if not _below(name, prefix))


@dataclass
class Validation:
    """The outcome of ``validate``: every finding, the files checked in full, how many others took part
    through their ids and usernames only, and (with a base) why every file was checked in full."""

    findings: list[Finding]
    checked: list[CheckedFile]
    others: int = 0
    everything_because: str | None = None
    files: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.files = [item.shown for item in self.checked]


def changes_since(base_ref: str, repo_root: Path) -> Changes:
    """The changes of the work tree (commits, uncommitted edits, untracked files) since its merge base with
    ``base_ref``. Raises ``GitError`` when git cannot say (not a repository, unknown ref…)."""
    top = os.path.realpath(run_git(repo_root, "rev-parse", "--show-toplevel").strip())
    run_git(Path(top), "cat-file", "-e", f"{base_ref}^{{commit}}")  # an unknown ref: git's own words
    merge_base = run_git(Path(top), "merge-base", base_ref, "HEAD").strip()
    fields = run_git(Path(top), "diff", "--name-status", "--no-renames", "-z", merge_base).split("\0")
    status = {name: letter for letter, name in zip(fields[0::2], fields[1::2], strict=False) if name}
    for name in run_git(Path(top), "ls-files", "--others", "--exclude-standard", "-z").split("\0"):
        if name:
            status[name] = UNTRACKED
    return Changes(top, merge_base, status)


def immutability_findings(changes: Changes, paths: Iterable[Path], base_ref: str) -> list[Finding]:
    """A request file of ``paths`` that existed at the merge base must be neither modified nor deleted."""
    prefixes = [_relative(Path(path), changes.top) for path in paths]
    findings = []
    for name, letter in sorted(changes.status.items()):
        # A request's signed letter (hopthu.letters) is part of it: it never changes either.
        is_letter = name.lower().endswith(LETTER_SUFFIXES)
        if letter in ("A", UNTRACKED) or not (name.endswith(SUFFIXES) or is_letter):
            continue
        if not any(_below(name, prefix) for prefix in prefixes):
            continue
        what = "deleted" if letter == "D" else "modified"
        thing = "request letter" if is_letter else "request"
        findings.append(
            Finding(
                shown_path(Path(changes.top, name)),
                1,
                1,
                f"this {thing} existed at {base_ref} and was {what}: merged requests never change; restore "
                f"it (git checkout {base_ref} -- {name}) and write a new request for the correction",
                "request-immutable",
            )
        )
    return findings


def validate(
    paths: Iterable[Path], inventory: Inventory, *, base_ref: str | None = None, repo_root: Path | None = None
) -> Validation:
    """Check the request files in ``paths``; with ``base_ref``, as a merge request (module docstring).

    Raises ``GitError`` when ``base_ref`` is given and git cannot compare with it.
    """
    paths = list(paths)
    root = repo_root or Path.cwd()
    files = request_files(paths)
    if base_ref is None:
        return _in_full(files, inventory, root)
    changes = changes_since(base_ref, root)
    findings = immutability_findings(changes, paths, base_ref)
    because = _why_everything(changes, inventory, root)
    if because is not None:
        result = _in_full(files, inventory, root, because)
        result.findings = sort_findings([*result.findings, *findings])
        return result
    real = _RealPaths()
    folder = os.path.realpath(root / REQUESTS_DIR)
    touched = changes.touched()
    # Checked in full: what changed, and whatever is not an unchanged file of requests/ (a missing path…).
    full = [p for p in files if real(p) in touched or not _below(real(p), folder, os.sep)]
    mine = {real(p) for p in full}
    checked = [check_file(path, inventory) for path in full]
    everyone = files if paths == [root / REQUESTS_DIR] else request_files([root / REQUESTS_DIR])
    rest = [p for p in everyone if real(p) not in mine]
    check_across(checked, [read_known(path, inventory) for path in rest])
    findings += [finding for item in checked for finding in item.findings]
    return Validation(sort_findings(findings), checked, len(rest))


def _in_full(files: list[Path], inventory: Inventory, root: Path, because: str | None = None) -> Validation:
    checked, others = check_tree(files, inventory, repo_root=root)
    findings = sort_findings(finding for item in checked for finding in item.findings)
    return Validation(findings, checked, len(others), because)


def _why_everything(changes: Changes, inventory: Inventory, root: Path) -> str | None:
    """Why the unchanged request files cannot be taken as checked, or None."""
    if inventory.path is None or not _below(os.path.realpath(inventory.path), changes.top, os.sep):
        return "the inventory is outside the git work tree"
    outside = changes.outside(root / REQUESTS_DIR)
    if outside:
        more = f" and {len(outside) - 1} more file(s)" if len(outside) > 1 else ""
        return f"{outside[0]}{more} changed too"
    return None


class _RealPaths:
    """A file's path with its folders' links resolved (as git spells the work tree), each folder resolved
    once: thousands of files share a few folders. The file's own name is kept: git names a link itself."""

    def __init__(self) -> None:
        self.folders: dict[str, str] = {}

    def __call__(self, path: Path) -> str:
        folder, name = os.path.split(path)
        real = self.folders.get(folder)
        if real is None:
            real = self.folders[folder] = os.path.realpath(folder or ".")
        return os.path.join(real, name)


def _relative(path: Path, top: str) -> str:
    """``path`` relative to ``top`` in git's spelling ("" for the top itself)."""
    relative = os.path.relpath(os.path.realpath(path), top)
    return "" if relative == "." else relative.replace(os.sep, "/")


def _below(name: str, prefix: str, separator: str = "/") -> bool:
    return not prefix or name == prefix or name.startswith(prefix + separator)
