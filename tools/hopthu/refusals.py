"""Why a request is refused (từ chối): a code with its parameters, rendered per reader.

The planner decides a refusal as data (``Refusal``): a code from the catalogue below, the request-level
parameters, and every account concerned with its own parameters — a delete refused for 500 accounts names
all 500. Rendering is per reader, from one catalogue:

- ``english``: one line for the CLI, logs and the audit log's ``reason`` — a count and the first few
  accounts;
- ``vietnamese``: the sentence and the table of accounts that the result notice and the merge-request
  summary show the unit (cán bộ đơn vị) — never an English word.

A new refusal class is one entry in ``CATALOGUE`` (tests check that every code the planner uses has both
texts and that the Vietnamese ones are Vietnamese). The audit log keeps the data (``as_record``), so a
notice sent later renders the same refusal in Vietnamese.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SHOWN_IN_ONE_LINE = 5  # accounts an English line names before "and N more"


@dataclass(frozen=True)
class Text:
    """How one refusal class reads. ``en`` and ``vi`` are ``str.format`` templates over the refusal's
    parameters plus ``count`` (accounts concerned) and, in ``en``, ``accounts`` (the first few, each
    as ``en_item``). ``columns`` are the Vietnamese table of accounts: (heading, parameter)."""

    en: str
    vi: str
    en_item: str = "{uid}"
    columns: tuple[tuple[str, str], ...] = (("Tài khoản", "uid"),)


CATALOGUE: dict[str, Text] = {
    "username-missing": Text(
        en="{count} account(s) have no username: run `hopthu assign` and review the result ({accounts})",
        vi="Danh sách có {count} tài khoản chưa được xác định tên đăng nhập.",
        en_item="{name}",
        columns=(("Họ và tên / tên đơn vị", "name"),),
    ),
    "account-twice": Text(
        en="account(s) named more than once in the request: {accounts}",
        vi="Có tài khoản được đề nghị nhiều lần trong cùng một văn bản.",
    ),
    "account-missing": Text(
        en="{count} account(s) do not exist in {org}: {accounts}",
        vi="{count} tài khoản được đề nghị không có trong hệ thống thư điện tử.",
    ),
    "name-mismatch": Text(
        en="{count} username(s) name another person than the request says: {accounts}; check the usernames",
        vi="Tên đăng nhập và họ tên trong văn bản đề nghị không khớp với hệ thống.",
        en_item="{uid} belongs to '{holder}', not '{named}'",
        columns=(
            ("Tài khoản", "uid"),
            ("Họ và tên trong hệ thống", "holder"),
            ("Họ và tên trong đề nghị", "named"),
        ),
    ),
    "not-own-account": Text(
        en="{count} account(s) belong to another unit than {unit}: {accounts}; a unit may only make "
        "requests for its own accounts",
        vi="{count} tài khoản không thuộc {unit_name}: đơn vị chỉ được đề nghị cho tài khoản do đơn vị mình "
        "quản lý.",
        en_item="{uid} (unit {owner})",
        columns=(("Tài khoản", "uid"), ("Đơn vị quản lý", "owner_name")),
    ),
    "unknown-group": Text(
        en="unknown application group(s) {groups} in {org}",
        vi="Phần mềm (tài khoản phần mềm) được đề nghị không có trong danh mục của hệ thống: {groups}.",
    ),
    "username-taken": Text(
        en="{count} username(s) were taken after review: {accounts}; open a new request with newly "
        "assigned usernames",
        vi="{count} tên đăng nhập đã được cấp cho người khác sau khi văn bản đề nghị được kiểm tra; "
        "đề nghị đơn vị gửi văn bản mới để được cấp tên đăng nhập khác.",
        en_item="{uid} (held by '{holder}')",
    ),
    "mailbox-full-name": Text(
        en="{count} account(s) are unit mailboxes, which have no person's name: rename the unit with "
        "unit_name, not full_name ({accounts})",
        vi="{count} tài khoản là hộp thư cơ quan/đơn vị: đề nghị đổi tên đơn vị, không phải họ tên người sử "
        "dụng.",
    ),
    "person-unit-name": Text(
        en="{count} account(s) are person accounts: unit_name renames a unit mailbox; use full_name "
        "({accounts})",
        vi="{count} tài khoản là hộp thư cá nhân: đề nghị đổi họ tên người sử dụng, không phải tên đơn vị.",
    ),
    "person-manager": Text(
        en="{count} account(s) are person accounts: only a unit mailbox has a manager ({accounts})",
        vi="{count} tài khoản là hộp thư cá nhân: chỉ hộp thư cơ quan/đơn vị mới có người quản lý để bàn "
        "giao.",
    ),
    "unknown-unit": Text(
        en="unit {target} is not a unit of {org} (see the inventory) ({accounts})",
        vi="Đơn vị chuyển đến ({target}) không có trong danh mục đơn vị của hệ thống.",
    ),
    "reset-locked": Text(
        en="{count} account(s) are locked (khóa): unlock them before a password reset ({accounts})",
        vi="{count} tài khoản đang bị khóa: cần có đề nghị mở khóa trước khi cấp lại mật khẩu.",
    ),
    "delete-not-locked": Text(
        en="{count} account(s) are not locked: lock (khóa) them first, delete after the retention period "
        "({accounts})",
        vi="{count} tài khoản chưa bị khóa: tài khoản phải được khóa trước và chỉ được xóa sau thời hạn lưu "
        "giữ.",
    ),
    "delete-too-early": Text(
        en="{count} account(s) were locked less than {days} days ago ({org} keeps locked accounts {days} "
        "days before a delete): {accounts}",
        vi="{count} tài khoản chưa hết thời hạn lưu giữ {days} ngày kể từ ngày khóa, nên chưa được xóa.",
        en_item="{uid} (locked {locked_on}, delete from {earliest})",
        columns=(("Tài khoản", "uid"), ("Ngày khóa", "locked_on"), ("Được xóa từ ngày", "earliest")),
    ),
    "merge-username-taken": Text(
        en="{count} account(s) of the merger have a username that is taken in {org}: run `hopthu assign "
        "--directory FILE` on the request and review the new usernames it writes ({accounts})",
        vi="{count} tài khoản chuyển sang {org_name} có tên đăng nhập trùng với tài khoản đã có ở đó và chưa "
        "được cấp tên đăng nhập mới theo quy tắc đặt tên.",
        en_item="{source}/{uid}: '{wanted}' held by '{holder}'",
        columns=(
            ("Tài khoản", "uid"),
            ("Họ và tên / tên đơn vị", "name"),
            ("Tổ chức cũ", "source_name"),
            ("Tên đăng nhập bị trùng", "wanted"),
            ("Đang được dùng bởi", "holder"),
        ),
    ),
    "merge-group-unmapped": Text(
        en="{count} account(s) of the merger are members of application groups that it does not map to a "
        "group of {org}: add them to the source's groups ({accounts})",
        vi="{count} tài khoản có tài khoản phần mềm chưa được xác định phần mềm tương ứng ở {org_name}.",
        en_item="{source}/{uid} ({groups})",
        columns=(("Tài khoản", "uid"), ("Tổ chức cũ", "source_name"), ("Phần mềm", "groups")),
    ),
    "mass-change-cap": Text(
        en="this run would lock, delete or move {planned} account(s) out of {org} ({own} of them by this "
        "request), more than its mass-change cap of {cap} (inventory mass_change_cap): if that is "
        "intended, state the exact number in the request as confirm_count",
        vi="Yêu cầu làm số tài khoản bị khóa, xóa hoặc chuyển đi trong một lần thực hiện lên {planned}, vượt "
        "quá giới hạn {cap} tài khoản; nếu đúng như vậy, văn bản đề nghị cần ghi rõ số lượng tài khoản "
        "(confirm_count) để xác nhận.",
        columns=(),
    ),
    "mass-change-mismatch": Text(
        en="the request states confirm_count: {expected}, but it would lock, delete or move {planned} "
        "account(s): check the accounts and state the number they really are",
        vi="Số lượng tài khoản ghi trong yêu cầu ({expected}) khác với số tài khoản sẽ bị khóa, xóa hoặc "
        "chuyển đi ({planned}).",
        columns=(),
    ),
}


@dataclass(frozen=True)
class Refusal:
    """One reason a request is refused: ``code`` (a ``CATALOGUE`` key), request-level ``params``, and
    every account concerned with its own parameters (each has ``uid``, or ``name`` when it has none)."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)
    accounts: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.code not in CATALOGUE:
            raise ValueError(f"unknown refusal code {self.code!r}")

    @property
    def text(self) -> Text:
        return CATALOGUE[self.code]

    def _values(self) -> dict[str, Any]:
        return {**self.params, "count": len(self.accounts)}

    def english(self) -> str:
        shown = [
            self.text.en_item.format_map({**self.params, **a}) for a in self.accounts[:SHOWN_IN_ONE_LINE]
        ]
        if len(self.accounts) > SHOWN_IN_ONE_LINE:
            shown.append(f"and {len(self.accounts) - SHOWN_IN_ONE_LINE} more")
        return self.text.en.format_map({**self._values(), "accounts": ", ".join(shown)})

    def vietnamese(self) -> str:
        return self.text.vi.format_map(self._values())

    def table(self) -> tuple[list[str], list[list[str]]]:
        """(headings, rows) of the accounts concerned, for the notice and the summary (Vietnamese)."""
        headings = [heading for heading, _ in self.text.columns]
        rows = [[str(account.get(key, "")) for _, key in self.text.columns] for account in self.accounts]
        return headings, rows

    def as_record(self) -> dict[str, Any]:
        """Plain data for the audit log and JSON."""
        return {"code": self.code, "params": dict(self.params), "accounts": [dict(a) for a in self.accounts]}

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Refusal:
        return cls(
            data["code"], dict(data.get("params") or {}), tuple(dict(a) for a in data.get("accounts") or ())
        )


def merged(refusals: Iterable[Refusal]) -> tuple[Refusal, ...]:
    """Refusals of one request with the same code and parameters combined into one, accounts in order."""
    combined: dict[tuple[str, tuple], Refusal] = {}
    for refusal in refusals:
        key = (refusal.code, tuple(sorted((k, str(v)) for k, v in refusal.params.items())))
        earlier = combined.get(key)
        combined[key] = (
            refusal
            if earlier is None
            else Refusal(refusal.code, refusal.params, earlier.accounts + refusal.accounts)
        )
    return tuple(combined.values())


def english(refusals: Sequence[Refusal]) -> str:
    """All the reasons in one English line (the audit log's ``reason``, the CLI)."""
    return "; ".join(refusal.english() for refusal in refusals)
