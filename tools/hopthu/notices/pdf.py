"""The printable attachment: the notice's own HTML printed to PDF by WeasyPrint.

Why PDF from the same HTML (and not a DOCX built separately): an agency edits one set of templates and the
e-mail and the filed copy cannot drift apart; PDF is the format offices sign digitally and file, and it
prints the same everywhere because the fonts are embedded. WeasyPrint needs Pango (Debian libpango) and a
Times-New-Roman-compatible font (Debian fonts-liberation2): see scripts/install-system-packages.
"""

from __future__ import annotations

import logging


class PdfError(Exception):
    """The PDF could not be produced (a missing system library, most often)."""


def html_to_pdf(html: str) -> bytes:
    # WeasyPrint logs every CSS property it ignores; those warnings are about e-mail-only CSS, not errors.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    try:
        import weasyprint
    except OSError as exc:  # cffi could not load Pango
        raise PdfError(
            f"cannot load WeasyPrint's system libraries ({exc}); run scripts/install-system-packages"
        ) from None
    return weasyprint.HTML(string=html).write_pdf()
