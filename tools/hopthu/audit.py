"""The audit log (nhật ký): append-only JSON Lines, each record chained to the one before by SHA-256.

One record is one line of canonical JSON (keys sorted, UTF-8, no spaces) ending in ``\\n``. Every record
has the same fields; ``None`` means "does not apply":

- ``seq`` 1, 2, 3…; ``time`` (UTC, ISO-8601); ``commit`` (``$CI_COMMIT_SHA`` or ``git rev-parse HEAD``);
  ``ci``: who and what ran the apply, ``None`` outside GitLab CI (see ``ci_context``);
- ``event``: ``intent`` (a change is about to be made), ``change`` (the change ran: ``result`` is ``ok`` or
  the error), ``request`` (the request is ``applied`` or ``refused``, with ``reason``), ``repair`` (written
  by this module: an incomplete last line left by a crash was cut off);
- ``request``, ``document``, ``org``, ``op``, ``dn``, ``uid``, ``group``, ``before``/``after`` (attribute →
  list of values; every secret attribute is masked here, whatever the caller passes), ``result``, ``reason``;
- ``refusals``: of a refused request, why, as data (``hopthu.refusals.Refusal.as_record``: code, parameters,
  every account concerned), so that its notice says it in Vietnamese; ``reason`` is the same in English;
- ``prev``: SHA-256 (hex) of the previous record's line, 64 zeros for the first record;
- ``hash``: SHA-256 of this record's canonical JSON without ``hash``.

What the chain detects (``AuditLog.verify``), naming the line and ``seq``:
- a record edited in place (its ``hash`` no longer matches), also with the hash recomputed (the next
  record's ``prev`` no longer matches);
- a record removed from the middle (a gap in ``seq``), inserted (a second record with the same ``seq``),
  or records reordered;
- a line that is not a complete record (damaged, or torn by a crash: an incomplete *last* line is not a
  record; the next append cuts it off and writes a ``repair`` record saying so, which verify reports as a
  warning).

What it cannot detect on its own: records removed from the *end*, or a whole log rewritten from some point
on with every hash recomputed (anyone who can write the file can do that). For those, keep an anchor
outside the log: ``hopthu audit head`` prints ``SEQ:HASH`` of the last record; print it in the CI job log
(or keep it in an artifact) after every apply, and later ``hopthu audit verify --expect-head SEQ:HASH``
fails unless that very record is still in the log, with the same content and everything before it intact.
Records appended after the anchor are fine: the log only grows.

A copy elsewhere (``mirror``, ``AuditMirror``: ``hopthu.statestore`` keeps one in the replicated
directory): every batch is also handed to the mirror right after its fsync, before ``append`` returns, so
a record the apply acted on is never only on the apply host's disk. Opening the log for writing first
brings the mirror up to date (it may have missed the end of an earlier run) and refuses to write when
the mirror holds more than this log (a restored or stale host): the chain is never forked.

Crash safety: one writer at a time (an exclusive ``flock`` on the log file, held while an ``AuditLog`` is
open; a second apply gets ``AuditLogBusy`` at once instead of waiting). ``append`` writes a whole batch
with one ``write`` and one ``fsync``; a crash leaves the batch complete, absent, or with a torn last line.

The log holds no secret: passwords are masked before they reach the file. It does hold DNs and usernames.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
import subprocess
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from hopthu.gitlab import MergeRequestLookup

GENESIS = "0" * 64  # the ``prev`` of the first record
MASK = "********"
DEFAULT_LOG = Path("var/audit/audit.jsonl")  # relative to the working directory; /var/ is git-ignored

EVENTS = frozenset({"intent", "change", "request", "repair"})
REQUEST_RESULTS = frozenset({"applied", "refused"})
OK = "ok"

# LDAP attributes whose values never reach the log (compared in lower case, options like ";binary" cut).
# Anything with "password" in its name is masked too.
SECRET_ATTRIBUTES = frozenset(
    {
        "userpassword",
        "authpassword",
        "pwdhistory",
        "sambantpassword",
        "sambalmpassword",
        "unicodepwd",
        "krbprincipalkey",
        "olcrootpw",
    }
)

# Fields the caller may set; the others (seq, time, commit, ci, prev, hash) are filled in here.
_TEXT_FIELDS = ("request", "document", "org", "op", "dn", "uid", "group", "result", "reason")
CALLER_FIELDS = ("event", *_TEXT_FIELDS, "before", "after", "refusals")


class AuditError(Exception):
    """The audit log cannot be used as asked; the message says why and what to do."""


class AuditLogBusy(AuditError):
    """Another process (another apply) holds the audit log."""


class AuditLogCorrupt(AuditError):
    """The log is damaged where a reader or writer needs it; ``hopthu audit verify`` says more."""


class AuditMirror(Protocol):
    """A copy of the log kept elsewhere, record for record (``hopthu.statestore.StateStore``). Its
    methods raise ``AuditError`` when the copy cannot be read or written."""

    def head(self) -> tuple[int, str] | None:
        """(seq, line hash) of the copy's last record; None when it has none."""

    def push(self, first_seq: int, lines: bytes) -> None:
        """Keep ``lines`` (complete records, each ending in a newline; the first has ``first_seq``)."""


