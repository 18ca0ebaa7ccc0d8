"""The password page in a real browser: Debian's Chromium, headless, driven by Playwright, fills the
form on a phone-sized screen, submits, and keeps a screenshot of the success page; axe-core (shipped by
axe-playwright-python) checks the form and the answer for accessibility (labels, contrast, language…).

The screenshot goes to the test's tmp dir (its path is printed) and to $HOPTHU_TEST_ARTIFACTS (default
var/test-artifacts/, git-ignored), which a CI job keeps as an artifact.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from hopthu.directory import dn
from pagefixtures import served_page
from test_password_page import NEW, ONE_TIME, ORG, ORGS, add_person, read

pytestmark = [pytest.mark.slapd, pytest.mark.slow]
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",  # as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # the machine's closed network refuses them
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(
    os.environ.get("HOPTHU_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "var/test-artifacts")
)


@pytest.fixture(scope="module")
def browser(directory):
    # After the directory: slapd's start (a subprocess) must not run beside Playwright's event loop.
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (scripts/install-system-packages)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    from hopthu.directory.server import LocalDirectory

    server = LocalDirectory.start(tmp_path_factory.mktemp("browser-slapd"), ORGS.values())
    server.set_nosync(True)
    yield server
    server.stop()


def accessibility_problems(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in results.response["violations"]]


def fill_and_submit(page, login: str) -> None:
    page.get_by_label("Tên đăng nhập hoặc địa chỉ thư điện tử").fill(login)
    page.get_by_label("Mật khẩu hiện tại (mật khẩu lần đầu trong thông báo)").fill(ONE_TIME)
    page.get_by_label("Mật khẩu mới", exact=True).fill(NEW)
    page.get_by_label("Nhập lại mật khẩu mới").fill(NEW)
    page.get_by_role("button", name="Đổi mật khẩu").click()
    page.wait_for_load_state()


def test_a_person_changes_the_one_time_password_in_a_phone_browser(directory, browser, tmp_path):
    person = add_person(directory, "minhnv")
    with served_page(directory, ORGS, tmp_path) as served:
        # The person's browser: a phone's screen, JavaScript off (the page needs none).
        context = browser.new_context(viewport={"width": 360, "height": 740}, java_script_enabled=False)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(served.url)
        assert page.title() == "Đổi mật khẩu"
        fill_and_submit(page, "minhnv@pp.gov.vn")
        assert "Đã đổi mật khẩu" in page.locator("[role=status]").inner_text()
        shot = tmp_path / "password-page-success.png"
        page.screenshot(path=str(shot), full_page=True)
        context.close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)
    print(f"screenshot of the success page: {shot} (kept as {ARTIFACTS / shot.name})")
    assert read(directory, person, "pwdReset") == {}
    assert dn.person_dn(ORG, "minhnv") == person


def test_the_form_and_its_answers_pass_an_accessibility_check(directory, browser, tmp_path):
    add_person(directory, "lanpt", name="Phạm Thị Lan")
    with served_page(directory, ORGS, tmp_path) as served:
        # axe-core is a script: it runs in a context that allows scripts despite the page's CSP.
        context = browser.new_context(viewport={"width": 360, "height": 740}, bypass_csp=True)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(served.url)
        problems = {"form": accessibility_problems(page)}
        assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing sticks out
        page.get_by_label("Tên đăng nhập hoặc địa chỉ thư điện tử").fill("lanpt@pp.gov.vn")
        page.get_by_label("Mật khẩu hiện tại (mật khẩu lần đầu trong thông báo)").fill("Sai-Mat-Khau-1#")
        page.get_by_label("Mật khẩu mới", exact=True).fill(NEW)
        page.get_by_label("Nhập lại mật khẩu mới").fill(NEW)
        page.get_by_role("button", name="Đổi mật khẩu").click()
        page.wait_for_load_state()
        assert page.locator("[role=alert]").count() == 1
        problems["refusal"] = accessibility_problems(page)
        fill_and_submit(page, "lanpt@pp.gov.vn")
        problems["success"] = accessibility_problems(page)
        page.goto(served.url + "?lang=en")
        problems["english"] = accessibility_problems(page)
        context.close()
    assert problems == {"form": [], "refusal": [], "success": [], "english": []}
