"""Request letters: `hopthu validate` checks the signed PDF a request points to (document.file) — signed,
intact, the whole document, by document.signer, chaining to the organisation's trust store — and says
what is wrong at the field concerned. Letters are signed here with a throw-away CA (tests/testca.py)."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from hopthu.cli import main
from testca import Issued, TestCA
from workspace import copy_of_repo

REQUEST = "requests/binhthuan/bdt/2025/2025-03-03-bdt-cap-moi.yaml"
LETTER = "2025-03-03-bdt-cap-moi.pdf"
SIGNER = "Nguyễn Hữu Phước"  # document.signer of the shipped request
INVENTORY = "inventory/group_vars/all/hopthu.yml"


@functools.cache
def blank_letter() -> bytes:
    """A one-page letter, as a unit's office software exports it before signing."""
    from hopthu.notices.pdf import html_to_pdf

    return html_to_pdf(
        "<html lang='vi'><body><p>BAN DÂN TỘC TỈNH BÌNH THUẬN</p><p>Số: 45/BDT-VP</p>"
        "<p>V/v đề nghị cấp mới hộp thư điện tử công vụ</p><p>Kính gửi: Sở Thông tin và Truyền thông</p>"
        f"<p>TRƯỞNG BAN</p><p>{SIGNER}</p></body></html>"
    )


def sign(pdf: bytes, who: Issued, ca: TestCA, field: str = "Signature1") -> bytes:
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    der = serialization.Encoding.DER
    signer = signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(who.cert.public_bytes(der)),
        signing_key=asn1_keys.PrivateKeyInfo.load(
            who.key.private_bytes(der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        ),
        cert_registry=SimpleCertificateStore.from_certs(
            [asn1_x509.Certificate.load(ca.intermediate.cert.public_bytes(der))]
        ),
    )
    meta = signers.PdfSignatureMetadata(field_name=field, subfilter=SigSeedSubFilter.PADES)
    return signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=signer).getvalue()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    national = TestCA.make(folder / "national", "Test National Root CA")
    other = TestCA.make(folder / "other", "Test Untrusted Root CA")
    head = national.issue(SIGNER, "Ban Dân tộc tỉnh Bình Thuận")
    return {
        "ca": national,
        "other": other,
        "head": head,
        "stranger": national.issue("Trần Văn Bình", "Ban Dân tộc tỉnh Bình Thuận"),
        "clerk_org": national.issue("Ban Dân tộc tỉnh Bình Thuận", "Ban Dân tộc tỉnh Bình Thuận"),
        "impostor": other.issue(SIGNER, "Ban Dân tộc tỉnh Bình Thuận"),
        "letter": sign(blank_letter(), head, national),
    }


