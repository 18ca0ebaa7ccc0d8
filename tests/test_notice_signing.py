"""Signed result notices: the PDF a unit receives is signed (PAdES) with the organisation's certificate,
checked by pyHanko's validator and by an independent one (poppler's pdfsig); a changed byte breaks it;
a key that cannot sign stops the notice; the sent notice is kept, byte for byte, with its hash in the
audit log. The certificates come from a throw-away CA made here (tests/testca.py)."""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pypdf
import pytest

from hopthu.audit import AuditLog
from hopthu.model import Inventory, PasswordPolicy
from hopthu.notices import NoticeLedger, NoticeSettings, SmtpSettings, deliver_pending
from hopthu.notices.records import RecordsStore, sha256_of
from hopthu.passwords import Outbox
from hopthu.signing.keys import opened_signers, parse_signing
from hopthu.signing.verify import check_signatures, load_trust_roots
from smtpfixtures import free_port
from test_notices import make_org
from test_notices_delivery import CREATE_ID, NOW, SENDER, create_request
from testca import TestCA, TimestampServer, nss_trusting

PASSPHRASE = "p12-secret-Cần-Thơ-7f3a"  # the tests that scan outputs for secrets look for this too
ORG_NAME = "Sở Thông tin và Truyền thông thành phố Cần Thơ"
needs_pdfsig = pytest.mark.skipif(
    not (shutil.which("pdfsig") and shutil.which("certutil")),
    reason="pdfsig (poppler-utils) and certutil (libnss3-tools): scripts/install-system-packages",
)


@dataclass
class Pki:
    ca: TestCA
    p12: Path
    nss: Path | None


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    ca = TestCA.make(folder)
    org = ca.issue(ORG_NAME, ORG_NAME)
    p12 = ca.pkcs12(org, folder / "cantho.p12", PASSPHRASE)
    nss = nss_trusting(folder / "nss", folder / "root.pem") if shutil.which("certutil") else None
    return Pki(ca, p12, nss)


def settings_for(pki: Pki, **extra) -> dict:
    return parse_signing(
        {"cantho": {"pkcs12": str(pki.p12), **extra}},
        "test",
        env={"HOPTHU_SIGNING_PASSPHRASE_CANTHO": PASSPHRASE},
    )


@dataclass
class Sent:
    results: list
    pdf: bytes  # the attachment as the SMTP server received it
    store: RecordsStore
    log: Path


def send_signed(tmp_path: Path, smtp_server, signing: dict) -> Sent:
    org = make_org()
    outbox = Outbox(tmp_path / "outbox")
    request = create_request()
    outbox.reserve(
        CREATE_ID,
        [a.username for a in request.accounts],
        PasswordPolicy(),
        org="cantho",
        unit="bdt",
        recipient=org.units["bdt"].mailbox,
    )
    store = RecordsStore(tmp_path / "records")
    log_path = tmp_path / "audit.jsonl"
    with opened_signers(signing) as signers, AuditLog(log_path, commit=None, ci=None) as audit:
        results = deliver_pending(
            outbox=outbox,
            ledger=NoticeLedger.load(tmp_path / "ledger.json"),
            inventory=Inventory({"cantho": org}),
            requests={CREATE_ID: request},
            outcomes={},
            settings=NoticeSettings(
                sender=SENDER, signer_title="KT. GIÁM ĐỐC\nPHÓ GIÁM ĐỐC", signer_name="Trần Thị Hồng"
            ),
            smtp=SmtpSettings("127.0.0.1", smtp_server.port),
            now=NOW,
            signers=signers,
            records=store,
            audit=audit,
        )
    pdf = b""
    if smtp_server.received:
        (attachment,) = smtp_server.received[-1].message.iter_attachments()
        pdf = attachment.get_content()
    return Sent(results, pdf, store, log_path)


