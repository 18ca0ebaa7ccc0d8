"""The signatures of a PDF, checked against a trust store: the effect, with the result as plain data.

For each signature: is it intact (the signed bytes are the ones the signer's digest covers), does it
cover the whole document (or is everything after it only further signatures, as when the office's
clerk adds the organisation's signature after the head's), does the signer's certificate chain to one of
the trust store's roots, and who signed (the certificate's common name and organisation).

The chain is checked at the time the signature was made (its timestamp, else the time the signer's
software wrote): a letter signed with a certificate that has expired since is still the letter it was,
and a merged request is never refused later for it. Nothing is fetched (no OCSP, no CRL download: the
check runs offline, in a merge-request job); revocation data embedded in the PDF is used.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

CERT_SUFFIXES = (".pem", ".crt", ".cer", ".der")


class TrustStoreError(Exception):
    """The trust store cannot be read; the message names the file."""


class PdfUnreadable(Exception):
    """The file is not a PDF pyHanko can read."""


@dataclass(frozen=True)
class SignatureCheck:
    """One signature of a PDF, as checked."""

    field: str  # the signature field's name
    signer_name: str | None  # the signer certificate's common name (CN)
    organisation: str | None  # and its organisation (O)
    intact: bool  # the signed bytes are unchanged
    valid: bool  # intact and the signature itself verifies with the certificate's key
    whole: bool  # covers the whole file, or only further signatures came after it
    trusted: bool  # the certificate chains to a root of the trust store, valid at signing time
    signed_at: dt.datetime | None
    timestamped: bool  # an RFC 3161 timestamp backs the signing time
    trust_problem: str | None = None  # why not trusted, in pyHanko's words


def load_trust_roots(path: Path) -> list:  # asn1crypto certificates
    """Every certificate in ``path``: a PEM file (one or several certificates) or a DER file, or a folder
    of such files (``.pem``, ``.crt``, ``.cer``, ``.der``)."""
    from asn1crypto import pem, x509

    files = (
        sorted(p for p in path.iterdir() if p.suffix.lower() in CERT_SUFFIXES) if path.is_dir() else [path]
    )
    if not files:
        raise TrustStoreError(f"{path}: no certificate files (.pem, .crt, .cer, .der) in the trust store")
    roots = []
    for file in files:
        try:
            data = file.read_bytes()
        except OSError as error:
            raise TrustStoreError(f"{file}: cannot read the trust store ({error.strerror})") from None
        try:
            blobs = [der for _, _, der in pem.unarmor(data, multiple=True)] if pem.detect(data) else [data]
            certificates = [x509.Certificate.load(der) for der in blobs]
            for certificate in certificates:
                certificate.native  # noqa: B018 - parses it now: a damaged file is reported here, by name
            roots += certificates
        except (ValueError, TypeError) as error:
            raise TrustStoreError(f"{file}: not a certificate in PEM or DER ({error})") from None
    return roots


def check_signatures(pdf: bytes, roots: Sequence) -> list[SignatureCheck]:
    """Every signature of ``pdf``, in the order they were made; ``PdfUnreadable`` for a file that is not
    a PDF (or a damaged one)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)  # its warnings are our findings
    logging.getLogger("pyhanko_certvalidator").setLevel(logging.CRITICAL)
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        signatures = list(reader.embedded_signatures)
    except Exception as error:  # untrusted bytes: zlib, PDF syntax, xref… any of them means "not readable"
        raise PdfUnreadable(str(error) or type(error).__name__) from None
    return [_check_one(signature, roots) for signature in signatures]


def _check_one(signature, roots: Sequence) -> SignatureCheck:
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.validation import SignatureCoverageLevel, validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    name, signed_at = "?", None
    try:
        name = str(signature.field_name)
        signed_at = _signing_time(signature)
        context = ValidationContext(
            trust_roots=list(roots),
            allow_fetching=False,
            revocation_mode="soft-fail",
            moment=signed_at,
        )
        status = validate_pdf_signature(signature, context)
    except Exception as error:  # a signature pyHanko cannot even parse: neither intact nor trusted
        return SignatureCheck(name, None, None, False, False, False, False, signed_at, False, str(error))
    subject = status.signing_cert.subject.native if status.signing_cert is not None else {}
    after_only_signatures = status.coverage == SignatureCoverageLevel.ENTIRE_REVISION and (
        status.modification_level is not None and status.modification_level <= ModificationLevel.FORM_FILLING
    )
    whole = status.coverage == SignatureCoverageLevel.ENTIRE_FILE or after_only_signatures
    trust_problem = None
    if not status.trusted:
        trust_problem = _trust_problem(status)
    return SignatureCheck(
        field=name,
        signer_name=subject.get("common_name"),
        organisation=_first(subject.get("organization_name")),
        intact=bool(status.intact),
        valid=bool(status.intact and status.valid),
        whole=bool(status.intact) and whole,
        trusted=bool(status.trusted),
        signed_at=signed_at,
        timestamped=status.timestamp_validity is not None,
        trust_problem=trust_problem,
    )


def _signing_time(signature) -> dt.datetime | None:
    """The time the signature was made: its timestamp token's, else the one the signer's software wrote."""
    try:
        token = signature.attached_timestamp_data
        if token is not None:
            return token["encap_content_info"]["content"].parsed["gen_time"].native
    except (KeyError, ValueError, TypeError, AttributeError):
        pass
    return signature.self_reported_timestamp


def _trust_problem(status) -> str:
    """pyHanko's ETSI sub-indication (NO_CERTIFICATE_CHAIN_FOUND, REVOKED, OUT_OF_BOUNDS_NO_POE…)."""
    indication = status.trust_problem_indic
    return indication.name if indication is not None else "no path to a trusted root"


def _first(value: str | Iterable[str] | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    values = list(value)
    return values[0] if values else None
