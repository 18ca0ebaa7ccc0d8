#!/usr/bin/python
# Ansible module: which mailboxes of deleted accounts wait to be retired, and on which mail server
# (a thin wrapper around hopthu.mail.retire; runs on the audit host).

from __future__ import annotations

DOCUMENTATION = r"""
module: hopthu_mailbox_pending
short_description: List the mailboxes of deleted accounts still to be retired, per mail server
description:
- Reads the audit log for accounts whose delete (xóa) took effect and whose mailbox has no successful
  C(archive-mailbox) record yet, and gives each to the mail server that holds its organisation's
  mailboxes, with the organisation's archive folder (C(archive_dir) of the inventory).
- The result's C(hosts) is what C(hopthu_mailbox_retire) takes on each mail server, one call per server.
- Read-only. In check mode the deletes the plan would make (I(planned_deletes)) are listed too.
options:
  requests:
    description: Unused here (shared argument).
    type: list
    elements: path
  mail_hosts:
    description: Mail server name to the organisation codes whose mailboxes it holds
      (C(hopthu_mail_organisations) of each host of C(mail_servers)); a server with none holds none.
    type: dict
    default: {}
  planned_deletes:
    description: In check mode, the accounts the plan deletes (C(deletes) of C(hopthu_apply)); ignored
      otherwise, where only the audit log counts.
    type: list
    elements: dict
    default: []
extends_documentation_fragment:
- hopthu
- hopthu.audit_log
author: hopthu
"""

EXAMPLES = r"""
- name: List the mailboxes to retire
  hopthu_mailbox_pending:
    inventory: "{{ inventory_dir }}"
    audit_log: /var/lib/hopthu/audit/audit.jsonl
    mail_hosts: {mail.binhthuan.gov.vn: [binhthuan]}
  register: hopthu_mailboxes_pending
"""

RETURN = r"""
mailboxes:
  description: 'Each mailbox to retire: request, document, org, uid, mail_host (null - no mail server
    holds it).'
  type: list
  returned: always
hosts:
  description: 'Mail server to its list of mailboxes: org, uid, archive_dir.'
  type: dict
  returned: always
"""

import contextlib  # noqa: E402
from dataclasses import asdict  # noqa: E402
from typing import ClassVar  # noqa: E402

from ansible.module_utils.hopthu_module import AUDIT_LOG_ARGUMENT, HopthuModule  # noqa: E402

with contextlib.suppress(ImportError):  # reported by HopthuModule.execute
    from hopthu.audit import AuditLog
    from hopthu.inventory import load_inventory
    from hopthu.mail.retire import RECORDS_OF_INTEREST, Pending, assign, mailboxes_to_retire


class PendingModule(HopthuModule):
    uses_directory = False
    argument_spec: ClassVar[dict] = dict(
        **AUDIT_LOG_ARGUMENT,
        mail_hosts=dict(type="dict", default={}),
        planned_deletes=dict(type="list", elements="dict", default=[]),
    )

    def run(self) -> dict:
        inventory = load_inventory(self.inventory_path)
        planned = [Pending.from_dict(d) for d in self.params["planned_deletes"]] if self.check_mode else []
        records = AuditLog(self.audit_log).records(*RECORDS_OF_INTEREST)
        assignment = assign(mailboxes_to_retire(records, planned), inventory, self.params["mail_hosts"])
        return {
            "changed": False,
            "mailboxes": [p.as_dict() for p in assignment.pending],
            "hosts": {host: [asdict(box) for box in boxes] for host, boxes in assignment.hosts.items()},
        }


def main() -> None:
    PendingModule().execute()


if __name__ == "__main__":
    main()
