"""Result notices (thông báo kết quả): data → an e-mail body (text + HTML) and a printable PDF.

The wording and layout live in Jinja2 templates (``templates/``) that an IT department may edit or
override from its inventory; this module only prepares the data and picks the templates. Layout rules
follow Decree 30/2020/NĐ-CP (see ``/docs`` and ``templates/layout.html.j2``).

Passwords appear in the rendered output and nowhere else: never in exceptions, logs or the subject.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import jinja2
import jinja2.sandbox
from markupsafe import Markup

from hopthu.model import Kind, Organisation, Request, Unit
from hopthu.refusals import Refusal
from hopthu.signing.appearance import SignatureBox

BUILTIN_TEMPLATES = Path(__file__).parent / "templates"

# Shown instead of each password in a dry run, so a reviewer can read the notice without a secret in it.
PASSWORD_PLACEHOLDER = "••••••••"
# The PDF is the official, signed document that is filed and kept for years (notices/records.py): it
# never holds a password. Each one-time password is in the e-mail's text and HTML only; the PDF's
# password column says so.
PASSWORD_IN_EMAIL = "(trong thư)"

Outcome = Literal["applied", "refused"]


class NoticeRow(NamedTuple):
    """One line of the accounts table."""

    full_name: str
    unit_name: str
    address: str
    password: str | None = None
    old_address: str | None = None  # a transfer: the address before, which keeps delivering (an alias)
    granted: tuple[str, ...] = ()  # application accounts (tài khoản phần mềm) given: the applications' names
    removed: tuple[str, ...] = ()  # and taken away
    unit_mailbox: bool = False  # a unit mailbox (hộp thư cơ quan/đơn vị), not a person's

    def __repr__(self) -> str:  # a row may end up in a traceback or a log line: keep the secret out
        shown = None if self.password is None else PASSWORD_PLACEHOLDER
        return f"NoticeRow({self.full_name!r}, {self.unit_name!r}, {self.address!r}, password={shown!r})"


@dataclass(frozen=True)
class NoticeData:
    """Everything one notice says. ``rows`` carry the one-time passwords where there are any."""

    org: Organisation
    unit: Unit
    request: Request
    outcome: Outcome
    reason: str | None  # why a request was refused, in English (the log's); None for an applied request
    rows: list[NoticeRow]
    number: str  # "05/TB-CNTT", see hopthu.notices.ledger
    issued: dt.date
    signer_title: str  # "GIÁM ĐỐC", or "KT. GIÁM ĐỐC\nPHÓ GIÁM ĐỐC" (one line per printed line)
    signer_name: str
    refusals: tuple[Refusal, ...] = ()  # why a request was refused, as data: what the notice says
    copies: tuple[Unit, ...] = ()  # other units the notice also goes to (where accounts were transferred)
    effective: dt.date | None = None  # the day the change took effect (a merger's notice says it)

    def __post_init__(self) -> None:
        if self.outcome not in ("applied", "refused"):
            raise ValueError(f"notice outcome must be 'applied' or 'refused', not {self.outcome!r}")
        if self.outcome == "refused" and not (self.refusals or (self.reason and self.reason.strip())):
            raise ValueError(f"request {self.request.id}: a refusal notice must state the reason")
        if self.outcome == "refused" and any(row.password for row in self.rows):
            raise ValueError(f"request {self.request.id}: a refusal notice carries no passwords")


@dataclass(frozen=True)
class RenderedNotice:
    subject: str
    text: str
    html: str
    attachment_name: str
    attachment_bytes: bytes = field(repr=False)
    attachment_mime: str
    request_id: str = ""
    has_secrets: bool = False  # True when real passwords are inside (never for a dry run)
    signature_box: SignatureBox | None = None  # where the PDF's layout leaves room for the signature
    signed_by: str | None = None  # the signer certificate's name once the PDF is signed (notices/deliver.py)

    def __repr__(self) -> str:
        return (
            f"RenderedNotice(subject={self.subject!r}, attachment={self.attachment_name!r}, "
            f"has_secrets={self.has_secrets})"
        )


class NoticeTemplateError(Exception):
    """A notice template is missing or broken; the message names the template file and line."""


# --- Vietnamese formatting -------------------------------------------------------------------------


def vn_long_date(day: dt.date) -> str:
    """``ngày 05 tháng 02 năm 2026``: a leading zero for days below 10 and for months 1 and 2 (Decree 30)."""
    month = f"{day.month:02d}" if day.month <= 2 else str(day.month)
    return f"ngày {day.day:02d} tháng {month} năm {day.year}"


def vn_short_date(day: dt.date) -> str:
    """``20/11/2026``: how a cited document's date is written in running text."""
    return day.strftime("%d/%m/%Y")


