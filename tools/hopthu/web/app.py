"""The password page as a Flask application: routes, forms, CSRF, security headers. Parsing and output
only; what a form does is ``flows.py``.

Flask (with Werkzeug and Jinja2, which hopthu already uses for notices) because the page is three
server-rendered forms: no JavaScript, no API, nothing an async framework would buy. It is served by
Waitress (``hopthu password-page``), a production WSGI server in pure Python: one process, a pool of
threads, so the rate limits and reset links of ``state.py`` are shared by every request.
"""

from __future__ import annotations

from flask import Flask, Response, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from hopthu.model import Organisation
from hopthu.web import flows, messages
from hopthu.web.messages import Message
from hopthu.web.rules import MAX_PASSWORD
from hopthu.web.state import CSRF_LIFETIME, CsrfTokens

CSRF_COOKIE = "hopthu_csrf"
CSRF_FIELD = "csrf_token"
FIELDS = ("login", "oldpassword", "newpassword", "confirmpassword")
MAX_FORM_BYTES = 8 * 1024
SECURITY_HEADERS = {
    # Nothing but this page's own style sheet; forms post here only; no page may frame it.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a reset link's token never leaves in a Referer
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def create_app(page: flows.Page, csrf: CsrfTokens | None = None, *, secure_cookies: bool = True) -> Flask:
    """The page's WSGI application. ``secure_cookies`` False only for a page served over plain HTTP on
    loopback (the demo, tests): the CSRF cookie is then sent without TLS."""
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_FORM_BYTES, TEMPLATES_AUTO_RELOAD=False)
    tokens = csrf or CsrfTokens()

    def policy_org() -> Organisation:
        return next(iter(page.orgs.values()))

    def language() -> str:
        return messages.language_of(request.values.get("lang"))

    def render(
        template: str, status: int = 200, message: Message | None = None, **values: object
    ) -> Response:
        lang = language()
        cookie = request.cookies.get(CSRF_COOKIE)
        new_cookie = None
        if not cookie or len(cookie) > 64:
            cookie = new_cookie = CsrfTokens.new_cookie()
        policy = policy_org().password_policy

        def t(code: str, **params: object) -> str:
            return messages.text(code, lang, **params)

        body = render_template(
            template,
            t=t,
            lang=lang,
            other_lang="en" if lang == "vi" else "vi",
            message=message.render(lang) if message else None,
            success=message.success if message else False,
            csrf_field=CSRF_FIELD,
            csrf_token=tokens.token(cookie),
            min_length=policy.min_length,
            min_classes=policy.min_classes,
            reset_offered=page.reset_offered(),
            **values,
        )
        response = make_response(body, status)
        if new_cookie:
            response.set_cookie(
                CSRF_COOKIE,
                new_cookie,
                max_age=CSRF_LIFETIME,
                secure=secure_cookies,
                httponly=True,
                samesite="Strict",
            )
        return response

    def form_ok() -> Message | None:
        """None when the POST carries this page's CSRF token, else why not."""
        if not tokens.valid(request.cookies.get(CSRF_COOKIE), request.form.get(CSRF_FIELD)):
            return Message("form-expired")
        if any(len(request.form.get(name, "")) > MAX_PASSWORD for name in FIELDS):
            return Message("fields-missing")
        return None

    def client() -> str:
        # Waitress puts the real client here when the reverse proxy is trusted (--trusted-proxy).
        return request.remote_addr or "unknown"

    @app.after_request
    def headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if response.mimetype == "text/html":
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/")
    def form() -> Response:
        return render("change.html")

    @app.post("/")
    def change() -> Response:
        problem = form_ok()
        if problem is not None:
            return render("change.html", 403, problem)
        values = {name: request.form.get(name, "") for name in FIELDS}
        message = flows.change_password(
            page,
            values["login"],
            values["oldpassword"],
            values["newpassword"],
            values["confirmpassword"],
            client(),
        )
        if message.success:
            return render("done.html", 200, message)
        status = 429 if message.code == "too-many-attempts" else 503 if message.code == "unavailable" else 400
        # Only the login is written back into the form: never a password.
        return render("change.html", status, message, login=values["login"])

    @app.get("/quen-mat-khau")
    def forgot() -> Response:
        return render("forgot.html")

    @app.post("/quen-mat-khau")
    def forgot_send() -> Response:
        problem = form_ok()
        if problem is not None:
            return render("forgot.html", 403, problem)
        login = request.form.get("login", "")
        message = flows.request_reset(page, login, client())
        return render("forgot.html", 200 if message.success else 400, message, login=login)

    @app.get("/dat-lai/<token>")
    def reset_form(token: str) -> Response:
        if page.links.peek(token) is None:
            return render("done.html", 404, Message("reset-link-invalid"))
        return render("reset.html")

    @app.post("/dat-lai/<token>")
    def reset(token: str) -> Response:
        problem = form_ok()
        if problem is not None:
            return render("reset.html", 403, problem)
        new, confirm = request.form.get("newpassword", ""), request.form.get("confirmpassword", "")
        message = flows.reset_password(page, token, new, confirm, client())
        if message.success or message.code == "reset-link-invalid":
            return render("done.html", 200 if message.success else 404, message)
        return render("reset.html", 400, message)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        code = error.code or 500
        message = {404: "not-found", 405: "not-found", 413: "fields-missing"}.get(code, "server-error")
        return render("error.html", code, Message(message))

    @app.errorhandler(Exception)
    def crashed(error: Exception) -> Response:
        # Never a traceback on the page (nor the form's values in a log): the class of the error only.
        flows.log.error("password page error: %s", type(error).__name__)
        return render("error.html", 500, Message("server-error"))

    return app
