"""The pipeline's state kept in the replicated directory as well as on the apply host, so that losing the
apply host loses nothing.

The state is the audit log (what was done, and the intents that make an interrupted apply resumable), the
credentials outbox (one-time passwords until their notice is sent) and the notice ledger (which notice got
which number, which were sent). The apply host writes each locally as before and, before it acts on it,
into one organisation's directory (``state: {org: CODE}`` in the connections file), which its providers
replicate like everything else::

    ou=hopthu-state,<base_dn>           created on first use, by the rootdn
      ou=audit                          cn=<seq>: the audit log's records from <seq> on, a run of whole
                                        lines (zlib, base64); cn=head: SEQ:HASH of the last one
      ou=outbox                         cn=<request id>: its credentials file exactly as on disk, that is
                                        encrypted with the outbox key (hopthu.passwords), which the
                                        directory never sees
      cn=notices                        the notice ledger (JSON, zlib, base64): no secret

Only the rootdn (and the replicator, which copies everything between providers) can read it: no access
rule of database.ldif.j2 names these entries, so the last one (``to * by * none``) keeps everyone else
out. Entries are ``applicationProcess`` (core schema): no schema change on existing directories.

After the apply host is lost: ``hopthu state restore`` on the new one writes the three back from the
directory, verifies the audit chain (against the last anchor kept in CI, ``--expect-head``) and says what
is still to be sent (docs/adopting.md). A host whose state is older than the directory's copy refuses to
write (``AuditLog`` compares the heads), so two hosts can never fork the log.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import ldap3
from ldap3.core.exceptions import LDAPException

from hopthu.audit import AuditError, AuditLog, line_hash
from hopthu.directory import DirectoryUnavailable, dn
from hopthu.directory.failover import Providers
from hopthu.directory.reader import PAGED_RESULTS
from hopthu.endpoints import EndpointError, load_connections
from hopthu.model import Inventory
from hopthu.passwords import Outbox

T = TypeVar("T")

STATE_OU = "hopthu-state"
CHUNK = 4 << 20  # raw bytes of audit lines per entry: about 0.5 MiB compressed, far below slapd's 4 MiB
ENTRY_CLASSES = ["applicationProcess"]
ALREADY_EXISTS, NO_SUCH_OBJECT = 68, 32


class StateError(AuditError):
    """The replicated copy of the pipeline's state cannot be read or written; the message says why."""


def _pack(data: bytes) -> str:
    return base64.b64encode(zlib.compress(data, 6)).decode("ascii")


def _unpack(text: str, where: str) -> bytes:
    try:
        return zlib.decompress(base64.b64decode(text, validate=True))
    except (ValueError, zlib.error) as error:
        raise StateError(f"{where}: not a copy hopthu wrote ({error})") from None


@dataclass(frozen=True)
class AuditBatch:
    """A run of audit lines as the directory keeps it."""

    first_seq: int
    lines: bytes

    @property
    def records(self) -> list[bytes]:
        return self.lines.splitlines(keepends=True)

    @property
    def last_seq(self) -> int:
        return self.first_seq + len(self.records) - 1


