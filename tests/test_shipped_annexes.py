"""The annexes shipped with the examples are imported by `make demo` (scripts/demo, step 2) into exactly the
request files shipped beside them, and those apply with the rest."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from hopthu.inventory import load_inventory
from test_apply import Workspace
from workspace import ROOT, copy_of_repo

# annex → the request file made from it, beside it in the unit's folder
SHIPPED = {
    f"requests/{place}.{suffix}": f"requests/{place}.yaml"
    for place, suffix in (
        ("binhthuan/bdt/2025/2025-04-14-bdt-cap-moi", "xlsx"),
        ("danang/snv/2025/2025-04-07-snv-cap-moi", "docx"),
    )
}


def demo_imports() -> list[str]:
    """The `hopthu import` commands of scripts/demo, continuation lines joined."""
    script = (ROOT / "scripts/demo").read_text(encoding="utf-8").replace("\\\n", " ")
    return [line.strip() for line in script.splitlines() if line.strip().startswith("hopthu import ")]


def run_demo_imports(root: Path) -> list[subprocess.CompletedProcess]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("HOPTHU_DIRECTORY", None)
    return [
        subprocess.run(
            ["bash", "-c", command], cwd=root, env=env, capture_output=True, text=True, timeout=120
        )
        for command in demo_imports()
    ]


def test_the_demo_imports_each_shipped_annex_into_the_shipped_request(tmp_path):
    assert sorted(re.search(r"hopthu import (\S+)", c).group(1) for c in demo_imports()) == sorted(SHIPPED)
    root = copy_of_repo(tmp_path / "repo", "inventory", "requests", "schemas")
    for result in run_demo_imports(root):  # the shipped files are already there: nothing changes
        assert result.returncode == 0 and "unchanged (already imported), validated" in result.stderr, (
            result.stderr
        )
    for request in SHIPPED.values():
        (root / request).unlink()
    for result in run_demo_imports(root):  # from the annexes alone: the same files
        assert result.returncode == 0 and "written, validated" in result.stderr, result.stderr
    for request in SHIPPED.values():
        assert (root / request).read_text(encoding="utf-8") == (ROOT / request).read_text(encoding="utf-8")


def test_the_imported_requests_apply_with_the_rest(tmp_path, start_directory):
    root = copy_of_repo(tmp_path / "repo", "inventory", "requests", "schemas")
    inventory = load_inventory(root / "inventory")
    server = start_directory(inventory.organisations.values())
    workspace = Workspace(root, server, tmp_path / "audit" / "audit.jsonl", tmp_path / "outbox", [])
    workspace.run("apply")
    hoang = workspace.person("binhthuan", "hoanglm")
    assert hoang["hopthuBackupMail"] == ["hoang.leminh@gmail.com"]
    assert hoang["mail"] == ["hoanglm@bdt.binhthuan.gov.vn"] and hoang["employeeNumber"] == ["BDT-0401"]
    assert workspace.person("binhthuan", "remk")["cn"] == ["K'Rẻm"]
    minh = workspace.person("danang", "minhtht")
    assert minh["ou"] == ["Phòng Công chức, viên chức"] and "employeeNumber" not in minh  # the form has none
    assert workspace.person("binhthuan", "minhnv") is not None  # and the hand-written requests too
