"""The one question hopthu asks GitLab: which merge request brought the commit being applied, and who
approved it — for the audit log (``audit.ci_context``).

A pipeline on the default branch after a merge knows its commit (``CI_COMMIT_SHA``) but not its merge
request: GitLab sets ``CI_MERGE_REQUEST_*`` only in merge-request pipelines. So the apply asks the API:

- ``GET /projects/:id/repository/commits/:sha/merge_requests``: the merge requests of the commit (iid,
  author, merged_by, web_url, state, target_branch, merge_commit_sha, squash_commit_sha, and created_at:
  when the unit opened it, from which the register counts the working days a request took);
- ``GET /projects/:id/merge_requests/:iid/approvals``: ``approved_by`` (the users who approved).

The token is ``$HOPTHU_GITLAB_TOKEN`` (a project access token, Reporter, scope ``read_api``; a protected,
masked variable): the job token cannot read merge requests. It goes in the ``PRIVATE-TOKEN`` header only,
never in a URL, a message, a log or the record. Each request times out after ``TIMEOUT`` seconds. The
lookup never fails the apply: without a token, with the API down or for a commit no merge request brought
(a direct push), the result says so (``MergeRequestLookup.status`` and ``error``). Without a token, the
merge request that GitLab's default merge commit message names (``See merge request group/project!12``)
is kept as a claim of the commit message (``source``), with no author or approvers.

Decisions first (pure, no I/O), effects below.
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TOKEN_VARIABLE = "HOPTHU_GITLAB_TOKEN"
TIMEOUT = 5.0  # seconds per request; at most two requests
MAX_ANSWER = 1 << 20  # bytes: a commit's merge requests, or one approvals record, are far smaller

FOUND = "found"
NO_TOKEN = "no-token"
API_ERROR = "api-error"
NOT_FOUND = "not-found"
AMBIGUOUS = "ambiguous"

# GitLab's default merge commit message ends with "See merge request <full path>!<iid>".
_SEE_MERGE_REQUEST = re.compile(r"^See merge request (?P<path>[\w.\-/]*)!(?P<iid>\d+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class MergeRequestLookup:
    """What is known of the merge request of a commit. ``status``: ``found`` (from the API, approvers
    included), ``no-token``, ``api-error``, ``not-found`` (no merged merge request has this commit: a
    direct push), ``ambiguous``; ``error`` says why, in English, when the status is not ``found``."""

    status: str
    iid: int | None = None
    url: str | None = None
    author: str | None = None
    merged_by: str | None = None
    approved_by: tuple[str, ...] | None = None
    source: str | None = None  # "api", or "commit message" (a claim: nobody checked it)
    error: str | None = None
    opened_at: str | None = None  # when the merge request was opened (GitLab's created_at, ISO 8601)

    def merge_request(self) -> dict[str, Any] | None:
        """The merge request as the audit record holds it; None when not even its iid is known."""
        if self.iid is None:
            return None
        return {
            "iid": self.iid,
            "url": self.url,
            "author": self.author,
            "merged_by": self.merged_by,
            "approved_by": list(self.approved_by) if self.approved_by is not None else None,
            "source": self.source,
            "opened_at": self.opened_at,
        }


# --- decisions (no I/O) ------------------------------------------------------------------------------


def iid_from_message(message: str | None, project_path: str | None) -> int | None:
    """The merge request a merge commit message names, if it is one of this project's."""
    matches = list(_SEE_MERGE_REQUEST.finditer(message or ""))
    if not matches:
        return None
    path = matches[-1]["path"]
    if path and project_path and path != project_path:
        return None  # another project's merge request
    return int(matches[-1]["iid"])


def choose(
    merge_requests: list[Any], sha: str, branch: str | None, iid: int | None = None
) -> tuple[dict[str, Any] | None, str]:
    """The merge request of commit ``sha`` among the API's answer, and the status.

    In a merge-request pipeline ``iid`` names it. On a branch: the merged one into ``branch`` whose merge
    commit, squash commit or (after a fast-forward merge) last commit is ``sha``. A merge request that
    merely contains the commit is not it; two that qualify are ``ambiguous`` rather than a guess.
    """
    candidates = [mr for mr in merge_requests if isinstance(mr, dict) and isinstance(mr.get("iid"), int)]
    if iid is not None:
        named = [mr for mr in candidates if mr["iid"] == iid]
        return (named[0], FOUND) if named else (None, NOT_FOUND)
    merged = [
        mr
        for mr in candidates
        if mr.get("state") == "merged" and (branch is None or mr.get("target_branch") == branch)
    ]
    brought = [
        mr for mr in merged if sha in (mr.get("merge_commit_sha"), mr.get("squash_commit_sha"), mr.get("sha"))
    ]
    if len(brought) == 1:
        return brought[0], FOUND
    return None, (AMBIGUOUS if brought else NOT_FOUND)


def _username(user: Any) -> str | None:
    return user.get("username") if isinstance(user, dict) and isinstance(user.get("username"), str) else None


def approvers(approvals: Any) -> tuple[str, ...]:
    """The usernames in an approvals answer's ``approved_by`` (``[{"user": {...}}, …]``), in its order."""
    entries = approvals.get("approved_by") if isinstance(approvals, dict) else None
    names = (_username(entry.get("user")) for entry in entries or [] if isinstance(entry, dict))
    return tuple(name for name in names if name)


