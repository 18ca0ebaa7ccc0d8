#!/usr/bin/python
# Ansible module: check hopthu request files: a thin wrapper around hopthu.mergerequest, as `hopthu validate`.

from __future__ import annotations

DOCUMENTATION = r"""
module: hopthu_validate
short_description: Check hopthu request files and report every problem of every file
description:
- The checks of C(hopthu validate) - YAML, schema, inventory, folder, usernames, duplicates and, with
  I(base_ref), that merged requests were not changed. Fails with every located finding.
- Read-only, so it runs the same in check mode.
options:
  base_ref:
    description: 'Git ref of the merged state (origin/main): existing requests must be unchanged; only files
      changed since the merge base are checked in full, the others for their ids and usernames.'
    type: str
  report_format:
    description: Format of I(report_file).
    type: str
    choices:
    - text
    - json
    - junit
    - codequality
    default: junit
  report_file:
    description: Also write the findings to this file (for GitLab's report artifacts).
    type: path
extends_documentation_fragment:
- hopthu
author: hopthu
"""

EXAMPLES = r"""
- name: Validate the request files
  hopthu_validate:
    inventory: "{{ inventory_dir }}"
"""

RETURN = r"""
files:
  description: The request files checked.
  type: list
  returned: always
findings:
  description: 'Every problem: path, line, col, message, rule, severity.'
  type: list
  returned: always
"""

import contextlib  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import ClassVar  # noqa: E402

from ansible.module_utils.hopthu_module import HopthuModule, finding_dict, finding_line  # noqa: E402

with contextlib.suppress(ImportError):  # reported by HopthuModule.execute
    from hopthu.findings import has_errors, render
    from hopthu.inventory import load_inventory
    from hopthu.mergerequest import validate


class ValidateModule(HopthuModule):
    uses_directory = False
    argument_spec: ClassVar[dict] = dict(
        base_ref=dict(type="str"),
        report_format=dict(type="str", choices=["text", "json", "junit", "codequality"], default="junit"),
        report_file=dict(type="path"),
    )

    def run(self) -> dict:
        inventory = load_inventory(self.inventory_path)
        targets = self.request_paths
        result = validate(targets, inventory, base_ref=self.params["base_ref"], repo_root=self.repo_root)
        findings, files = result.findings, result.files
        if self.params["report_file"]:
            report = render(self.params["report_format"], findings, files)
            Path(self.params["report_file"]).write_text(report, encoding="utf-8")
        result = {"changed": False, "files": files, "findings": [finding_dict(f) for f in findings]}
        if has_errors(findings):
            errors = sum(1 for f in findings if f.severity == "error")
            lines = "\n".join(finding_line(f) for f in findings)
            self.module.fail_json(
                msg=f"{errors} problem(s) in {len(files)} request file(s):\n{lines}", **result
            )
        return result


def main() -> None:
    ValidateModule().execute()


if __name__ == "__main__":
    main()