def notice_number(sequence: int, org: Organisation) -> str:
    """``05/TB-CNTT``: sequence of the year, type code TB (thông báo), the issuer's abbreviation."""
    return f"{sequence:02d}/TB-{org.issuer_abbrev}"


def _paragraphs(value: str) -> list[str]:
    """Split a block's output on blank lines; whitespace inside a paragraph collapses to one space.

    Keeps the Markup type so text escaped once by the HTML environment is not escaped twice.
    """
    wrap = Markup if isinstance(value, Markup) else str
    parts = (" ".join(part.split()) for part in re.split(r"\n\s*\n", str(value)))
    return [wrap(part) for part in parts if part]


# --- templates -------------------------------------------------------------------------------------


@functools.cache  # compiled templates are kept: a notify run renders many notices with the same files
def _environment(templates_dir: Path | None, *, html: bool) -> jinja2.Environment:
    search = [str(templates_dir)] if templates_dir else []
    search.append(str(BUILTIN_TEMPLATES))
    # Sandboxed: the templates come from an inventory that many people edit; they get data, not Python.
    env = jinja2.sandbox.SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(search),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["paragraphs"] = _paragraphs
    env.filters["vn_long_date"] = vn_long_date
    env.filters["vn_short_date"] = vn_short_date
    return env


