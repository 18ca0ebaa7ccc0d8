"""What the password page does for one submitted form: the decisions of ``rules.py`` in order, the
directory asked through ``hopthu.directory.selfservice``, and one journal record per attempt.

Order of a change, chosen so that nothing reveals whether an account exists:
1. checks that depend on the form alone (fields, confirmation, the organisation's policy, the username);
2. the rate limits (per login, per client address), before any bind;
3. a bind as the person with the current password: a failure, whatever its cause (no such account,
   wrong password, locked), is one answer, given no sooner than ``FAILURE_FLOOR`` after the start;
4. only then the account's own names (the new password must not contain them);
5. the person's own password-modify operation; ppolicy's refusal becomes a sentence.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from hopthu.audit import AuditLog
from hopthu.directory import DirectoryError
from hopthu.directory.selfservice import Outcome, PageIdentity, bind_person
from hopthu.model import Organisation
from hopthu.web import messages
from hopthu.web.messages import Message
from hopthu.web.rules import (
    Account,
    check_names,
    check_new_password,
    ppolicy_message,
    resolve_login,
    wait_minutes,
)
from hopthu.web.state import RateLimiter, ResetLinks

log = logging.getLogger("hopthu.web")

# A failed login is answered no sooner than this after the form arrived, whatever the directory did:
# a wrong password makes ppolicy write the failure time (an fsync), an unknown account does not.
FAILURE_FLOOR = 0.25
JOURNAL_REQUEST = "password-page"  # the journal's records name this instead of a request id
TEMPORARY_LENGTH = 32


@dataclass
class OrgDirectory:
    """Where an organisation's accounts are, for the page."""

    uri: str
    identity: PageIdentity  # the organisation's password-page identity


class Journal:
    """The page's own hash-chained log (``hopthu.audit.AuditLog``, another file than the apply's): one
    record per attempt, success or failure, never a password. The page holds its lock while it runs,
    so the apply's log is never blocked and no second page writes the same file."""

    def __init__(self, log_file: AuditLog) -> None:
        self._log = log_file
        self._lock = threading.Lock()

    def record(
        self, op: str, *, org: str | None, uid: str | None, dn: str | None, result: str, reason: str
    ) -> None:
        record = {
            "event": "change",
            "request": JOURNAL_REQUEST,
            "op": op,
            "org": org,
            "uid": uid,
            "dn": dn,
            "result": result,
            "reason": reason,
        }
        with self._lock:
            self._log.append([record])
        log.info("%s %s@%s: %s (%s)", op, uid or "-", org or "-", result, reason)

    def close(self) -> None:
        self._log.close()


Mailer = Callable[[str, str, str], None]  # (to, subject, body)


@dataclass
class Page:
    """Everything the page's requests share."""

    orgs: Mapping[str, Organisation]
    directories: Mapping[str, OrgDirectory]
    journal: Journal
    limiter: RateLimiter = field(default_factory=RateLimiter)
    links: ResetLinks = field(default_factory=ResetLinks)
    mailer: Mailer | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def rate_limited(self, scope: str, org: Organisation, login: str, client: str) -> Message | None:
        page = org.password_page
        assert page is not None
        # The per-address limit is the strictest of the served organisations': an address is not theirs.
        per_address = min(
            (o.password_page.per_address for o in self.orgs.values() if o.password_page),
            key=lambda limit: limit.attempts / limit.minutes,
        )
        keys = [
            (f"{scope}:login:{org.code}:{login}", page.per_login),
            (f"{scope}:address:{client}", per_address),
        ]
        wait = self.limiter.try_once(keys)
        return Message("too-many-attempts", {"minutes": wait_minutes(wait)}) if wait else None

    def reset_offered(self) -> bool:
        return self.mailer is not None and any(
            o.password_page and o.password_page.reset_by_link for o in self.orgs.values()
        )


def _first(problems: list[Message]) -> Message | None:
    return problems[0] if problems else None


