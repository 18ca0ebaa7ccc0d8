"""The password page against a real slapd, through real HTTP (Waitress on 127.0.0.1): the first-login
change, the directory's own rules in Vietnamese, CSRF, enumeration, rate limits, headers, and the
reset by a one-time link where the organisation allows it (a real SMTP server on loopback)."""

from __future__ import annotations

import dataclasses
import re
import time
from email import message_from_bytes, policy

import ldap3
import pytest
from aiosmtpd.controller import Controller

from conftest import make_org
from hopthu.directory import dn
from hopthu.directory.selfservice import bind_person
from hopthu.model import PasswordPage, PasswordPolicy, RateLimit
from hopthu.notices.smtp import SmtpSettings
from hopthu.web.client import PageClient, hidden_inputs
from hopthu.web.serve import smtp_mailer
from pagefixtures import served_page

pytestmark = pytest.mark.slapd

ONE_TIME = "Mot-lan-Qx7#kP2m"
NEW = "Rieng-tu-97531-xanh"
PAGE = PasswordPage(
    "https://matkhau.thunghiem.gov.vn/",
    per_login=RateLimit(3, 15),
    per_address=RateLimit(1000, 15),
    reset_by_link=True,
)
ORG = dataclasses.replace(
    make_org("pp", "dc=pp,dc=gov,dc=vn"),
    password_page=PAGE,
    password_policy=PasswordPolicy(min_length=12, min_classes=3, history=5, min_age_hours=1),
)
CLOSED = dataclasses.replace(
    make_org("kin", "dc=kin,dc=gov,dc=vn"), password_page=PasswordPage("https://matkhau.kin.gov.vn/")
)
ORGS = {"pp": ORG, "kin": CLOSED}
TOKEN = re.compile(r'name="csrf_token" value="[^"]*"')


