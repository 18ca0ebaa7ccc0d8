"""The real .gitlab-ci.yml: its structure, and its pipelines run locally with gitlab-ci-local.

gitlab-ci-local (npm, pinned 4.63.0, installed by scripts/install-gitlab-ci-local into .ci/node) runs the jobs
in the shell (--force-shell-executor) of a temporary git repository holding a copy of this tree, with a
bare "origin" for the target branch; HOPTHU_CI_VENV makes the jobs use this virtualenv instead of installing.
The directory is a private slapd; the bind passwords reach the jobs as CI variables (GitLab: masked ones).
GitLab's API, which the apply asks for the merge request of the commit, is a local stand-in on 127.0.0.1
(tests/gitlab_standin.py) that answers the two calls hopthu makes.

What gitlab-ci-local cannot run is checked on the file instead: resource_group (it validates the key but
does not serialise jobs), environments (it prints them), protected and masked variables (GitLab settings),
schedules (simulated with CI_PIPELINE_SOURCE=schedule) and runner tags (ignored locally).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import ldap3
import pytest
import yaml

from gitlab_standin import GitLabStandIn, approvals, merge_request
from hopthu.audit import AuditLog
from hopthu.cli.codeowners import with_units_section
from hopthu.directory import dn
from hopthu.inventory import load_inventory
from hopthu.passwords import KEY_ENV
from sample_requests import (
    BDT_CREATE,
    BDT_CREATE_PATH,
    INVENTORY_FILE,
    SECOND_ACCOUNT,
    SNV_CREATE,
    SNV_CREATE_PATH,
    letm_joins_snv,
)

ROOT = Path(__file__).resolve().parent.parent
NODE_PREFIX = ROOT / ".ci" / "node"
GITLAB_CI_LOCAL = NODE_PREFIX / "node_modules" / ".bin" / "gitlab-ci-local"
NOT_INSTALLED = "gitlab-ci-local is not installed: run scripts/install-gitlab-ci-local"
DEBIAN_12_NODE = "18.20.4"  # Debian 12's own nodejs (bookworm, bookworm-security)
VENV = Path(sys.executable).parent.parent
NOT_COPIED = {
    ".git",
    ".venv",
    "var",
    ".gitlab-ci-local",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "build",
}
REQUEST = BDT_CREATE_PATH
NEW_REQUEST = BDT_CREATE


# --- the file itself -----------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!reference", lambda loader, node: loader.construct_sequence(node))


@pytest.fixture(scope="module")
def ci() -> dict:
    return yaml.load((ROOT / ".gitlab-ci.yml").read_text(encoding="utf-8"), Loader=_Loader)


def _rule_ifs(job: dict) -> list[str]:
    return [rule["if"] for rule in job["rules"]]


def test_jobs_run_on_debian_python_and_merge_request_jobs_only_on_merge_requests(ci):
    assert ci["default"]["image"] == "python:3.11-slim-bookworm"
    for name in ("lint", "authors", "plan"):
        assert ci[name]["extends"] == ".merge_request"
    assert _rule_ifs(ci[".merge_request"]) == ['$CI_PIPELINE_SOURCE == "merge_request_event"']


def test_validate_runs_on_merge_requests_against_the_target_and_on_the_default_branch(ci):
    """GitLab's Code Quality widget compares with the target branch's report: the default branch makes one."""
    validate = ci["validate"]
    assert _rule_ifs(validate) == [
        '$CI_PIPELINE_SOURCE == "merge_request_event"',
        '$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH && $CI_PIPELINE_SOURCE != "schedule"',
    ]
    assert validate["rules"][0]["variables"]["HOPTHU_BASE"] == "origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"
    assert "variables" not in validate["rules"][1]  # no --base on the default branch


def test_apply_runs_once_at_a_time_on_the_default_branch_as_production(ci):
    apply = ci["apply"]
    assert apply["resource_group"] == "directory"
    assert apply["environment"]["name"] == "production"
    assert apply["interruptible"] is False
    assert _rule_ifs(apply) == [
        '$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH && $CI_PIPELINE_SOURCE != "schedule"'
    ]
    assert any("playbooks/apply.yml" in line for line in apply["script"])
    assert apply["tags"] == ["$HOPTHU_APPLY_RUNNER_TAG"]


def test_drift_runs_on_schedules_and_never_beside_an_apply(ci):
    drift = ci["drift"]
    assert _rule_ifs(drift) == ['$CI_PIPELINE_SOURCE == "schedule"']
    assert drift["resource_group"] == "directory"
    assert any("playbooks/drift.yml" in line for line in drift["script"])


def test_validate_runs_once_for_both_reports(ci):
    (command,) = [line for line in ci["validate"]["script"] if "hopthu validate" in line]
    assert '--base "$HOPTHU_BASE"' in command
    assert "--junit validate-junit.xml" in command and "--codequality gl-code-quality-report.json" in command


def test_reports_reach_gitlab_even_when_the_job_fails(ci):
    validate = ci["validate"]["artifacts"]
    assert validate["when"] == "always"
    assert validate["reports"] == {
        "junit": "validate-junit.xml",
        "codequality": "gl-code-quality-report.json",
    }
    plan = ci["plan"]["artifacts"]
    assert plan["reports"] == {"terraform": "plan-terraform.json"}
    assert re.fullmatch(r"\w[-\w ]*", plan["expose_as"], re.ASCII)  # what GitLab accepts there
    assert "plan.md" in plan["paths"]


def test_no_job_script_touches_a_secret_variable(ci):
    """Secrets reach hopthu and Ansible through the environment only: no script names them, none traces."""
    for name, job in ci.items():
        if not isinstance(job, dict):
            continue
        lines = [
            line for key in ("before_script", "script") for line in job.get(key, []) if isinstance(line, str)
        ]
        for line in lines:
            assert "PASSWORD" not in line and "TOKEN" not in line, (name, line)
            assert "set -x" not in line and "printenv" not in line, (name, line)


# --- the tool that runs them ----------------------------------------------------------------------------


@pytest.mark.node
def test_every_locked_package_of_gitlab_ci_local_accepts_debian_12s_node():
    """A fresh Debian 12 has Node 18: `npm ci --engine-strict` of .ci/node's lock file must pass there."""
    semver = NODE_PREFIX / "node_modules" / "semver"
    if not semver.is_dir():
        pytest.fail(NOT_INSTALLED, pytrace=False)
    lock = json.loads((NODE_PREFIX / "package-lock.json").read_text(encoding="utf-8"))
    ranges = {
        name: package["engines"]["node"]
        for name, package in lock["packages"].items()
        if "node" in package.get("engines", {})
    }
    assert "node_modules/gitlab-ci-local" in ranges  # its own claim is checked too
    refusing = (  # npm's own range logic, from the semver package gitlab-ci-local depends on
        "const [semver, node] = [require(process.argv[1]), process.argv[3]];"
        "const ranges = JSON.parse(process.argv[2]);"
        "const refusing = Object.keys(ranges).filter((name) => !semver.satisfies(node, ranges[name]));"
        "console.log(JSON.stringify(refusing));"
    )
    done = subprocess.run(
        ["node", "-e", refusing, str(semver), json.dumps(ranges), DEBIAN_12_NODE],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout) == [], f"these locked packages refuse Node {DEBIAN_12_NODE}"


