#!/usr/bin/python
# Ansible module: send the result notices of finished requests (a thin wrapper around hopthu.notices).

from __future__ import annotations

DOCUMENTATION = r"""
module: hopthu_notify
short_description: Send each finished request's result notice (thông báo kết quả) to the unit, once
description:
- What C(hopthu notify) does - every request the audit log records as applied or refused, and every request
  whose one-time passwords wait in the outbox, gets its notice; after delivery the credentials file is
  deleted.
- Each notice's PDF is signed with the organisation's key when C(signing) names one (PAdES, a visible
  signature in the signature block, an RFC 3161 timestamp when configured), kept in the records store
  and recorded in the audit log with its SHA-256; a key that cannot sign stops that notice, which is
  never sent unsigned.
- In check mode nothing is rendered or sent; the result lists the requests that would get a notice.
options:
  outbox:
    description: The credentials outbox (encrypted).
    type: path
    required: true
  ledger:
    description: Notice numbers and deliveries; default beside the outbox.
    type: path
  templates:
    description: The organisation's own notice templates.
    type: path
  smtp_host:
    description: SMTP server.
    type: str
    required: true
  smtp_port:
    description: SMTP port.
    type: int
    default: 25
  starttls:
    description: Encrypt with STARTTLS.
    type: bool
    default: false
  smtp_user:
    description: SMTP login.
    type: str
  smtp_password:
    description: SMTP password (ansible-vault or a protected CI variable).
    type: str
  smtp_ca_file:
    description: CA certificate(s) to verify the SMTP server with.
    type: path
  allow_plaintext:
    description: Allow passwords over an unencrypted connection to a remote server.
    type: bool
    default: false
  sender:
    description: From address.
    type: str
    required: true
  signer_title:
    description: Signer's title (a newline starts a second line).
    type: str
    default: GIÁM ĐỐC
  signer_name:
    description: Signer's full name.
    type: str
    required: true
  signing:
    description:
    - Per organisation code, the key that signs its notices - C(pkcs12) (a file on this host) or C(pkcs11)
      (a token - module, token_label, key_label, cert_label) - and an optional RFC 3161 C(timestamp_url).
    - An organisation not named here sends its notices unsigned.
    type: dict
    default: {}
  signing_secrets:
    description: Per organisation code, the PKCS#12 passphrase or the token's PIN (ansible-vault).
    type: dict
    default: {}
  records:
    description: The records store (hồ sơ) of sent notices; default records/ beside the audit log.
    type: path
extends_documentation_fragment:
- hopthu
- hopthu.audit_log
- hopthu.directory
- hopthu.outbox_key
author: hopthu
"""

EXAMPLES = r"""
- name: Send the result notices
  hopthu_notify:
    inventory: "{{ inventory_dir }}"
    audit_log: /var/lib/hopthu/audit/audit.jsonl
    outbox: /var/lib/hopthu/outbox
    smtp_host: mail.binhthuan.gov.vn
    sender: hopthu@stttt.binhthuan.gov.vn
    signer_name: Nguyễn Văn A
    signing:
      binhthuan: {pkcs12: /var/lib/hopthu/keys/binhthuan.p12}
    signing_secrets: "{{ vault_hopthu_notice_signing_secrets }}"
"""

RETURN = r"""
notices:
  description: 'Per request: request_id, status (sent, failed, cleaned, pending), recipient, number, detail,
    signed_by.'
  type: list
  returned: always
"""

import contextlib  # noqa: E402
import os  # noqa: E402
from dataclasses import asdict  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import ClassVar  # noqa: E402

from ansible.module_utils.hopthu_module import (  # noqa: E402
    AUDIT_LOG_ARGUMENT,
    OUTBOX_ARGUMENTS,
    HopthuModule,
)

with contextlib.suppress(ImportError):  # reported by HopthuModule.execute
    from hopthu.audit import AuditError, AuditLog
    from hopthu.inventory import load_inventory
    from hopthu.notices.deliver import NoticeSettings, deliver_pending, load_outcomes, work_list
    from hopthu.notices.ledger import LedgerError, NoticeLedger, ledger_path_for, locked
    from hopthu.notices.records import RecordsStore, default_records_dir
    from hopthu.notices.smtp import DEFAULT_PASSWORD_ENV, SmtpSettings
    from hopthu.requests import load_requests
    from hopthu.signing.keys import SigningKeyError, opened_signers, parse_signing