# --- canonical form and hashes --------------------------------------------------------------------


# What json.dumps(sort_keys=True, ensure_ascii=False, separators=(",", ":")) builds anew at every call.
_CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def canonical(record: Mapping[str, Any]) -> bytes:
    """The one byte form of a record: sorted keys, UTF-8, no spaces."""
    return _CANONICAL_ENCODER.encode(record).encode("utf-8")


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 of the record's canonical JSON without its ``hash`` field."""
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def line_hash(line: bytes) -> str:
    """SHA-256 of one line (without its newline): the next record's ``prev``, and the log's head."""
    return hashlib.sha256(line).hexdigest()


def hashed_line(record: Mapping[str, Any]) -> tuple[str, bytes]:
    """(``record_hash(record)``, ``canonical`` of the record with that hash), serialising it once.

    In canonical form ``hash`` sits between the fields that sort before it and those after, so the line
    without it and the line with it share those two parts: a whole apply writes tens of thousands of
    records, and serialising each twice cost about a second.
    """
    head = _inner_json({key: value for key, value in record.items() if key < "hash"})
    return _hashed(head, _inner_json({key: value for key, value in record.items() if key > "hash"}))


def _inner_json(fields: Mapping[str, Any]) -> str:
    """The canonical JSON of ``fields`` without its braces: a run of ``"key":value`` pairs."""
    return _CANONICAL_ENCODER.encode(fields)[1:-1]


def _hashed(head: str, tail: str) -> tuple[str, bytes]:
    """(hash, line) of the record whose fields before ``hash`` serialise to ``head``, after it to ``tail``."""
    comma = "," if head and tail else ""
    digest = hashlib.sha256(("{" + head + comma + tail + "}").encode("utf-8")).hexdigest()
    line = "{" + (head + "," if head else "") + f'"hash":"{digest}"' + ("," + tail if tail else "") + "}"
    return digest, line.encode("utf-8")


@dataclass(frozen=True)
class Prepared:
    """A record checked and mostly serialised ahead of ``append`` (``AuditLog.prepare``): what is left
    for ``append`` is the chain (seq, prev), the time and the hash. An applier prepares the next records
    while the directory works, so that writing them holds up the directory as little as possible."""

    draft: dict[str, Any]  # the caller's fields, checked and masked, and commit and ci
    head: str  # their canonical JSON before ``hash`` (after, before, ci, commit, document, dn, event, group)


@cache
def is_secret(attribute: str) -> bool:
    name = attribute.split(";", 1)[0].lower()
    return name in SECRET_ATTRIBUTES or "password" in name


def mask_secrets(attrs: Mapping[str, Any] | None) -> dict[str, list[str]] | None:
    """attribute → list of strings, with the values of secret attributes replaced by ``MASK``.

    A dict that is already that, with nothing secret in it (the usual case), is returned as it is.
    """
    if attrs is None:
        return None
    if not isinstance(attrs, Mapping):
        raise ValueError(f"before/after must map attribute names to values, not {type(attrs).__name__}")
    if type(attrs) is dict and _plain(attrs):
        return attrs
    masked: dict[str, list[str]] = {}
    for name, values in attrs.items():
        if not isinstance(name, str):
            raise ValueError(f"attribute name {name!r} is not a string")
        values = [values] if isinstance(values, str | bytes) else list(values)
        if is_secret(name):
            masked[name] = [MASK] if values else []
        else:
            masked[name] = [_text(value) for value in values]
    return masked


def _plain(attrs: dict[Any, Any]) -> bool:
    """True when every name is a string naming no secret, and every value a list of strings."""
    for name, values in attrs.items():
        if type(name) is not str or type(values) is not list or is_secret(name):
            return False
        for value in values:
            if type(value) is not str:
                return False
    return True


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, int | bool):
        return str(value)
    raise ValueError(f"attribute value {value!r} is not text")


# --- where the record comes from -------------------------------------------------------------------


def default_log_path() -> Path:
    """``$HOPTHU_AUDIT_LOG``, else ``var/audit/audit.jsonl`` under the working directory.

    In CI set ``HOPTHU_AUDIT_LOG`` to a path that outlives the job (the runner's persistent volume):
    the job's checkout is thrown away.
    """
    return Path(os.environ.get("HOPTHU_AUDIT_LOG") or DEFAULT_LOG)


def in_gitlab_ci(env: Mapping[str, str]) -> bool:
    return any(env.get(name) for name in ("CI_PIPELINE_ID", "CI_JOB_ID", "CI_PROJECT_ID"))