# --- the pipelines, run locally --------------------------------------------------------------------


def plan_password_env(org: str) -> str:
    return f"HOPTHU_PLAN_READER_PASSWORD_{org.upper()}"


def _copy_tree(target: Path) -> None:
    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n in NOT_COPIED or n == "__pycache__" or n.endswith(".egg-info")}
        if Path(directory) == ROOT / ".ci":
            skipped.add("node")
        return skipped

    shutil.copytree(ROOT, target, ignore=ignore, symlinks=True)


class Pipeline:
    def __init__(self, base: Path, server) -> None:
        self.repo = base / "repo"
        self.server = server
        self.state = base / "state"
        self.tmp = base / "tmp"
        self.tmp.mkdir()
        self.connections = base / "connections.json"
        info = server.connection_info()
        organisations = {code: {"bind_dn": org["bind_dn"]} for code, org in info["organisations"].items()}
        # No password in the file: the jobs get them as CI variables (masked, protected on GitLab).
        self.connections.write_text(json.dumps({"uri": info["uri"], "organisations": organisations}))
        self.secrets = {code: server.bind_password(code) for code in organisations}
        self.watched: list[str] = []  # other secrets the jobs get, never to be seen in a log
        # The plan job of merge requests binds as the read-only plan-readers (masked, unprotected variables).
        self.plan_connections = base / "plan-connections.json"
        readers = {
            code: {
                "bind_dn": org["services"][dn.PLAN_READER]["bind_dn"],
                "password_env": plan_password_env(code),
            }
            for code, org in info["organisations"].items()
        }
        self.plan_connections.write_text(json.dumps({"uri": info["uri"], "organisations": readers}))
        self.plan_secrets = {code: server.service_password(code, dn.PLAN_READER) for code in organisations}
        self.logs: list[str] = []

    def git(self, *args: str, author: str = "it") -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": author,
            "GIT_AUTHOR_EMAIL": f"{author}@example.invalid",
            "GIT_COMMITTER_NAME": author,
            "GIT_COMMITTER_EMAIL": f"{author}@example.invalid",
        }
        done = subprocess.run(
            ["git", *args], cwd=self.repo, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
        return done.stdout

    def commit(self, files: dict[str, str], message: str, author: str) -> None:
        for name, text in files.items():
            (self.repo / name).parent.mkdir(parents=True, exist_ok=True)
            (self.repo / name).write_text(text, encoding="utf-8")
        self.git("add", "-A")
        self.git("commit", "-qm", message, author=author)

    def clean(self) -> None:
        self.git("clean", "-fdxq", "-e", ".gitlab-ci-local")

    def run(self, *jobs: str, source: str, **variables: str) -> subprocess.CompletedProcess:
        values = {
            "CI_PIPELINE_SOURCE": source,
            "CI_DEFAULT_BRANCH": "main",
            "HOPTHU_CI_VENV": str(VENV),
            "HOPTHU_AUDIT_LOG": str(self.state / "audit.jsonl"),
            "HOPTHU_OUTBOX": str(self.state / "outbox"),
            "HOPTHU_ANSIBLE_INVENTORY": "inventory/dev.yml",
        }
        if source == "merge_request_event":
            # As on GitLab: a merge request's branch is not protected, so it sees no protected variable (no
            # rootdn password), only the unprotected plan-reader ones.
            values["HOPTHU_PLAN_DIRECTORY"] = str(self.plan_connections)
            values |= {plan_password_env(code): secret for code, secret in self.plan_secrets.items()}
        else:
            values["HOPTHU_DIRECTORY"] = str(self.connections)
            values |= {
                f"HOPTHU_BIND_PASSWORD_{code.upper()}": secret for code, secret in self.secrets.items()
            }
            values[KEY_ENV] = os.environ[KEY_ENV]  # the protected, masked outbox key variable
        values |= variables
        # CLI variables override the predefined ones (gitlab-ci-local warns that they do, and goes on).
        command = [str(GITLAB_CI_LOCAL), "--force-shell-executor", "--no-color", "--home", str(self.tmp)]
        for key, value in values.items():
            command += ["--variable", f"{key}={value}"]
        if jobs:
            command += ["--needs", *jobs]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HOPTHU_", "ANSIBLE_", "CI_"))}
        env["TMPDIR"] = str(self.tmp)
        done = subprocess.run(command, cwd=self.repo, env=env, capture_output=True, text=True, timeout=600)
        logs = [done.stdout, done.stderr]
        logs += [
            p.read_text(errors="replace") for p in (self.repo / ".gitlab-ci-local" / "output").glob("*.log")
        ]
        self.logs += logs
        for secret in [*self.secrets.values(), *self.watched, os.environ[KEY_ENV]]:
            assert secret not in "\n".join(logs), "a bind password or token reached the job logs"
        for secret in [*self.secrets.values(), *self.plan_secrets.values()]:
            assert secret not in "\n".join(logs), "a bind password reached the job logs"
        return done

    def artifact(self, job: str, name: str) -> Path:
        path = self.repo / ".gitlab-ci-local" / "artifacts" / job / name
        assert path.is_file(), f"job {job} did not keep the artifact {name}"
        return path


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    if not GITLAB_CI_LOCAL.exists():
        pytest.fail(NOT_INSTALLED, pytrace=False)
    from hopthu.directory.server import LocalDirectory

    base = tmp_path_factory.mktemp("gitlab-ci")
    server = LocalDirectory.start(
        base / "directory", load_inventory(ROOT / "inventory").organisations.values()
    )
    try:
        result = Pipeline(base, server)
        _copy_tree(result.repo)
        result.git("init", "-q", "-b", "main")
        result.git("add", "-A")
        result.git("commit", "-qm", "hopthu")
        result.git("init", "-q", "--bare", str(base / "origin.git"))
        result.git("remote", "add", "origin", str(base / "origin.git"))
        result.git("push", "-q", "origin", "main")
        yield result
    finally:
        server.stop()


UNIT = {"GITLAB_USER_EMAIL": "letm@bdt.binhthuan.gov.vn", "GITLAB_USER_LOGIN": "letm"}
MERGE_REQUEST = {"CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main", **UNIT}
MR_JOBS = ("validate", "authors", "plan")


@pytest.mark.slapd
@pytest.mark.slow
def test_merge_request_adding_a_request_passes_with_its_reports(pipeline):
    pipeline.git("checkout", "-q", "-b", "them-baopq", "main")
    pipeline.commit({REQUEST: NEW_REQUEST}, "Cấp mới baopq", author="letm")
    done = pipeline.run(*MR_JOBS, source="merge_request_event", **MERGE_REQUEST)
    assert done.returncode == 0, done.stdout + done.stderr

    junit = ET.parse(pipeline.artifact("validate", "validate-junit.xml")).getroot()
    assert junit.get("failures") == "0" and int(junit.get("tests")) >= 1
    assert json.loads(pipeline.artifact("validate", "gl-code-quality-report.json").read_text()) == []
    terraform = json.loads(pipeline.artifact("plan", "plan-terraform.json").read_text())
    assert terraform == {"create": 1, "update": 0, "delete": 0}  # only the merge request's new request
    summary = pipeline.artifact("plan", "plan.md").read_text(encoding="utf-8")
    assert "### Cấp mới: 2025-04-02-bdt-cap-moi" in summary
    assert "| `baopq` | tạo mới: Phạm Quốc Bảo" in summary
    plan = json.loads(pipeline.artifact("plan", "plan.json").read_text())
    assert [r["id"] for r in plan["requests"]] == ["2025-04-02-bdt-cap-moi"]
    conn = pipeline.server.connect("binhthuan")
    assert not conn.search("dc=binhthuan,dc=gov,dc=vn", "(uid=baopq)")  # a plan writes nothing
    conn.unbind()
    pipeline.clean()

    # Without the plan-readers' connections the plan job says what to set (it never falls back to the
    # apply's connections).
    done = pipeline.run("plan", source="merge_request_event", **MERGE_REQUEST, HOPTHU_PLAN_DIRECTORY="")
    assert done.returncode != 0
    assert "HOPTHU_PLAN_DIRECTORY is not set" in "\n".join(pipeline.logs[-3:])
    pipeline.clean()


@pytest.mark.slapd
@pytest.mark.slow
def test_merge_request_with_a_broken_request_fails_with_the_located_problem(pipeline):
    pipeline.git("checkout", "-q", "-b", "broken", "main")
    broken = NEW_REQUEST.replace("    department: Văn phòng\n", "", 1).replace("broken", "x")
    pipeline.commit(
        {REQUEST.replace("cap-moi", "cap-moi-2"): broken.replace("cap-moi", "cap-moi-2")}, "x", "letm"
    )
    done = pipeline.run(*MR_JOBS, source="merge_request_event", **MERGE_REQUEST)
    assert done.returncode != 0
    (issue,) = json.loads(pipeline.artifact("validate", "gl-code-quality-report.json").read_text())
    assert issue["location"] == {"path": REQUEST.replace("cap-moi", "cap-moi-2"), "lines": {"begin": 16}}
    assert issue["check_name"] == "hopthu/schema-required" and "department" in issue["description"]
    junit = ET.parse(pipeline.artifact("validate", "validate-junit.xml")).getroot()
    assert junit.get("failures") == "1"
    pipeline.clean()

    # A unit adding a request to another unit's folder: the authors check stops it.
    pipeline.git("checkout", "-q", "-b", "elsewhere", "main")
    pipeline.commit({SNV_CREATE_PATH: SNV_CREATE}, "x", "letm")
    done = pipeline.run("authors", source="merge_request_event", **MERGE_REQUEST)
    assert done.returncode != 0
    (issue,) = json.loads(pipeline.artifact("authors", "gl-code-quality-authors.json").read_text())
    assert issue["location"]["path"] == SNV_CREATE_PATH
    assert "letm is not a requester of unit binhthuan/snv" in issue["description"]
    pipeline.clean()


@pytest.mark.slapd
@pytest.mark.slow
def test_merge_request_adding_its_author_to_another_unit_is_refused_by_the_authors_job(pipeline):
    """The requesters are the target branch's: joining a unit in the merge request that asks for it fails."""
    pipeline.git("checkout", "-q", "-b", "letm-joins-snv", "main")
    inventory = letm_joins_snv((pipeline.repo / INVENTORY_FILE).read_text(encoding="utf-8"))
    (pipeline.repo / INVENTORY_FILE).write_text(inventory, encoding="utf-8")
    codeowners = pipeline.repo / ".gitlab/CODEOWNERS"
    owners = with_units_section(
        codeowners.read_text(encoding="utf-8"), load_inventory(pipeline.repo / "inventory")
    )
    pipeline.commit({".gitlab/CODEOWNERS": owners, SNV_CREATE_PATH: SNV_CREATE}, "letm asks for snv", "letm")
    done = pipeline.run("authors", source="merge_request_event", **MERGE_REQUEST)
    assert done.returncode != 0
    issues = json.loads(pipeline.artifact("authors", "gl-code-quality-authors.json").read_text())
    found = {(issue["location"]["path"], issue["check_name"]) for issue in issues}
    assert found == {
        (SNV_CREATE_PATH, "hopthu/author-not-requester"),
        (INVENTORY_FILE, "hopthu/author-not-requester"),
        (".gitlab/CODEOWNERS", "hopthu/author-not-requester"),
        (INVENTORY_FILE, "hopthu/requesters-with-requests"),
    }
    pipeline.clean()

    # IT staff pushing the same change: the requesters and the request still go in two merge requests.
    it = {**MERGE_REQUEST, "GITLAB_USER_LOGIN": "hoang.it", "HOPTHU_IT_LOGINS": "hoang.it"}
    done = pipeline.run("authors", source="merge_request_event", **it)
    assert done.returncode != 0
    (issue,) = json.loads(pipeline.artifact("authors", "gl-code-quality-authors.json").read_text())
    assert issue["check_name"] == "hopthu/requesters-with-requests"
    assert "changes the requesters of unit binhthuan/snv" in issue["description"]
    pipeline.clean()


# The merge request's look-up (hopthu.gitlab) asks a local stand-in for GitLab's API, tests/gitlab_standin.py.
GITLAB_TOKEN = "glpat-Hq3Zr8Xw2Lk7Vn9Pt4Ms"  # a made-up project access token
PROJECT_URL = "https://gitlab.example.vn/cntt/hopthu"
GITLAB = {"CI_PROJECT_ID": "42", "CI_PROJECT_PATH": "cntt/hopthu", "CI_PROJECT_URL": PROJECT_URL}


def records_of(pipeline, request_id: str) -> list[dict]:
    records = [r for r in AuditLog(pipeline.state / "audit.jsonl").records() if r["request"] == request_id]
    assert records
    return records


@pytest.mark.slapd
@pytest.mark.slow
def test_merged_request_is_applied_by_the_default_branch_pipeline_and_drift_is_checked(pipeline):
    pipeline.git("checkout", "-q", "main")
    pipeline.git("merge", "-q", "--no-ff", "them-baopq", "-m", "Merge branch 'them-baopq'")
    merge_commit = pipeline.git("rev-parse", "HEAD").strip()
    gitlab = GitLabStandIn(
        token=GITLAB_TOKEN,
        merge_requests={merge_commit: [merge_request(7, merge_commit, "letm", "hoang.it", PROJECT_URL)]},
        approvals={7: approvals("hoang.it")},
    )
    pipeline.watched.append(GITLAB_TOKEN)
    # The reports kept from the merge-request runs must not pass for the default branch's.
    shutil.rmtree(pipeline.repo / ".gitlab-ci-local" / "artifacts", ignore_errors=True)
    try:
        done = pipeline.run(
            source="push",
            CI_COMMIT_BRANCH="main",
            CI_API_V4_URL=gitlab.url,
            HOPTHU_GITLAB_TOKEN=GITLAB_TOKEN,
            **GITLAB,
        )
    finally:
        gitlab.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS  apply" in done.stdout and "PASS  validate" in done.stdout
    jobs = {line.split()[0] for line in done.stdout.splitlines() if line.strip()}  # each job's lines
    assert "validate" in jobs and not jobs & {"lint", "authors", "plan"}  # merge-request jobs stay out
    assert "apply environment: { name: production }" in done.stdout
    # The default branch's Code Quality report, what GitLab compares each merge request's report with.
    assert json.loads(pipeline.artifact("validate", "gl-code-quality-report.json").read_text()) == []
    junit = ET.parse(pipeline.artifact("validate", "validate-junit.xml")).getroot()
    assert int(junit.get("tests")) == len(list((pipeline.repo / "requests").rglob("*.yaml")))

    conn = pipeline.server.connect("binhthuan")
    conn.search("dc=binhthuan,dc=gov,dc=vn", "(uid=baopq)", attributes=["cn", "mail"])
    assert conn.response[0]["attributes"]["mail"] == ["baopq@bdt.binhthuan.gov.vn"]
    log = AuditLog(pipeline.state / "audit.jsonl")
    outcome = log.ledger().outcomes["2025-04-02-bdt-cap-moi"]
    assert outcome.result == "applied"
    assert pipeline.artifact("apply", "audit-head.txt").read_text().strip() == str(log.head())
    # Every record of the apply names the merge request, its author and approvers, as GitLab's API says.
    for record in records_of(pipeline, "2025-04-02-bdt-cap-moi"):
        assert record["ci"]["merge_request"] == {
            "iid": 7,
            "url": f"{PROJECT_URL}/-/merge_requests/7",
            "author": "letm",
            "merged_by": "hoang.it",
            "approved_by": ["hoang.it"],
            "source": "api",
            "opened_at": "2025-04-02T01:30:00.000Z",
        }
        assert record["ci"]["merge_request_lookup"] == "found"
    assert [seen.path for seen in gitlab.seen] == [
        f"/api/v4/projects/42/repository/commits/{merge_commit}/merge_requests",
        "/api/v4/projects/42/merge_requests/7/approvals",
    ]
    assert "merge_request_lookup: found" in done.stdout  # the job log says what was recorded
    assert GITLAB_TOKEN.encode() not in (pipeline.state / "audit.jsonl").read_bytes()
    pipeline.clean()

    scheduled = pipeline.run(source="schedule", CI_COMMIT_BRANCH="main")
    assert scheduled.returncode == 0, scheduled.stdout
    assert "no drift" in scheduled.stdout and "PASS  drift" in scheduled.stdout
    conn.modify(
        "uid=baopq,ou=people,dc=binhthuan,dc=gov,dc=vn", {"title": [(ldap3.MODIFY_REPLACE, ["Giám đốc"])]}
    )
    conn.unbind()
    drifted = pipeline.run(source="schedule", CI_COMMIT_BRANCH="main")
    assert drifted.returncode != 0
    assert "binhthuan/baopq: attribute title" in drifted.stdout


@pytest.mark.slapd
@pytest.mark.slow
def test_an_apply_whose_merge_request_cannot_be_looked_up_still_applies_and_says_why(pipeline):
    pipeline.git("checkout", "-q", "-b", "them-nhunglth", "main")
    request = NEW_REQUEST.split("accounts:\n")[0].replace("2025-04-02", "2025-04-03")
    path = REQUEST.replace("2025-04-02", "2025-04-03")
    pipeline.commit({path: request + "accounts:\n" + SECOND_ACCOUNT}, "Cấp mới nhunglth", author="letm")
    pipeline.git("checkout", "-q", "main")
    message = (
        "Merge branch 'them-nhunglth' into 'main'\n\nCấp mới: Lê Thị Hồng Nhung\n\n"
        "See merge request cntt/hopthu!8"
    )
    pipeline.git("merge", "-q", "--no-ff", "them-nhunglth", "-m", message)
    down = GitLabStandIn(token=GITLAB_TOKEN)
    down.stop()  # nothing listens there any more: GitLab's API is down
    pipeline.watched.append(GITLAB_TOKEN)
    done = pipeline.run(
        source="push",
        CI_COMMIT_BRANCH="main",
        CI_COMMIT_MESSAGE=message,
        CI_API_V4_URL=down.url,
        HOPTHU_GITLAB_TOKEN=GITLAB_TOKEN,
        **GITLAB,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    conn = pipeline.server.connect("binhthuan")
    assert conn.search("dc=binhthuan,dc=gov,dc=vn", "(uid=nhunglth)")  # applied all the same
    conn.unbind()
    for record in records_of(pipeline, "2025-04-03-bdt-cap-moi"):
        ci = record["ci"]
        # What the merge commit's message claims, and why nobody's names are there.
        assert ci["merge_request"] == {
            "iid": 8,
            "url": f"{PROJECT_URL}/-/merge_requests/8",
            "author": None,
            "merged_by": None,
            "approved_by": None,
            "source": "commit message",
            "opened_at": None,
        }
        assert ci["merge_request_lookup"] == "api-error"
        assert "Connection refused" in ci["merge_request_lookup_error"]
    warning = "the audit records do not name the merge request and its approvers: api-error: GET /projects/42"
    assert warning in done.stdout + done.stderr
    assert GITLAB_TOKEN.encode() not in (pipeline.state / "audit.jsonl").read_bytes()
    pipeline.clean()
