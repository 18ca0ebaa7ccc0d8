"""Signing one PDF (PAdES baseline, ETSI.CAdES.detached) with an opened key: the effect.

The caller decides what the visible signature says and where (``appearance``); this module writes it
with pyHanko as an incremental update, so the notice as printed by WeasyPrint stays byte for byte the
first revision of the signed file. With ``timestamp_url`` the signature carries an RFC 3161 timestamp
from that server (PAdES B-T); a server that does not answer stops the signature, never silently drops
the timestamp.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
from pathlib import Path

from hopthu.signing.appearance import FIELD_NAME, Appearance

# Liberation Serif has Times New Roman's metrics and every Vietnamese letter (Debian fonts-liberation2).
FONT_FILE = Path("/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf")
FONT_SIZE = 8
TIMESTAMP_TIMEOUT = 10  # seconds


class SigningError(Exception):
    """The PDF could not be signed (the message says why; it never carries a secret)."""


def sign_pdf(
    pdf: bytes,
    signer,  # a pyHanko Signer (hopthu.signing.keys.open_signer)
    *,
    appearance: Appearance,
    reason: str,
    location: str = "",
    timestamp_url: str | None = None,
) -> bytes:
    """``pdf`` signed by ``signer``, with ``appearance`` as its visible signature."""
    from pyhanko import stamp
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.text import TextBoxStyle
    from pyhanko.sign import signers, timestamps
    from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter

    logging.getLogger("fontTools").setLevel(logging.ERROR)  # "FFTM NOT subset": a table nobody needs
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    box = appearance.box
    field = SigFieldSpec(
        FIELD_NAME,
        on_page=box.page if box else 0,
        box=box.rectangle() if box else None,
    )
    style = stamp.TextStampStyle(
        # Our own parameter: pyHanko's %(ts)s is its own clock in the machine's zone, not the notice's.
        stamp_text="%(lines)s",
        text_box_style=TextBoxStyle(font=_font_factory(), font_size=FONT_SIZE, leading=FONT_SIZE + 2),
        border_width=1,
        background=None,
    )
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        subfilter=SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason=reason,
        location=location or None,
    )
    timestamper = (
        timestamps.HTTPTimeStamper(timestamp_url, timeout=TIMESTAMP_TIMEOUT) if timestamp_url else None
    )
    pdf_signer = signers.PdfSigner(
        meta, signer=signer, timestamper=timestamper, stamp_style=style, new_field_spec=field
    )
    try:
        output = pdf_signer.sign_pdf(writer, appearance_text_params={"lines": appearance.text})
    except (TimeoutError, timestamps.TimestampRequestError, OSError) as error:
        cause = _cause(error)
        what = (
            "did not answer" if isinstance(cause, OSError | asyncio.TimeoutError) else "refused a timestamp"
        )
        raise SigningError(
            f"the timestamp server {timestamp_url} {what} ({cause or type(cause).__name__}); "
            "the notice was not signed"
        ) from None
    except Exception as error:  # pyHanko's SigningError, a token's error: say what, never a secret
        raise SigningError(f"signing failed: {type(error).__name__}: {error}") from None
    return output.getvalue()


def _cause(error: BaseException) -> BaseException:
    """The innermost exception: a refused connection or a timeout under pyHanko's and aiohttp's."""
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return error


@functools.cache
def _font_factory():
    if not FONT_FILE.is_file():
        raise SigningError(f"{FONT_FILE} is missing: run scripts/install-system-packages (fonts-liberation2)")
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory

    class Em1000Accumulator(GlyphAccumulator):
        """pyHanko writes glyph widths (/W) and kerning (TJ) in the font's own units, which PDF reads as
        thousandths of an em: right for fonts of 1000 units per em, twice too wide for Liberation's
        2048. Shape and measure in thousandths instead."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._scale = 1000 / self.units_per_em
            self.hb_font.scale = (1000, 1000)
            self.units_per_em = 1000

        def _get_cid_and_width(self, glyph_id: int) -> tuple[int, int]:
            if glyph_id not in self._glyphs:
                cid, width = super()._get_cid_and_width(glyph_id)
                self._glyphs[glyph_id] = (cid, round(width * self._scale))
            return self._glyphs[glyph_id]

    class Em1000Factory(GlyphAccumulatorFactory):
        def create_font_engine(self, writer, obj_stream=None):
            fh = open(self.font_file, "rb")  # noqa: SIM115 - pyHanko reads it until the PDF is written
            if obj_stream is None and writer.stream_xrefs and self.create_objstream_if_needed:
                obj_stream = writer.prepare_object_stream()
            return Em1000Accumulator(
                writer=writer,
                font_handle=fh,
                font_size=self.font_size,
                ot_script_tag=self.ot_script_tag,
                ot_language_tag=self.ot_language_tag,
                writing_direction=self.writing_direction,
                bcp47_lang_code=self.bcp47_lang_code,
                obj_stream=obj_stream,
            )

    return Em1000Factory(str(FONT_FILE), font_size=FONT_SIZE)