def ci_context(env: Mapping[str, str], lookup: MergeRequestLookup | None) -> dict[str, Any] | None:
    """Pure: the ``ci`` field of the records, from GitLab CI variables and what ``lookup`` (the merge
    request of the commit, ``hopthu.gitlab.find_merge_request``) found; ``None`` outside GitLab CI.

    Shape (the pipeline fields only when GitLab set them)::

        {"pipeline_id": "1001", "pipeline_url": "…", "job_url": "…", "user": "hoang.it",
         "project": "cntt/hopthu",
         "merge_request": {"iid": 12, "url": "…/-/merge_requests/12", "author": "letm",
                           "merged_by": "hoang.it", "approved_by": ["hoang.it"], "source": "api",
                           "opened_at": "2026-03-02T01:30:00.000Z"},
         "merge_request_lookup": "found", "merge_request_lookup_error": null}

    ``merge_request`` is ``null`` when not even its number is known. ``merge_request_lookup`` says how
    far the lookup got, and ``merge_request_lookup_error`` (English) why not further: ``no-token`` (no
    ``$HOPTHU_GITLAB_TOKEN``: the number and URL a merge commit message names are kept, with ``source``
    ``"commit message"``, author and approvers ``null``), ``api-error`` (GitLab did not answer, or
    refused; a merge request found before the approvals failed keeps its number and author),
    ``not-found`` (no merged merge request brought this commit: a direct push), ``ambiguous``, and
    ``not-asked`` when ``lookup`` is ``None``. ``user`` is who started the pipeline (after a merge: who
    merged). No token or other secret is ever part of it.
    """
    if not in_gitlab_ci(env):
        return None
    context: dict[str, Any] = {
        "pipeline_id": env.get("CI_PIPELINE_ID"),
        "pipeline_url": env.get("CI_PIPELINE_URL"),
        "job_url": env.get("CI_JOB_URL"),
        "user": env.get("GITLAB_USER_LOGIN"),
        "project": env.get("CI_PROJECT_PATH"),
    }
    context = {key: value for key, value in context.items() if value}
    context["merge_request"] = lookup.merge_request() if lookup else None
    context["merge_request_lookup"] = lookup.status if lookup else "not-asked"
    context["merge_request_lookup_error"] = lookup.error if lookup else None
    return context


