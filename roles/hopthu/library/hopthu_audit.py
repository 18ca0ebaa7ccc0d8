#!/usr/bin/python
# Ansible module: verify the audit log's hash chain and return its head (a thin wrapper around hopthu.audit).

from __future__ import annotations

DOCUMENTATION = r"""
module: hopthu_audit
short_description: Verify hopthu's audit log and return its head (the anchor to keep outside the log)
description:
- Checks the hash chain of the audit log (C(hopthu audit verify)) and returns C(SEQ:HASH) of its last
  record (C(hopthu audit head)). Fails naming every edited, removed, inserted or reordered record.
- Read-only, so it runs the same in check mode.
options:
  requests:
    description: Unused here (shared argument).
    type: list
    elements: path
  expect_head:
    description: 'An anchor kept from an earlier run (SEQ:HASH): that record must still be in the log.'
    type: str
extends_documentation_fragment:
- hopthu
- hopthu.audit_log
author: hopthu
"""

EXAMPLES = r"""
- name: Verify the audit log
  hopthu_audit:
    inventory: "{{ inventory_dir }}"
    audit_log: /var/lib/hopthu/audit/audit.jsonl
"""

RETURN = r"""
head:
  description: SEQ:HASH of the last record; empty when the log is empty or absent.
  type: str
  returned: always
records:
  description: Number of records.
  type: int
  returned: always
warnings_found:
  description: Problems that do not make the log untrustworthy (a repaired torn line).
  type: list
  returned: always
"""

import contextlib  # noqa: E402
from typing import ClassVar  # noqa: E402

from ansible.module_utils.hopthu_module import AUDIT_LOG_ARGUMENT, HopthuModule  # noqa: E402

with contextlib.suppress(ImportError):  # reported by HopthuModule.execute
    from hopthu.audit import AuditLog, Head


class AuditModule(HopthuModule):
    uses_directory = False
    argument_spec: ClassVar[dict] = dict(**AUDIT_LOG_ARGUMENT, expect_head=dict(type="str"))

    def run(self) -> dict:
        expect = self.params["expect_head"]
        if expect:
            try:
                Head.parse(expect)
            except ValueError as error:
                self.fail(f"expect_head: {error}")
        log = AuditLog(self.audit_log)
        if not self.audit_log.is_file():
            return {"changed": False, "head": "", "records": 0, "warnings_found": []}
        problems = log.verify(expect_head=expect or None)
        errors = [str(p) for p in problems if p.severity == "error"]
        warnings = [str(p) for p in problems if p.severity != "error"]
        if errors:
            self.fail(
                f"{self.audit_log}: {len(errors)} problem(s), the audit log cannot be trusted:\n"
                + "\n".join(errors),
                problems=errors,
                warnings_found=warnings,
            )
        head = log.head()
        return {
            "changed": False,
            "head": str(head) if head else "",
            "records": head.seq if head else 0,
            "warnings_found": warnings,
        }


def main() -> None:
    AuditModule().execute()


if __name__ == "__main__":
    main()
