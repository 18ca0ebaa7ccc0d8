"""The plan as a Markdown summary in Vietnamese, for the merge request: which accounts will be created,
changed, locked or deleted, for whom, with their usernames. Rendered from ``planview.plan_as_dict``, so
it shows exactly what ``hopthu plan --json`` shows (and, like every plan, never a password).

Text from request files ends up in Markdown table cells: it is escaped, so a name cannot break the table,
add a link or an image, or ping someone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hopthu.model import Inventory
from hopthu.refusals import Refusal

KIND_LABELS = {
    "create": "Cấp mới",
    "update": "Thay đổi",
    "reset-password": "Cấp lại mật khẩu",
    "lock": "Khóa",
    "unlock": "Mở khóa",
    "delete": "Xóa",
    "merge": "Sáp nhập",
}
OP_LABELS = {
    "create": "tạo mới",
    "merge-in": "chuyển sang tổ chức sau sáp nhập",
    "merge-out": "gỡ khỏi tổ chức cũ (sau khi đã chuyển)",
    "add-member": "thêm vào nhóm",
    "modify": "thay đổi thông tin",
    "move": "chuyển đơn vị",
    "set-password": "đặt mật khẩu lần đầu (đổi khi đăng nhập lần đầu)",
    "lock": "khóa",
    "unlock": "mở khóa",
    "remove-member": "bỏ khỏi nhóm",
    "delete": "xóa",
}
# What the reviewer needs to recognise a new account.
SHOWN_ON_CREATE = ("cn", "mail", "title", "ou")
# Attributes whose before → after is shown; the rest of a change is named only.
LOCK_ATTRIBUTES = frozenset({"pwdAccountLockedTime", "hopthuLockedTime"})

_PLAIN_USERNAME = re.compile(r"[A-Za-z0-9._-]+")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~@$&])")


def cell(text: object) -> str:
    """Text safe inside a Markdown table cell: one line, Markdown and HTML characters escaped."""
    one_line = " ".join(str(text).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", one_line)


def _username(uid: str) -> str:
    return f"`{uid}`" if _PLAIN_USERNAME.fullmatch(uid) else cell(uid)


def _values(values: list[str]) -> str:
    return ", ".join(values) if values else "(trống)"


def _change_text(change: Mapping[str, Any]) -> str:
    op = change["op"]
    label = OP_LABELS.get(op, op)
    if op in ("add-member", "remove-member"):
        return f"{label} {change['group']}"
    if op == "create":
        after = change["after"]
        shown = [_values(after[a]) for a in SHOWN_ON_CREATE if a in after]
        return f"{label}: " + " · ".join(shown) if shown else label
    if op == "delete":
        return f"{label} ({_values(change['before'].get('cn', []))})"
    if op == "move":
        before, after = change["before"], change["after"]
        parts = [
            f"{_values(before.get('departmentNumber', []))} → {_values(after.get('departmentNumber', []))}"
        ]
        if after.get("mail"):
            parts.append(
                f"địa chỉ {_values(before.get('mail', []))} → {_values(after['mail'])} "
                "(địa chỉ cũ vẫn nhận thư, không cấp lại cho người khác)"
            )
        return f"{label}: " + "; ".join(parts)
    if op == "modify":
        attrs = sorted(set(change["before"]) | set(change["after"]))
        parts = [
            f"{a}: {_values(change['before'].get(a, []))} → {_values(change['after'].get(a, []))}"
            for a in attrs
        ]
        return f"{label}: " + "; ".join(parts)
    return label


def _counts_line(counts: Mapping[str, int], refused: int) -> str:
    line = (
        f"**{counts['create']}** tài khoản tạo mới · **{counts['update']}** tài khoản thay đổi · "
        f"**{counts['delete']}** tài khoản xóa"
    )
    if refused:
        line += f" · **{refused}** yêu cầu bị từ chối"
    return line


def _request_heading(request: Mapping[str, Any], unit_names: Mapping[tuple[str, str], str]) -> str:
    kind = KIND_LABELS.get(request["kind"], request["kind"])
    if request["kind"] == "merge":
        heading = f"### {cell(kind)}: {cell(request['id'])}"
        org = unit_names.get((request["org"], ""))
        where = request["org"] + (f" – {org}" if org else "")
        return f"{heading}\n\nTổ chức sau sáp nhập: {cell(where)} · Văn bản số {cell(request['document'])}"
    unit = unit_names.get((request["org"], request["unit"]))
    where = f"{request['org']}/{request['unit']}" + (f" – {unit}" if unit else "")
    heading = f"### {cell(kind)}: {cell(request['id'])}"
    return f"{heading}\n\nĐơn vị: {cell(where)} · Văn bản số {cell(request['document'])}"


def _refusal_lines(refusals: list[Mapping[str, Any]], limit: int) -> list[str]:
    """Each reason in Vietnamese, with the accounts it concerns as a table (the first ``limit``)."""
    lines = []
    for data in refusals:
        refusal = Refusal.from_record(data)
        lines += [f"**Bị từ chối:** {cell(refusal.vietnamese())}", ""]
        headings, rows = refusal.table()
        if not rows:
            continue
        lines += ["| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
        lines += [
            "| " + " | ".join(_username(v) if i == 0 else cell(v) for i, v in enumerate(row)) + " |"
            for row in rows[:limit]
        ]
        if len(rows) > limit:
            lines.append(f"| … | và {len(rows) - limit} tài khoản khác |" + " |" * (len(headings) - 2))
        lines.append("")
    return lines


def render_markdown(
    plan: Mapping[str, Any],
    *,
    unit_names: Mapping[tuple[str, str], str] | None = None,
    limit: int = 200,
    title: str = "Kế hoạch thay đổi tài khoản",
) -> str:
    """Markdown for ``plan`` (the dict of ``planview.plan_as_dict``).

    One section per request; one table row per account with its changes in order. A request with more than
    ``limit`` accounts shows the first ``limit`` and how many more. ``unit_names`` maps (org, unit) to the
    unit's name from the inventory.
    """
    unit_names = unit_names or {}
    requests = plan["requests"]
    refused = sum(1 for r in requests if r["state"] == "refused")
    lines = [f"## {title}", "", _counts_line(plan["counts"], refused), ""]
    shown = [r for r in requests if r["state"] != "done"]
    if not shown:
        lines += ["Không có yêu cầu nào cần thực hiện.", ""]
    for request in shown:
        lines += [_request_heading(request, unit_names), ""]
        if request["state"] == "refused":
            lines += _refusal_lines(request["refusals"], limit)
            continue
        if request["state"] == "nothing-to-do":
            lines += ["Không có gì thay đổi: thư mục đã đúng như yêu cầu.", ""]
            continue
        if request["kind"] == "merge":
            lines += _merger_lines(request, unit_names, limit)
            continue
        by_account: dict[str, list[str]] = {}
        for change in request["changes"]:
            by_account.setdefault(change["uid"], []).append(_change_text(change))
        lines += [f"{len(by_account)} tài khoản, {len(request['changes'])} thay đổi.", ""]
        lines += ["| Tài khoản | Thay đổi |", "|---|---|"]
        for uid, texts in list(by_account.items())[:limit]:
            lines.append(f"| {_username(uid)} | {'; '.join(cell(t) for t in texts)} |")
        if len(by_account) > limit:
            lines.append(f"| … | và {len(by_account) - limit} tài khoản khác (xem tệp kế hoạch JSON) |")
        lines.append("")
    lines.append("_Mật khẩu lần đầu không bao giờ xuất hiện ở đây: chúng được gửi trong thông báo kết quả._")
    return "\n".join(lines) + "\n"


def _merger_lines(
    request: Mapping[str, Any], unit_names: Mapping[tuple[str, str], str], limit: int
) -> list[str]:
    """A merger: how many accounts move and how, then every changed address (renamed accounts first)."""
    moved = [c for c in request["changes"] if c["op"] == "merge-in"]
    transfers = [c for c in request["changes"] if c["op"] == "move"]
    outs = [c for c in request["changes"] if c["op"] == "merge-out"]
    rows = []
    for change in moved:
        before, after = change["before"], change["after"]
        source_org, old_uid = change["source"]
        new_unit = after["departmentNumber"][0]
        rows.append(
            (
                old_uid != change["uid"],
                _username(old_uid),
                cell(_values(before.get("mail", [])) if before.get("mail") else f"{source_org}/{old_uid}"),
                _username(change["uid"]),
                cell(_values(after.get("mail", [])) if after.get("mail") else "(không có hộp thư)"),
                cell(unit_names.get((request["org"], new_unit), new_unit)),
            )
        )
    for change in transfers:
        before, after = change["before"], change["after"]
        new_unit = after["departmentNumber"][0]
        old_mail, new_mail = before.get("mail") or [], after.get("mail") or []
        rows.append(
            (
                False,
                _username(change["uid"]),
                cell(_values(old_mail) if old_mail else "—"),
                _username(change["uid"]),
                cell(_values(new_mail) if new_mail else _values(old_mail) if old_mail else "—"),
                cell(unit_names.get((request["org"], new_unit), new_unit)),
            )
        )
    renamed = sum(1 for row in rows if row[0])
    locked = sum(1 for c in moved if c["after"].get("pwdAccountLockedTime"))
    mailboxes = sum(1 for c in moved if c["kind"] == "mailbox")
    groups = sum(1 for c in request["changes"] if c["op"] == "add-member")
    lines = [
        f"**{len(rows)}** tài khoản chuyển sang tổ chức sau sáp nhập ({len(moved)} từ tổ chức khác, "
        f"{len(transfers)} chuyển đơn vị trong tổ chức) · **{renamed}** đổi tên đăng nhập vì trùng "
        f"· **{locked}** đang khóa (giữ nguyên khóa và ngày khóa) · **{mailboxes}** hộp thư cơ quan/đơn vị "
        f"· **{groups}** tài khoản phần mềm ở tổ chức mới",
        "",
        "Mật khẩu giữ nguyên, không ai phải đổi mật khẩu; địa chỉ cũ vẫn nhận thư vào cùng hộp thư và không "
        "bao giờ được cấp cho người khác. Tài khoản chỉ được gỡ khỏi tổ chức cũ sau khi đã có ở tổ chức mới "
        f"({len(outs)} tài khoản).",
        "",
    ]
    if not rows:
        return [*lines, "Không có tài khoản nào cần chuyển.", ""]
    lines += [
        "| Tài khoản cũ | Địa chỉ cũ | Tài khoản mới | Địa chỉ mới | Đơn vị mới |",
        "|---|---|---|---|---|",
    ]
    ordered = sorted(rows, key=lambda row: not row[0])  # the renamed ones first: what to check
    lines += ["| " + " | ".join(row[1:]) + " |" for row in ordered[:limit]]
    if len(ordered) > limit:
        lines.append(f"| … | và {len(ordered) - limit} tài khoản khác (xem tệp kế hoạch JSON) | | | |")
    return [*lines, ""]


def terraform_report(plan: Mapping[str, Any]) -> dict[str, int]:
    """GitLab's Terraform report (``artifacts:reports:terraform``): the counts the MR widget shows."""
    counts = plan["counts"]
    return {"create": int(counts["create"]), "update": int(counts["update"]), "delete": int(counts["delete"])}


# --- effects: writing the files of ``hopthu plan --markdown/--report`` --------------------------------


def write_plan_reports(
    plan: Mapping[str, Any],
    inventory: Inventory | None,
    markdown_path: Path | None = None,
    report_path: Path | None = None,
) -> None:
    """Write the Markdown summary and/or the Terraform-format report of ``plan`` (``plan_as_dict``)."""
    if markdown_path is not None:
        organisations = list(inventory.organisations.values()) if inventory else []
        names = {(org.code, unit.code): unit.name for org in organisations for unit in org.units.values()}
        names |= {(org.code, ""): org.name for org in organisations}
        markdown_path.write_text(render_markdown(plan, unit_names=names), encoding="utf-8")
    if report_path is not None:
        report_path.write_text(json.dumps(terraform_report(plan)) + "\n", encoding="utf-8")
