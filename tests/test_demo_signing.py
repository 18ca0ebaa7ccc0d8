"""`make demo`'s signing: the certificates it makes at demo time, and the pdfsig verdict it prints. The
demo itself uses fixed ports; these tests run its two signing pieces on their own."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import subprocess
import sys

import pytest

from hopthu.notices import render
from hopthu.signing.appearance import appearance_for
from hopthu.signing.keys import load_signing_file, open_signer
from hopthu.signing.sign import sign_pdf
from test_notices import make_data
from workspace import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from demo_check import pdfsig_verdict


@pytest.mark.skipif(
    not (shutil.which("pdfsig") and shutil.which("certutil")), reason="poppler-utils, libnss3-tools"
)
def test_the_demo_signs_with_certificates_made_at_demo_time_and_pdfsig_accepts_them(tmp_path):
    keys = tmp_path / "keys"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo_certificate.py"), str(keys)],
        capture_output=True,
        text=True,
        check=True,
    )
    env = dict(line.split("=", 1) for line in (keys / "passphrases.env").read_text().split())
    assert set(env) == {
        f"HOPTHU_SIGNING_PASSPHRASE_{org}" for org in ("BINHTHUAN", "DANANG", "CTU", "LAMDONG")
    }
    assert (keys / "passphrases.env").stat().st_mode & 0o077 == 0
    for secret in env.values():
        assert secret not in done.stdout + done.stderr and secret not in (keys / "signing.json").read_text()

    settings = load_signing_file(keys / "signing.json", env=env)
    notice = render(make_data())
    with contextlib.ExitStack() as stack:
        signer = open_signer(settings["binhthuan"].key, stack)
        signed = sign_pdf(
            notice.attachment_bytes,
            signer,
            appearance=appearance_for(
                signer_name="Nguyễn Thanh Sơn",
                signer_title="GIÁM ĐỐC",
                organisation="SỞ THÔNG TIN VÀ TRUYỀN THÔNG",
                signed_at=dt.datetime.now(dt.UTC),
                box=notice.signature_box,
            ),
            reason="Thông báo số 05/TB-STTTT",
        )
    (tmp_path / "notice.pdf").write_bytes(signed)
    ok, lines = pdfsig_verdict(tmp_path / "notice.pdf", keys / "nss")
    assert ok, lines
    assert "Signature Validation: Signature is Valid." in lines
    assert "Certificate Validation: Certificate is Trusted." in lines
    assert any(
        line.startswith("Signer Certificate Common Name: SỞ THÔNG TIN VÀ TRUYỀN THÔNG") for line in lines
    )
