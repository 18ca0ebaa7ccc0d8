"""The records store (hồ sơ): every sent notice, as sent, kept for the organisation's retention period.

Beside the audit log (``<audit log folder>/records/``, or ``--records DIR`` / ``$HOPTHU_RECORDS``), one
folder per organisation and year, two files per notice::

    records/binhthuan/2025/TB-STTTT-01-2025_2025-03-03-bdt-cap-moi.pdf    the exact signed PDF sent
    records/binhthuan/2025/TB-STTTT-01-2025_2025-03-03-bdt-cap-moi.json   number, recipient, time, Message-ID…

The PDF's SHA-256 is also in the audit log's ``send-notice`` record, whose hash chain makes a changed or
swapped file show (``hopthu notices show`` compares them). Nothing in here is secret: a notice's PDF never
holds a password (``render.PASSWORD_IN_EMAIL``), and the e-mail text that does is not kept.

A record is written before the message is handed to SMTP, under the number the notice keeps on a retry,
and marked sent afterwards: a crash in between leaves a record without ``sent_at``, which the next
delivery of the same notice replaces.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

RECORDS_ENV = "HOPTHU_RECORDS"
SEND_OP = "send-notice"  # the audit log's op of a sent notice (event "change")


class RecordsError(Exception):
    """The records store cannot be read or written as asked; the message says which file and why."""


@dataclass(frozen=True)
class NoticeRecord:
    request: str
    org: str
    unit: str
    number: str  # 01/TB-STTTT
    issued: str  # ISO date of the notice
    subject: str
    recipient: str
    copies: tuple[str, ...]
    message_id: str
    file: str  # the PDF's path inside the store (org/year/name.pdf)
    sha256: str
    size: int
    keep_until: str  # ISO date: the end of the organisation's retention period
    signed_by: str | None = None  # the signer certificate's name; None: sent unsigned
    sent_at: str | None = None  # ISO timestamp of the successful delivery; None: not (yet) delivered

    @property
    def year(self) -> int:
        return dt.date.fromisoformat(self.issued).year


def default_records_dir(audit_log: Path) -> Path:
    """``$HOPTHU_RECORDS``, else ``records/`` beside the audit log (``var/audit/records``)."""
    return Path(os.environ.get(RECORDS_ENV) or audit_log.parent / "records")


def keep_until(issued: dt.date, years: int) -> dt.date:
    """The last day of the retention period: ``years`` full calendar years after the notice's year, as
    archives count them."""
    return dt.date(issued.year + years, 12, 31)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class RecordsStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RecordsStore({str(self.root)!r})"

    # --- writing ---------------------------------------------------------------------------------

    def stage(
        self,
        *,
        request: str,
        org: str,
        unit: str,
        number: str,
        issued: dt.date,
        subject: str,
        recipient: str,
        copies: tuple[str, ...],
        message_id: str,
        file_name: str,
        pdf: bytes,
        retention_years: int,
        signed_by: str | None,
    ) -> NoticeRecord:
        """Write the PDF about to be sent and its record (not yet ``sent_at``)."""
        relative = f"{org}/{issued.year}/{file_name}"
        record = NoticeRecord(
            request=request,
            org=org,
            unit=unit,
            number=number,
            issued=issued.isoformat(),
            subject=subject,
            recipient=recipient,
            copies=tuple(copies),
            message_id=message_id,
            file=relative,
            sha256=sha256_of(pdf),
            size=len(pdf),
            keep_until=keep_until(issued, retention_years).isoformat(),
            signed_by=signed_by,
        )
        try:
            _write_atomically(self.root / relative, pdf)
            self._write_record(record)
        except OSError as error:
            raise RecordsError(f"{self.root / relative}: cannot keep the notice ({error.strerror})") from None
        return record

    def mark_sent(self, record: NoticeRecord, at: dt.datetime) -> NoticeRecord:
        sent = replace(record, sent_at=at.isoformat())
        try:
            self._write_record(sent)
        except OSError as error:
            raise RecordsError(
                f"{self._json_path(record)}: cannot mark the notice sent ({error.strerror})"
            ) from None
        return sent

    def _json_path(self, record: NoticeRecord) -> Path:
        return (self.root / record.file).with_suffix(".json")

    def _write_record(self, record: NoticeRecord) -> None:
        data = json.dumps(asdict(record), ensure_ascii=False, indent=1) + "\n"
        _write_atomically(self._json_path(record), data.encode("utf-8"))

    # --- reading ---------------------------------------------------------------------------------

    def records(self, *, year: int | None = None, org: str | None = None) -> Iterator[NoticeRecord]:
        """The sent notices, by organisation, year and file name."""
        if not self.root.is_dir():
            return
        orgs = [self.root / org] if org else sorted(p for p in self.root.iterdir() if p.is_dir())
        for org_dir in orgs:
            years = [org_dir / str(year)] if year else sorted(p for p in org_dir.iterdir() if p.is_dir())
            for year_dir in years:
                if not year_dir.is_dir():
                    continue
                for path in sorted(year_dir.glob("*.json")):
                    record = self._read(path)
                    if record.sent_at is not None:
                        yield record

    def find(self, key: str) -> list[NoticeRecord]:
        """The sent notices of a request id, or with a number such as ``01/TB-STTTT``."""
        return [record for record in self.records() if key in (record.request, record.number)]

    def pdf(self, record: NoticeRecord) -> bytes:
        path = self.root / record.file
        try:
            return path.read_bytes()
        except OSError as error:
            raise RecordsError(f"{path}: cannot read the kept notice ({error.strerror})") from None

    def _read(self, path: Path) -> NoticeRecord:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            raw["copies"] = tuple(raw.get("copies") or ())
            return NoticeRecord(**raw)
        except (OSError, ValueError, TypeError) as error:
            raise RecordsError(f"{path}: not a readable notice record ({error})") from None


def _write_atomically(path: Path, data: bytes) -> None:
    """A crash leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# --- integrity and the register (pure) ------------------------------------------------------------------