@pytest.fixture
def repo(tmp_path, monkeypatch, pki):
    """The shipped inventory and requests; Bình Thuận trusts the national test root."""
    copy_of_repo(tmp_path, "inventory", "requests", "schemas")
    (tmp_path / "trust").mkdir()
    (tmp_path / "trust" / "national.pem").write_bytes(pki["ca"].root.cert_pem())
    inventory = tmp_path / INVENTORY
    text = inventory.read_text(encoding="utf-8")
    inventory.write_text(
        text.replace(
            "    place: Bình Thuận\n", "    place: Bình Thuận\n    letter_trust: trust/national.pem\n", 1
        ),
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def point_to_letter(pdf: bytes | None, *, sha256: str | None = None, name: str = LETTER) -> None:
    text = Path(REQUEST).read_text(encoding="utf-8")
    extra = f"  file: {name}\n" if pdf is not None else ""
    if sha256:
        extra += f'  sha256: "{sha256}"\n'
    Path(REQUEST).write_text(
        text.replace(f"  signer: {SIGNER}\n", f"  signer: {SIGNER}\n{extra}"), encoding="utf-8"
    )
    if pdf is not None:
        (Path(REQUEST).parent / name).write_bytes(pdf)


def letter_findings(*paths: str) -> list[dict]:
    result = CliRunner().invoke(main, ["validate", "--format", "json", *(paths or (REQUEST,))])
    assert "Traceback" not in result.output
    return [f for f in json.loads(result.stdout) if f["rule"].startswith("letter-")]


def line_of(text: str) -> int:
    return next(n for n, line in enumerate(Path(REQUEST).read_text().splitlines(), 1) if text in line)


def test_a_letter_signed_by_the_signer_with_a_trusted_certificate_passes(repo, pki):
    point_to_letter(pki["letter"])
    assert letter_findings() == []


def test_a_letter_signed_by_someone_else_is_refused_at_the_signer(repo, pki):
    point_to_letter(sign(blank_letter(), pki["stranger"], pki["ca"]))
    (finding,) = letter_findings()
    assert finding["rule"] == "letter-signer" and finding["field"] == "document.signer"
    assert finding["line"] == line_of("signer:")
    assert "'Trần Văn Bình'" in finding["message"] and SIGNER in finding["message"]


def test_a_letter_signed_under_an_untrusted_ca_is_refused_at_the_file(repo, pki):
    point_to_letter(sign(blank_letter(), pki["impostor"], pki["other"]))
    (finding,) = letter_findings()
    assert finding["rule"] == "letter-untrusted" and finding["field"] == "document.file"
    assert finding["line"] == line_of("file:")
    assert "trust/national.pem" in finding["message"]


def test_a_letter_changed_after_signing_is_refused(repo, pki):
    tampered = bytearray(pki["letter"])
    position = tampered.index(b"/Producer")  # the letter's own document information: signed bytes
    tampered[position + 1 : position + 9] = b"Xroducer"
    point_to_letter(bytes(tampered))
    rules = [f["rule"] for f in letter_findings()]
    assert rules == ["letter-modified"]


def forged(signed: bytes) -> bytes:
    """``signed`` changed after signing, with the digest inside its signature recomputed to match: the
    bytes agree with the digest, but the signer's key never signed that digest."""
    import re

    from asn1crypto import cms

    data = bytearray(signed)
    position = data.index(b"/Producer")
    data[position + 1 : position + 9] = b"Xroducer"
    ranges = re.findall(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", bytes(data))
    a, b, c, d = map(int, ranges[-1])
    digest = hashlib.sha256(bytes(data[a : a + b]) + bytes(data[c : c + d])).digest()
    contents = bytes(data[a + b + 1 : c - 1])  # the hex string between < and >
    info = cms.ContentInfo.load(bytes.fromhex(contents.decode()), strict=False)
    for attribute in info["content"]["signer_infos"][0]["signed_attrs"]:
        if attribute["type"].native == "message_digest":
            attribute["values"][0] = cms.OctetString(digest)
    data[a + b + 1 : c - 1] = info.dump(force=True).hex().encode().ljust(len(contents), b"0")
    return bytes(data)


def test_a_letter_changed_with_its_digest_recomputed_is_refused_as_changed(repo, pki):
    point_to_letter(forged(pki["letter"]))
    (finding,) = letter_findings()
    assert finding["rule"] == "letter-modified" and finding["field"] == "document.file"
    assert "does not verify with its certificate" in finding["message"]


def test_a_letter_with_a_page_added_after_signing_is_refused(repo, pki):
    from pyhanko.pdf_utils.generic import NumberObject, pdf_name
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(pki["letter"]))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page[pdf_name("/Rotate")] = NumberObject(90)  # an incremental update: the page turned after signing
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    point_to_letter(out.getvalue())
    (finding,) = letter_findings()
    assert finding["rule"] == "letter-modified" and "not the whole document" in finding["message"]


def test_a_second_signature_by_the_organisation_after_the_heads_is_fine(repo, pki):
    twice = sign(pki["letter"], pki["clerk_org"], pki["ca"], field="Signature2")
    point_to_letter(twice)
    assert letter_findings() == []


def test_an_unsigned_or_missing_or_misnamed_letter_is_refused(repo, pki):
    point_to_letter(blank_letter())
    assert [f["rule"] for f in letter_findings()] == ["letter-unsigned"]
    (Path(REQUEST).parent / LETTER).unlink()
    assert [f["rule"] for f in letter_findings()] == ["letter-missing"]
    (Path(REQUEST).parent / LETTER).write_bytes(b"not a pdf at all")
    assert [f["rule"] for f in letter_findings()] == ["letter-not-pdf"]


def test_the_sha256_must_be_the_files(repo, pki):
    point_to_letter(pki["letter"], sha256="0" * 64)
    (finding,) = letter_findings()
    assert finding["rule"] == "letter-hash" and finding["field"] == "document.sha256"
    assert hashlib.sha256(pki["letter"]).hexdigest() in finding["message"]


def test_a_letter_kept_outside_git_is_named_by_its_hash_and_not_checked_here(repo, pki):
    point_to_letter(None, sha256=hashlib.sha256(pki["letter"]).hexdigest())
    (finding,) = letter_findings()
    assert (finding["rule"], finding["severity"]) == ("letter-not-checked", "warning")


def test_without_a_letter_a_warning_unless_the_organisation_requires_one(repo):
    (warning,) = letter_findings()
    assert (warning["rule"], warning["severity"], warning["field"]) == (
        "letter-missing",
        "warning",
        "document",
    )
    result = CliRunner().invoke(main, ["validate", REQUEST])
    assert result.exit_code == 0 and "warning: " in result.output
    assert "0 problem(s), 1 warning(s)" in result.output  # the summary counts the warning apart

    inventory = Path(INVENTORY)
    text = inventory.read_text(encoding="utf-8")
    inventory.write_text(
        text.replace("letter_trust:", "letter_required: true\n    letter_trust:", 1), encoding="utf-8"
    )
    (error,) = letter_findings()
    assert (error["rule"], error["severity"]) == ("letter-missing", "error")
    assert CliRunner().invoke(main, ["validate", REQUEST]).exit_code == 1


def test_a_letter_in_a_merge_request_is_checked_and_a_merged_letter_never_changes(repo, pki):
    def git(*args: str) -> None:
        subprocess.run(["git", *args], check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    point_to_letter(pki["letter"])
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "merged")
    git("checkout", "-qb", "mr")
    (Path(REQUEST).parent / LETTER).write_bytes(sign(blank_letter(), pki["stranger"], pki["ca"]))
    result = CliRunner().invoke(main, ["validate", "--base", "main", "--format", "json"])
    (finding,) = json.loads(result.stdout)
    assert finding["rule"] == "request-immutable" and finding["path"].endswith(LETTER)


def test_checking_a_letter_costs_milliseconds_once_pyhanko_is_loaded(repo, pki):
    point_to_letter(pki["letter"])
    letter_findings()  # pyHanko imported, trust store read
    start = time.perf_counter()
    for _ in range(5):
        assert letter_findings() == []
    per_run = (time.perf_counter() - start) / 5
    assert per_run < 1.0, f"validate of one request with its letter took {per_run:.2f} s"


def test_a_missing_letter_stops_neither_the_apply_nor_the_import(repo, tmp_path):
    """The apply stops on errors, not on the warning; the import writes the request, and the letter is
    committed beside it afterwards (even where letters are required)."""
    from annexes import csv_file
    from hopthu.pipeline import load

    assert letter_findings()[0]["severity"] == "warning"
    loaded = load(Path("inventory"), [Path(REQUEST)])
    assert [request.id for request in loaded.requests] == ["2025-03-03-bdt-cap-moi"]

    inventory = Path(INVENTORY)
    text = inventory.read_text(encoding="utf-8")
    inventory.write_text(
        text.replace("letter_trust:", "letter_required: true\n    letter_trust:", 1), encoding="utf-8"
    )
    annex = csv_file(
        tmp_path / "ds.csv", [["STT", "Họ và tên", "Phòng ban"], ["1", "Lê Văn Tám", "Văn phòng"]]
    )
    options = ["--org", "binhthuan", "--unit", "bdt", "--kind", "create", "--document-number", "1/X"]
    options += [
        "--document-date",
        "2025-04-03",
        "--signer",
        SIGNER,
        "--requester-email",
        "letm@bdt.binhthuan.gov.vn",
    ]
    result = CliRunner().invoke(main, ["import", str(annex), *options])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("damage", ["truncated", "garbled", "no xref"])
def test_a_damaged_letter_is_a_finding_never_a_traceback(repo, pki, damage):
    import random

    letter = pki["letter"]
    if damage == "truncated":
        broken = letter[: len(letter) // 2]
    elif damage == "garbled":  # bytes changed all over, compressed streams included
        randomly = random.Random(1)
        data = bytearray(letter)
        for _ in range(20):
            data[randomly.randrange(len(data))] = randomly.randrange(256)
        broken = bytes(data)
    else:
        broken = letter.replace(b"startxref", b"startxrex")
    point_to_letter(broken)
    result = CliRunner().invoke(main, ["validate", "--format", "json", REQUEST])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert any(
        f["rule"].startswith("letter-") and f["severity"] == "error" for f in json.loads(result.stdout)
    )
