"""A local stand-in for the two GitLab API calls hopthu makes (``hopthu.gitlab``), on 127.0.0.1.

It is not GitLab: it answers only ``GET /api/v4/projects/:id/repository/commits/:sha/merge_requests``
and ``GET /api/v4/projects/:id/merge_requests/:iid/approvals``, from the data the test gives it, in the
shape GitLab's API documentation gives (only the fields hopthu reads, plus a few of the others). Like
GitLab it answers 401 without the right ``PRIVATE-TOKEN`` header and 404 for another project. It keeps
every request it got, so a test can check what hopthu sent.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_COMMIT = re.compile(
    r"^/api/v4/projects/(?P<project>[^/]+)/repository/commits/(?P<sha>[0-9a-f]+)/merge_requests$"
)
_APPROVALS = re.compile(r"^/api/v4/projects/(?P<project>[^/]+)/merge_requests/(?P<iid>\d+)/approvals$")


def merge_request(iid: int, sha: str, author: str, merged_by: str, project_url: str) -> dict[str, Any]:
    """A merged merge request into main whose merge commit is ``sha``, as the API lists it."""
    return {
        "id": 1000 + iid,
        "iid": iid,
        "project_id": 42,
        "title": f"Yêu cầu {iid}",
        "state": "merged",
        "target_branch": "main",
        "source_branch": f"branch-{iid}",
        "author": {"id": 7, "username": author, "name": author},
        "merged_by": {"id": 3, "username": merged_by, "name": merged_by},
        "merge_commit_sha": sha,
        "squash_commit_sha": None,
        "sha": "f" * 40,
        "web_url": f"{project_url}/-/merge_requests/{iid}",
        "created_at": "2025-04-02T01:30:00.000Z",
    }


def approvals(*usernames: str) -> dict[str, Any]:
    return {
        "approved": True,
        "approvals_required": 1,
        "approved_by": [
            {"user": {"id": n, "username": name, "name": name}} for n, name in enumerate(usernames)
        ],
    }


@dataclass
class Seen:
    path: str
    token: str | None


@dataclass
class GitLabStandIn:
    token: str
    project: str = "42"
    merge_requests: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # sha → list
    approvals: dict[int, dict[str, Any]] = field(default_factory=dict)  # iid → approvals
    redirect_to: str | None = None  # answer every request with a redirect there instead
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                standin.seen.append(Seen(self.path, self.headers.get("PRIVATE-TOKEN")))
                if standin.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", standin.redirect_to + self.path)
                    self.end_headers()
                    return
                status, body = standin.answer(self.path, self.headers.get("PRIVATE-TOKEN"))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """What GitLab puts in ``CI_API_V4_URL``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/v4"

    def answer(self, path: str, token: str | None) -> tuple[int, Any]:
        if token != self.token:
            return 401, {"message": "401 Unauthorized"}
        if match := _COMMIT.match(path):
            if match["project"] != self.project:
                return 404, {"message": "404 Project Not Found"}
            return 200, self.merge_requests.get(match["sha"], [])
        if match := _APPROVALS.match(path):
            if match["project"] != self.project or int(match["iid"]) not in self.approvals:
                return 404, {"message": "404 Not found"}
            return 200, self.approvals[int(match["iid"])]
        return 404, {"error": "404 Not Found"}

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
