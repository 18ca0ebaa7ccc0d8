#!/usr/bin/python
# Ansible module: plan and apply hopthu requests (a thin wrapper around hopthu.pipeline).

from __future__ import annotations

DOCUMENTATION = r"""
module: hopthu_apply
short_description: Plan and apply hopthu requests against the organisations' directories
description:
- Validates the request files, reads the directory once, plans, and applies exactly that plan, recording
  every change in the audit log (C(hopthu apply)). All requests are one call, whatever their size.
- In check mode nothing is written, the result is the plan (C(hopthu plan)).
- In diff mode each account's attributes before and after are shown; one-time passwords never are.
- A refused request (từ chối) does not fail the task; it is listed in C(refused) so the play can send
  its notice first and fail afterwards.
options:
  outbox:
    description: The credentials outbox (one-time passwords wait there for the notice, encrypted).
    type: path
    required: true
  diff_limit:
    description: At most this many accounts are shown in diff mode.
    type: int
    default: 200
  plan_file:
    description: Also write the plan as JSON (C(hopthu plan --json)) to this file.
    type: path
extends_documentation_fragment:
- hopthu
- hopthu.audit_log
- hopthu.directory
- hopthu.outbox_key
author: hopthu
"""

EXAMPLES = r"""
- name: Plan and apply the merged requests
  hopthu_apply:
    inventory: "{{ inventory_dir }}"
    audit_log: /var/lib/hopthu/audit/audit.jsonl
    outbox: /var/lib/hopthu/outbox
    servers: "{{ groups['directory_servers'] | map('extract', hostvars, 'hopthu_directory') | list }}"
    bind_passwords: "{{ hopthu_bind_passwords }}"
"""

RETURN = r"""
counts:
  description: Accounts to create, update, delete (GitLab's Terraform report shape).
  type: dict
  returned: always
requests:
  description: 'Per request: id, org, unit, kind, state, number of changes, refusal.'
  type: list
  returned: always
plan:
  description: The plan as a table (one line per change, long requests shortened).
  type: list
  returned: always
applied:
  description: Request ids applied in this run.
  type: list
  returned: when not in check mode
refused:
  description: Request id to the reason it was refused.
  type: dict
  returned: always
changes:
  description: Changes that took effect in this run.
  type: int
  returned: when not in check mode
ci:
  description:
  - What the audit records of this run say ran it (C(ci) of the records, see hopthu.audit.ci_context):
    pipeline, job, and the merge request of the commit with its author and approvers, or why it is not
    known (C(merge_request_lookup), C(merge_request_lookup_error)). C(null) outside GitLab CI.
  type: dict
  returned: when requests were pending and not in check mode
deletes:
  description: 'The accounts the plan deletes (xóa): request, document, org, uid (for
    C(hopthu_mailbox_pending) in check mode).'
  type: list
  returned: always
"""

import contextlib  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import ClassVar  # noqa: E402

from ansible.module_utils.hopthu_module import (  # noqa: E402
    AUDIT_LOG_ARGUMENT,
    OUTBOX_ARGUMENTS,
    HopthuModule,
)

with contextlib.suppress(ImportError):  # reported by HopthuModule.execute
    from hopthu import pipeline
    from hopthu.audit import detect_ci_context
    from hopthu.model import Op
    from hopthu.planview import plan_as_dict, plan_as_table

HIDDEN_PASSWORD = "(one-time password, not shown)"


def _lines(attrs: dict) -> list[str]:
    return [f"{name}: {value}" for name in sorted(attrs) for value in attrs[name]]