class StateStore:
    """The state's copy in one organisation's directory, through its rootdn, one provider at a time."""

    def __init__(self, providers: Providers, base_dn: str) -> None:
        self.providers = providers
        self.base = f"ou={STATE_OU},{base_dn}"
        self._ready = False

    def __repr__(self) -> str:
        return f"StateStore({self.base!r})"

    # --- the audit log (hopthu.audit.AuditMirror) ------------------------------------------------------

    def head(self) -> tuple[int, str] | None:
        """(seq, line hash) of the last record kept; None when there is none."""

        def read(conn: ldap3.Connection) -> tuple[int, str] | None:
            value = self._value(conn, f"cn=head,{self._audit}")
            head = _parse_head(value) if value else None
            # A push may have stopped between its records and the head: follow the records.
            while True:
                following = self._value(conn, f"cn={head[0] + 1 if head else 1},{self._audit}")
                if following is None:
                    return head
                batch = AuditBatch(head[0] + 1 if head else 1, _unpack(following, self._audit))
                head = (batch.last_seq, line_hash(batch.records[-1].rstrip(b"\n")))

        return self._call(read)

    def push(self, first_seq: int, lines: bytes) -> None:
        """Keep ``lines`` (whole records, the first with ``first_seq``), then move the head."""
        if not lines:
            return
        records = lines.splitlines(keepends=True)
        if not all(record.endswith(b"\n") for record in records):
            raise StateError("only whole audit records are kept (each ending in a newline)")

        def write(conn: ldap3.Connection) -> None:
            self._prepare(conn)
            seq = first_seq
            for chunk in _chunks(records, CHUNK):
                data = b"".join(chunk)
                self._add_once(conn, f"cn={seq},{self._audit}", _pack(data), f"audit records from {seq}")
                seq += len(chunk)
            last = records[-1].rstrip(b"\n")
            self._put(conn, f"cn=head,{self._audit}", f"{first_seq + len(records) - 1}:{line_hash(last)}")

        self._call(write)

    def audit_batches(self) -> list[AuditBatch]:
        """Every run of records kept, in order, checked to follow one another without a gap."""

        def read(conn: ldap3.Connection) -> list[AuditBatch]:
            batches = []
            for entry in self._children(conn, self._audit):
                name = _cn(entry)
                if name == "head":
                    continue
                if not name.isdigit():
                    raise StateError(f"{entry['dn']}: not an audit entry hopthu wrote")
                value = _description(entry)
                batches.append(AuditBatch(int(name), _unpack(value, entry["dn"])))
            return sorted(batches, key=lambda batch: batch.first_seq)

        batches = self._call(read)
        expected = 1
        for batch in batches:
            if batch.first_seq != expected:
                raise StateError(
                    f"{self._audit}: records {expected} to {batch.first_seq - 1} are missing from the copy"
                )
            expected = batch.last_seq + 1
        return batches

    # --- the outbox and the notice ledger ------------------------------------------------------------

    def put_credentials(self, request_id: str, blob: bytes) -> None:
        """Keep a request's (encrypted) credentials file as it is on disk."""
        self._call(lambda conn: self._put(conn, self._credentials_dn(request_id), blob.decode("ascii")))

    def remove_credentials(self, request_id: str) -> None:
        def remove(conn: ldap3.Connection) -> None:
            target = self._credentials_dn(request_id)
            if not conn.delete(target) and conn.result["result"] != NO_SUCH_OBJECT:
                raise StateError(f"cannot remove {target}: {conn.result['description']}")

        self._call(remove)

    def credentials(self) -> dict[str, bytes]:
        """Request id → its (encrypted) credentials file, for every one kept."""

        def read(conn: ldap3.Connection) -> dict[str, bytes]:
            return {
                _cn(entry): _description(entry).encode("ascii")
                for entry in self._children(conn, self._outbox)
            }

        return self._call(read)

    def put_ledger(self, data: bytes) -> None:
        self._call(lambda conn: self._put(conn, f"cn=notices,{self.base}", _pack(data)))

    def ledger(self) -> bytes | None:
        value = self._call(lambda conn: self._value(conn, f"cn=notices,{self.base}"))
        return _unpack(value, f"cn=notices,{self.base}") if value is not None else None

    # --- LDAP -----------------------------------------------------------------------------------------

    @property
    def _audit(self) -> str:
        return f"ou=audit,{self.base}"

    @property
    def _outbox(self) -> str:
        return f"ou=outbox,{self.base}"

    def _credentials_dn(self, request_id: str) -> str:
        return f"cn={dn.escape_rdn_value(request_id)},{self._outbox}"

    def _call(self, work: Callable[[ldap3.Connection], T]) -> T:
        """``work(conn)`` on the state organisation's provider; on the next one when it stops answering.
        Any failure is a ``StateError``, never a directory error that could be taken for the apply's."""
        while True:
            try:
                conn = self.providers.connection()
            except DirectoryUnavailable as error:
                raise StateError(
                    f"cannot reach the replicated copy of the pipeline's state: {error}"
                ) from None
            try:
                return work(conn)
            except DirectoryUnavailable as error:
                self.providers.fail(error)
                self._ready = False
            except LDAPException as error:
                self.providers.fail(error)
                self._ready = False

    def _prepare(self, conn: ldap3.Connection) -> None:
        """The containers, made the first time."""
        if self._ready:
            return
        for target in (self.base, self._audit, self._outbox):
            value = dn.first_rdn_value(target, "ou")
            added = conn.add(target, ["organizationalUnit"], {"ou": value})
            if not added and conn.result["result"] != ALREADY_EXISTS:
                raise StateError(f"cannot create {target}: {_why(conn)}")
        self._ready = True

    def _add_once(self, conn: ldap3.Connection, target: str, value: str, what: str) -> None:
        """Add an entry that must never change: adding it again with the same value is fine."""
        if conn.add(target, ENTRY_CLASSES, {"cn": dn.first_rdn_value(target, "cn"), "description": value}):
            return
        if conn.result["result"] != ALREADY_EXISTS:
            raise StateError(f"cannot keep {what} in {target}: {_why(conn)}")
        if self._value(conn, target) != value:
            raise StateError(
                f"{target} already holds other {what}: two hosts wrote the same records; compare this "
                "host's log with the copy (`hopthu state restore --check`)"
            )

    def _put(self, conn: ldap3.Connection, target: str, value: str) -> None:
        """Add or replace an entry's value."""
        self._prepare(conn)
        change = {"description": [(ldap3.MODIFY_REPLACE, [value])]}
        if conn.modify(target, change):
            return
        if conn.result["result"] == NO_SUCH_OBJECT:
            attributes = {"cn": dn.first_rdn_value(target, "cn"), "description": value}
            if conn.add(target, ENTRY_CLASSES, attributes):
                return
        raise StateError(f"cannot write {target}: {_why(conn)}")

    def _value(self, conn: ldap3.Connection, target: str) -> str | None:
        if not conn.search(target, "(objectClass=*)", ldap3.BASE, attributes=["description"]):
            if conn.result["result"] == NO_SUCH_OBJECT:
                return None
            if conn.result["result"] in (51, 52, 80):
                raise DirectoryUnavailable(f"{target}: {_why(conn)}")
            raise StateError(f"cannot read {target}: {_why(conn)}")
        return _description(conn.response[0])

    def _children(self, conn: ldap3.Connection, base: str) -> Iterator[dict[str, Any]]:
        """The entries right below ``base`` (none when it does not exist yet), page by page."""
        cookie = None
        while True:
            conn.search(
                base,
                "(cn=*)",
                ldap3.LEVEL,
                attributes=["cn", "description"],
                paged_size=500,
                paged_cookie=cookie,
            )
            result = conn.result
            if result["result"] == NO_SUCH_OBJECT:
                return
            if result["result"] != 0:
                raise StateError(f"cannot read {base}: {_why(conn)}")
            for entry in conn.response:
                if entry["type"] == "searchResEntry":
                    yield entry
            cookie = result.get("controls", {}).get(PAGED_RESULTS, {}).get("value", {}).get("cookie")
            if not cookie:
                return