def _render_template(env: jinja2.Environment, name: str, context: dict[str, object]) -> str:
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateNotFound as exc:
        searched = getattr(env.loader, "searchpath", [])
        raise NoticeTemplateError(f"notice template {exc.name!r} not found in {searched}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise NoticeTemplateError(f"{exc.filename or exc.name}:{exc.lineno}: {exc.message}") from None
    except (jinja2.UndefinedError, jinja2.sandbox.SecurityError) as exc:
        # The message names the template variable, never a value; the location comes from the traceback.
        raise NoticeTemplateError(f"{_template_location(exc, env)}: {exc}") from None


def _template_location(exc: BaseException, env: jinja2.Environment) -> str:
    """file:line of the innermost template frame of an error raised while rendering."""
    location = "notice template"
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            template = tb.tb_frame.f_globals.get("__jinja_template__")
            line = template.get_corresponding_lineno(tb.tb_lineno) if template else tb.tb_lineno
            location = f"{filename}:{line}"
        tb = tb.tb_next
    return location


def render_document(template: str, context: dict[str, object], *, templates_dir: Path | None = None) -> str:
    """Another administrative document than a notice (the yearly report, ``hopthu.reports.yearly``), as
    HTML from ``template``, with the notices' environment: sandboxed, an organisation's own files first,
    the Vietnamese date filters."""
    return _render_template(_environment(templates_dir, html=True), template, context)


def kind_template(kind: Kind) -> str:
    return f"kinds/{kind.value}.j2"


# --- rendering -------------------------------------------------------------------------------------


def _context(data: NoticeData, rows: list[NoticeRow], layout: str) -> dict[str, object]:
    org = data.org
    return {
        "layout": layout,
        "org": org,
        "unit": data.unit,
        "request": data.request,
        "document": data.request.document,
        "outcome": data.outcome,
        "refusals": [_refusal_context(refusal) for refusal in data.refusals],
        "rows": rows,
        "has_passwords": any(row.password for row in rows),
        "has_applications": any(row.granted or row.removed for row in rows),
        "moved": [row for row in rows if row.old_address],
        "renamed": [
            row for row in rows if row.old_address and _local(row.old_address) != _local(row.address)
        ],
        "effective": data.effective or data.issued,
        "people": [row for row in rows if not row.unit_mailbox],
        "unit_mailboxes": [row for row in rows if row.unit_mailbox],
        "copies": data.copies,
        "number": data.number,
        "issued": data.issued,
        "parent": org.parent.upper(),
        "issuer": (org.issuer or org.name).upper(),
        "abbrev": org.issuer_abbrev,
        "place": org.place,
        "signer_title_lines": _lines_upper(data.signer_title),
        "signer_name": data.signer_name,
    }


def _local(address: str) -> str:
    return address.partition("@")[0]


def _refusal_context(refusal: Refusal) -> dict[str, object]:
    headings, rows = refusal.table()
    return {"text": refusal.vietnamese(), "headings": headings, "rows": rows}


def _lines_upper(text: str) -> list[str]:
    return [line.strip().upper() for line in text.splitlines() if line.strip()]


def _ascii_fold(text: str) -> str:
    """``TB-ĐHCT`` → ``TB-DHCT``: some mail programs still mangle non-ASCII attachment names."""
    decomposed = unicodedata.normalize("NFKD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def attachment_filename(data: NoticeData) -> str:
    """An ASCII file name a clerk can file by: ``TB-05-CNTT-2026_<request id>.pdf``."""
    sequence, _, type_and_issuer = data.number.partition("/")
    name = _ascii_fold(f"{type_and_issuer}-{sequence}-{data.issued.year}_{data.request.id}")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name)
    return f"{safe.strip('-')}.pdf"


def render(
    data: NoticeData,
    *,
    dry_run: bool = False,
    templates_dir: Path | None = None,
    with_attachment: bool = True,
) -> RenderedNotice:
    """Render one notice. ``dry_run`` replaces every password by a placeholder.

    ``templates_dir`` holds the organisation's own templates; a file there replaces the built-in file of
    the same name (``layout.html.j2``, ``kinds/create.j2`` …), anything not there comes from the built-ins.
    """
    rows = [
        row._replace(password=PASSWORD_PLACEHOLDER) if dry_run and row.password is not None else row
        for row in data.rows
    ]
    template = kind_template(data.request.kind)
    html_env = _environment(templates_dir, html=True)
    text_env = _environment(templates_dir, html=False)
    html = _render_template(html_env, template, _context(data, rows, "layout.html.j2"))
    text = _render_template(text_env, template, _context(data, rows, "layout.txt.j2"))
    # The e-mail subject is one more "layout" of the same kind template, so its wording stays in one place.
    subject_text = _render_template(text_env, template, _context(data, rows, "subject.txt.j2"))
    subject = " ".join(subject_text.split())  # one header line, whatever the template's line breaks
    attachment, box = b"", None
    if with_attachment:
        from hopthu.notices.pdf import print_pdf  # WeasyPrint is slow to import: only when needed

        # The same page as the e-mail's HTML, each password replaced by where to find it (the e-mail).
        paper = [
            row._replace(password=PASSWORD_IN_EMAIL) if row.password is not None else row for row in rows
        ]
        printed = print_pdf(_render_template(html_env, template, _context(data, paper, "layout.html.j2")))
        attachment, box = printed.data, printed.signature_box
    return RenderedNotice(
        subject=subject,
        text=text,
        html=html,
        attachment_name=attachment_filename(data),
        attachment_bytes=attachment,
        attachment_mime="application/pdf",
        request_id=data.request.id,
        has_secrets=not dry_run and any(row.password for row in data.rows),
        signature_box=box,
    )