def from_api(merge_request: dict[str, Any], approvals: Any, error: str | None = None) -> MergeRequestLookup:
    """The lookup from the API's merge request and approvals (``None`` with ``error``: they failed)."""
    return MergeRequestLookup(
        status=FOUND if error is None else API_ERROR,
        iid=merge_request["iid"],
        url=merge_request.get("web_url") if isinstance(merge_request.get("web_url"), str) else None,
        author=_username(merge_request.get("author")),
        merged_by=_username(merge_request.get("merged_by")),
        approved_by=approvers(approvals) if error is None else None,
        source="api",
        error=error,
        opened_at=opened if isinstance(opened := merge_request.get("created_at"), str) else None,
    )


def from_message(env: Mapping[str, str], status: str, error: str) -> MergeRequestLookup:
    """What the commit message claims, when the API cannot say: the iid and its URL, nobody's names."""
    iid = iid_from_message(env.get("CI_COMMIT_MESSAGE"), env.get("CI_PROJECT_PATH"))
    project_url = env.get("CI_PROJECT_URL")
    url = f"{project_url}/-/merge_requests/{iid}" if iid is not None and project_url else None
    source = "commit message" if iid is not None else None
    return MergeRequestLookup(status=status, iid=iid, url=url, source=source, error=error)


# --- effects -------------------------------------------------------------------------------------------


class GitLabError(Exception):
    """The API did not answer usefully; the message names the request and what went wrong, never the
    token."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the token's header to wherever it points: answer it as an error instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class GitLabApi:
    """GitLab's REST API v4 at ``url`` (``$CI_API_V4_URL``), for one project."""

    def __init__(self, url: str, project: str, token: str, timeout: float = TIMEOUT) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise GitLabError(f"CI_API_V4_URL {url!r} is not an http(s) URL")
        self.url = url.rstrip("/")
        self.project = urllib.parse.quote(str(project), safe="")
        self._token = token
        self.timeout = timeout

    def __repr__(self) -> str:  # never the token
        return f"GitLabApi({self.url!r}, project={self.project!r})"

    def get(self, path: str) -> Any:
        request = urllib.request.Request(
            f"{self.url}{path}", headers={"PRIVATE-TOKEN": self._token, "Accept": "application/json"}
        )
        try:
            with _OPENER.open(request, timeout=self.timeout) as answer:
                body = answer.read(MAX_ANSWER + 1)
        except urllib.error.HTTPError as error:
            raise GitLabError(f"GET {path}: HTTP {error.code} {error.reason}") from None
        except urllib.error.URLError as error:
            reason = error.reason
            shown = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
            raise GitLabError(f"GET {path}: {shown}") from None
        except TimeoutError:
            raise GitLabError(f"GET {path}: no answer within {self.timeout:g} s") from None
        except OSError as error:
            raise GitLabError(f"GET {path}: {error.strerror or error}") from None
        except (http.client.HTTPException, ValueError) as error:  # a broken answer, a malformed URL
            raise GitLabError(f"GET {path}: {type(error).__name__}: {error}") from None
        if len(body) > MAX_ANSWER:
            raise GitLabError(f"GET {path}: the answer is larger than {MAX_ANSWER} bytes")
        try:
            return json.loads(body)
        except ValueError:
            raise GitLabError(f"GET {path}: the answer is not JSON") from None

    def commit_merge_requests(self, sha: str) -> list[Any]:
        answer = self.get(
            f"/projects/{self.project}/repository/commits/{urllib.parse.quote(sha)}/merge_requests"
        )
        if not isinstance(answer, list):
            raise GitLabError("the merge requests of the commit are not a list")
        return answer

    def approvals(self, iid: int) -> Any:
        return self.get(f"/projects/{self.project}/merge_requests/{iid}/approvals")


def find_merge_request(env: Mapping[str, str]) -> MergeRequestLookup:
    """The merge request of ``$CI_COMMIT_SHA``, asked of the API; never raises."""
    token = env.get(TOKEN_VARIABLE)
    if not token:
        return from_message(
            env, NO_TOKEN, f"{TOKEN_VARIABLE} is not set: the merge request was not asked for"
        )
    missing = [name for name in ("CI_API_V4_URL", "CI_PROJECT_ID", "CI_COMMIT_SHA") if not env.get(name)]
    if missing:
        return from_message(env, API_ERROR, f"{', '.join(missing)} not set: cannot ask GitLab")
    sha = env["CI_COMMIT_SHA"]
    iid = env.get("CI_MERGE_REQUEST_IID")
    try:
        api = GitLabApi(env["CI_API_V4_URL"], env["CI_PROJECT_ID"], token)
        merge_requests = api.commit_merge_requests(sha)
    except GitLabError as error:
        return from_message(env, API_ERROR, str(error))
    chosen, status = choose(
        merge_requests, sha, env.get("CI_COMMIT_BRANCH"), int(iid) if iid and iid.isdigit() else None
    )
    if chosen is None:
        why = (
            f"no merged merge request has commit {sha[:12]} (a direct push?)"
            if status == NOT_FOUND
            else f"several merged merge requests have commit {sha[:12]}"
        )
        return MergeRequestLookup(status=status, error=why)
    try:
        return from_api(chosen, api.approvals(chosen["iid"]))
    except GitLabError as error:
        return from_api(chosen, None, error=str(error))
