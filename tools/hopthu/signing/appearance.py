"""What a notice's visible signature says and where it goes — pure, no I/O.

Decree 30/2020/NĐ-CP (Appendix I, part II) places the digital signature of an electronic document in the
signature block, between the signer's title and name, and has it show who signed, for which
organisation, and when (date, hour, minute, second and the Vietnamese time zone, ISO 8601). The notice
layout marks that place with an element whose ``id`` is ``ANCHOR``; WeasyPrint reports where that
element was laid out (CSS pixels from the top left of the page), and ``box_from_anchor`` turns it into
the PDF rectangle of the signature field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

ANCHOR = "chu-ky-so"  # id of the signature's place in templates/layout.html.j2 (the signature block)
PX_TO_PT = 0.75  # CSS: 96 px per inch; PDF: 72 points per inch
VIETNAM_TIME = dt.timezone(dt.timedelta(hours=7), "ICT")
FIELD_NAME = "ChuKySo"  # the signature field's name in the PDF


@dataclass(frozen=True)
class SignatureBox:
    """Where the visible signature sits: a page (0 = first) and a rectangle in PDF points from the
    bottom left of that page."""

    page: int
    x1: int
    y1: int
    x2: int
    y2: int

    def rectangle(self) -> tuple[int, int, int, int]:
        return (self.x1, self.y1, self.x2, self.y2)


@dataclass(frozen=True)
class Appearance:
    """The visible signature: its lines of text, and its place (``None``: the layout has no place for
    it, e.g. an organisation's own template without the anchor; the signature is then invisible)."""

    lines: tuple[str, ...]
    box: SignatureBox | None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def box_from_anchor(
    page: int, anchor: tuple[float, float, float, float], page_height_px: float
) -> SignatureBox | None:
    """The PDF rectangle of an anchor WeasyPrint laid out at ``(x1, y1, x2, y2)`` CSS pixels from the
    top left of a page ``page_height_px`` high; ``None`` when the element has no area."""
    x1, y1, x2, y2 = anchor
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    height = page_height_px * PX_TO_PT
    return SignatureBox(
        page,
        round(x1 * PX_TO_PT),
        round(height - y2 * PX_TO_PT),
        round(x2 * PX_TO_PT),
        round(height - y1 * PX_TO_PT),
    )


def vn_time(moment: dt.datetime) -> str:
    """``2026-02-05T09:30:00+07:00``: the signing time as Decree 30 asks (ISO 8601, Vietnamese time)."""
    return moment.astimezone(VIETNAM_TIME).replace(microsecond=0).isoformat()


def position_of(signer_title: str) -> str:
    """The signer's own position from the title block: its last line (``KT. GIÁM ĐỐC`` / ``PHÓ GIÁM
    ĐỐC`` → ``PHÓ GIÁM ĐỐC``; "KT." only says on whose behalf)."""
    lines = [line.strip() for line in signer_title.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def stamp_lines(
    *, signer_name: str, signer_title: str, organisation: str, signed_at: dt.datetime
) -> tuple[str, ...]:
    """The text of the visible signature, one line each: who, their position, the organisation whose
    certificate signs, when."""
    lines = [f"Người ký: {signer_name}" if signer_name else ""]
    position = position_of(signer_title)
    if position:
        lines.append(f"Chức vụ: {position}")
    lines.append(f"Cơ quan: {organisation}")
    lines.append(f"Thời gian ký: {vn_time(signed_at)}")
    return tuple(line for line in lines if line)


def appearance_for(
    *,
    signer_name: str,
    signer_title: str,
    organisation: str,
    signed_at: dt.datetime,
    box: SignatureBox | None,
) -> Appearance:
    lines = stamp_lines(
        signer_name=signer_name, signer_title=signer_title, organisation=organisation, signed_at=signed_at
    )
    return Appearance(lines, box)