def pdfsig(pdf: bytes, folder: Path, nss: Path) -> str:
    path = folder / "notice.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        # No -no-ocsp: poppler 22.12 then reports "Unknown issue"; the test certificates name no OCSP
        # responder, so nothing is asked of the network either way.
        ["pdfsig", "-nssdir", f"sql:{nss}", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout + done.stderr


def test_the_notice_pdf_is_signed_by_the_organisation_and_both_validators_accept_it(
    tmp_path, smtp_server, pki
):
    sent = send_signed(tmp_path, smtp_server, settings_for(pki))
    (result,) = sent.results
    assert result.status == "sent", result.detail
    assert result.signed_by == ORG_NAME

    (signature,) = check_signatures(sent.pdf, load_trust_roots(pki.ca.folder / "root.pem"))
    assert (signature.intact, signature.valid, signature.whole, signature.trusted) == (True, True, True, True)
    assert signature.signer_name == ORG_NAME

    # PAdES: the ETSI sub-filter, and the visible signature in the signature block of the last page
    reader = pypdf.PdfReader(io.BytesIO(sent.pdf))
    (field,) = [f for f in reader.get_fields().values() if f.get("/FT") == "/Sig"]
    assert field["/V"]["/SubFilter"] == "/ETSI.CAdES.detached"
    widget = next(a.get_object() for a in reader.pages[-1]["/Annots"] if a.get_object().get("/FT") == "/Sig")
    x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
    assert x2 - x1 > 150 and y2 - y1 > 40  # a real box, not an invisible signature
    assert x1 > 0.45 * float(reader.pages[-1].mediabox.width)  # the right-hand column: the signer's


@needs_pdfsig
def test_pdfsig_finds_the_signature_valid_the_certificate_trusted_and_the_whole_document_signed(
    tmp_path, smtp_server, pki
):
    sent = send_signed(tmp_path, smtp_server, settings_for(pki))
    verdict = pdfsig(sent.pdf, tmp_path, pki.nss)
    assert "Signature is Valid." in verdict, verdict
    assert "Certificate is Trusted." in verdict, verdict
    assert "Total document signed" in verdict, verdict
    assert f"Signer Certificate Common Name: {ORG_NAME}" in verdict
    assert "ETSI.CAdES.detached" in verdict


@needs_pdfsig
def test_a_byte_changed_after_signing_breaks_the_signature_for_both_validators(tmp_path, smtp_server, pki):
    sent = send_signed(tmp_path, smtp_server, settings_for(pki))
    # Change the notice's number as printed (in the first revision, inside the signed range).
    tampered = bytearray(sent.pdf)
    position = tampered.index(b"/Producer")  # WeasyPrint's document information: part of the signed bytes
    tampered[position + 1 : position + 9] = b"Xroducer"
    (signature,) = check_signatures(bytes(tampered), load_trust_roots(pki.ca.folder / "root.pem"))
    assert not signature.intact and not signature.valid and not signature.whole
    verdict = pdfsig(bytes(tampered), tmp_path, pki.nss)
    assert "Signature is Valid." not in verdict and "Digest Mismatch" in verdict, verdict


def test_the_visible_signature_names_the_signer_title_organisation_and_time(tmp_path, smtp_server, pki):
    sent = send_signed(tmp_path, smtp_server, settings_for(pki))
    reader = pypdf.PdfReader(io.BytesIO(sent.pdf))
    widget = next(a.get_object() for a in reader.pages[-1]["/Annots"] if a.get_object().get("/FT") == "/Sig")
    appearance = widget["/AP"]["/N"]
    text = _actual_text(appearance)
    assert "Người ký: Trần Thị Hồng" in text
    assert "Chức vụ: PHÓ GIÁM ĐỐC" in text
    assert f"Cơ quan: {ORG_NAME}" in text
    assert "Thời gian ký: 20" in text and "+07:00" in text  # ISO 8601, Vietnamese time (Decree 30)


def _actual_text(xobject) -> str:
    """The text a viewer copies from an appearance stream: pyHanko tags each line with /ActualText."""
    found: list[str] = []

    def walk(stream, depth: int) -> None:
        for operands, operator in pypdf.generic.ContentStream(stream, None).operations:
            if operator == b"BDC" and len(operands) > 1 and "/ActualText" in operands[1]:
                found.append(str(operands[1]["/ActualText"]))
        for inner in ((stream.get("/Resources") or {}).get("/XObject") or {}).values():
            if depth < 4:
                walk(inner.get_object(), depth + 1)

    walk(xobject.get_object(), 0)
    return "\n".join(found)


def test_the_kept_record_is_the_sent_pdf_and_its_hash_is_in_the_audit_log(tmp_path, smtp_server, pki):
    sent = send_signed(tmp_path, smtp_server, settings_for(pki))
    (record,) = sent.store.find(CREATE_ID)
    assert sent.store.pdf(record) == sent.pdf
    assert record.sha256 == sha256_of(sent.pdf) and record.signed_by == ORG_NAME
    assert record.number == "01/TB-STTTT" and record.recipient == "bdt@cantho.gov.vn"
    assert record.message_id == smtp_server.received[0].message["Message-ID"]
    (audit,) = [r for r in AuditLog(sent.log).records() if r["op"] == "send-notice"]
    assert audit["request"] == CREATE_ID and audit["after"]["sha256"] == [record.sha256]
    assert audit["after"]["message_id"] == [record.message_id]


def test_a_wrong_passphrase_sends_nothing_keeps_the_passwords_and_never_shows_the_passphrase(
    tmp_path, smtp_server, pki
):
    signing = parse_signing(
        {"cantho": {"pkcs12": str(pki.p12)}}, "test", env={"HOPTHU_SIGNING_PASSPHRASE_CANTHO": "not-it"}
    )
    sent = send_signed(tmp_path, smtp_server, signing)
    (result,) = sent.results
    assert result.status == "failed"
    assert "wrong passphrase" in result.detail and "$HOPTHU_SIGNING_PASSPHRASE_CANTHO" in result.detail
    assert "not-it" not in result.detail and PASSPHRASE not in result.detail
    assert smtp_server.received == [] and Outbox(tmp_path / "outbox").pending() == [CREATE_ID]


def test_a_missing_passphrase_variable_is_named(pki):
    from hopthu.signing.keys import SigningKeyError

    with pytest.raises(SigningKeyError, match="HOPTHU_SIGNING_PASSPHRASE_CANTHO"):
        parse_signing({"cantho": {"pkcs12": str(pki.p12)}}, "signing.yml", env={})


def test_a_timestamp_server_backs_the_signing_time(tmp_path, smtp_server, pki):
    with TimestampServer(pki.ca) as tsa:
        sent = send_signed(tmp_path, smtp_server, settings_for(pki, timestamp_url=tsa.url))
    assert sent.results[0].status == "sent", sent.results[0].detail
    assert tsa.requests >= 1  # pyHanko asks once more to size the signature
    (signature,) = check_signatures(sent.pdf, load_trust_roots(pki.ca.folder / "root.pem"))
    assert signature.timestamped and signature.trusted


def test_a_configured_but_unreachable_timestamp_server_stops_the_notice(tmp_path, smtp_server, pki):
    url = f"http://127.0.0.1:{free_port()}/tsa"
    sent = send_signed(tmp_path, smtp_server, settings_for(pki, timestamp_url=url))
    (result,) = sent.results
    assert result.status == "failed"
    assert f"timestamp server {url} did not answer" in result.detail, result.detail
    assert smtp_server.received == [] and list(sent.store.records()) == []


# --- a PKCS#11 token (SoftHSM2 stands in for the USB tokens agencies are issued) -------------------------

SOFTHSM = Path("/usr/lib/softhsm/libsofthsm2.so")
TOKEN_PIN = "token-pin-4821"


@pytest.fixture(scope="module")
def token(tmp_path_factory, pki):
    """A SoftHSM2 token holding the organisation's key and certificate, and the issuing CA's."""
    if not (SOFTHSM.exists() and shutil.which("softhsm2-util")):
        pytest.skip("softhsm2 is not installed: scripts/install-system-packages")
    import pkcs11
    from cryptography.hazmat.primitives import serialization
    from pkcs11 import Attribute, CertificateType, ObjectClass

    folder = tmp_path_factory.mktemp("softhsm")
    (folder / "tokens").mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    patch = pytest.MonkeyPatch()
    patch.setenv("SOFTHSM2_CONF", str(conf))
    util = ["softhsm2-util", "--pin", TOKEN_PIN]
    subprocess.run(
        [*util, "--init-token", "--free", "--label", "hopthu-test", "--so-pin", "so-5678"],
        check=True,
        capture_output=True,
    )
    signer = pki.ca.issue(ORG_NAME, ORG_NAME)
    (folder / "key.pem").write_bytes(signer.key_pem())
    subprocess.run(
        [
            *util,
            "--import",
            str(folder / "key.pem"),
            "--token",
            "hopthu-test",
            "--label",
            "notices",
            "--id",
            "01",
        ],
        check=True,
        capture_output=True,
    )
    (folder / "key.pem").unlink()
    with (
        pkcs11.lib(str(SOFTHSM))
        .get_token(token_label="hopthu-test")
        .open(rw=True, user_pin=TOKEN_PIN) as session
    ):
        for label, cert, key_id in (
            ("notices", signer.cert, b"\x01"),
            ("sub-ca", pki.ca.intermediate.cert, b"\x02"),
        ):
            session.create_object(
                {
                    Attribute.CLASS: ObjectClass.CERTIFICATE,
                    Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                    Attribute.TOKEN: True,
                    Attribute.LABEL: label,
                    Attribute.ID: key_id,
                    Attribute.SUBJECT: cert.subject.public_bytes(),
                    Attribute.VALUE: cert.public_bytes(serialization.Encoding.DER),
                }
            )
    yield {"module": str(SOFTHSM), "token_label": "hopthu-test", "key_label": "notices"}
    patch.undo()


def test_a_notice_is_signed_on_a_pkcs11_token(tmp_path, smtp_server, pki, token):
    signing = parse_signing(
        {"cantho": {"pkcs11": token}}, "test", env={"HOPTHU_SIGNING_PIN_CANTHO": TOKEN_PIN}
    )
    sent = send_signed(tmp_path, smtp_server, signing)
    assert sent.results[0].status == "sent", sent.results[0].detail
    (signature,) = check_signatures(sent.pdf, load_trust_roots(pki.ca.folder / "root.pem"))
    assert signature.trusted and signature.whole and signature.signer_name == ORG_NAME


def test_a_wrong_pin_is_refused_by_the_token_and_never_shown(tmp_path, smtp_server, token):
    signing = parse_signing({"cantho": {"pkcs11": token}}, "test", env={"HOPTHU_SIGNING_PIN_CANTHO": "0000"})
    sent = send_signed(tmp_path, smtp_server, signing)
    (result,) = sent.results
    assert (
        result.status == "failed"
        and "refused the PIN" in result.detail
        and "$HOPTHU_SIGNING_PIN_CANTHO" in result.detail
    )
    assert "0000" not in result.detail and smtp_server.received == []


# --- the records store's commands --------------------------------------------------------------------


def notices_cli(sent: Sent, *args: str):
    from click.testing import CliRunner

    from hopthu.cli import main

    common = ["--records", str(sent.store.root), "--audit-log", str(sent.log)]
    return CliRunner().invoke(main, ["notices", *args[:1], *common, *args[1:]])


def test_notices_show_and_export_give_the_notice_back_as_sent(tmp_path, smtp_server, pki):
    import csv
    import zipfile

    sent = send_signed(tmp_path, smtp_server, settings_for(pki))
    (record,) = sent.store.find(CREATE_ID)
    shown = notices_cli(sent, "show", "01/TB-STTTT", "--pdf", str(tmp_path / "copy.pdf"))
    assert shown.exit_code == 0, shown.output
    assert CREATE_ID in shown.output and "bdt@cantho.gov.vn" in shown.output and ORG_NAME in shown.output
    assert (tmp_path / "copy.pdf").read_bytes() == sent.pdf

    exported = notices_cli(sent, "export", "--year", str(record.year), "-o", str(tmp_path / "hoso.zip"))
    assert exported.exit_code == 0, exported.output
    with zipfile.ZipFile(tmp_path / "hoso.zip") as archive:
        assert archive.read(record.file) == sent.pdf
        register = archive.read(f"so-dang-ky-van-ban-di-{record.year}.csv").decode("utf-8-sig")
    header, row = list(csv.reader(io.StringIO(register)))
    assert header[:3] == ["Số, ký hiệu văn bản", "Ngày văn bản", "Trích yếu nội dung"]
    assert row[0] == "01/TB-STTTT" and row[4] == CREATE_ID and row[8] == record.sha256


def test_a_kept_pdf_that_changed_is_named_and_not_exported(tmp_path, smtp_server, pki):
    sent = send_signed(tmp_path, smtp_server, settings_for(pki))
    (record,) = sent.store.find(CREATE_ID)
    kept = sent.store.root / record.file
    kept.write_bytes(kept.read_bytes() + b"\n% appended\n")
    shown = notices_cli(sent, "show", CREATE_ID)
    assert shown.exit_code == 1 and "the file changed" in shown.output and "Traceback" not in shown.output
    exported = notices_cli(sent, "export", "--year", str(record.year), "-o", str(tmp_path / "hoso.zip"))
    assert exported.exit_code == 1 and "not exported" in exported.output
    assert not (tmp_path / "hoso.zip").exists()


def test_a_notice_past_its_retention_period_is_listed_and_kept(tmp_path, smtp_server, pki):
    sent = send_signed(tmp_path, smtp_server, settings_for(pki))
    (record,) = sent.store.find(CREATE_ID)
    assert record.keep_until == "2036-12-31"  # make_org keeps notices 10 years after 2026's end
    still_kept = notices_cli(sent, "expired", "--on", "2036-12-31")
    assert still_kept.exit_code == 0 and CREATE_ID not in still_kept.output
    assert "0 notice(s) past their retention period" in still_kept.output
    due = notices_cli(sent, "expired", "--on", "2037-01-01")
    assert due.exit_code == 0 and f"2036-12-31  01/TB-STTTT  {CREATE_ID}" in due.output
    assert (sent.store.root / record.file).read_bytes() == sent.pdf  # listed, never deleted


def test_a_bad_signing_file_is_one_clear_line(tmp_path):
    from click.testing import CliRunner

    from hopthu.cli import main

    (tmp_path / "signing.yml").write_text("organisations:\n  binhthuan: {pkcs12: /nowhere.p12, pkcs11: {}}\n")
    result = CliRunner().invoke(
        main,
        [
            "-i",
            str(Path(__file__).resolve().parents[1] / "inventory"),
            "notify",
            "--smtp-host",
            "127.0.0.1",
            "--sender",
            SENDER,
            "--signing",
            str(tmp_path / "signing.yml"),
            "--outbox",
            str(tmp_path / "outbox"),
            "--audit-log",
            str(tmp_path / "audit.jsonl"),
        ],
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "organisations.binhthuan: give either pkcs12 (a file) or pkcs11 (a token)" in result.output
