"""Request letters (văn bản đề nghị có ký số): the signed PDF a request points to, checked by ``validate``.

A request's ``document.file`` names the letter, a PDF committed beside the request file; ``document.sha256``
its SHA-256, when the PDF stays outside git (then it is not checked here, and a warning says so; with
both, the file must have that hash). A letter is accepted when:

- it is a PDF, and signed;
- every signature is intact (not a byte changed since) and verifies with its certificate, and the last
  one covers the whole file (only further signatures may follow a signature, as when the clerk adds the
  organisation's after the head's);
- one of them is by ``document.signer`` (the certificate's name, compared as names are: case, Unicode
  form and spacing aside), and that signature chains to the organisation's trust store
  (``letter_trust`` in the inventory: the national CA roots it trusts), as it was when it was made.

Whether every request needs one is the organisation's ``letter_required`` (default: no, with a warning
when a request of an organisation that checks letters, i.e. has a ``letter_trust``, has none). Each
problem is a finding at the field it concerns. The decision (``problems``) is pure; reading the file and
checking its signatures (``hopthu.signing.verify``) is the effect around it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hopthu.model import Organisation
from hopthu.naming import NamingError, parse_name
from hopthu.signing.verify import PdfUnreadable, SignatureCheck, TrustStoreError

MAX_LETTER_BYTES = 20 * 1024 * 1024  # a scanned, signed letter of a few pages is well below 5 MiB


@dataclass(frozen=True)
class LetterProblem:
    field: str  # under ``document``: "file", "sha256", "signer", or "" for the document itself
    message: str
    rule: str
    severity: str = "error"


# --- decision (pure) ---------------------------------------------------------------------------------


def same_person(a: str, b: str) -> bool:
    """Two spellings of one name: case, Unicode form, spacing and tone-mark placement aside."""
    return _name_key(a) == _name_key(b)


def _name_key(name: str) -> str:
    try:
        return str(parse_name(name))
    except NamingError:
        return " ".join(name.casefold().split())


def problems(checks: Sequence[SignatureCheck], signer: str, trust: str) -> list[LetterProblem]:
    """What is wrong with a letter whose signatures are ``checks`` (in signing order), asked for by
    ``signer``; ``trust`` names the trust store for the messages."""
    if not checks:
        return [
            LetterProblem(
                "file",
                "the letter is not digitally signed (no signature in the PDF): ask the unit for the letter "
                "as signed (văn bản điện tử có ký số), not a scan or an export",
                "letter-unsigned",
            )
        ]
    found: list[LetterProblem] = []
    for check in checks:
        if not check.intact:
            found.append(
                LetterProblem(
                    "file",
                    f"the letter was changed after {_who(check)} signed it: the signature no longer matches "
                    "the file; ask the unit for the file exactly as signed",
                    "letter-modified",
                )
            )
        elif not check.valid:
            # The file matches the digest the signature carries, but that digest is not what the
            # certificate's key signed: the letter and its digest were both changed afterwards.
            found.append(
                LetterProblem(
                    "file",
                    f"the signature of {_who(check)} does not verify with its certificate: the letter was "
                    "changed after signing; ask the unit for the file exactly as signed",
                    "letter-modified",
                )
            )
    if not found and not checks[-1].whole:
        found.append(
            LetterProblem(
                "file",
                f"the letter was changed after the last signature ({_who(checks[-1])}): the signed part is "
                "not the whole document; ask the unit for the file exactly as signed",
                "letter-modified",
            )
        )
    by_signer = [check for check in checks if check.signer_name and same_person(check.signer_name, signer)]
    if not by_signer:
        names = ", ".join(f"'{check.signer_name}'" for check in checks if check.signer_name) or "nobody named"
        found.append(
            LetterProblem(
                "signer",
                f"document.signer is '{signer}' but the letter is signed by {names}: correct the signer, or "
                "ask for the letter signed by them",
                "letter-signer",
            )
        )
        return found
    valid = [check for check in by_signer if check.valid]  # a broken signature is reported as such
    if valid and not any(check.trusted for check in valid):
        check = valid[0]
        found.append(
            LetterProblem(
                "file",
                f"the signature of '{check.signer_name}' does not chain to a certificate of the trust store "
                f"{trust} ({check.trust_problem or 'untrusted'}): the certificate is not from a CA the "
                "organisation trusts; ask IT if it should be",
                "letter-untrusted",
            )
        )
    return found


def _who(check: SignatureCheck) -> str:
    return f"'{check.signer_name}'" if check.signer_name else "its signer"


def missing(org: Organisation) -> LetterProblem:
    """A request without a letter: an error where the organisation requires one, else a warning."""
    if org.letter_required:
        return LetterProblem(
            "",
            f"{org.code} requires the signed letter: add document.file (the PDF beside the request) or "
            "document.sha256 (when the PDF stays outside git)",
            "letter-missing",
        )
    return LetterProblem(
        "",
        "no signed letter: add document.file (the PDF beside the request) so that its signature is checked",
        "letter-missing",
        "warning",
    )


# --- effect: the file and its signatures -------------------------------------------------------------


def check_letter(
    request_path: Path, document: dict[str, Any], org: Organisation, repo_root: Path
) -> list[LetterProblem]:
    """Every problem of the letter ``document`` (a request's ``document`` mapping, schema-valid) names."""
    name, digest = document.get("file"), document.get("sha256")
    if name is None and digest is None:
        # An organisation takes part once IT has set its trust store (or requires letters): before that
        # there is nothing to check a letter against, and every request would warn.
        return [missing(org)] if org.letter_required or org.letter_trust else []
    if name is None:
        return [
            LetterProblem(
                "sha256",
                "the letter is kept outside git (document.sha256 only): its signature is not checked here",
                "letter-not-checked",
                "warning",
            )
        ]
    folder = Path(os.path.abspath(request_path)).parent
    path = Path(os.path.normpath(folder / name))
    if ".." in Path(name).parts or not str(path).startswith(str(folder) + os.sep):
        return [LetterProblem("file", f"'{name}': the letter goes beside the request file", "letter-place")]
    data, problem = _read(path, name)
    if problem is not None:
        return [problem]
    assert data is not None
    found = []
    if digest is not None and hashlib.sha256(data).hexdigest() != digest.lower():
        found.append(
            LetterProblem(
                "sha256",
                f"'{name}' does not have this SHA-256 (it has {hashlib.sha256(data).hexdigest()}): the file "
                "is not the letter the hash names",
                "letter-hash",
            )
        )
    trust_name = org.letter_trust
    roots: list = []
    if trust_name is None:
        found.append(
            LetterProblem(
                "file",
                f"{org.code} has no trust store for letters: IT sets letter_trust in the inventory (the CA "
                "roots it trusts) before a letter's signature can be checked",
                "letter-trust-missing",
            )
        )
    else:
        try:
            roots = trust_roots(repo_root / trust_name)
        except TrustStoreError as error:
            found.append(
                LetterProblem("file", f"letter_trust of {org.code}: {error}", "letter-trust-missing")
            )
    from hopthu.signing.verify import check_signatures

    try:
        checks = check_signatures(data, roots)
    except PdfUnreadable as error:
        return [*found, LetterProblem("file", f"'{name}' is not a readable PDF ({error})", "letter-not-pdf")]
    if trust_name is None or (found and found[-1].rule == "letter-trust-missing"):
        # Without roots nothing is trusted: say what else is wrong, not that.
        return [
            *found,
            *(p for p in problems(checks, document["signer"], "") if p.rule != "letter-untrusted"),
        ]
    return [*found, *problems(checks, document["signer"], trust_name)]


def _read(path: Path, name: str) -> tuple[bytes | None, LetterProblem | None]:
    try:
        size = path.stat().st_size
        if not path.is_file():
            return None, LetterProblem("file", f"'{name}' is not a file", "letter-missing")
        if size > MAX_LETTER_BYTES:
            return None, LetterProblem(
                "file",
                f"'{name}' is {size // (1024 * 1024)} MiB; a letter is at most "
                f"{MAX_LETTER_BYTES // (1024 * 1024)} MiB: keep the PDF outside git and give document.sha256",
                "letter-too-large",
            )
        data = path.read_bytes()
    except FileNotFoundError:
        return None, LetterProblem(
            "file",
            f"no such file '{name}' beside the request: commit the signed PDF with it",
            "letter-missing",
        )
    except OSError as error:
        return None, LetterProblem("file", f"cannot read '{name}' ({error.strerror})", "letter-missing")
    if not data.startswith(b"%PDF-"):
        return None, LetterProblem("file", f"'{name}' is not a PDF file", "letter-not-pdf")
    return data, None


_ROOTS: dict[tuple[str, float], list] = {}


def trust_roots(path: Path) -> list:
    """The trust store's certificates, read once per run (thousands of requests share a few stores)."""
    from hopthu.signing.verify import load_trust_roots

    try:
        key = (str(path), path.stat().st_mtime)
    except OSError as error:
        raise TrustStoreError(f"{path}: no such trust store ({error.strerror})") from None
    if key not in _ROOTS:
        _ROOTS[key] = load_trust_roots(path)
    return _ROOTS[key]
