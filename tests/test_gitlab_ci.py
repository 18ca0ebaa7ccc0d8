"""The real .gitlab-ci.yml: its structure, and its pipelines run locally with gitlab-ci-local.

gitlab-ci-local (npm, pinned 4.73.0, installed by scripts/install-gitlab-ci-local into .ci/node) runs the jobs
in the shell (--force-shell-executor) of a temporary git repository holding a copy of this tree, with a
bare "origin" for the target branch; HOPTHU_CI_VENV makes the jobs use this virtualenv instead of installing.
The directory is a private slapd; the bind passwords reach the jobs as CI variables (GitLab: masked ones).

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

from hopthu.audit import AuditLog
from hopthu.inventory import load_inventory
from sample_requests import BDT_CREATE, BDT_CREATE_PATH

ROOT = Path(__file__).resolve().parent.parent
GITLAB_CI_LOCAL = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "gitlab-ci-local"
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
    for name in ("lint", "validate", "authors", "plan"):
        assert ci[name]["extends"] == ".merge_request"
    assert _rule_ifs(ci[".merge_request"]) == ['$CI_PIPELINE_SOURCE == "merge_request_event"']


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
            assert "PASSWORD" not in line and "set -x" not in line and "printenv" not in line, (name, line)


# --- the pipelines, run locally --------------------------------------------------------------------


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
            "HOPTHU_DIRECTORY": str(self.connections),
            "HOPTHU_AUDIT_LOG": str(self.state / "audit.jsonl"),
            "HOPTHU_OUTBOX": str(self.state / "outbox"),
            "HOPTHU_ANSIBLE_INVENTORY": "inventory/dev.yml",
            **{f"HOPTHU_BIND_PASSWORD_{code.upper()}": secret for code, secret in self.secrets.items()},
            **variables,
        }
        command = [str(GITLAB_CI_LOCAL), "--force-shell-executor", "--no-color", "--home", str(self.tmp)]
        command += ["--ignore-predefined-vars", ",".join(k for k in values if not k.startswith("HOPTHU_"))]
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
        for secret in self.secrets.values():
            assert secret not in "\n".join(logs), "a bind password reached the job logs"
        return done

    def artifact(self, job: str, name: str) -> Path:
        path = self.repo / ".gitlab-ci-local" / "artifacts" / job / name
        assert path.is_file(), f"job {job} did not keep the artifact {name}"
        return path


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    if not GITLAB_CI_LOCAL.exists():
        pytest.fail("gitlab-ci-local is not installed: run scripts/install-gitlab-ci-local", pytrace=False)
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
    other = NEW_REQUEST.replace("unit: bdt", "unit: snv").replace(
        "2025-04-02-bdt-cap-moi", "2025-04-02-snv-cap-moi"
    )
    pipeline.commit({"requests/binhthuan/snv/2025/2025-04-02-snv-cap-moi.yaml": other}, "x", "letm")
    done = pipeline.run("authors", source="merge_request_event", **MERGE_REQUEST)
    assert done.returncode != 0
    (issue,) = json.loads(pipeline.artifact("authors", "gl-code-quality-authors.json").read_text())
    assert issue["location"]["path"] == "requests/binhthuan/snv/2025/2025-04-02-snv-cap-moi.yaml"
    assert "letm is not a requester of unit binhthuan/snv" in issue["description"]
    pipeline.clean()


@pytest.mark.slapd
@pytest.mark.slow
def test_merged_request_is_applied_by_the_default_branch_pipeline_and_drift_is_checked(pipeline):
    pipeline.git("checkout", "-q", "main")
    pipeline.git("merge", "-q", "--no-ff", "them-baopq", "-m", "Merge branch 'them-baopq'")
    done = pipeline.run(source="push", CI_COMMIT_BRANCH="main")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS  apply" in done.stdout and "validate" not in done.stdout  # merge-request jobs stay out
    assert "apply environment: { name: production }" in done.stdout

    conn = pipeline.server.connect("binhthuan")
    conn.search("dc=binhthuan,dc=gov,dc=vn", "(uid=baopq)", attributes=["cn", "mail"])
    assert conn.response[0]["attributes"]["mail"] == ["baopq@bdt.binhthuan.gov.vn"]
    log = AuditLog(pipeline.state / "audit.jsonl")
    outcome = log.ledger().outcomes["2025-04-02-bdt-cap-moi"]
    assert outcome.result == "applied"
    assert pipeline.artifact("apply", "audit-head.txt").read_text().strip() == str(log.head())
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
