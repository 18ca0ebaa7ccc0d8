"""The printable attachment: the notice's own HTML printed to PDF by WeasyPrint.

Why PDF from the same HTML (and not a DOCX built separately): an agency edits one set of templates and the
e-mail and the filed copy cannot drift apart; PDF is the format offices sign digitally and file, and it
prints the same everywhere because the fonts are embedded. WeasyPrint needs Pango (Debian libpango) and a
Times-New-Roman-compatible font (Debian fonts-liberation2): see scripts/install-system-packages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from hopthu.signing.appearance import ANCHOR, SignatureBox, box_from_anchor


class PdfError(Exception):
    """The PDF could not be produced (a missing system library, most often)."""


@dataclass(frozen=True)
class PrintedPdf:
    """The PDF, and where its layout left room for the digital signature (``None``: nowhere)."""

    data: bytes = field(repr=False)
    signature_box: SignatureBox | None = None


def html_to_pdf(html: str) -> bytes:
    return print_pdf(html).data


def print_pdf(html: str) -> PrintedPdf:
    """``html`` printed to PDF, with the place of the element ``id="chu-ky-so"`` (the signature block)."""
    # WeasyPrint logs every CSS property it ignores; those warnings are about e-mail-only CSS, not errors.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    try:
        import weasyprint
    except OSError as exc:  # cffi could not load Pango
        raise PdfError(
            f"cannot load WeasyPrint's system libraries ({exc}); run scripts/install-system-packages"
        ) from None
    document = weasyprint.HTML(string=html).render()
    box = None
    for number, page in enumerate(document.pages):
        if ANCHOR in page.anchors:
            box = box_from_anchor(number, page.anchors[ANCHOR], page.height)
            break
    return PrintedPdf(document.write_pdf(), box)