class NotifyModule(HopthuModule):
    # The directory only for the replicated copy of the outbox and the ledger (state_org), if any.
    argument_spec: ClassVar[dict] = dict(
        **AUDIT_LOG_ARGUMENT,
        **OUTBOX_ARGUMENTS,
        ledger=dict(type="path"),
        templates=dict(type="path"),
        smtp_host=dict(type="str", required=True),
        smtp_port=dict(type="int", default=25),
        starttls=dict(type="bool", default=False),
        smtp_user=dict(type="str"),
        smtp_password=dict(type="str", no_log=True),
        smtp_ca_file=dict(type="path"),
        allow_plaintext=dict(type="bool", default=False),
        sender=dict(type="str", required=True),
        signer_title=dict(type="str", default="GIÁM ĐỐC"),
        signer_name=dict(type="str", required=True),
        signing=dict(type="dict", default={}),
        signing_secrets=dict(type="dict", default={}, no_log=True),
        records=dict(type="path"),
    )

    def run(self) -> dict:
        p = self.params
        inventory = load_inventory(self.inventory_path)
        # Files with errors are left out: their notices wait until validation passes (as `hopthu notify`).
        requests, _ = load_requests(self.request_paths, inventory, repo_root=self.repo_root, letters=False)
        store = self.state_store(inventory)
        outbox = self.outbox(mirror=store)
        ledger_file = Path(p["ledger"]) if p["ledger"] else ledger_path_for(outbox.root)
        try:
            outcomes = load_outcomes(AuditLog(self.audit_log), NoticeLedger.load(ledger_file))
            if self.check_mode:
                waiting = work_list(outbox.pending(), outcomes, NoticeLedger.load(ledger_file))
                notices = [{"request_id": rid, "status": "pending"} for rid in waiting]
                return {"changed": bool(notices), "notices": notices}
            if p["smtp_password"]:
                os.environ[DEFAULT_PASSWORD_ENV] = p["smtp_password"]  # where SmtpSettings reads it from
            settings = NoticeSettings(
                sender=p["sender"],
                signer_title=p["signer_title"].replace("\\n", "\n"),
                signer_name=p["signer_name"],
                templates_dir=Path(p["templates"]) if p["templates"] else None,
            )
            smtp = SmtpSettings(
                host=p["smtp_host"],
                port=p["smtp_port"],
                starttls=p["starttls"],
                username=p["smtp_user"],
                allow_plaintext=p["allow_plaintext"],
                ca_file=Path(p["smtp_ca_file"]) if p["smtp_ca_file"] else None,
            )
            signing = parse_signing(p["signing"] or {}, "signing", secrets=p["signing_secrets"] or {})
            records = RecordsStore(
                Path(p["records"]) if p["records"] else default_records_dir(self.audit_log)
            )
            with (
                locked(ledger_file),
                opened_signers(signing) as signers,
                AuditLog(self.audit_log, mirror=store) as log,  # a sent notice's record is copied too
            ):
                results = deliver_pending(
                    outbox=outbox,
                    ledger=NoticeLedger.load(ledger_file, mirror=store),
                    inventory=inventory,
                    requests={r.id: r for r in requests},
                    outcomes=outcomes,
                    settings=settings,
                    smtp=smtp,
                    signers=signers,
                    records=records,
                    audit=log,
                )
        except (LedgerError, AuditError, SigningKeyError) as error:
            self.fail(str(error))
        notices = [asdict(r) for r in results]
        result = {"changed": any(r.status in ("sent", "cleaned") for r in results), "notices": notices}
        failed = [f"{r.request_id}: {r.detail}" for r in results if r.status == "failed"]
        if failed:
            self.fail(f"{len(failed)} notice(s) could not be sent:\n" + "\n".join(failed), **result)
        return result


def main() -> None:
    NotifyModule().execute()


if __name__ == "__main__":
    main()