def change_password(page: Page, login: str, old: str, new: str, confirm: str, client: str) -> Message:
    """The first-login (or any) change of a person's own password, from the page's form."""
    started = page.clock()
    if not login.strip() or not old or not new or not confirm:
        return Message("fields-missing")
    account = resolve_login(login, page.orgs)
    if isinstance(account, Message):
        return account
    org = page.orgs[account.org]
    problem = _first(check_new_password(org.password_policy, account.uid, old, new, confirm))
    if problem is not None:
        return problem
    limited = page.rate_limited("change", org, account.uid, client)
    if limited is not None:
        page.journal.record(
            "self-change", org=org.code, uid=None, dn=None, result=limited.code, reason=f"from {client}"
        )
        return limited
    try:
        return _change(page, org, account, old, new, started, client)
    except DirectoryError as error:
        page.journal.record(
            "self-change", org=org.code, uid=None, dn=None, result="unavailable", reason=str(error)
        )
        return Message("unavailable")


def _change(
    page: Page, org: Organisation, account: Account, old: str, new: str, started: float, client: str
) -> Message:
    directory = page.directories[org.code]
    session, outcomes = None, []
    for candidate in account.dns:
        session, outcome = bind_person(directory.uri, candidate, old)
        outcomes.append((candidate, outcome))
        if session is not None:
            break
    if session is None:
        # Which DN answered with a policy control exists; the journal may say so, the reader may not.
        known = [(dn, o) for dn, o in outcomes if o.policy is not None]
        dn, outcome = known[0] if known else (None, outcomes[-1][1])
        error = outcome.policy.error if outcome.policy else None
        if error == "passwordExpired":  # only said after the right password: no one else learns it
            message = ppolicy_message(error, org.password_policy)
        else:
            message = Message("login-failed")
        reason = {None: "no such account" if dn is None else "wrong password"}.get(error, error)
        page.journal.record(
            "self-change",
            org=org.code,
            uid=account.uid if dn else None,
            dn=dn,
            result=message.code,
            reason=f"{reason} (from {client})",
        )
        page.sleep(max(0.0, FAILURE_FLOOR - (page.clock() - started)))
        return message
    with session:
        view = directory.identity.account(session.dn)
        names = view.names if view is not None else ()
        problem = check_names(new, names)
        if problem is not None:
            outcome = Outcome(19, "contains a name part")
        else:
            outcome = session.change_password(old, new)
            problem = None if outcome.ok else ppolicy_message(_error(outcome), org.password_policy)
    first_login = "first login" if session.must_change else "change"
    page.journal.record(
        "self-change",
        org=org.code,
        uid=account.uid,
        dn=session.dn,
        result="ok" if problem is None else problem.code,
        reason=f"{first_login} (from {client})"
        if problem is None
        else f"{_error(outcome) or outcome.message} (from {client})",
    )
    return problem or Message("changed")


def _error(outcome: Outcome) -> str | None:
    return outcome.policy.error if outcome.policy else None


# --- a forgotten password, by a link to the backup e-mail -------------------------------------------------


