"""Result notices (thông báo kết quả): rendering (``render``), SMTP delivery (``send``) and the
``hopthu notify`` flow (``deliver_pending``). WeasyPrint, used for the PDF, is imported only when a PDF
is made."""

from hopthu.notices.deliver import (
    DeliveryResult,
    NoticeError,
    NoticeSettings,
    Outcome,
    deliver_pending,
    rows_for,
)
from hopthu.notices.ledger import LedgerError, NoticeLedger, ledger_path_for
from hopthu.notices.render import (
    PASSWORD_PLACEHOLDER,
    NoticeData,
    NoticeRow,
    NoticeTemplateError,
    RenderedNotice,
    notice_number,
    render,
    vn_long_date,
)
from hopthu.notices.smtp import DeliveryError, SmtpSettings, build_message, send

__all__ = [
    "PASSWORD_PLACEHOLDER",
    "DeliveryError",
    "DeliveryResult",
    "LedgerError",
    "NoticeData",
    "NoticeError",
    "NoticeLedger",
    "NoticeRow",
    "NoticeSettings",
    "NoticeTemplateError",
    "Outcome",
    "RenderedNotice",
    "SmtpSettings",
    "build_message",
    "deliver_pending",
    "ledger_path_for",
    "notice_number",
    "render",
    "rows_for",
    "send",
    "vn_long_date",
]
