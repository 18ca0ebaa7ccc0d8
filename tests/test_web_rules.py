"""The password page's decisions, pure: ppolicy's response control, logins, password checks, the
meaning of each ppolicy error for the reader, rate limits, CSRF tokens, reset links, the catalogue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import make_org
from hopthu.directory.selfservice import PPOLICY_ERRORS, decode_policy_response
from hopthu.model import PasswordPolicy, RateLimit
from hopthu.web import messages
from hopthu.web.messages import CATALOGUE, Message
from hopthu.web.rules import (
    Account,
    check_names,
    check_new_password,
    ppolicy_message,
    resolve_login,
    wait_seconds,
)
from hopthu.web.state import CsrfTokens, RateLimiter, ResetLinks

POLICY = PasswordPolicy(min_length=12, min_classes=3, history=5, min_age_hours=2)
BT = make_org("bt", "dc=bt,dc=gov,dc=vn")
DN = make_org("dn", "dc=dn,dc=gov,dc=vn")
ENGLISH = re.compile(
    r"\b(the|your|password|account|is|are|not|must|change|new|old|link|login|username|try|again|page|of|and)\b",
    re.IGNORECASE,
)


# --- the Password Policy response control, as slapd sends it ------------------------------------------


@pytest.mark.parametrize(
    ("value", "error", "warning"),
    [
        (b"0\x00", None, None),  # a wrong password of an existing account
        (b"0\x03\x81\x01\x01", "accountLocked", None),
        (b"0\x03\x81\x01\x02", "changeAfterReset", None),
        (b"0\x03\x81\x01\x06", "passwordTooShort", None),
        (b"0\x03\x81\x01\x08", "passwordInHistory", None),
        (b"0\x05\xa0\x03\x80\x01\x3c", None, ("timeBeforeExpiration", 60)),
        (b"0\x08\xa0\x03\x81\x01\x02\x81\x01\x00", "passwordExpired", ("graceAuthNsRemaining", 2)),
    ],
)
def test_the_password_policy_response_control_is_decoded(value, error, warning):
    decoded = decode_policy_response(value)
    assert (decoded.error, decoded.warning) == (error, warning)


@pytest.mark.parametrize("value", [b"", b"\x04\x00", b"0\x05\x81\x01", b"0\x03\x82\x01\x01", b"0\x00\x00"])
def test_a_malformed_control_is_an_error_not_a_guess(value):
    with pytest.raises(ValueError, match="not a password policy response control"):
        decode_policy_response(value)


# --- logins -------------------------------------------------------------------------------------------


def test_a_login_names_one_account_by_the_inventory_alone():
    account = resolve_login("  MinhNV@DN.gov.vn ", {"bt": BT, "dn": DN})
    assert account == Account(
        "dn",
        "minhnv",
        ("uid=minhnv,ou=people,dc=dn,dc=gov,dc=vn", "uid=minhnv,ou=mailboxes,dc=dn,dc=gov,dc=vn"),
    )
    assert resolve_login("minhnv", {"bt": BT}).org == "bt"  # one organisation: the username is enough


@pytest.mark.parametrize(
    ("login", "code"),
    [
        ("minhnv", "login-needs-domain"),
        ("minhnv@example.com", "login-domain-unknown"),
        ("minh nv@bt.gov.vn", "login-invalid"),
        ("*)(uid=*", "login-invalid"),  # nothing reaches LDAP but a checked username in a DN
        ("uid=x,ou=people", "login-invalid"),
        ("", "fields-missing"),
    ],
)
def test_a_login_that_names_no_account_says_why_without_asking_the_directory(login, code):
    assert resolve_login(login, {"bt": BT, "dn": DN}).code == code


# --- password checks ------------------------------------------------------------------------------------


def codes(problems):
    return [p.code for p in problems]


def test_the_organisation_s_policy_is_checked_before_sending():
    assert (
        codes(check_new_password(POLICY, "minhnv", "Cu-Mat-Khau-1", "Tot-Lam-2468#", "Tot-Lam-2468#")) == []
    )
    assert codes(check_new_password(POLICY, "minhnv", "x", "Ngan-1a", "Ngan-1a")) == ["too-short"]
    assert codes(check_new_password(POLICY, "minhnv", "x", "chuthuongdaiqua", "chuthuongdaiqua")) == [
        "too-few-classes"
    ]
    assert codes(check_new_password(POLICY, "minhnv", "x", "Tot-Lam-2468#", "Tot-Lam-2469#")) == [
        "confirm-mismatch"
    ]
    assert codes(check_new_password(POLICY, "minhnv", "Tot-Lam-2468#", "Tot-Lam-2468#", "Tot-Lam-2468#")) == [
        "same-as-old"
    ]
    assert codes(check_new_password(POLICY, "minhnv", "x", "MinhNV-2468-abc", "MinhNV-2468-abc")) == [
        "contains-username"
    ]


def test_name_parts_are_found_whatever_the_spelling():
    names = ["Nguyễn Văn Mưa", "Nguyễn", "Mưa"]
    for password in ("NGUYEN-2468-abc", "Mưa-hè-2468!", "nguyễn#2468Ab", "X-VAN-2468-ab"):
        assert check_names(password, names) == Message("contains-name"), password
    assert check_names("Tot-Lam-2468#", names) is None  # two-letter parts (Vũ, An) are not forbidden
    assert check_names("Vu-An-2468-Tot", ["Vũ An"]) is None


def test_every_ppolicy_error_has_a_sentence_and_a_lock_reads_like_a_wrong_password():
    for error in PPOLICY_ERRORS:
        message = ppolicy_message(error, POLICY)
        assert message.render("vi") and message.render("en")
    assert ppolicy_message("accountLocked", POLICY) == Message("login-failed")
    assert ppolicy_message("passwordTooYoung", POLICY).render() == (
        "Mật khẩu vừa được đổi cách đây chưa lâu: chỉ được đổi lại sau 2 giờ kể từ lần đổi trước."
    )
    assert ppolicy_message(None, POLICY) == Message("failed")


# --- rate limits, CSRF, reset links ----------------------------------------------------------------------


def test_a_window_allows_so_many_attempts_then_says_how_long_to_wait():
    limit = RateLimit(3, 15)
    assert wait_seconds([], 0.0, limit) == 0
    assert wait_seconds([0.0, 10.0], 20.0, limit) == 0
    assert wait_seconds([0.0, 10.0, 20.0], 30.0, limit) == 900 - 30
    assert wait_seconds([0.0, 10.0, 20.0], 900.0, limit) == 0  # the oldest left the window


def test_the_limiter_counts_under_every_key_and_nothing_when_it_refuses():
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    login, address = RateLimit(2, 1), RateLimit(3, 1)
    assert limiter.try_once([("a", login), ("ip", address)]) == 0
    assert limiter.try_once([("a", login), ("ip", address)]) == 0
    assert limiter.try_once([("a", login), ("ip", address)]) == 60  # login a is done for a minute
    assert limiter.try_once([("b", login), ("ip", address)]) == 0  # the refusal was not counted
    assert limiter.try_once([("c", login), ("ip", address)]) == 60  # the address is done too
    now[0] = 61.0
    assert limiter.try_once([("a", login), ("ip", address)]) == 0


def test_a_csrf_token_is_bound_to_its_cookie_and_expires():
    now = [1_000_000.0]
    tokens = CsrfTokens(b"k" * 32, clock=lambda: now[0])
    token = tokens.token("cookie-1")
    assert tokens.valid("cookie-1", token)
    assert not tokens.valid("cookie-2", token)
    assert not tokens.valid("cookie-1", token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert not tokens.valid(None, token) and not tokens.valid("cookie-1", None)
    assert not CsrfTokens(b"other-key" * 4, clock=lambda: now[0]).valid("cookie-1", token)
    now[0] += 2 * 3600 + 1
    assert not tokens.valid("cookie-1", token)


def test_a_reset_link_works_once_for_an_hour_and_a_newer_one_replaces_it():
    now = [0.0]
    links = ResetLinks(clock=lambda: now[0])
    first = links.issue("bt", "minhnv", "uid=minhnv")
    second = links.issue("bt", "minhnv", "uid=minhnv")
    assert links.peek(first) is None  # the newer link replaced it
    assert links.peek(second).uid == "minhnv"
    now[0] = 3599.0
    assert links.peek(second) is not None
    links.consume(second)
    assert links.peek(second) is None
    third = links.issue("bt", "minhnv", "uid=minhnv")
    now[0] += 3600
    assert links.peek(third) is None


# --- the catalogue ----------------------------------------------------------------------------------


def test_every_message_has_both_texts_and_the_vietnamese_ones_are_vietnamese():
    for code, text in CATALOGUE.items():
        assert text.en and text.vi, code
        sentence = re.sub(r"{\w+}", "", text.vi.replace("minhnv@binhthuan.gov.vn", ""))
        english_words = ENGLISH.findall(sentence)
        assert not english_words or code == "other-language", (code, english_words)
        assert set(re.findall(r"{(\w+)}", text.en)) == set(re.findall(r"{(\w+)}", text.vi)), code


def test_every_code_the_page_uses_is_in_the_catalogue():
    source = "\n".join(p.read_text() for p in Path(messages.__file__).parent.rglob("*.py"))
    source += "\n".join(p.read_text() for p in Path(messages.__file__).parent.rglob("*.html"))
    used = set(re.findall(r'Message\("([a-z-]+)"', source)) | set(
        re.findall(r'(?<![\w.])t\("([a-z-]+)"', source)
    )
    used |= set(messages.SUCCESSES)
    assert used and used <= set(CATALOGUE), used - set(CATALOGUE)
