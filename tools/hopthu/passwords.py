"""One-time passwords (mật khẩu lần đầu) and the credentials outbox that holds them until delivery.

A generated password exists in exactly one place: the outbox file of its request, outside the git
repository, readable only by its owner. The applier takes it from there when it writes the account; the
notice step reads it into the result notice for the unit's official mailbox and then removes the file.
Nothing here prints, logs or ``repr``s a password.

At rest every credentials file is encrypted (Fernet: AES-128-CBC with HMAC-SHA256, ``cryptography``) with
the outbox key, which comes from the vault or a protected CI variable (``HOPTHU_OUTBOX_KEY``, or a file
named by ``HOPTHU_OUTBOX_KEY_FILE``) and never from a file next to the outbox: without the key no
password is readable, neither on the apply host's disk nor in the copy the replicated directory keeps
(``mirror``, ``hopthu.statestore``). Rotation: the variable may hold several keys, separated by spaces or
commas; the first encrypts, every one decrypts. Put the new key first, run ``hopthu state rekey``
(every waiting file is encrypted again with it, here and in the directory's copy), then drop the old one.
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
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from hopthu.model import PasswordPolicy

KEY_ENV = "HOPTHU_OUTBOX_KEY"
KEY_FILE_ENV = "HOPTHU_OUTBOX_KEY_FILE"

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


def new_outbox_key() -> str:
    """A new random outbox key (32 bytes, URL-safe base64, as Fernet takes it)."""
    return Fernet.generate_key().decode("ascii")


def outbox_keys(env: Mapping[str, str] | None = None) -> MultiFernet | None:
    """The outbox keys of ``$HOPTHU_OUTBOX_KEY`` (or the file ``$HOPTHU_OUTBOX_KEY_FILE`` names), the
    first one encrypting; None when neither is set. A malformed key is an error naming the variable,
    never showing the key."""
    env = os.environ if env is None else env
    text, source = env.get(KEY_ENV, ""), KEY_ENV
    if not text.strip() and env.get(KEY_FILE_ENV):
        source = f"{KEY_FILE_ENV} ({env[KEY_FILE_ENV]})"
        try:
            text = Path(env[KEY_FILE_ENV]).read_text(encoding="utf-8")
        except OSError as error:
            raise OutboxError(
                f"cannot read the outbox key file {env[KEY_FILE_ENV]}: {error.strerror}"
            ) from None
    keys = [key for key in text.replace(",", " ").split() if key]
    if not keys:
        return None
    try:
        return MultiFernet([Fernet(key.encode("ascii")) for key in keys])
    except (ValueError, UnicodeEncodeError):
        raise OutboxError(
            f"{source}: not outbox keys (each is 44 characters of URL-safe base64; make one with "
            "`hopthu state new-key`)"
        ) from None


_FROM_ENV: object = object()


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
    """Credential files ``<root>/<request id>.json`` (mode 0600, encrypted) in a directory of mode 0700.

    ``root`` must not be inside a git work tree: a password must never be one ``git add`` away from the
    repository. ``keys`` default to ``outbox_keys()`` (the environment); ``mirror`` (a
    ``hopthu.statestore.StateStore``) also keeps every file, as encrypted, in the replicated directory,
    written before ``reserve`` returns.
    """

    def __init__(
        self, root: Path | str | None = None, *, keys: object = _FROM_ENV, mirror: Any = None
    ) -> None:
        self.root = Path(root) if root is not None else default_outbox_root()
        self._keys = outbox_keys() if keys is _FROM_ENV else keys
        self.mirror = mirror
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
                self._store(request_id, self._cipher().encrypt(data))
            return {uid: passwords[uid] for uid in uids}

    def _cipher(self) -> MultiFernet:
        if self._keys is None:
            raise OutboxError(
                f"no outbox key: set {KEY_ENV} (from the vault or a protected CI variable) or "
                f"{KEY_FILE_ENV}; one-time passwords are kept only encrypted "
                "(`hopthu state new-key` makes a key)"
            )
        return self._keys  # type: ignore[return-value]

    def _store(self, request_id: str, token: bytes) -> None:
        """Write one encrypted file, here and in the mirror, both before returning."""
        _write_atomically(self.path(request_id), token + b"\n")
        if self.mirror is not None:
            self.mirror.put_credentials(request_id, token)

    def credentials(self, request_id: str) -> Credentials | None:
        path = self.path(request_id)
        try:
            raw = path.read_bytes().strip()
        except FileNotFoundError:
            return None
        try:
            document = json.loads(self._decrypt(path, raw))
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
        if document["request"] != request_id:
            raise OutboxError(f"{path}: holds the credentials of {document['request']!r}, not {request_id!r}")
        return Credentials(**{name: document[name] for name in _FIELDS})

    def _decrypt(self, path: Path, raw: bytes) -> bytes:
        if raw.startswith(b"{"):
            return raw  # written in clear by a version before encryption: `hopthu state rekey` encrypts it
        try:
            return self._cipher().decrypt(raw)
        except InvalidToken:
            raise OutboxError(
                f"{path}: cannot be decrypted with the outbox keys in {KEY_ENV}: the key it was written "
                "with is missing (keep the old key after the new one until `hopthu state rekey` ran)"
            ) from None

    def rekey(self) -> list[str]:
        """Encrypt every waiting file again with the first key (here and in the mirror); the ids."""
        done = []
        with self._locked():
            for request_id in self.pending():
                path = self.path(request_id)
                data = self._decrypt(path, path.read_bytes().strip())
                self._store(request_id, self._cipher().encrypt(data))  # the first key encrypts
                done.append(request_id)
        return done

    def restore(self, files: Mapping[str, bytes]) -> list[str]:
        """Write the (encrypted) files kept elsewhere that are not here; the ids written. A file here
        that differs from the copy is left as it is and named in the error."""
        written, different = [], []
        with self._locked():
            for request_id, token in sorted(files.items()):
                path = self.path(request_id)
                if path.exists():
                    if path.read_bytes().strip() != token.strip():
                        different.append(request_id)
                    continue
                json.loads(self._decrypt(path, token.strip()))  # a copy that does not decrypt is refused
                _write_atomically(path, token.strip() + b"\n")
                written.append(request_id)
        if different:
            raise OutboxError(
                f"{self.root}: the credentials of {', '.join(different)} differ from the replicated copy; "
                "they were kept as they are here"
            )
        return written

    def remove(self, request_id: str) -> bool:
        """Delete a request's credentials (after its notice was delivered); False if there were none."""
        with self._locked():
            try:
                self.path(request_id).unlink()
            except FileNotFoundError:
                removed = False
            else:
                _fsync_dir(self.root)
                removed = True
            if self.mirror is not None:
                self.mirror.remove_credentials(request_id)
            return removed

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