def detect_ci_context(env: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """``ci_context`` of this process: in GitLab CI it asks the API for the commit's merge request (at
    most two requests with a bounded timeout, never an exception)."""
    env = os.environ if env is None else env
    if not in_gitlab_ci(env):
        return None
    from hopthu.gitlab import find_merge_request  # urllib: only where there is something to ask

    return ci_context(env, find_merge_request(env))


def current_commit(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> str | None:
    """The commit being applied: ``$CI_COMMIT_SHA``, else ``git rev-parse HEAD``, else ``None``."""
    env = os.environ if env is None else env
    if env.get("CI_COMMIT_SHA"):
        return env["CI_COMMIT_SHA"]
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = done.stdout.strip()
    return sha if done.returncode == 0 and sha else None


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def format_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- results of reading the log ---------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Something verify found, at a 1-based line (``None``: the log as a whole)."""

    message: str
    line: int | None = None
    seq: int | None = None
    severity: str = "error"  # "error": the log cannot be trusted; "warning": worth knowing

    def __str__(self) -> str:
        where = ""
        if self.line is not None:
            where = f"line {self.line}" + (f" (seq {self.seq})" if self.seq is not None else "") + ": "
        return where + self.message


@dataclass(frozen=True)
class Head:
    """The last record: keep ``str(head)`` outside the log as a tamper-evident anchor."""

    seq: int
    hash: str  # SHA-256 of the last line, what the next record's ``prev`` will be

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> tuple[int | None, str]:
        """``SEQ:HASH`` or ``HASH`` → (seq or None, hash); ValueError when malformed."""
        seq_text, _, digest = text.strip().rpartition(":")
        digest = digest.lower()
        if len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
            raise ValueError(
                f"{text!r} is not SEQ:HASH or HASH (HASH: 64 hex digits, from `hopthu audit head`)"
            )
        if not seq_text:
            return None, digest
        if not seq_text.isdigit() or int(seq_text) < 1:
            raise ValueError(f"{text!r}: SEQ must be a positive number")
        return int(seq_text), digest


ChangeKey = tuple[str, str, str, str]  # (request, op, uid, group or ""), as ``model.Change.key``


@dataclass(frozen=True)
class RequestOutcome:
    result: str  # "applied" | "refused"
    reason: str | None
    time: dt.datetime
    seq: int
    refusals: tuple[dict[str, Any], ...] = ()  # of a refused request: Refusal.as_record() of each reason


@dataclass(frozen=True)
class Ledger:
    """What the log says was done, as the planner needs it (same field names as ``plan.Progress``)."""

    # request id → "applied" | "refused": requests with a final ``request`` record (the last one counts)
    finished: dict[str, str] = field(default_factory=dict)
    outcomes: dict[str, RequestOutcome] = field(default_factory=dict)  # the same, with reason and time
    # keys of changes whose ``change`` record says ``ok``: they took effect
    completed: frozenset[ChangeKey] = frozenset()
    # dangling intents: an ``intent`` with no later ``change`` record for the same key (a crash in
    # between): the change may or may not have happened; the key's intent time
    intents: dict[ChangeKey, dt.datetime] = field(default_factory=dict)
    failed: dict[ChangeKey, str] = field(default_factory=dict)  # last ``change`` was an error, not since ok


def change_key(record: Mapping[str, Any]) -> ChangeKey:
    return (record["request"] or "", record["op"] or "", record["uid"] or "", record["group"] or "")


def build_ledger(records: Iterable[Mapping[str, Any]]) -> Ledger:
    """Pure: records in log order → ledger."""
    outcomes: dict[str, RequestOutcome] = {}
    completed: set[ChangeKey] = set()
    intents: dict[ChangeKey, dt.datetime] = {}
    failed: dict[ChangeKey, str] = {}
    for record in records:
        event = record.get("event")
        if event == "request":
            outcomes[record["request"]] = RequestOutcome(
                record["result"],
                record.get("reason"),
                parse_time(record["time"]),
                record["seq"],
                tuple(record.get("refusals") or ()),
            )
        elif event == "intent":
            intents[change_key(record)] = parse_time(record["time"])
        elif event == "change":
            key = change_key(record)
            intents.pop(key, None)
            if record.get("result") == OK:
                completed.add(key)
                failed.pop(key, None)
            else:
                failed[key] = record.get("result") or "unknown error"
    return Ledger(
        finished={request: outcome.result for request, outcome in outcomes.items()},
        outcomes=outcomes,
        completed=frozenset(completed),
        intents=intents,
        failed=failed,
    )


@dataclass(frozen=True)
class DoneChange:
    """A change that took effect, as a notice tells it: what it was and the values before and after."""

    op: str
    uid: str
    group: str | None
    before: Mapping[str, list[str]]
    after: Mapping[str, list[str]]
    dn: str | None = None  # the entry written (a merger's changes write in two organisations)


def done_changes(
    records: Iterable[Mapping[str, Any]], requests: Container[str]
) -> dict[str, list[DoneChange]]:
    """Pure: the changes of each of ``requests`` that took effect, in log order.

    The values come from the change's intent (a completion recorded after an interrupted run carries
    none; a create's completion does not repeat the entry).
    """
    intents: dict[ChangeKey, Mapping[str, Any]] = {}
    done: dict[str, dict[ChangeKey, DoneChange]] = {}
    for record in records:
        if record.get("request") not in requests or record.get("event") not in ("intent", "change"):
            continue
        key = change_key(record)
        if record["event"] == "intent":
            intents[key] = record
        elif record.get("result") == OK:
            values = record if record.get("before") or record.get("after") else intents.get(key, record)
            done.setdefault(key[0], {})[key] = DoneChange(
                key[1],
                key[2],
                key[3] or None,
                values.get("before") or {},
                values.get("after") or {},
                record.get("dn") or values.get("dn"),
            )
    return {request: list(changes.values()) for request, changes in done.items()}


# --- the log -------------------------------------------------------------------------------------------

_REQUEST_EVENT = b'"event":"request"'  # how canonical JSON spells a request record's event
DETECT: Any = object()  # "find out from the environment" (commit, ci)
_DETECT = DETECT


@dataclass
class _Tail:
    """Where the complete records end, and what the next record continues from."""

    end: int  # byte offset after the last complete line
    seq: int
    prev: str
    torn: bytes = b""


class AuditLog:
    """The hash-chained audit log at ``path``.

    Writing: ``with AuditLog(path) as log: log.append([...]); …; log.append([...])`` holds the lock for the
    whole apply; ``append`` outside ``with`` takes the lock for that one call. Reading (``records``,
    ``verify``, ``show``, ``ledger``, ``head``) needs no lock.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        commit: str | None = _DETECT,
        ci: Mapping[str, Any] | None = _DETECT,
        clock: Callable[[], dt.datetime] = _utc_now,
        mirror: AuditMirror | None = None,
    ) -> None:
        self.path = Path(path)
        self.mirror = mirror
        self._commit = commit
        self._ci = ci
        self._clock = clock
        self._fd: int | None = None
        self._tail: _Tail | None = None

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"

    # --- writing -------------------------------------------------------------------------------

    def __enter__(self) -> AuditLog:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def open(self) -> None:
        """Create the log if needed and take the writer's lock (``AuditLogBusy`` if another holds it)."""
        if self._fd is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            existed = self.path.exists()
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        except OSError as error:
            raise AuditError(
                f"{self.path}: cannot open the audit log for writing ({error.strerror}); "
                "check the path and its permissions ($HOPTHU_AUDIT_LOG, --audit-log)"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise AuditLogBusy(
                    f"{self.path}: another process (another `hopthu apply`?) is writing the audit log; "
                    "wait for it to finish, then run again"
                ) from None
            raise
        if not existed:
            _fsync_dir(self.path.parent)  # the new file's name must survive a crash too
        try:
            self._tail = _read_tail(fd, self.path)
            if self.mirror is not None:
                self._catch_up(self._tail)
        except BaseException:
            os.close(fd)
            self._tail = None
            raise
        self._fd = fd

    def _catch_up(self, tail: _Tail) -> None:
        """Bring the mirror up to this log's last record, or refuse when the two disagree."""
        assert self.mirror is not None
        head = self.mirror.head()
        copied = head[0] if head else 0
        if copied > tail.seq:
            raise AuditError(
                f"{self.path}: the replicated copy of the audit log has {copied} records, this log only "
                f"{tail.seq}: this host's state is older than the pipeline's; restore it first "
                "(`hopthu state restore`, docs/adopting.md)"
            )
        pending: list[bytes] = []
        first = copied + 1
        for number, line, complete in self._lines():
            if not complete or number > tail.seq:
                break
            if head is not None and number == copied and line_hash(line) != head[1]:
                raise AuditLogCorrupt(
                    f"{self.path}: record {copied} differs from its replicated copy: one of the two was "
                    "changed; run `hopthu audit verify` here and compare with `hopthu state restore --check`"
                )
            if number >= first:
                pending.append(line + b"\n")
        if pending:
            self.mirror.push(first, b"".join(pending))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None
            self._tail = None

    def prepare(self, record: Mapping[str, Any]) -> Prepared:
        """``record`` checked (``ValueError`` when it is wrong) and serialised as far as it can be before
        its place in the chain is known; ``append`` takes it like a record."""
        return self._prepared(_checked(record))

    def _prepared(self, draft: dict[str, Any]) -> Prepared:
        if self._commit is _DETECT:  # detected once per log object
            self._commit = current_commit()
        if self._ci is _DETECT:
            self._ci = detect_ci_context()
        draft = {**draft, "commit": self._commit, "ci": dict(self._ci) if self._ci else None}
        return Prepared(draft, _inner_json({key: value for key, value in draft.items() if key < "hash"}))

    def append(self, records: Iterable[Mapping[str, Any] | Prepared]) -> list[dict[str, Any]]:
        """Complete, chain and write ``records`` (one write, one fsync); return them as written.

        If a crash left a torn last line, it is cut off and a ``repair`` record is written first (it is not
        among the returned records).

        Every record is checked before anything is written: a bad one raises ``ValueError`` and
        nothing of the batch reaches the file. Records may come ``prepare``d.
        """
        if self._fd is None:
            with self:
                return self.append(records)
        assert self._tail is not None
        tail = self._tail
        prepared = [item if isinstance(item, Prepared) else self.prepare(item) for item in records]
        if not prepared:
            return []
        now = format_time(self._clock())
        if tail.torn:
            prepared.insert(0, self._prepared(_repair_draft(tail.torn)))
        written: list[dict[str, Any]] = []
        lines: list[bytes] = []
        seq, prev = tail.seq, tail.prev
        for item in prepared:
            seq += 1
            record = {**item.draft, "seq": seq, "time": now, "prev": prev}
            record["hash"], line = _hashed(
                item.head, _inner_json({key: value for key, value in record.items() if key > "hash"})
            )
            prev = line_hash(line)
            lines.append(line + b"\n")
            written.append(record)
        data = b"".join(lines)
        if tail.torn:  # the torn line is not a record: cut it off; the repair record says so
            os.ftruncate(self._fd, tail.end)
        try:
            _write_all(self._fd, data)
            os.fsync(self._fd)
        except BaseException:
            # Leave no half batch behind: the caller sees the error and nothing was recorded.
            with contextlib.suppress(OSError):  # if this fails too, the next open repairs the torn line
                os.ftruncate(self._fd, tail.end)
            raise
        end = tail.end + len(data)
        self._tail = _Tail(end=end, seq=seq, prev=prev)
        if self.mirror is not None:
            self.mirror.push(tail.seq + 1, data)  # raises AuditError: the caller stops before acting
        return written if not tail.torn else written[1:]

    # --- reading -------------------------------------------------------------------------------

    def _lines(self) -> Iterator[tuple[int, bytes, bool]]:
        """(line number, line without newline, complete?) for every line; nothing if there is no log."""
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return
        with handle:
            for number, raw in enumerate(handle, start=1):
                complete = raw.endswith(b"\n")
                yield number, raw[:-1] if complete else raw, complete

    def records(
        self, *containing: bytes, excluding: tuple[bytes, ...] = (), strict: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Every complete record in order (a torn last line is skipped). Does not check the chain.

        With ``containing``, only the records whose line holds one of those byte strings, and with
        ``excluding`` none of those: a cheap filter before parsing, because canonical JSON spells a field
        one way only (``b'"op":"delete"'``), and a quote inside a value is escaped, so a value cannot fake
        it. Keeps a question about a few records cheap however long the log. With ``strict``, a line
        left out that cannot be a record (not a JSON object) is reported like a parsed one.
        """
        for number, line, complete in self._lines():
            if not complete:
                return
            # Loops, not any(): this runs for each of hundreds of thousands of lines.
            wanted = not containing
            for fragment in containing:
                if fragment in line:
                    wanted = True
                    break
            for fragment in excluding if wanted else ():
                if fragment in line:
                    wanted = False
                    break
            if not wanted:
                if strict and not (line.startswith(b"{") and line.endswith(b"}")):
                    raise AuditLogCorrupt(
                        f"{self.path}:{number}: not a valid audit record; run `hopthu audit verify`"
                    )
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise AuditLogCorrupt(
                    f"{self.path}:{number}: not a valid audit record; run `hopthu audit verify`"
                ) from None
            if not isinstance(record, dict):
                raise AuditLogCorrupt(f"{self.path}:{number}: not an audit record; run `hopthu audit verify`")
            yield record

    def show(self, request: str | None = None, account: str | None = None) -> Iterator[dict[str, Any]]:
        """Records of one request and/or one account (uid), in order."""
        for record in self.records():
            if request is not None and record.get("request") != request:
                continue
            if account is not None and record.get("uid") != account:
                continue
            yield record

    def done_changes(self, requests: Container[str]) -> dict[str, list[DoneChange]]:
        """The changes of ``requests`` that took effect (``done_changes``), read from the log."""
        return done_changes(self.records(), requests)

    def ledger(self) -> Ledger:
        """What the log says was done.

        Parsed once per content in a process: an apply asks twice (to skip the request files already
        finished, then under the lock), and the log of a few bulk requests is tens of megabytes. Hashing
        the file tells whether it is byte for byte the one parsed before (ten times cheaper than parsing).
        """
        key = os.path.abspath(self.path)
        before = _file_digest(self.path)
        cached = _LEDGERS.get(key)
        if before is not None and cached is not None and cached[0] == before:
            return _copy_ledger(cached[1])
        ledger = build_ledger(self.records())
        if before is not None and _file_digest(self.path) == before:  # not appended to while being read
            _LEDGERS[key] = (before, _copy_ledger(ledger))
        return ledger

    def finished_requests(self) -> dict[str, str]:
        """Request id → "applied" | "refused", for the requests with a final record (the last one counts).

        The same as ``ledger().finished``, for the question every run asks first, at a fraction of the
        cost: only the lines that can be request records are parsed (canonical JSON spells the event
        exactly so), which keeps a no-op re-apply cheap however long the log.
        """
        finished: dict[str, str] = {}
        for record in self.records(_REQUEST_EVENT):
            if record.get("event") == "request":
                finished[record["request"]] = record["result"]
        return finished

    def head(self) -> Head | None:
        """The last complete record's seq and line hash; ``None`` for an empty or missing log."""
        last: tuple[int, str] | None = None
        for number, line, complete in self._lines():
            if not complete:
                break
            try:
                seq = json.loads(line)["seq"]
            except (ValueError, KeyError, TypeError):
                raise AuditLogCorrupt(
                    f"{self.path}:{number}: not an audit record; run `hopthu audit verify`"
                ) from None
            last = (seq, line_hash(line))
        return Head(*last) if last else None

    def verify(self, expect_head: str | None = None) -> list[Problem]:
        """Every problem of the chain, each naming its line and seq (see the module docstring).

        ``expect_head`` (``SEQ:HASH`` or ``HASH`` from ``head()``, kept outside the log) must name a record
        still in the log. Problems of severity ``warning`` do not make the log untrustworthy.
        """
        return verify_lines(self._lines(), expect_head)


# --- verification (pure: lines in, problems out) -------------------------------------------------------


@dataclass
class _Entry:
    line: int
    sha: str
    seq: int | None = None
    prev: str | None = None
    sound: bool = False  # parsed, canonical and its own hash matches
    reported: bool = False


def verify_lines(lines: Iterable[tuple[int, bytes, bool]], expect_head: str | None = None) -> list[Problem]:
    """The checks of ``AuditLog.verify`` over (line number, line, complete?) tuples."""
    problems: list[Problem] = []
    entries: list[_Entry] = []
    for number, line, complete in lines:
        if not complete:
            problems.append(
                Problem(
                    f"incomplete last line ({len(line)} bytes, no newline): a write was interrupted; "
                    "it is not a record and the next append removes it",
                    number,
                    severity="warning",
                )
            )
            break
        entry = _Entry(number, line_hash(line))
        entries.append(entry)
        problem = _check_line(entry, line)
        if problem is not None:
            problems.append(problem)
    problems += _check_sequence(entries)
    problems += _check_links(entries)
    if expect_head is not None:
        problems += _check_anchor(entries, expect_head)
    return sorted(problems, key=lambda p: p.line if p.line is not None else 1 << 62)


def _check_line(entry: _Entry, line: bytes) -> Problem | None:
    """Parse one line; fill in ``entry``; the problem of the line itself, if any."""
    try:
        record = json.loads(line)
    except ValueError:
        entry.reported = True
        return Problem("not valid JSON (the line was damaged or edited)", entry.line)
    seq = record.get("seq") if isinstance(record, dict) else None
    if (
        not isinstance(record, dict)
        or not isinstance(seq, int)
        or isinstance(seq, bool)
        or not isinstance(record.get("prev"), str)
        or not isinstance(record.get("hash"), str)
    ):
        entry.reported = True
        return Problem("not an audit record (seq, prev or hash missing or malformed)", entry.line)
    entry.seq, entry.prev = seq, record["prev"]
    if record_hash(record) != record["hash"]:
        entry.reported = True
        return Problem("record was edited (hash mismatch)", entry.line, seq)
    if canonical(record) != line:
        entry.reported = True
        return Problem(
            "record was reformatted (not in canonical form; its line hash changed)", entry.line, seq
        )
    entry.sound = True
    if record.get("event") == "repair":
        return Problem(f"repaired after a crash: {record.get('reason')}", entry.line, seq, "warning")
    return None


def _check_sequence(entries: list[_Entry]) -> list[Problem]:
    """Removed (gaps), inserted (duplicates) and reordered records, from the seq numbers."""
    problems: list[Problem] = []
    numbered = [e for e in entries if e.seq is not None]
    by_seq: dict[int, list[_Entry]] = {}
    for entry in numbered:
        by_seq.setdefault(entry.seq, []).append(entry)  # type: ignore[arg-type]

    # Inserted: a seq that occurs twice. The genuine one is what the next record's prev points to.
    inserted: set[int] = set()
    for seq, same in by_seq.items():
        if len(same) < 2:
            continue
        successors = by_seq.get(seq + 1, [])
        genuine = [e for e in same if any(s.prev == e.sha for s in successors)]
        keep = genuine[0] if len(genuine) == 1 else same[0]
        for entry in same:
            if entry is keep:
                continue
            inserted.add(id(entry))
            entry.reported = True
            how = "the chain continues from" if len(genuine) == 1 else "seq already used at"
            problems.append(
                Problem(
                    f"record was inserted (a second record with seq {seq}; {how} line {keep.line})",
                    entry.line,
                    seq,
                )
            )

    # Reordered: records outside the longest run that is in increasing seq order were moved.
    ordered = [e for e in numbered if id(e) not in inserted]
    in_place = {id(e) for e in _longest_increasing(ordered)}
    for entry in ordered:
        if id(entry) not in in_place:
            entry.reported = True
            problems.append(Problem("record is out of order (records were reordered)", entry.line, entry.seq))

    # Removed: seq numbers missing between 1 and the highest one present, unless damaged lines (already
    # reported) stand where the missing records were.
    present = sorted(by_seq)
    expected = 1
    for seq in present:
        if seq > expected:
            at = by_seq[seq][0]
            after_line = by_seq[expected - 1][0].line if expected - 1 in by_seq else 0
            damaged = sum(1 for e in entries if e.seq is None and after_line < e.line < at.line)
            if damaged < seq - expected:
                gone = (
                    f"record {expected} was" if seq - 1 == expected else f"records {expected}–{seq - 1} were"
                )
                problems.append(Problem(f"seq {expected} expected, found {seq}: {gone} removed", at.line))
        expected = max(expected, seq + 1)
    return problems


def _longest_increasing(entries: list[_Entry]) -> list[_Entry]:
    """Longest subsequence with strictly increasing seq (patience sorting, O(n log n))."""
    tails: list[int] = []  # seq at the end of the best run of each length
    tail_index: list[int] = []
    parent: list[int] = [-1] * len(entries)
    for i, entry in enumerate(entries):
        position = bisect.bisect_left(tails, entry.seq)
        if position == len(tails):
            tails.append(entry.seq)  # type: ignore[arg-type]
            tail_index.append(i)
        else:
            tails[position] = entry.seq  # type: ignore[assignment]
            tail_index[position] = i
        parent[i] = tail_index[position - 1] if position else -1
    run: list[_Entry] = []
    i = tail_index[-1] if tail_index else -1
    while i >= 0:
        run.append(entries[i])
        i = parent[i]
    return run[::-1]


def _check_links(entries: list[_Entry]) -> list[Problem]:
    """Each sound record's prev must be the hash of the line of seq - 1 (GENESIS for seq 1)."""
    problems: list[Problem] = []
    by_seq: dict[int, list[_Entry]] = {}
    for entry in entries:
        if entry.seq is not None:
            by_seq.setdefault(entry.seq, []).append(entry)
    for entry in entries:
        if not entry.sound or entry.reported or len(by_seq[entry.seq]) > 1:  # type: ignore[index]
            continue
        if entry.seq == 1:
            if entry.prev != GENESIS:
                problems.append(
                    Problem("the first record does not start the chain (prev is not 64 zeros)", entry.line, 1)
                )
            continue
        before = by_seq.get(entry.seq - 1, [])  # type: ignore[operator]
        if len(before) != 1 or not before[0].sound or before[0].reported:
            continue  # a gap, a duplicate or a damaged record: already reported
        if entry.prev != before[0].sha:
            previous = before[0]
            previous.reported = True
            problems.append(
                Problem(
                    f"record was changed after record {entry.seq} (line {entry.line}) was written: "
                    "its hash was recomputed but the next record's prev does not match",
                    previous.line,
                    previous.seq,
                )
            )
    return problems


def _check_anchor(entries: list[_Entry], expect_head: str) -> list[Problem]:
    seq, digest = Head.parse(expect_head)
    last = entries[-1] if entries else None
    if any(e.sha == digest for e in entries):
        match = next(e for e in entries if e.sha == digest)
        if seq is not None and match.seq != seq:
            return [Problem(f"the anchored record is seq {match.seq}, not seq {seq}", match.line, match.seq)]
        return []
    if last is None:
        return [
            Problem(
                f"the log is empty, but the anchor {expect_head} names a record: the log was emptied "
                "or replaced"
            )
        ]
    highest = max((e.seq for e in entries if e.seq is not None), default=0)
    if seq is not None and seq > highest:
        gone = f"record {seq} was" if seq == highest + 1 else f"records {highest + 1}–{seq} were"
        return [
            Problem(
                f"the log ends at seq {highest} but the anchor is seq {seq}: {gone} removed from the end",
                last.line,
                last.seq,
            )
        ]
    if seq is not None:
        at = next((e for e in entries if e.seq == seq), None)
        if at is not None:
            return [
                Problem(
                    f"record does not match the anchor {expect_head}: the log was rewritten up to here",
                    at.line,
                    seq,
                )
            ]
    return [
        Problem(
            f"the anchored record {digest[:12]}… is not in the log: records were removed from the end, "
            "or the log was rewritten"
        )
    ]


# --- file helpers --------------------------------------------------------------------------------------


def _checked(record: Mapping[str, Any]) -> dict[str, Any]:
    """A caller's record → the caller fields, complete, secrets masked; ValueError when it is wrong."""
    if not isinstance(record, Mapping):
        raise ValueError(f"an audit record must be a mapping, not {type(record).__name__}")
    unknown = sorted(set(record) - set(CALLER_FIELDS))
    if unknown:
        raise ValueError(
            f"audit record has unknown field(s) {', '.join(unknown)}; allowed: {', '.join(CALLER_FIELDS)}"
        )
    draft: dict[str, Any] = {name: record.get(name) for name in CALLER_FIELDS}
    for name in _TEXT_FIELDS:
        value = draft[name]
        if value is not None and type(value) is not str:
            draft[name] = str(value)  # enums (Op) and numbers become plain text
    draft["before"] = mask_secrets(draft["before"])
    draft["after"] = mask_secrets(draft["after"])
    if draft["refusals"] is not None:
        draft["refusals"] = _plain_refusals(draft["refusals"])
    event = draft["event"]
    if event not in EVENTS - {"repair"}:
        raise ValueError(f"audit record event must be intent, change or request, not {event!r}")
    if not draft["request"]:
        raise ValueError(f"audit {event} record has no request id")
    if event in ("intent", "change") and not draft["op"]:
        raise ValueError(f"audit {event} record of request {draft['request']} has no op")
    if event == "change" and not draft["result"]:
        raise ValueError(f"audit change record of request {draft['request']} has no result (ok or the error)")
    if event == "request" and draft["result"] not in REQUEST_RESULTS:
        raise ValueError(f"audit request record result must be applied or refused, not {draft['result']!r}")
    return draft


def _plain_refusals(refusals: Any) -> list[dict[str, Any]]:
    """``refusals`` as JSON data: a list of {code, params, accounts}; ValueError when it is not."""
    if not isinstance(refusals, list | tuple) or not all(
        isinstance(r, Mapping) and isinstance(r.get("code"), str) for r in refusals
    ):
        raise ValueError("refusals must be a list of {code, params, accounts} mappings")
    try:
        return json.loads(json.dumps(list(refusals), ensure_ascii=False))
    except (TypeError, ValueError) as error:
        raise ValueError(f"refusals must be plain JSON data: {error}") from None


def _repair_draft(torn: bytes) -> dict[str, Any]:
    draft: dict[str, Any] = {name: None for name in CALLER_FIELDS}
    draft["event"] = "repair"
    draft["reason"] = (
        f"incomplete last line was removed ({len(torn)} bytes, sha256 {hashlib.sha256(torn).hexdigest()})"
    )
    return draft


def _read_tail(fd: int, path: Path) -> _Tail:
    """Find the last complete line (and any torn bytes after it) by reading backwards from the end."""
    size = os.fstat(fd).st_size
    if size == 0:
        return _Tail(end=0, seq=0, prev=GENESIS)
    # Read backwards until the buffer holds the last complete line whole (two newlines, or the file start).
    chunk, position, buffer = 1 << 16, size, b""
    while True:
        step = min(chunk, position)
        position -= step
        buffer = os.pread(fd, step, position) + buffer
        last_newline = buffer.rfind(b"\n")
        if position == 0 or (last_newline >= 0 and buffer.rfind(b"\n", 0, last_newline) >= 0):
            break
        chunk *= 2
    if last_newline < 0:  # no complete line at all: the very first write was torn
        return _Tail(end=0, seq=0, prev=GENESIS, torn=buffer)
    start = buffer.rfind(b"\n", 0, last_newline)  # -1: the line starts the file
    torn = buffer[last_newline + 1 :]
    line = buffer[start + 1 : last_newline]
    try:
        record = json.loads(line)
        seq = record["seq"]
        valid = isinstance(seq, int) and record_hash(record) == record["hash"] and canonical(record) == line
    except (ValueError, KeyError, TypeError, AttributeError):
        valid = False
    if not valid:
        raise AuditLogCorrupt(
            f"{path}: the last record is damaged, so nothing can be chained to it; "
            "run `hopthu audit verify` and restore the log from its last good copy"
        )
    end = position + last_newline + 1
    return _Tail(end=end, seq=seq, prev=line_hash(line), torn=torn)


# Ledgers already parsed: absolute path of the log -> (SHA-256 of its bytes then, its ledger).
_LEDGERS: dict[str, tuple[str, Ledger]] = {}


def _file_digest(path: Path) -> str | None:
    """SHA-256 of the file's bytes, or None when there is no file."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def _copy_ledger(ledger: Ledger) -> Ledger:
    """A ledger whose dicts the caller may change without changing the cached one."""
    return Ledger(
        finished=dict(ledger.finished),
        outcomes=dict(ledger.outcomes),
        completed=ledger.completed,
        intents=dict(ledger.intents),
        failed=dict(ledger.failed),
    )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
