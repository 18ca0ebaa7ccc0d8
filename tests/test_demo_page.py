"""`make demo` starts the password page with the command written in scripts/demo: that exact command,
run against a real slapd holding the shipped inventory's organisations, must serve the page (a page that
refuses to start stops the demo's proof step, as it once did on a fresh Debian 12)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hopthu.directory.server import free_port
from hopthu.inventory import load_inventory
from hopthu.web.client import PageClient

pytestmark = pytest.mark.slapd

REPO = Path(__file__).resolve().parent.parent


def demo_page_command() -> list[str]:
    """The `hopthu password-page …` command of scripts/demo, its continuation lines joined."""
    script = (REPO / "scripts/demo").read_text().replace("\\\n", " ")
    (line,) = [line for line in script.splitlines() if line.lstrip().startswith("hopthu password-page")]
    return shlex.split(line.split(">", 1)[0])


def test_the_demo_s_password_page_command_serves_the_shipped_organisations(start_directory, tmp_path):
    organisations = load_inventory(REPO / "inventory").organisations.values()
    directory = start_directory(organisations)
    port = free_port()
    argv = [
        re.sub(r"^127\.0\.0\.1:\d+$", f"127.0.0.1:{port}", arg).replace('"$demo', str(tmp_path))
        for arg in demo_page_command()
    ]
    # The demo's paths point into its own directory; here they point into the test's.
    argv[argv.index("--directory") + 1] = str(directory.workdir / "page-directory.json")
    argv[argv.index("--log") + 1] = str(tmp_path / "password-page.jsonl")
    page = subprocess.Popen(
        [str(Path(sys.executable).with_name("hopthu")), *argv[1:]],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 30
        while True:
            assert page.poll() is None, page.stdout.read().decode()
            try:
                answer = PageClient(url, timeout=2).get("")
                break
            except OSError:
                assert time.monotonic() < deadline, f"the page did not answer on {url}"
                time.sleep(0.2)
        assert answer.status == 200
        assert "Đổi mật khẩu" in answer.body
    finally:
        page.terminate()
        page.wait(timeout=10)