def _why(conn: ldap3.Connection) -> str:
    return (
        f"{conn.result['description']} ({conn.result['result']}) {conn.result.get('message') or ''}".strip()
    )


def _description(entry: dict[str, Any]) -> str:
    raw = entry.get("raw_attributes", {}).get("description") or []
    if not raw:
        return ""
    value = raw[0]
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _cn(entry: dict[str, Any]) -> str:
    raw = entry.get("raw_attributes", {}).get("cn") or [b""]
    value = raw[0]
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _parse_head(value: str) -> tuple[int, str]:
    seq, _, digest = value.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise StateError(f"the copy's head {value!r} is not SEQ:HASH")
    return int(seq), digest


def _chunks(records: list[bytes], size: int) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    used = 0
    for record in records:
        if chunk and used + len(record) > size:
            yield chunk
            chunk, used = [], 0
        chunk.append(record)
        used += len(record)
    if chunk:
        yield chunk


def load_state_store(directory_file: Path | None, inventory: Inventory) -> StateStore | None:
    """The state store the connections file names (``state: {org: CODE}``), or None."""
    if directory_file is None:
        return None
    connections = load_connections(Path(directory_file))
    code = connections.state_org
    if code is None:
        return None
    org = inventory.organisations.get(code)
    if org is None:
        raise EndpointError(f"{directory_file}: state: {code!r} is not an organisation of the inventory")
    return StateStore(Providers(connections.endpoints[code]), org.base_dn)