class Inbox:
    """aiosmtpd handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    from hopthu.directory.server import LocalDirectory

    server = LocalDirectory.start(tmp_path_factory.mktemp("page-slapd"), ORGS.values())
    server.set_nosync(True)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def smtp():
    inbox = Inbox()
    from hopthu.directory.server import free_port

    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture
def served(directory, smtp, tmp_path):
    directory.wipe()
    controller, _ = smtp
    mailer = smtp_mailer(SmtpSettings("127.0.0.1", controller.port), "matkhau@thunghiem.gov.vn")
    with served_page(directory, ORGS, tmp_path, mailer=mailer, sleep=lambda _s: None) as page:
        yield page


def add_person(directory, uid: str, name: str = "Nguyễn Văn Minh", org: str = "pp", **extra: str) -> str:
    entry_dn = dn.person_dn(ORGS[org], uid)
    surname, *_, given = name.split()
    attributes = {"uid": uid, "cn": name, "sn": surname, "givenName": given, "mail": f"{uid}@{org}.gov.vn"}
    conn = directory.connect(org)
    try:
        values = {**attributes, "userPassword": ONE_TIME, "pwdReset": "TRUE", **extra}
        assert conn.add(entry_dn, ["inetOrgPerson", "hopthuAccount"], values), conn.result
    finally:
        conn.unbind()
    return entry_dn


def read(directory, entry_dn: str, *attributes: str, org: str = "pp") -> dict:
    conn = directory.connect(org)
    try:
        assert conn.search(entry_dn, "(objectClass=*)", ldap3.BASE, attributes=list(attributes)), conn.result
        return {k.lower(): v for k, v in conn.response[0]["attributes"].items() if v}
    finally:
        conn.unbind()


def binds(directory, entry_dn: str, password: str) -> bool:
    session, _ = bind_person(directory.uri, entry_dn, password)
    if session is not None:
        session.close()
    return session is not None


def problem(answer) -> str:
    found = re.search(r'<p class="problem" role="alert">(.*?)</p>', answer.body, re.S)
    assert found, answer.body
    return found.group(1)


# --- the first login -------------------------------------------------------------------------------------


def test_a_first_login_change_clears_pwdreset_and_the_old_password_is_refused_afterwards(directory, served):
    person = add_person(directory, "minhnv")
    assert read(directory, person, "pwdReset") == {"pwdreset": ["TRUE"]}

    answer = PageClient(served.url).change_password("minhnv@pp.gov.vn", ONE_TIME, NEW)

    assert answer.status == 200, answer.body
    assert "Đã đổi mật khẩu" in answer.body
    assert read(directory, person, "pwdReset") == {}  # ppolicy cleared it: the person's own change
    assert binds(directory, person, NEW)
    assert not binds(directory, person, ONE_TIME)
    # The username alone works too (one organisation would need no domain; two do): the page says so.
    again = PageClient(served.url).change_password("minhnv", NEW, "Khac-han-24680-do")
    assert "minhnv@" in problem(again)  # asks for the whole address


def test_a_unit_mailbox_changes_its_one_time_password_too(directory, served):
    box = dn.mailbox_dn(ORG, "vpb")
    conn = directory.connect("pp")
    values = {
        "uid": "vpb",
        "cn": "Văn phòng Ban",
        "sn": "Văn phòng Ban",
        "userPassword": ONE_TIME,
        "pwdReset": "TRUE",
    }
    assert conn.add(box, ["inetOrgPerson", "hopthuAccount", "hopthuUnitMailbox"], values), conn.result
    conn.unbind()

    answer = PageClient(served.url).change_password("vpb@pp.gov.vn", ONE_TIME, NEW)

    assert "Đã đổi mật khẩu" in answer.body
    assert binds(directory, box, NEW)


@pytest.mark.parametrize(
    ("new", "sentence"),
    [
        ("Ngan-1a", "Mật khẩu mới phải có ít nhất 12 ký tự."),
        ("chithuongvachuso", "Mật khẩu mới phải có ít nhất 3 trong 4 loại ký tự"),
        ("Truoc-minhnv-2025", "Mật khẩu mới không được chứa tên đăng nhập."),
        ("Nguyen-2025-mua-he", "Mật khẩu mới không được chứa họ, tên đệm hay tên của người sử dụng."),
        ("Vũ-Văn-Mưa-2025", "Mật khẩu mới không được chứa họ, tên đệm hay tên của người sử dụng."),
        (ONE_TIME, "Mật khẩu mới phải khác mật khẩu hiện tại."),
    ],
)
def test_a_weak_or_too_similar_password_is_refused_in_vietnamese(directory, served, new, sentence):
    person = add_person(directory, "minhnv", name="Nguyễn Văn Mưa")

    answer = PageClient(served.url).change_password("minhnv@pp.gov.vn", ONE_TIME, new)

    assert answer.status == 400
    assert sentence in problem(answer)
    assert read(directory, person, "pwdReset") == {"pwdreset": ["TRUE"]}  # nothing changed
    assert binds(directory, person, ONE_TIME)


def test_a_reused_password_is_refused_by_the_directory_s_history_in_vietnamese(directory, served):
    person = add_person(directory, "minhnv")
    client = PageClient(served.url)
    assert "Đã đổi" in client.change_password("minhnv@pp.gov.vn", ONE_TIME, NEW).body
    # IT resets it (a reset-password request): a new one-time password, then the person picks the old one.
    admin = directory.connect("pp")
    assert admin.modify(person, {"userPassword": [(ldap3.MODIFY_REPLACE, ["Lan-hai-Zr8#wQ4t"])]})
    admin.unbind()

    answer = client.change_password("minhnv@pp.gov.vn", "Lan-hai-Zr8#wQ4t", NEW)

    assert (
        problem(answer)
        == "Mật khẩu này đã được dùng gần đây: hãy chọn mật khẩu khác với 5 mật khẩu gần nhất."
    )
    assert binds(directory, person, "Lan-hai-Zr8#wQ4t")


def test_a_second_change_too_soon_is_refused_by_the_directory_s_minimum_age(directory, served):
    add_person(directory, "minhnv")
    client = PageClient(served.url)
    assert "Đã đổi" in client.change_password("minhnv@pp.gov.vn", ONE_TIME, NEW).body

    answer = client.change_password("minhnv@pp.gov.vn", NEW, "Khac-han-24680-do")

    assert "chỉ được đổi lại sau 1 giờ" in problem(answer)


def test_a_locked_account_cannot_change_its_password(directory, served):
    person = add_person(directory, "thodn", pwdAccountLockedTime="000001010000Z")

    answer = PageClient(served.url).change_password("thodn@pp.gov.vn", ONE_TIME, NEW)

    assert answer.status == 400
    assert "tài khoản đang bị khóa" in problem(answer)
    assert read(directory, person, "pwdReset") == {"pwdreset": ["TRUE"]}
    # The page's log tells IT why; the person read the same sentence as for a wrong password.
    (record,) = [r for r in served.journal() if r["uid"] == "thodn"]
    assert record["result"] == "login-failed" and record["reason"].startswith("accountLocked")


# --- security ----------------------------------------------------------------------------------------------


def test_wrong_password_and_unknown_user_get_byte_identical_answers_apart_from_the_csrf_token(
    directory, served
):
    add_person(directory, "minhnv")
    client = PageClient(served.url)
    form = client.get("")
    token = hidden_inputs(form.body)

    def attempt(login: str):
        return client.post(
            "",
            {
                **token,
                "login": login,
                "oldpassword": "Sai-Mat-Khau-1#",
                "newpassword": NEW,
                "confirmpassword": NEW,
            },
        )

    # The same login string for both, so the echoed login cannot differ: one account exists, one not.
    wrong = attempt("minhnv@pp.gov.vn")
    add_person(directory, "x", name="Trần Thị X")  # noise: an unrelated account
    conn = directory.connect("pp")
    assert conn.delete(dn.person_dn(ORG, "minhnv"))
    conn.unbind()
    unknown = attempt("minhnv@pp.gov.vn")

    assert wrong.status == unknown.status == 400
    assert TOKEN.sub("", wrong.body) == TOKEN.sub("", unknown.body)
    headers = [{k: v for k, v in a.headers.items() if k != "Date"} for a in (wrong, unknown)]
    assert headers[0] == headers[1]
    assert "Tên đăng nhập hoặc mật khẩu hiện tại không đúng" in problem(wrong)


def test_a_post_without_the_csrf_token_or_with_another_browser_s_is_refused(directory, served):
    person = add_person(directory, "minhnv")
    fields = {
        "login": "minhnv@pp.gov.vn",
        "oldpassword": ONE_TIME,
        "newpassword": NEW,
        "confirmpassword": NEW,
    }
    victim, attacker = PageClient(served.url), PageClient(served.url)
    victim.get("")
    foreign_token = hidden_inputs(attacker.get("").body)

    for answer in (victim.post("", fields), victim.post("", {**fields, **foreign_token})):
        assert answer.status == 403
        assert "Biểu mẫu đã hết hạn hoặc không được gửi từ trang này" in problem(answer)
    assert read(directory, person, "pwdReset") == {"pwdreset": ["TRUE"]}
    assert binds(directory, person, ONE_TIME)


def test_the_rate_limit_per_login_triggers_before_any_further_bind(directory, served):
    person = add_person(directory, "minhnv")
    client = PageClient(served.url)
    for _ in range(3):
        assert client.change_password("minhnv@pp.gov.vn", "Sai-Mat-Khau-1#", NEW).status == 400

    limited = client.change_password("minhnv@pp.gov.vn", ONE_TIME, NEW)  # even the right password

    assert limited.status == 429
    assert "Đã thử quá nhiều lần: hãy thử lại sau 15 phút." in problem(limited)
    failures = read(directory, person, "pwdFailureTime")
    assert len(failures["pwdfailuretime"]) == 3, failures  # the fourth attempt never reached the directory
    assert binds(directory, person, ONE_TIME)  # and the page locked no one out (ppolicy: 5 failures)
    # Another login from the same address is not concerned by this login's limit.
    add_person(directory, "lanpt", name="Phạm Thị Lan")
    assert "Đã đổi" in client.change_password("lanpt@pp.gov.vn", ONE_TIME, NEW).body


def test_the_rate_limit_per_client_address_triggers(directory, served):
    served.page.orgs["pp"] = dataclasses.replace(
        ORG, password_page=dataclasses.replace(PAGE, per_address=RateLimit(5, 15))
    )
    client = PageClient(served.url)
    answers = [client.change_password(f"u{n}@pp.gov.vn", "Sai-Mat-Khau-1#", NEW).status for n in range(6)]
    assert answers == [400] * 5 + [429]


def test_headers_protect_the_form_and_no_password_reaches_a_page_url_or_log(directory, served):
    add_person(directory, "minhnv")
    client = PageClient(served.url)
    form = client.get("")
    wrong = client.change_password("minhnv@pp.gov.vn", "Sai-Mat-Khau-1#", NEW)
    done = client.change_password("minhnv@pp.gov.vn", ONE_TIME, NEW)

    for answer in (form, wrong, done):
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        for secret in (ONE_TIME, NEW, "Sai-Mat-Khau-1#"):
            assert secret not in answer.body
    assert 'method="post"' in form.body and "<script" not in form.body  # works without JavaScript
    for name in ("login", "oldpassword", "newpassword", "confirmpassword"):
        assert f'name="{name}"' in form.body
    journal = served.log_path.read_text()
    assert [r["result"] for r in served.journal()] == ["login-failed", "ok"]
    for secret in (ONE_TIME, NEW, "Sai-Mat-Khau-1#"):
        assert secret not in journal
    assert not served.page.journal._log.verify()  # the hash chain holds


def test_an_error_page_shows_no_traceback(served):
    answer = PageClient(served.url).get("khong-co")
    assert answer.status == 404
    assert "Không có trang này." in answer.body and "Traceback" not in answer.body


def test_the_page_speaks_english_when_asked(served):
    answer = PageClient(served.url).get("?lang=en")
    assert '<html lang="en">' in answer.body
    assert "Change your password" in answer.body and 'for="oldpassword"' in answer.body


# --- a forgotten password, by link ----------------------------------------------------------------------


def test_a_reset_link_goes_to_the_backup_address_on_the_inventory_s_host_once_within_the_hour(
    directory, served, smtp
):
    _, inbox = smtp
    inbox.messages.clear()
    person = add_person(directory, "minhnv", hopthuBackupMail="minh.nguyen@example.org")
    client = PageClient(served.url)
    form = client.get("quen-mat-khau")
    # A forged Host header must not make the link point anywhere else.
    fields = {**hidden_inputs(form.body), "login": "minhnv@pp.gov.vn"}
    answer = client.post(
        "quen-mat-khau", fields, headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    )
    assert "một đường dẫn đã được gửi đến địa chỉ đó" in answer.body
    deadline = time.monotonic() + 10
    while not inbox.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    ((recipients, message),) = inbox.messages
    assert recipients == ["minh.nguyen@example.org"]
    link = re.search(r"https://\S+", message.get_content()).group()
    assert link.startswith("https://matkhau.thunghiem.gov.vn/dat-lai/")
    path = link.removeprefix("https://matkhau.thunghiem.gov.vn/")

    reset = client.submit(
        path, {"newpassword": "Moi-hoan-toan-8642#", "confirmpassword": "Moi-hoan-toan-8642#"}
    )

    assert "Đã đặt mật khẩu mới" in reset.body, reset.body
    assert binds(directory, person, "Moi-hoan-toan-8642#") and not binds(directory, person, ONE_TIME)
    assert read(directory, person, "pwdReset") == {}  # the person's own change ended it
    again = client.get(path)
    assert again.status == 404 and "không còn hiệu lực" in again.body  # single use
    results = [(r["op"], r["result"]) for r in served.journal()]
    assert ("reset-link", "ok") in results and ("reset-by-link", "ok") in results


def test_a_reset_link_expires_after_an_hour(directory, served, smtp):
    add_person(directory, "minhnv", hopthuBackupMail="minh.nguyen@example.org")
    now = [1000.0]
    served.page.links._clock = lambda: now[0]
    token = served.page.links.issue("pp", "minhnv", dn.person_dn(ORG, "minhnv"))
    assert PageClient(served.url).get(f"dat-lai/{token}").status == 200
    now[0] += 3601
    assert PageClient(served.url).get(f"dat-lai/{token}").status == 404


def test_the_same_answer_whether_or_not_a_link_was_sent_and_none_where_the_organisation_does_not_allow_it(
    directory, served, smtp
):
    _, inbox = smtp
    inbox.messages.clear()
    add_person(directory, "nobackup")
    add_person(directory, "locked", hopthuBackupMail="a@example.org", pwdAccountLockedTime="000001010000Z")
    client = PageClient(served.url)
    bodies = []
    for login in ("nobackup@pp.gov.vn", "locked@pp.gov.vn", "khongco@pp.gov.vn"):
        answer = client.submit("quen-mat-khau", {"login": login})
        bodies.append(TOKEN.sub("", answer.body).replace(login, ""))
    assert bodies[0] == bodies[1] == bodies[2]
    closed = client.submit("quen-mat-khau", {"login": "minhnv@kin.gov.vn"})
    assert "gửi văn bản đề nghị cấp lại mật khẩu" in closed.body
    time.sleep(0.3)
    assert inbox.messages == []
