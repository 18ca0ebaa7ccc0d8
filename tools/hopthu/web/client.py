"""A small HTTP client of the password page, as a browser without JavaScript uses it: GET the form
(its cookie and hidden CSRF token), POST the four fields. The demo, the benchmark and the tests use it.
"""

from __future__ import annotations

import http.cookiejar
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser

from hopthu.web.app import CSRF_FIELD


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    headers: dict[str, str]


class _HiddenInputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "input" and attributes.get("type") == "hidden" and attributes.get("name"):
            self.values[str(attributes["name"])] = attributes.get("value") or ""


def hidden_inputs(html: str) -> dict[str, str]:
    parser = _HiddenInputs()
    parser.feed(html)
    return parser.values


class PageClient:
    """One browser: its own cookies."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = timeout
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def _open(self, request: urllib.request.Request) -> Answer:
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return Answer(response.status, response.read().decode("utf-8"), dict(response.headers))
        except urllib.error.HTTPError as error:  # 4xx/5xx pages are answers too
            return Answer(error.code, error.read().decode("utf-8"), dict(error.headers))

    def get(self, path: str = "") -> Answer:
        return self._open(urllib.request.Request(urllib.parse.urljoin(self.base_url, path)))

    def post(self, path: str, fields: dict[str, str], headers: dict[str, str] | None = None) -> Answer:
        data = urllib.parse.urlencode(fields).encode()
        url = urllib.parse.urljoin(self.base_url, path)
        return self._open(urllib.request.Request(url, data=data, headers=headers or {}))

    def submit(self, path: str, fields: dict[str, str]) -> Answer:
        """GET the form at ``path``, then POST ``fields`` with the form's hidden inputs (CSRF token)."""
        form = self.get(path)
        return self.post(path, {**hidden_inputs(form.body), **fields})

    def change_password(self, login: str, old: str, new: str) -> Answer:
        return self.submit(
            "", {"login": login, "oldpassword": old, "newpassword": new, "confirmpassword": new}
        )


__all__ = ["CSRF_FIELD", "Answer", "PageClient", "hidden_inputs"]