def close(store: StateStore | None) -> None:
    if store is not None:
        with contextlib.suppress(LDAPException, OSError):
            store.providers.close()


def describe_ledger(data: bytes | None) -> dict[str, Any]:
    """The notice ledger's entries (for ``hopthu state restore``'s report)."""
    if not data:
        return {}
    try:
        return json.loads(data.decode("utf-8")).get("notices", {})
    except ValueError as error:
        raise StateError(f"the copy of the notice ledger is not JSON ({error})") from None


# --- restoring the apply host's state ----------------------------------------------------------------------


@dataclass
class Restored:
    """What ``restore`` found and wrote."""

    records: int = 0  # audit records in the copy
    head: str | None = None  # the copy's SEQ:HASH
    log_written: bool = False  # (with check: would be) False: this host's log already held them all
    credentials: list[str] = field(default_factory=list)  # requests whose credentials file was written back
    waiting: list[str] = field(default_factory=list)  # requests whose credentials still wait for a notice
    unconfirmed: dict[str, str] = field(default_factory=dict)  # request → number of a notice maybe sent
    ledger_written: bool = False


def restore(
    store: StateStore,
    audit_path: Path,
    outbox: Outbox,
    ledger_path: Path,
    *,
    expect_head: str | None = None,
    check: bool = False,
) -> Restored:
    """Write the audit log, the credentials outbox and the notice ledger back from the directory's copy
    (``check``: only compare). The log is written only when the one here is a beginning of the copy's,
    and only after the whole chain verified (against ``expect_head``, an anchor kept outside both)."""
    done = Restored()
    lines = b"".join(batch.lines for batch in store.audit_batches())
    records = lines.splitlines(keepends=True)
    done.records = len(records)
    if records:
        last = records[-1].rstrip(b"\n")
        done.head = f"{len(records)}:{line_hash(last)}"
    local = audit_path.read_bytes() if audit_path.is_file() else b""
    if not lines.startswith(local):
        raise StateError(
            f"{audit_path}: this log is not a beginning of the replicated copy ({done.head or 'empty'}): the "
            "two were written by different hosts; compare them (`hopthu audit verify` on each) before "
            "choosing one"
        )
    if len(local) < len(lines):
        _write_verified(audit_path, lines, expect_head, check)
        done.log_written = True
    elif expect_head:
        _check_chain(audit_path, expect_head)
    files = store.credentials()
    missing = [request_id for request_id in sorted(files) if not outbox.path(request_id).exists()]
    done.credentials = missing if check else outbox.restore(files)
    done.waiting = sorted(set(files) | set(outbox.pending()))
    copy = store.ledger()
    if copy is not None:
        here = ledger_path.read_bytes() if ledger_path.is_file() else None
        if here is not None and here != copy:
            raise StateError(
                f"{ledger_path}: differs from the replicated copy of the notice ledger; it was kept as it is"
            )
        if here is None and not check:
            _write_file(ledger_path, copy)
            done.ledger_written = True
        for request_id, entry in describe_ledger(copy).items():
            if not entry.get("sent_at"):
                done.unconfirmed[request_id] = str(entry.get("sequence"))
    return done


def _write_verified(path: Path, data: bytes, expect_head: str | None, check: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(path.name + ".restore")
    staged.write_bytes(data)
    try:
        _check_chain(staged, expect_head)
        if not check:
            os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)


def _check_chain(path: Path, expect_head: str | None) -> None:
    problems = [p for p in AuditLog(path).verify(expect_head) if p.severity == "error"]
    if problems:
        shown = "; ".join(str(problem) for problem in problems[:5])
        raise StateError(f"the replicated copy of the audit log does not verify: {shown}")


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(path.name + ".restore")
    staged.write_bytes(data)
    os.replace(staged, path)
