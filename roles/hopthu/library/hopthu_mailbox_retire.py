#!/usr/bin/python
# Ansible module: archive, verify and remove mailboxes on a mail server (a thin wrapper around
# hopthu.mail.mailhost; runs on the mail server, with neither the audit log nor the directory).

from __future__ import annotations

DOCUMENTATION = r"""
module: hopthu_mailbox_retire
short_description: Archive (verified), then remove, the mailboxes of deleted accounts on this mail server
description:
- For each mailbox of the list, in one call - writes C(<archive_dir>/<org>/<uid>-<UTC time>.tar.gz),
  reads it back, and removes C(<mail_root>/<org>/<uid>) only when every message is in the archive.
  A failure keeps the mailbox.
- Returns per mailbox the archive, its SHA-256 and message count, or the error, for
  C(hopthu_mailbox_record) to write into the audit log on the audit host.
- Safe to run again - a mailbox already archived and removed is reported as C(found) with its newest
  archive, read back.
- Needs neither the audit log nor the directory. The hopthu package must be installed for the
  interpreter the module runs with on the mail server.
- In check mode nothing is written; each mailbox is reported as C(would-archive) (with its message
  count), C(found) or C(failed).
options:
  mail_root:
    description: Where Dovecot keeps the mailboxes, C(<mail_root>/<org>/<uid>).
    type: path
    required: true
  archive_dir:
    description: Archive folder for a mailbox whose organisation has no C(archive_dir).
    type: path
  mailboxes:
    description: The mailboxes to retire (C(hosts[inventory_hostname]) of C(hopthu_mailbox_pending)).
    type: list
    elements: dict
    required: true
    suboptions:
      org:
        description: Organisation code.
        type: str
        required: true
      uid:
        description: Username.
        type: str
        required: true
      archive_dir:
        description: The organisation's archive folder.
        type: path
      folder:
        description:
          - C(<org>/<uid>) of the mailbox under I(mail_root) when it is not its own.
          - An account a merger (sáp nhập) moved keeps its mailbox where it was.
        type: str
  fail_on_error:
    description: Fail when a mailbox could not be retired (the play may record the results first).
    type: bool
    default: true
author: hopthu
"""

EXAMPLES = r"""
- name: Retire the mailboxes this server holds
  hopthu_mailbox_retire:
    mail_root: /var/vmail
    mailboxes: "{{ hostvars[groups['audit_hosts'][0]].hopthu_mailboxes_pending.hosts[inventory_hostname] }}"
    fail_on_error: false
  register: hopthu_mailboxes_retired
"""

RETURN = r"""
mailboxes:
  description: 'Per mailbox: org, uid, status (archived, found, failed, would-archive), archive, sha256,
    messages, error.'
  type: list
  returned: always
report:
  description: The same in words, one line per mailbox.
  type: list
  returned: always
"""

import contextlib  # noqa: E402
from typing import ClassVar  # noqa: E402

from ansible.module_utils.hopthu_module import HopthuModule  # noqa: E402

with contextlib.suppress(ImportError):  # reported by HopthuModule.execute
    from hopthu.mail.mailhost import (
        ARCHIVED,
        FAILED,
        WOULD_ARCHIVE,
        MailboxToRetire,
        describe,
        retire_here,
    )

MAILBOX_OPTIONS = dict(
    org=dict(type="str", required=True),
    uid=dict(type="str", required=True),
    archive_dir=dict(type="path"),
    folder=dict(type="str"),
)


class RetireModule(HopthuModule):
    uses_directory = False
    uses_inventory = False
    argument_spec: ClassVar[dict] = dict(
        mail_root=dict(type="path", required=True),
        archive_dir=dict(type="path"),
        mailboxes=dict(type="list", elements="dict", options=MAILBOX_OPTIONS, required=True),
        fail_on_error=dict(type="bool", default=True),
    )

    def run(self) -> dict:
        p = self.params
        boxes = [MailboxToRetire.from_dict(box) for box in p["mailboxes"]]
        outcomes = retire_here(p["mail_root"], boxes, p["archive_dir"], dry_run=self.check_mode)
        result = {
            "changed": any(o.status in (ARCHIVED, WOULD_ARCHIVE) for o in outcomes),
            "mailboxes": [o.as_dict() for o in outcomes],
            "report": [describe(o) for o in outcomes],
        }
        failed = [describe(o) for o in outcomes if o.status == FAILED]
        if failed and p["fail_on_error"]:
            self.fail(f"{len(failed)} mailbox(es) not retired, each kept:\n" + "\n".join(failed), **result)
        return result


def main() -> None:
    RetireModule().execute()


if __name__ == "__main__":
    main()
