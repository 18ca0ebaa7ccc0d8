"""The merge request of the commit being applied: the decision on plain data, the API calls against a local
stand-in (tests/gitlab_standin.py), and what the audit record says in each case."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gitlab_standin import GitLabStandIn, approvals, merge_request
from hopthu.audit import ci_context, detect_ci_context
from hopthu.gitlab import (
    AMBIGUOUS,
    API_ERROR,
    FOUND,
    NO_TOKEN,
    NOT_FOUND,
    GitLabApi,
    GitLabError,
    MergeRequestLookup,
    choose,
    find_merge_request,
    iid_from_message,
)

SHA = "9fceb02d0ae598e95dc970b74767f19372d61af8"
PROJECT_URL = "https://gitlab.example.vn/cntt/hopthu"
TOKEN = "glpat-Sb7Kq2XwZ9pLm4Rt8VnY"
MESSAGE = (
    "Merge branch 'them-baopq' into 'main'\n\nCấp mới hộp thư: Phạm Quốc Bảo\n\n"
    "See merge request cntt/hopthu!12"
)


def env(**overrides: str) -> dict[str, str]:
    values = {
        "CI_PIPELINE_ID": "1001",
        "CI_PROJECT_ID": "42",
        "CI_PROJECT_PATH": "cntt/hopthu",
        "CI_PROJECT_URL": PROJECT_URL,
        "CI_COMMIT_SHA": SHA,
        "CI_COMMIT_BRANCH": "main",
        "CI_COMMIT_MESSAGE": MESSAGE,
        "GITLAB_USER_LOGIN": "hoang.it",
        "HOPTHU_GITLAB_TOKEN": TOKEN,
    }
    values.update(overrides)
    return {key: value for key, value in values.items() if value}


# --- the decision, on plain data -----------------------------------------------------------------------


def test_the_merge_request_of_a_commit_is_the_merged_one_whose_merge_commit_it_is():
    ours = merge_request(12, SHA, "letm", "hoang.it", PROJECT_URL)
    containing = {**merge_request(9, "a" * 40, "tamhn", "hoang.it", PROJECT_URL)}  # merely contains it
    assert choose([containing, ours], SHA, "main") == (ours, FOUND)
    assert choose([containing], SHA, "main") == (None, NOT_FOUND)
    assert choose([], SHA, "main") == (None, NOT_FOUND)
    assert choose([{**ours, "state": "opened"}], SHA, "main") == (None, NOT_FOUND)
    assert choose([{**ours, "target_branch": "dev"}], SHA, "main") == (None, NOT_FOUND)
    squashed = {**ours, "merge_commit_sha": None, "squash_commit_sha": SHA}
    fast_forward = {**ours, "merge_commit_sha": None, "sha": SHA}
    assert choose([squashed], SHA, "main")[1] == FOUND and choose([fast_forward], SHA, "main")[1] == FOUND
    assert choose([ours, {**ours, "iid": 13}], SHA, "main") == (None, AMBIGUOUS)
    # In a merge-request pipeline GitLab names it.
    assert choose([containing, ours], SHA, None, iid=9) == (containing, FOUND)


def test_a_merge_commit_message_names_this_projects_merge_request():
    assert iid_from_message(MESSAGE, "cntt/hopthu") == 12
    assert iid_from_message("Fix\n\nSee merge request !7", "cntt/hopthu") == 7
    assert iid_from_message(MESSAGE, "other/project") is None
    assert iid_from_message("Cấp mới baopq", "cntt/hopthu") is None
    assert iid_from_message(None, None) is None


def test_the_record_names_the_merge_request_author_and_approvers():
    lookup = MergeRequestLookup(
        FOUND, 12, f"{PROJECT_URL}/-/merge_requests/12", "letm", "hoang.it", ("hoang.it", "lan.nt"), "api"
    )
    context = ci_context(env(CI_JOB_URL=f"{PROJECT_URL}/-/jobs/7"), lookup)
    assert context == {
        "pipeline_id": "1001",
        "job_url": f"{PROJECT_URL}/-/jobs/7",
        "user": "hoang.it",
        "project": "cntt/hopthu",
        "merge_request": {
            "iid": 12,
            "url": f"{PROJECT_URL}/-/merge_requests/12",
            "author": "letm",
            "merged_by": "hoang.it",
            "approved_by": ["hoang.it", "lan.nt"],
            "source": "api",
            "opened_at": None,
        },
        "merge_request_lookup": "found",
        "merge_request_lookup_error": None,
    }
    assert ci_context({"HOME": "/root", "CI": "true"}, lookup) is None  # not GitLab CI: no ci at all


def test_an_unknown_merge_request_is_said_explicitly():
    context = ci_context(env(), MergeRequestLookup(NOT_FOUND, error="no merged merge request has commit x"))
    assert context["merge_request"] is None
    assert (context["merge_request_lookup"], context["merge_request_lookup_error"]) == (
        "not-found",
        "no merged merge request has commit x",
    )


# --- against the local stand-in ------------------------------------------------------------------------


@pytest.fixture
def standin():
    server = GitLabStandIn(
        token=TOKEN,
        merge_requests={SHA: [merge_request(12, SHA, "letm", "hoang.it", PROJECT_URL)]},
        approvals={12: approvals("hoang.it", "lan.nt")},
    )
    yield server
    server.stop()


def test_the_api_names_the_merge_request_its_author_and_approvers(standin):
    lookup = find_merge_request(env(CI_API_V4_URL=standin.url))
    assert lookup == MergeRequestLookup(
        FOUND,
        12,
        f"{PROJECT_URL}/-/merge_requests/12",
        "letm",
        "hoang.it",
        ("hoang.it", "lan.nt"),
        "api",
        opened_at="2025-04-02T01:30:00.000Z",  # when the unit opened it: the register counts from there
    )
    assert [seen.path for seen in standin.seen] == [
        f"/api/v4/projects/42/repository/commits/{SHA}/merge_requests",
        "/api/v4/projects/42/merge_requests/12/approvals",
    ]
    assert all(seen.token == TOKEN for seen in standin.seen)  # in the header: the paths do not hold it


def test_without_a_token_nothing_is_asked_and_the_commit_message_is_a_claim(standin):
    lookup = find_merge_request(env(CI_API_V4_URL=standin.url, HOPTHU_GITLAB_TOKEN=""))
    assert standin.seen == []
    assert (lookup.status, lookup.iid, lookup.source, lookup.author, lookup.approved_by) == (
        NO_TOKEN,
        12,
        "commit message",
        None,
        None,
    )
    assert lookup.url == f"{PROJECT_URL}/-/merge_requests/12"
    assert lookup.error == "HOPTHU_GITLAB_TOKEN is not set: the merge request was not asked for"


def test_a_refused_token_is_an_api_error_that_does_not_repeat_it(standin):
    lookup = find_merge_request(env(CI_API_V4_URL=standin.url, HOPTHU_GITLAB_TOKEN="glpat-revoked0000000"))
    assert lookup.status == API_ERROR and lookup.iid == 12 and lookup.source == "commit message"
    assert lookup.error == f"GET /projects/42/repository/commits/{SHA}/merge_requests: HTTP 401 Unauthorized"
    assert "glpat" not in repr(lookup)


def test_a_direct_push_has_no_merge_request(standin):
    other = "1" * 40
    lookup = find_merge_request(env(CI_API_V4_URL=standin.url, CI_COMMIT_SHA=other, CI_COMMIT_MESSAGE="x"))
    assert (lookup.status, lookup.merge_request()) == (NOT_FOUND, None)
    assert lookup.error == "no merged merge request has commit 111111111111 (a direct push?)"


def test_failed_approvals_keep_the_merge_request_and_say_why(standin):
    standin.approvals.clear()
    lookup = find_merge_request(env(CI_API_V4_URL=standin.url))
    assert (lookup.status, lookup.iid, lookup.author, lookup.approved_by) == (API_ERROR, 12, "letm", None)
    assert lookup.error == "GET /projects/42/merge_requests/12/approvals: HTTP 404 Not Found"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_api_that_is_down_is_an_api_error_at_once():
    started = time.monotonic()
    lookup = find_merge_request(env(CI_API_V4_URL=f"http://127.0.0.1:{_free_port()}/api/v4"))
    assert time.monotonic() - started < 2
    assert lookup.status == API_ERROR and "Connection refused" in lookup.error and lookup.iid == 12


def test_an_api_that_does_not_answer_is_given_up_after_the_timeout():
    release = threading.Event()

    class Silent(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            release.wait(10)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Silent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = GitLabApi(f"http://127.0.0.1:{server.server_address[1]}/api/v4", "42", TOKEN, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(GitLabError, match=r"no answer within 0\.5 s"):
            api.commit_merge_requests(SHA)
        assert time.monotonic() - started < 3
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def test_a_redirect_is_not_followed_so_the_token_stays_with_gitlab(standin):
    elsewhere = GitLabStandIn(token="")
    standin.redirect_to = elsewhere.url.removesuffix("/api/v4")
    try:
        lookup = find_merge_request(env(CI_API_V4_URL=standin.url))
    finally:
        elsewhere.stop()
    assert lookup.status == API_ERROR and "HTTP 302" in lookup.error
    assert elsewhere.seen == []


def test_the_audit_context_of_a_gitlab_job_asks_once_and_outside_gitlab_not_at_all(standin):
    context = detect_ci_context(env(CI_API_V4_URL=standin.url))
    assert context["merge_request"]["approved_by"] == ["hoang.it", "lan.nt"]
    assert len(standin.seen) == 2
    assert detect_ci_context({"HOPTHU_GITLAB_TOKEN": TOKEN, "CI_API_V4_URL": standin.url}) is None
    assert len(standin.seen) == 2