def request_reset(page: Page, login: str, client: str) -> Message:
    """Send a one-time link to the person's backup e-mail when the organisation allows it. The answer
    is the same whether or not the account exists, has a backup address or is locked; the e-mail goes
    out on its own thread, so the answer's timing says nothing either."""
    if not login.strip():
        return Message("fields-missing")
    account = resolve_login(login, page.orgs)
    if isinstance(account, Message):
        return account
    org = page.orgs[account.org]
    if page.mailer is None or not (org.password_page and org.password_page.reset_by_link):
        return Message("forgot-procedure")
    limited = page.rate_limited("reset", org, account.uid, client)
    if limited is not None:
        return limited
    person_dn = account.dns[0]  # only persons have a backup e-mail; a unit mailbox is handed over
    try:
        view = page.directories[org.code].identity.account(person_dn)
    except DirectoryError as error:
        page.journal.record(
            "reset-link", org=org.code, uid=None, dn=None, result="unavailable", reason=str(error)
        )
        return Message("unavailable")
    why_not = (
        "no such account"
        if view is None
        else "locked"
        if view.locked
        else "no backup e-mail"
        if not view.backup_mail
        else None
    )
    if why_not is not None:
        uid = account.uid if view is not None else None
        page.journal.record(
            "reset-link", org=org.code, uid=uid, dn=view and view.dn, result="not-sent", reason=why_not
        )
        return Message("reset-sent")
    assert view is not None and view.backup_mail and org.password_page is not None
    token = page.links.issue(org.code, account.uid, view.dn)
    link = org.password_page.url.rstrip("/") + "/dat-lai/" + token  # the inventory's host, never Host:
    subject = messages.text("reset-mail-subject")
    body = messages.text("reset-mail-body", uid=account.uid, link=link)
    backup = view.backup_mail
    mailer = page.mailer

    def send() -> None:
        try:
            mailer(backup, subject, body)
        except Exception as error:  # a background send: say it in the journal, never crash the page
            page.journal.record(
                "reset-link", org=org.code, uid=account.uid, dn=view.dn, result="failed", reason=str(error)
            )
            return
        page.journal.record(
            "reset-link", org=org.code, uid=account.uid, dn=view.dn, result="ok", reason=f"sent to {backup}"
        )

    threading.Thread(target=send, name="hopthu-reset-mail", daemon=True).start()
    return Message("reset-sent")


def reset_password(page: Page, token: str, new: str, confirm: str, client: str) -> Message:
    """Set a new password with a valid reset link: a random temporary password by the password-page
    identity (ppolicy sets pwdReset), then the person's own change from it to ``new``, so the new
    password goes through every rule of a change. A refused change leaves the link valid."""
    link = page.links.peek(token)
    if link is None:
        return Message("reset-link-invalid")
    org = page.orgs[link.org]
    if not new or not confirm:
        return Message("fields-missing")
    problems = check_new_password(org.password_policy, link.uid, "", new, confirm)
    problem = _first([p for p in problems if p.code != "same-as-old"])  # no old password here
    if problem is not None:
        return problem
    directory = page.directories[org.code]
    try:
        view = directory.identity.account(link.dn)
        if view is None or view.locked:
            page.links.consume(token)
            reason = "locked" if view else "no such account"
            page.journal.record(
                "reset-by-link", org=org.code, uid=link.uid, dn=link.dn, result="refused", reason=reason
            )
            return Message("reset-link-invalid")
        problem = check_names(new, view.names)
        if problem is not None:
            return problem
        temporary = secrets.token_urlsafe(TEMPORARY_LENGTH)
        outcome = directory.identity.set_temporary_password(link.dn, temporary)
        if not outcome.ok:
            raise DirectoryError(f"temporary password refused: {outcome.message or outcome.code}")
        session, bound = bind_person(directory.uri, link.dn, temporary)
        if session is None:
            raise DirectoryError(f"bind with the temporary password refused ({bound.code})")
        with session:
            outcome = session.change_password(temporary, new)
    except DirectoryError as error:
        page.journal.record(
            "reset-by-link", org=org.code, uid=link.uid, dn=link.dn, result="unavailable", reason=str(error)
        )
        return Message("unavailable")
    if not outcome.ok:
        message = ppolicy_message(_error(outcome), org.password_policy)
        page.journal.record(
            "reset-by-link",
            org=org.code,
            uid=link.uid,
            dn=link.dn,
            result=message.code,
            reason=_error(outcome) or outcome.message,
        )
        return message
    page.links.consume(token)
    page.journal.record(
        "reset-by-link", org=org.code, uid=link.uid, dn=link.dn, result="ok", reason=f"from {client}"
    )
    return Message("reset-done")
