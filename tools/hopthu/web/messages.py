"""Everything the password page says, as data: one catalogue, a code → the English and the Vietnamese
text (``str.format`` templates over the message's parameters).

Like ``hopthu.refusals`` and LDAP Tool Box's language files: the decision code returns a ``Message``
(a code and its parameters), never a sentence; the page renders it in the reader's language. A new
language or a reworded sentence touches this file only, and a test checks that every code has both
texts and that the Vietnamese ones are Vietnamese.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"


@dataclass(frozen=True)
class Text:
    en: str
    vi: str


CATALOGUE: dict[str, Text] = {
    # --- the page ----------------------------------------------------------------------------------
    "page-title": Text("Change your password", "Đổi mật khẩu"),
    "page-intro": Text(
        "A new or reset account has a one-time password: change it here before using mail.",
        "Tài khoản mới được cấp hoặc vừa được cấp lại mật khẩu có mật khẩu dùng một lần: hãy đổi mật khẩu"
        " tại đây trước khi sử dụng thư điện tử.",
    ),
    "label-login": Text("Username or e-mail address", "Tên đăng nhập hoặc địa chỉ thư điện tử"),
    "label-oldpassword": Text(
        "Current password (the one-time password of the notice)",
        "Mật khẩu hiện tại (mật khẩu lần đầu trong thông báo)",
    ),
    "label-newpassword": Text("New password", "Mật khẩu mới"),
    "label-confirmpassword": Text("New password again", "Nhập lại mật khẩu mới"),
    "rules": Text(
        "At least {min_length} characters, mixing {min_classes} of: lower case, upper case, digits, "
        "symbols; not your username or your name; different from your recent passwords.",
        "Ít nhất {min_length} ký tự, có {min_classes} trong 4 loại: chữ thường, chữ hoa, chữ số, ký hiệu;"
        " không chứa tên đăng nhập hay họ tên; khác các mật khẩu đã dùng gần đây.",
    ),
    "button-change": Text("Change password", "Đổi mật khẩu"),
    "link-forgot": Text("Forgot your password?", "Quên mật khẩu?"),
    "link-back": Text("Back to the password change", "Quay lại trang đổi mật khẩu"),
    "other-language": Text("Tiếng Việt", "English"),
    "forgot-title": Text("Forgotten password", "Quên mật khẩu"),
    "forgot-procedure": Text(
        "A forgotten password is reset on request of your unit: ask your unit to send a password reset "
        "request to the IT department.",
        "Khi quên mật khẩu, đề nghị đơn vị của mình gửi văn bản đề nghị cấp lại mật khẩu đến bộ phận công"
        " nghệ thông tin.",
    ),
    "forgot-intro": Text(
        "Enter your username: a one-time link to set a new password goes to your backup e-mail address.",
        "Nhập tên đăng nhập: một đường dẫn dùng một lần để đặt mật khẩu mới sẽ được gửi đến địa chỉ thư"
        " dự phòng của tài khoản.",
    ),
    "button-send-link": Text("Send the link", "Gửi đường dẫn"),
    "reset-title": Text("Set a new password", "Đặt mật khẩu mới"),
    "button-reset": Text("Set the new password", "Đặt mật khẩu mới"),
    "error-title": Text("Page not available", "Không mở được trang"),
    "not-found": Text("There is no such page here.", "Không có trang này."),
    "server-error": Text(
        "Something went wrong on our side. Try again in a few minutes.",
        "Hệ thống gặp lỗi. Hãy thử lại sau ít phút.",
    ),
    # --- outcomes of a change --------------------------------------------------------------------
    "changed": Text(
        "Your password is changed. From now on log in to mail and the other services with the new one.",
        "Đã đổi mật khẩu. Từ nay hãy dùng mật khẩu mới để đăng nhập thư điện tử và các dịch vụ khác.",
    ),
    "login-failed": Text(
        "Wrong username or current password, or the account is locked. Check and try again; if it "
        "still fails, contact your unit's IT staff.",
        "Tên đăng nhập hoặc mật khẩu hiện tại không đúng, hoặc tài khoản đang bị khóa. Hãy kiểm tra lại;"
        " nếu vẫn không được, liên hệ bộ phận công nghệ thông tin của đơn vị.",
    ),
    "fields-missing": Text(
        "Fill in every field: username, current password, new password and the new password again.",
        "Hãy điền đủ các ô: tên đăng nhập, mật khẩu hiện tại, mật khẩu mới và nhập lại mật khẩu mới.",
    ),
    "login-invalid": Text(
        "A username has only letters without accents, digits and . _ - (e.g. minhnv or "
        "minhnv@binhthuan.gov.vn).",
        "Tên đăng nhập chỉ gồm chữ cái không dấu, chữ số và các dấu . _ - (ví dụ minhnv hoặc"
        " minhnv@binhthuan.gov.vn).",
    ),
    "login-needs-domain": Text(
        "Enter your whole e-mail address, e.g. {example}.",
        "Hãy nhập đầy đủ địa chỉ thư điện tử, ví dụ {example}.",
    ),
    "login-domain-unknown": Text(
        "This page does not serve the addresses of {domain}.",
        "Trang này không phục vụ các địa chỉ thư thuộc {domain}.",
    ),
    "confirm-mismatch": Text(
        "The two new passwords differ: type the same new password twice.",
        "Hai lần nhập mật khẩu mới không giống nhau: hãy nhập lại cùng một mật khẩu mới.",
    ),
    "same-as-old": Text(
        "The new password must differ from the current one.",
        "Mật khẩu mới phải khác mật khẩu hiện tại.",
    ),
    "too-short": Text(
        "The new password needs at least {min_length} characters.",
        "Mật khẩu mới phải có ít nhất {min_length} ký tự.",
    ),
    "too-few-classes": Text(
        "The new password must mix at least {min_classes} of: lower case, upper case, digits, symbols "
        "(such as ! @ # -).",
        "Mật khẩu mới phải có ít nhất {min_classes} trong 4 loại ký tự: chữ thường, chữ hoa, chữ số, ký"
        " hiệu (như ! @ # -).",
    ),
    "contains-username": Text(
        "The new password must not contain your username.",
        "Mật khẩu mới không được chứa tên đăng nhập.",
    ),
    "contains-name": Text(
        "The new password must not contain your surname, middle or given name.",
        "Mật khẩu mới không được chứa họ, tên đệm hay tên của người sử dụng.",
    ),
    "in-history": Text(
        "You used this password recently: choose one that is not among your last {history} passwords.",
        "Mật khẩu này đã được dùng gần đây: hãy chọn mật khẩu khác với {history} mật khẩu gần nhất.",
    ),
    "too-young": Text(
        "Your password was changed a short time ago: it may be changed again {min_age_hours} hour(s) "
        "after the last change.",
        "Mật khẩu vừa được đổi cách đây chưa lâu: chỉ được đổi lại sau {min_age_hours} giờ kể từ lần đổi"
        " trước.",
    ),
    "quality": Text(
        "The directory finds the new password too weak: choose a longer, less guessable one.",
        "Mật khẩu mới chưa đủ mạnh theo quy định của hệ thống: hãy chọn mật khẩu dài hơn, khó đoán hơn.",
    ),
    "expired": Text(
        "Your current password has expired: ask your unit to request a password reset.",
        "Mật khẩu hiện tại đã hết hạn: đề nghị đơn vị gửi văn bản đề nghị cấp lại mật khẩu.",
    ),
    "not-allowed": Text(
        "This account may not change its own password: contact your unit's IT staff.",
        "Tài khoản này không được tự đổi mật khẩu: hãy liên hệ bộ phận công nghệ thông tin của đơn vị.",
    ),
    "old-required": Text(
        "The current password is needed to change it.",
        "Cần nhập mật khẩu hiện tại để đổi mật khẩu.",
    ),
    "too-many-attempts": Text(
        "Too many attempts: try again in {minutes} minute(s).",
        "Đã thử quá nhiều lần: hãy thử lại sau {minutes} phút.",
    ),
    "form-expired": Text(
        "This form has expired or did not come from this page: reload the page and fill it in again.",
        "Biểu mẫu đã hết hạn hoặc không được gửi từ trang này: hãy tải lại trang và nhập lại.",
    ),
    "unavailable": Text(
        "The directory cannot be reached right now: try again in a few minutes.",
        "Hệ thống tạm thời không truy cập được: hãy thử lại sau ít phút.",
    ),
    "failed": Text(
        "The password could not be changed: try again; if it still fails, contact your unit's IT staff.",
        "Chưa đổi được mật khẩu: hãy thử lại; nếu vẫn không được, liên hệ bộ phận công nghệ thông tin của"
        " đơn vị.",
    ),
    # --- a forgotten password, where the organisation allows a reset by link ------------------------
    "reset-sent": Text(
        "If the account may be reset by link and has a backup e-mail address, a link is on its way there. "
        "It works once, within one hour.",
        "Nếu tài khoản được phép đặt lại mật khẩu qua thư và có địa chỉ thư dự phòng, một đường dẫn đã"
        " được gửi đến địa chỉ đó. Đường dẫn chỉ dùng được một lần, trong vòng 1 giờ.",
    ),
    "reset-link-invalid": Text(
        "This link no longer works (it was used, or more than an hour passed): ask for a new one.",
        "Đường dẫn này không còn hiệu lực (đã được dùng hoặc đã quá 1 giờ): hãy yêu cầu đường dẫn mới.",
    ),
    "reset-done": Text(
        "Your new password is set. Log in to mail with it.",
        "Đã đặt mật khẩu mới. Hãy dùng mật khẩu mới để đăng nhập thư điện tử.",
    ),
    "reset-mail-subject": Text("Setting a new password", "Đặt lại mật khẩu thư điện tử"),
    "reset-mail-body": Text(
        "Someone asked to set a new password for the account {uid}. To do so, open this link within one "
        "hour (it works once):\n\n{link}\n\nIf it was not you, ignore this message: your password stays "
        "as it is.",
        "Có yêu cầu đặt lại mật khẩu cho tài khoản {uid}. Để đặt mật khẩu mới, hãy mở đường dẫn sau trong"
        " vòng 1 giờ (chỉ dùng được một lần):\n\n{link}\n\nNếu không phải đồng chí yêu cầu, hãy bỏ qua thư"
        " này: mật khẩu vẫn giữ nguyên.",
    ),
}

# The outcomes that are good news (the page shows them as such).
SUCCESSES = frozenset({"changed", "reset-sent", "reset-done"})


@dataclass(frozen=True)
class Message:
    """One thing to say: a catalogue code and its parameters."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in CATALOGUE:
            raise KeyError(f"no message {self.code!r} in the password page's catalogue")

    @property
    def success(self) -> bool:
        return self.code in SUCCESSES

    def render(self, language: str = DEFAULT_LANGUAGE) -> str:
        return text(self.code, language, **self.params)


def text(code: str, language: str = DEFAULT_LANGUAGE, **params: Any) -> str:
    """The catalogue's text of ``code`` in ``language`` ("vi" or "en"), filled in."""
    entry = CATALOGUE[code]
    template = entry.en if language == "en" else entry.vi
    return template.format(**params)


def language_of(value: str | None) -> str:
    return value if value in LANGUAGES else DEFAULT_LANGUAGE
