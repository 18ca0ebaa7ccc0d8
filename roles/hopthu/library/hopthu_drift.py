#!/usr/bin/python
# Ansible module: compare the directory with the applied requests (a thin wrapper around hopthu.drift).

from __future__ import annotations

DOCUMENTATION = r"""
module: hopthu_drift
short_description: Report accounts the directory holds differently from what the applied requests say
description:
- Folds every request the audit log records as applied into the expected accounts and compares them with
  one read of each organisation's directory (C(hopthu drift)). Reports accounts deleted, created, changed,
  locked or unlocked by hand and differing group memberships. Never writes.
- In diff mode each drifted account shows what the requests say (before) and what the directory holds
  (after).
options:
  audit_log:
    description: The hash-chained audit log (which requests were applied, and when).
    type: path
    required: true
  organisations:
    description: Only these organisations; default every organisation of the inventory.
    type: list
    elements: str
  fail_on_drift:
    description: Fail when there is any difference (a scheduled pipeline turns red).
    type: bool
    default: true
notes:
- C(changed) is true when the directory differs from the requests (so that diff mode shows the accounts);
  the module itself never writes.
extends_documentation_fragment:
- hopthu
- hopthu.directory
author: hopthu
"""

EXAMPLES = r"""
- name: Compare the directory with the applied requests
  hopthu_drift:
    inventory: "{{ inventory_dir }}"
    audit_log: /var/lib/hopthu/audit/audit.jsonl
    servers: "{{ groups['directory_servers'] | map('extract', hostvars, 'hopthu_directory') | list }}"
"""

RETURN = r"""
differences:
  description: 'Each difference: org, uid, aspect, attribute, expected, actual, request.'
  type: list
  returned: always
report:
  description: The differences in words, one per line.
  type: list
  returned: always
not_replayed:
  description: Requests recorded as applied that cannot be replayed, with why.
  type: dict
  returned: always
"""

import contextlib  # noqa: E402
from typing import ClassVar  # noqa: E402

from ansible.module_utils.hopthu_module import AUDIT_LOG_ARGUMENT, HopthuModule  # noqa: E402

with contextlib.suppress(ImportError):  # reported by HopthuModule.execute
    from hopthu.drift import as_dict, check_drift, render_text


def drift_diffs(differences) -> list[dict]:
    """One Ansible diff entry per drifted account: the requests' values before, the directory's after."""
    accounts: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for d in differences:
        said, held = accounts.setdefault((d.org, d.uid), ([], []))
        if d.aspect == "missing":
            said.append("(exists)")
        elif d.aspect == "unmanaged":
            held.append("(exists)")
        else:
            name = d.attribute or d.aspect
            said += [f"{name}: {v}" for v in d.expected]
            held += [f"{name}: {v}" for v in d.actual]
    return [
        {
            "before_header": f"{org}/{uid} (requests)",
            "after_header": f"{org}/{uid} (directory)",
            "before": "".join(line + "\n" for line in said),
            "after": "".join(line + "\n" for line in held),
        }
        for (org, uid), (said, held) in accounts.items()
    ]


class DriftModule(HopthuModule):
    argument_spec: ClassVar[dict] = dict(
        **AUDIT_LOG_ARGUMENT,
        organisations=dict(type="list", elements="str"),
        fail_on_drift=dict(type="bool", default=True),
    )

    def run(self) -> dict:
        loaded = self.load()
        session = self.session(loaded.inventory)
        differences, expected = check_drift(
            loaded.requests,
            loaded.inventory,
            self.audit_log,
            session.connection,
            self.params["organisations"],
            endpoints=session.endpoints,
        )
        result = {"changed": bool(differences), **as_dict(differences, expected)}
        result["report"] = render_text(differences, expected).splitlines()
        if self.diff_mode:
            result["diff"] = drift_diffs(differences)
        if differences and self.params["fail_on_drift"]:
            self.fail(result["report"][-1] + "\n" + "\n".join(result["report"][:-1]), **result)
        return result


def main() -> None:
    DriftModule().execute()


if __name__ == "__main__":
    main()
