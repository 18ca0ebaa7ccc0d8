"""Signed documents: what signing a notice and checking a signature cost.

With a throw-away CA (tests/testca.py, as the demo uses), renders one result notice (3 accounts), signs it
N times with a PKCS#12 key (``hopthu.signing.sign``, as ``hopthu notify`` does), then checks N signed
letters (``hopthu.signing.verify``, as ``hopthu validate`` does for each letter). Prints one JSON line per
measure: seconds (median and slowest of N, the first call apart since it pays pyHanko's imports) and the
PDF's size before and after signing.

Run from anywhere: ``.venv/bin/python bench/signing.py [--n 20]``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from hopthu.notices import render  # noqa: E402
from hopthu.signing.appearance import appearance_for  # noqa: E402
from hopthu.signing.keys import open_signer, parse_signing  # noqa: E402
from hopthu.signing.sign import sign_pdf  # noqa: E402
from hopthu.signing.verify import check_signatures, load_trust_roots  # noqa: E402
from test_notices import make_data  # noqa: E402
from testca import TestCA  # noqa: E402

PASSPHRASE = "bench-only-passphrase"


def timed(call) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def summary(name: str, seconds: list[float], **extra: object) -> None:
    first, rest = seconds[0], seconds[1:] or seconds
    print(
        json.dumps(
            {
                "measure": name,
                "n": len(seconds),
                "first_s": round(first, 3),
                "median_s": round(statistics.median(rest), 3),
                "max_s": round(max(rest), 3),
                **extra,
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="signatures and checks (default 20)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hopthu-bench-signing-") as tmp:
        folder = Path(tmp)
        ca = TestCA.make(folder)
        org_name = "Sở Thông tin và Truyền thông thành phố Cần Thơ"
        p12 = ca.pkcs12(ca.issue(org_name, org_name), folder / "cantho.p12", PASSPHRASE)
        settings = parse_signing(
            {"cantho": {"pkcs12": str(p12)}}, "bench", env={"HOPTHU_SIGNING_PASSPHRASE_CANTHO": PASSPHRASE}
        )
        render_s, notice = timed(lambda: render(make_data()))
        print(json.dumps({"measure": "render notice (HTML, text, PDF)", "seconds": round(render_s, 3)}))

        signed: list[bytes] = []
        seconds: list[float] = []
        with contextlib.ExitStack() as stack:
            open_s, signer = timed(lambda: open_signer(settings["cantho"].key, stack))
            print(json.dumps({"measure": "open the PKCS#12 key", "seconds": round(open_s, 3)}))
            for _ in range(args.n):
                appearance = appearance_for(
                    signer_name="Trần Thị Hồng",
                    signer_title="KT. GIÁM ĐỐC\nPHÓ GIÁM ĐỐC",
                    organisation=org_name,
                    signed_at=dt.datetime.now(dt.UTC),
                    box=notice.signature_box,
                )
                took, pdf = timed(
                    lambda appearance=appearance: sign_pdf(
                        notice.attachment_bytes, signer, appearance=appearance, reason="Thông báo số 05"
                    )
                )
                seconds.append(took)
                signed.append(pdf)
        summary(
            "sign a notice PDF (PAdES, visible signature)",
            seconds,
            bytes_before=len(notice.attachment_bytes),
            bytes_after=len(signed[-1]),
        )

        roots = load_trust_roots(folder / "root.pem")
        checks = [timed(lambda pdf=pdf: check_signatures(pdf, roots)) for pdf in signed]
        assert all(found[0].trusted and found[0].intact for _, found in checks)
        summary("check a signature against the trust store", [took for took, _ in checks])


if __name__ == "__main__":
    main()
