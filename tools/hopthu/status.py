"""Where every request stands (theo dõi): pending, applied, refused or failed, and how old it is.

Age is counted in Vietnamese working days (weekends and public holidays, Tết included, do not count) from
the date of the request's document; a pending request older than the organisation's SLA is overdue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from hopthu.audit import Ledger
from hopthu.model import Inventory, Request
from hopthu.workdays import working_days_between


@dataclass(frozen=True)
class RequestStatus:
    request: Request
    state: str  # pending | applied | refused | failed
    reason: str | None
    age_working_days: int
    overdue: bool
    since: dt.datetime | None  # when it was applied/refused


def request_statuses(
    requests: Iterable[Request], ledger: Ledger, inventory: Inventory, today: dt.date
) -> list[RequestStatus]:
    failures: dict[str, str] = {}
    for (request_id, op, uid, _group), error in ledger.failed.items():
        failures.setdefault(request_id, f"{op} {uid}: {error}")
    statuses = []
    for request in sorted(requests, key=lambda r: (r.document.date, r.id)):
        outcome = ledger.outcomes.get(request.id)
        end = outcome.time.date() if outcome else today
        age = working_days_between(request.document.date, end)
        if outcome:
            state, reason, since = outcome.result, outcome.reason, outcome.time
        elif request.id in failures:
            state, reason, since = "failed", failures[request.id], None
        else:
            state, reason, since = "pending", None, None
        sla = inventory.organisations[request.org].sla_working_days
        overdue = state in ("pending", "failed") and age > sla
        statuses.append(RequestStatus(request, state, reason, age, overdue, since))
    return statuses