# The register of outgoing documents (sổ đăng ký văn bản đi), as an office keeps it, one row per notice.
REGISTER_HEADINGS = (
    "Số, ký hiệu văn bản",
    "Ngày văn bản",
    "Trích yếu nội dung",
    "Nơi nhận",
    "Mã yêu cầu",
    "Thời gian gửi",
    "Message-ID",
    "Ký số bởi",
    "SHA-256",
    "Lưu đến ngày",
    "Tệp",
)


def recorded_hashes(audit_records: Iterator[dict]) -> dict[str, str]:
    """The kept file → its SHA-256, as the audit log's ``send-notice`` records say (the last one counts)."""
    hashes: dict[str, str] = {}
    for record in audit_records:
        if record.get("op") != SEND_OP or record.get("result") != "ok":
            continue
        after = record.get("after") or {}
        files, digests = after.get("record") or [], after.get("sha256") or []
        if files and digests:
            hashes[files[0]] = digests[0]
    return hashes


def integrity_problem(record: NoticeRecord, pdf: bytes, hashes: dict[str, str]) -> str | None:
    """Why the kept PDF is not the one that was sent, or None: its hash must be the record's and the audit
    log's (the log's hash chain is what makes a swapped file and record show)."""
    digest = sha256_of(pdf)
    if digest != record.sha256:
        return (
            f"{record.file}: the PDF's SHA-256 is {digest}, its record says {record.sha256}: the file changed"
        )
    logged = hashes.get(record.file)
    if logged is None:
        return f"{record.file}: the audit log has no send-notice record of it"
    if logged != digest:
        return f"{record.file}: the audit log records SHA-256 {logged}, the PDF has {digest}"
    return None


def past_retention(records: Iterator[NoticeRecord], on: dt.date) -> list[NoticeRecord]:
    """The notices whose retention period ended before ``on``: candidates for the archives' appraisal.
    hopthu never deletes a kept notice itself: destroying records is the organisation's decision, made by
    its appraisal council (hội đồng xác định giá trị tài liệu) under the archives law."""
    return [record for record in records if dt.date.fromisoformat(record.keep_until) < on]


def register_row(record: NoticeRecord) -> list[str]:
    issued = dt.date.fromisoformat(record.issued)
    return [
        record.number,
        issued.strftime("%d/%m/%Y"),
        record.subject,
        "; ".join([record.recipient, *record.copies]),
        record.request,
        record.sent_at or "",
        record.message_id,
        record.signed_by or "(không ký số)",
        record.sha256,
        dt.date.fromisoformat(record.keep_until).strftime("%d/%m/%Y"),
        record.file,
    ]
