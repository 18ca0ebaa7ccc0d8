"""How a plan is shown: a readable table for people, JSON for machines. Passwords are never part of a plan."""

from __future__ import annotations

import json

from hopthu.model import Change, Op
from hopthu.plan import Plan

OP_LABELS = {
    Op.CREATE: "create (cấp mới)",
    Op.MERGE_IN: "merge in (sáp nhập)",
    Op.ADD_MEMBER: "add to group",
    Op.MODIFY: "change (thay đổi)",
    Op.MOVE: "move unit (chuyển đơn vị)",
    Op.SET_PASSWORD: "set one-time password",
    Op.LOCK: "lock (khóa)",
    Op.UNLOCK: "unlock (mở khóa)",
    Op.REMOVE_MEMBER: "remove from group",
    Op.DELETE: "delete (xóa)",
    Op.MERGE_OUT: "merge out (sáp nhập)",
}
SHOWN_ON_CREATE = ("cn", "mail", "departmentNumber", "title")


def _values(values: tuple[str, ...]) -> str:
    return ", ".join(values) if values else "—"


def change_details(change: Change) -> str:
    if change.op is Op.CREATE:
        return "; ".join(f"{a}={_values(change.after[a])}" for a in SHOWN_ON_CREATE if a in change.after)
    if change.op is Op.MERGE_IN:
        source = f"{change.source[0]}/{change.source[1]}" if change.source else "?"
        old, new = change.before.get("mail", ()), change.after.get("mail", ())
        moved = f"; {_values(old)} → {_values(new)}" if new else ""
        units = change.before.get("departmentNumber", ()), change.after["departmentNumber"]
        unit = f"{_values(units[0])} → {_values(units[1])}"
        return f"from {source} ({_values(change.after.get('cn', ()))}), unit {unit}{moved}"
    if change.op is Op.MERGE_OUT:
        return f"{change.org}/{change.entry_uid} removed, now {change.uid} of the merged organisation"
    if change.group:
        where = f" of {change.org}" if change.source else ""
        return f"group {change.group}{where}"
    if change.op is Op.SET_PASSWORD:
        return "must be changed at first login"
    if change.op is Op.DELETE:
        return f"{_values(change.before.get('cn', ()))}"
    # Object classes are bookkeeping (an alias needs inetLocalMailRecipient): not what a reviewer decides on.
    attrs = sorted((set(change.before) | set(change.after)) - {"objectClass"})
    return "; ".join(
        f"{a}: {_values(change.before.get(a, ()))} → {_values(change.after.get(a, ()))}" for a in attrs
    )


def plan_as_table(plan: Plan, limit: int = 50) -> str:
    """One block per request; a long request shows its first ``limit`` changes and a count."""
    lines = []
    for rp in plan.requests:
        request = rp.request
        where = f"{request.org}/{request.unit}"  # a merger: <org>/_merge
        head = f"{request.id} ({request.kind.value}, {where}, văn bản {request.document.number})"
        if rp.done:
            lines.append(f"{head}: already done")
            continue
        if rp.refusal:
            lines.append(f"{head}: REFUSED (từ chối): {rp.refusal}")
            continue
        if not rp.changes:
            lines.append(f"{head}: nothing to change")
            continue
        lines.append(f"{head}: {len(rp.changes)} change(s)")
        width = max(len(OP_LABELS[c.op]) for c in rp.changes[:limit])
        for change in rp.changes[:limit]:
            lines.append(f"  {OP_LABELS[change.op]:<{width}}  {change.uid:<20} {change_details(change)}")
        if len(rp.changes) > limit:
            lines.append(f"  … and {len(rp.changes) - limit} more")
    counts = plan.counts()
    lines.append(
        f"Plan: {counts['create']} to create, {counts['update']} to change, {counts['delete']} to delete; "
        f"{sum(1 for rp in plan.requests if rp.refusal)} request(s) refused."
    )
    return "\n".join(lines)


def plan_as_dict(plan: Plan) -> dict:
    return {
        "counts": plan.counts(),
        "requests": [
            {
                "id": rp.request.id,
                "org": rp.request.org,
                "unit": rp.request.unit,
                "kind": rp.request.kind.value,
                "document": rp.request.document.number,
                "state": rp.state,
                "refusal": rp.refusal,
                "refusals": [refusal.as_record() for refusal in rp.refusals],
                "changes": [
                    {
                        "op": c.op.value,
                        "uid": c.uid,
                        "kind": c.kind.value,
                        "group": c.group,
                        "before": {k: list(v) for k, v in c.before.items()},
                        "after": {k: list(v) for k, v in c.after.items()},
                    }
                    | ({"org": c.org, "source": list(c.source)} if c.source else {})
                    for c in rp.changes
                ],
            }
            for rp in plan.requests
        ],
    }


def plan_as_json(plan: Plan) -> str:
    return json.dumps(plan_as_dict(plan), ensure_ascii=False, indent=2)
