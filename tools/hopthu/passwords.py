"""One-time passwords (mật khẩu lần đầu) and the credentials outbox that holds them until delivery.

A generated password exists in exactly one place: the outbox file of its request, outside the git
repository, readable only by its owner. The applier takes it from there when it writes the account; the
notice step reads it into the result notice for the unit's official mailbox and then removes the file.
Nothing here prints, logs or ``repr``s a password.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import secrets
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hopthu.model import PasswordPolicy

MIN_LENGTH = 12

# Unambiguous characters only: no 0/O/o, 1/l/I. Symbols that survive e-mail clients and Word (no quotes
# that become “smart”, no - or -- that become dashes, no * or _ that turn text bold or italic, no @ that
# makes a link, no < > & for HTML) and sit on the first symbol pages of phone keyboards.
CLASSES: dict[str, str] = {
    "lower": "abcdefghijkmnpqrstuvwxyz",
    "upper": "ABCDEFGHJKLMNPQRSTUVWXYZ",
    "digit": "23456789",
    "symbol": "!#$%+=?",
}


def generate_password(policy: PasswordPolicy) -> str:
    """A random password of ``policy.length`` characters with at least one of each of ``policy.classes``.

    Every character is drawn uniformly (``secrets``) from the union of the policy's classes; a draw that
    misses a class is thrown away and drawn again. So every valid password is equally likely, unlike
    "one of each class, then shuffle", which favours passwords with few characters of the small classes.
    At the default 14 characters of 63 that is about 83 bits.
    """
    alphabets = _alphabets(policy)
    length = policy.length
    if length < MIN_LENGTH:
        raise ValueError(f"password length {length} is too short: at least {MIN_LENGTH} characters")
    alphabet = "".join(alphabets)
    classes = [frozenset(chars) for chars in alphabets]
    while True:
        password = "".join(_uniform_characters(alphabet, length))
        if all(not chars.isdisjoint(password) for chars in classes):
            return password


def _uniform_characters(alphabet: str, count: int) -> list[str]:
    """``count`` characters of ``alphabet``, each drawn uniformly and independently.

    One system call for a whole password instead of one ``secrets.choice`` per character (a few times
    faster for the 10,000 passwords of a bulk request): a random byte below the largest multiple of the
    alphabet's size maps uniformly onto it; the other bytes are thrown away.
    """
    size = len(alphabet)
    if size > 256:
        return [secrets.choice(alphabet) for _ in range(count)]
    below = 256 - 256 % size
    chosen: list[str] = []
    while len(chosen) < count:
        chosen += [alphabet[byte % size] for byte in secrets.token_bytes(count + 4) if byte < below]
    return chosen[:count]


def _alphabets(policy: PasswordPolicy) -> list[str]:
    unknown = [name for name in policy.classes if name not in CLASSES]
    if unknown:
        raise ValueError(f"unknown password character class(es) {unknown}; known: {', '.join(CLASSES)}")
    if not policy.classes:
        raise ValueError("a password policy needs at least one character class")
    return [CLASSES[name] for name in dict.fromkeys(policy.classes)]


# --- the outbox ------------------------------------------------------------------------------------


class OutboxError(Exception):
    """The outbox cannot be used as asked; the message says why and what to do."""


def default_outbox_root() -> Path:
    """``$HOPTHU_OUTBOX``, else ``$XDG_STATE_HOME/hopthu/outbox`` (``~/.local/state/hopthu/outbox``)."""
    if os.environ.get("HOPTHU_OUTBOX"):
        return Path(os.environ["HOPTHU_OUTBOX"])
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "hopthu" / "outbox"


@dataclass(frozen=True, repr=False)
class Credentials:
    """The passwords of one request, with where the notice goes. Its repr never shows a password."""

    request: str
    org: str
    unit: str
    recipient: str  # the unit's official mailbox when the passwords were made: the notice goes there
    created: str  # UTC, ISO-8601
    passwords: Mapping[str, str]  # uid -> password

    def __repr__(self) -> str:
        return (
            f"Credentials(request={self.request!r}, org={self.org!r}, unit={self.unit!r}, "
            f"recipient={self.recipient!r}, created={self.created!r}, "
            f"passwords=<{len(self.passwords)} hidden>)"
        )

    __str__ = __repr__


_FIELDS = ("request", "org", "unit", "recipient", "created", "passwords")


class Outbox:
    """Credential files ``<root>/<request id>.json`` (mode 0600) in a directory of mode 0700.

    ``root`` must not be inside a git work tree: a password must never be one ``git add`` away from the
    repository.
    """

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_outbox_root()
        work_tree = _git_work_tree(self.root)
        if work_tree is not None:
            raise OutboxError(
                f"{self.root}: the credentials outbox is inside the git work tree {work_tree}; "
                "choose a directory outside any repository (set $HOPTHU_OUTBOX)"
            )

    def __repr__(self) -> str:
        return f"Outbox({str(self.root)!r})"

    def path(self, request_id: str) -> Path:
        return self.root / (_file_stem(request_id) + ".json")

    def reserve(
        self,
        request_id: str,
        uids: Sequence[str],
        policy: PasswordPolicy,
        *,
        org: str,
        unit: str,
        recipient: str,
    ) -> dict[str, str]:
        """uid → password for ``uids``: the ones already reserved stay, the others are made now.

        New passwords are written (one atomic, durable write) before they are returned, so a password
        handed to the directory can always be found again for the notice.
        """
        with self._locked():
            existing = self.credentials(request_id)
            if existing is not None and (existing.org, existing.unit) != (org, unit):
                raise OutboxError(
                    f"{self.path(request_id)}: request {request_id} has credentials for "
                    f"{existing.org}/{existing.unit}, not {org}/{unit}: request ids must be unique"
                )
            passwords = dict(existing.passwords) if existing else {}
            missing = [uid for uid in dict.fromkeys(uids) if uid not in passwords]
            if missing:
                for uid in missing:
                    passwords[uid] = generate_password(policy)
                document = {
                    "request": request_id,
                    "org": org,
                    "unit": unit,
                    "recipient": existing.recipient if existing else recipient,
                    "created": existing.created if existing else _now(),
                    "passwords": passwords,
                }
                data = json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
                _write_atomically(self.path(request_id), data + b"\n")
            return {uid: passwords[uid] for uid in uids}

    def credentials(self, request_id: str) -> Credentials | None:
        path = self.path(request_id)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            document = json.loads(raw)
            if not isinstance(document, dict) or set(document) != set(_FIELDS):
                raise ValueError(f"fields must be {', '.join(_FIELDS)}")
            passwords = document["passwords"]
            if not isinstance(passwords, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in passwords.items()
            ):
                raise ValueError("passwords must map usernames to passwords")
        except ValueError as error:
            raise OutboxError(
                f"{path}: not a credentials file ({error}); it was not written by hopthu"
            ) from None
        return Credentials(**{name: document[name] for name in _FIELDS})

    def remove(self, request_id: str) -> bool:
        """Delete a request's credentials (after its notice was delivered); False if there were none."""
        with self._locked():
            try:
                self.path(request_id).unlink()
            except FileNotFoundError:
                return False
            _fsync_dir(self.root)
            return True

    def pending(self) -> list[str]:
        """Request ids whose credentials are still waiting for their notice."""
        if not self.root.is_dir():
            return []
        return sorted(
            urllib.parse.unquote(path.name[: -len(".json")])
            for path in self.root.iterdir()
            if path.name.endswith(".json") and not path.name.startswith(".")
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Create the outbox (0700) and hold its lock: two applies never interleave a read-modify-write."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)  # an existing directory may have been made with looser permissions
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _file_stem(request_id: str) -> str:
    """A request id as a file name: reversible, no path separators, never hidden (no leading dot)."""
    if not request_id or not request_id.strip():
        raise ValueError("a request id is empty")
    stem = urllib.parse.quote(request_id, safe="")
    return "%2E" + stem[1:] if stem.startswith(".") else stem


def _git_work_tree(path: Path) -> Path | None:
    """The git work tree that contains ``path`` (which need not exist yet), or None."""
    path = path.expanduser().resolve()
    for directory in (path, *path.parents):
        if (directory / ".git").exists():
            return directory
    return None


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``path`` so that a crash leaves the old file or the new one: temp file, fsync, rename."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