def account_diffs(plan, limit: int) -> list[dict]:
    """Ansible diff entries, one per account: its attributes before and after the plan's changes."""
    accounts: dict[tuple[str, str], dict] = {}
    for change in plan.changes:
        account = accounts.setdefault(
            (change.org, change.uid), {"before": {}, "after": {}, "exists": change.op is not Op.CREATE}
        )
        before, after = account["before"], account["after"]
        for name, values in change.before.items():
            before.setdefault(name, list(values))
        for name, values in change.after.items():
            after[name] = list(values)
        if change.op is Op.ADD_MEMBER:
            after.setdefault("group", []).append(change.group)
        elif change.op is Op.REMOVE_MEMBER:
            before.setdefault("group", []).append(change.group)
        elif change.op in (Op.CREATE, Op.SET_PASSWORD):
            after["userPassword"] = [HIDDEN_PASSWORD]
        elif change.op is Op.DELETE:
            account["deleted"] = True
    diffs = []
    for (org, uid), account in list(accounts.items())[:limit]:
        after = {} if account.get("deleted") else account["after"]
        diffs.append(
            {
                "before_header": f"{org}/{uid}" + ("" if account["exists"] else " (absent)"),
                "after_header": f"{org}/{uid}" + (" (deleted)" if account.get("deleted") else ""),
                "before": "\n".join(_lines(account["before"])) + "\n",
                "after": "\n".join(_lines(after)) + "\n",
            }
        )
    if len(accounts) > limit:
        more = f"… and {len(accounts) - limit} more account(s): see the plan\n"
        diffs.append({"before_header": "more", "after_header": "more", "before": "", "after": more})
    return diffs


class ApplyModule(HopthuModule):
    argument_spec: ClassVar[dict] = dict(
        **AUDIT_LOG_ARGUMENT,
        **OUTBOX_ARGUMENTS,
        diff_limit=dict(type="int", default=200),
        plan_file=dict(type="path"),
    )

    def run(self) -> dict:
        loaded = self.load()
        session = self.session(loaded.inventory)
        context = None
        if self.check_mode:
            the_plan, report = pipeline.plan(loaded, session, self.audit_log), None
        else:
            # Found out once here, so that the job log says what the audit records say.
            context = detect_ci_context() if loaded.requests else None
            store = self.state_store(loaded.inventory)
            outbox = self.outbox(mirror=store)
            the_plan, report = pipeline.apply(
                loaded, session, self.audit_log, outbox, ci=context, mirror=store
            )
            if context and context["merge_request_lookup"] != "found":
                self.module.warn(
                    "the audit records do not name the merge request and its approvers: "
                    f"{context['merge_request_lookup']}: {context['merge_request_lookup_error']}"
                )
        if self.params["plan_file"]:
            Path(self.params["plan_file"]).write_text(
                json.dumps(plan_as_dict(the_plan), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
            )
        result = {
            "counts": the_plan.counts(),
            "requests": [
                {
                    "id": rp.request.id,
                    "org": rp.request.org,
                    "unit": rp.request.unit,
                    "kind": rp.request.kind.value,
                    "state": rp.state,
                    "changes": len(rp.changes),
                    "refusal": rp.refusal,
                }
                for rp in the_plan.requests
            ],
            "plan": plan_as_table(the_plan).splitlines(),
            "refused": {rp.request.id: rp.refusal for rp in the_plan.requests if rp.refusal},
            "deletes": [
                {"request": rp.request.id, "document": rp.request.document.number, "org": c.org, "uid": c.uid}
                for rp in the_plan.requests
                for c in rp.changes
                if c.op is Op.DELETE
            ],
        }
        if self.diff_mode:
            result["diff"] = account_diffs(the_plan, self.params["diff_limit"])
        if report is None:
            return {**result, "changed": bool(the_plan.changes)}
        result |= {
            "ci": context,
            "changed": bool(report.changes or report.recovered),
            "applied": report.applied,
            "refused": report.refused,
            "changes": report.changes,
            "recovered": report.recovered,
        }
        if report.failed:
            failed = "; ".join(f"{rid}: {error}" for rid, error in report.failed.items())
            self.fail(
                f"the directory refused a write, run the apply again after fixing it: {failed}", **result
            )
        return result


def main() -> None:
    ApplyModule().execute()


if __name__ == "__main__":
    main()
