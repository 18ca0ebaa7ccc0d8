#!/usr/bin/python
# Ansible module: record the mail servers' mailbox retirements in the audit log (a thin wrapper around
# hopthu.mail.retire; runs on the audit host).

from __future__ import annotations

DOCUMENTATION = r"""
module: hopthu_mailbox_record
short_description: Append the mail servers' mailbox retirements (archived, found or failed) to the audit log
description:
- Takes what C(hopthu_mailbox_retire) returned on each mail server and appends one C(archive-mailbox)
  change record per mailbox (archive path, SHA-256, message count and mail server; or the error), in one
  batch, so the hash-chained audit log on the audit host is the one record of it.
- A mailbox the log already shows retired is not recorded again.
- Reports, without failing, every mailbox that was not retired and why (failed, no mail server holds
  its organisation, its mail server gave no result), so the play can fail after the audit head is kept.
- In check mode nothing is written; the result says what would be recorded.
options:
  requests:
    description: Unused here (shared argument).
    type: list
    elements: path
  pending:
    description: The mailboxes to retire (C(mailboxes) of C(hopthu_mailbox_pending)).
    type: list
    elements: dict
    required: true
  results:
    description: Mail server to the result registered by its C(hopthu_mailbox_retire) task (missing or
      without C(mailboxes) when it gave none).
    type: dict
    default: {}
extends_documentation_fragment:
- hopthu
- hopthu.audit_log
author: hopthu
"""

EXAMPLES = r"""
- name: Record the retired mailboxes
  hopthu_mailbox_record:
    inventory: "{{ inventory_dir }}"
    audit_log: /var/lib/hopthu/audit/audit.jsonl
    pending: "{{ hopthu_mailboxes_pending.mailboxes }}"
    results: {mail.binhthuan.gov.vn: "{{ hostvars['mail.binhthuan.gov.vn'].hopthu_mailboxes_retired }}"}
"""

RETURN = r"""
recorded:
  description: Records appended to the audit log (0 in check mode).
  type: int
  returned: always
retired:
  description: One line per mailbox retired (in check mode - that would be).
  type: list
  returned: always
problems:
  description: One line per mailbox not retired, and why; empty when all went well.
  type: list
  returned: always
"""

import contextlib  # noqa: E402
from typing import ClassVar  # noqa: E402

from ansible.module_utils.hopthu_module import AUDIT_LOG_ARGUMENT, HopthuModule  # noqa: E402

with contextlib.suppress(ImportError):  # reported by HopthuModule.execute
    from hopthu.audit import AuditLog
    from hopthu.mail.mailhost import Outcome
    from hopthu.mail.retire import RECORDS_OF_INTEREST, Pending, mailboxes_to_retire, settle


def outcomes_of(registered) -> list | None:
    """The outcomes in one mail server's registered result; None when it gave none (skipped, failed
    before returning them, unreachable)."""
    if not isinstance(registered, dict) or not isinstance(registered.get("mailboxes"), list):
        return None
    return [Outcome.from_dict(item) for item in registered["mailboxes"]]


class RecordModule(HopthuModule):
    uses_directory = False
    argument_spec: ClassVar[dict] = dict(
        **AUDIT_LOG_ARGUMENT,
        pending=dict(type="list", elements="dict", required=True),
        results=dict(type="dict", default={}),
    )

    def run(self) -> dict:
        pending = [Pending.from_dict(item) for item in self.params["pending"]]
        results = {host: outcomes_of(registered) for host, registered in self.params["results"].items()}
        if self.check_mode:
            settlement = settle(pending, results)
            return {"changed": bool(settlement.records), "recorded": 0, **self._lines(settlement)}
        with AuditLog(self.audit_log) as log:
            # Under the log's lock: what is still pending now, so that nothing is recorded twice.
            still = {p.key for p in mailboxes_to_retire(log.records(*RECORDS_OF_INTEREST))}
            settlement = settle(pending, results, still_pending=still)
            log.append(settlement.records)
        return {
            "changed": bool(settlement.records),
            "recorded": len(settlement.records),
            **self._lines(settlement),
        }

    @staticmethod
    def _lines(settlement) -> dict:
        return {"retired": settlement.done, "problems": settlement.problems}


def main() -> None:
    RecordModule().execute()


if __name__ == "__main__":
    main()
