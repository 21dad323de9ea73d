"""The sign-in pages: /login, /logout, /invite/{token}, /reset, /reset/{token}, /mfa and the
workspace switch. Every POST checks the form's CSRF token; every answer is a real page in the
app's look, in the visitor's language, or a redirect (303, so a reload never re-posts)."""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from ..errors import PromptMgrError
from .auth_port import LoginOutcome
from .cookies import REFRESH_COOKIE
from .render import csrf_ok, message, page_locale, remember, render, secure
from .session import clear_session_cookies, session_cookies

log = logging.getLogger("promptmgr.web")
FIELD = 1024  # longest email/password/code accepted; longer input is refused, not cut


def safe_next(target: str | None) -> str:
    """Only a path on this site: an open redirect would let a phishing link borrow our login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target


def redirect(request: Request, location: str, cookies: list[str] = ()) -> RedirectResponse:
    response = RedirectResponse(location, status_code=303, headers={"cache-control": "no-store"})
    for cookie in cookies:
        response.headers.append("set-cookie", cookie)
    remember(request, response)
    return response


def client(request: Request) -> tuple[str | None, str | None]:
    """The caller's address (the proxy's X-Forwarded-For first hop when present) and user agent."""
    forwarded = (request.headers.get("x-forwarded-for") or "").split(",")[0].strip()
    address = forwarded or (request.client.host if request.client else None)
    return address, (request.headers.get("user-agent") or "")[:512]


def build_router(port, oidc_enabled) -> APIRouter:
    router = APIRouter()

    def refused(request: Request, template: str, title: str, **values):
        return render(request, template, title, 403, error=message(request, "web.errors.csrf"), **values)

    @router.get("/login")
    def login_page(request: Request, next: str = "/", signed_out: int = 0, expired: int = 0):
        if request.state.pm_ctx is not None:
            return redirect(request, safe_next(next))
        info = (message(request, "web.login.signed_out") if signed_out else
                message(request, "web.login.expired") if expired else None)
        return render(request, "login.html", "web.login.title", info=info, next=safe_next(next), email="",
                      mfa=False, oidc=oidc_enabled())

    @router.post("/login")
    def login(request: Request, email: str = Form("", max_length=FIELD), password: str = Form("", max_length=FIELD),
              code: str = Form("", max_length=FIELD), csrf_token: str = Form("", max_length=FIELD), next: str = Form("/")):
        form = dict(next=safe_next(next), email=email[:320], mfa=False, oidc=oidc_enabled())
        if not csrf_ok(request, csrf_token):
            return refused(request, "login.html", "web.login.title", **form)
        outcome: LoginOutcome = port.login(email.strip(), password, code.strip() or None, *client(request))
        if outcome.pair is not None:
            return redirect(request, form["next"], session_cookies(outcome.pair, secure(request)))
        if outcome.needs_code:
            # The second step posts the same form again with the code: the password stays in the
            # form (never in a cookie or the URL) and the page is not cached.
            return render(request, "login.html", "web.login.title", 401 if outcome.code_wrong else 200,
                          error=message(request, "web.login.code_wrong") if outcome.code_wrong else None,
                          **{**form, "mfa": True, "password": password})
        error = (message(request, "web.login.locked", minutes=outcome.locked_minutes) if outcome.locked_minutes
                 else message(request, "web.login.failed"))
        return render(request, "login.html", "web.login.title", 429 if outcome.locked_minutes else 401,
                      error=error, **form)

    @router.post("/logout")
    def logout(request: Request, csrf_token: str = Form("", max_length=FIELD)):
        # Without a live session there is nothing to revoke: the cookies are cleared either way.
        if request.state.pm_session is not None:
            if not csrf_ok(request, csrf_token):
                return render(request, "message.html", "web.login.title", 403,
                              error=message(request, "web.errors.csrf"))
            port.logout(request.cookies.get(REFRESH_COOKIE))
        return redirect(request, "/login?signed_out=1", clear_session_cookies(secure(request)))

    # --- invitations and password resets --------------------------------------------------
    def password_form(request, token, kind, status=200, error=None):
        if kind == "invite":
            return render(request, "password.html", "web.invite.title", status, error=error, form=True,
                          intro=message(request, "web.invite.intro"), action=f"/invite/{token}",
                          submit=message(request, "web.invite.submit"))
        return render(request, "password.html", "web.reset.title", status, error=error, form=True,
                      action=f"/reset/{token}", submit=message(request, "web.reset.submit"))

    def password_post(request, token, kind, password, confirm, csrf_token):
        if not csrf_ok(request, csrf_token):
            return password_form(request, token, kind, 403, message(request, "web.errors.csrf"))
        if password != confirm:
            return password_form(request, token, kind, 422, message(request, "web.invite.mismatch"))
        try:
            if kind == "invite":
                port.accept_invitation(token, password)
            else:
                port.confirm_reset(token, password)
        except PromptMgrError as exc:
            if exc.message_key == "auth.link_invalid":
                return render(request, "message.html", "web.login.title", 410,
                              error=message(request, "web.invite.invalid"))
            return password_form(request, token, kind, 422, exc.translate(page_locale(request)))
        done = "web.invite.done" if kind == "invite" else "web.reset.done"
        return render(request, "message.html", "web.login.title", info=message(request, done))

    @router.get("/invite/{token}")
    def invite_page(request: Request, token: str):
        return password_form(request, token[:FIELD], "invite")

    @router.post("/invite/{token}")
    def invite_accept(request: Request, token: str, password: str = Form("", max_length=FIELD),
                      confirm: str = Form("", max_length=FIELD), csrf_token: str = Form("", max_length=FIELD)):
        return password_post(request, token[:FIELD], "invite", password, confirm, csrf_token)

    @router.get("/reset")
    def reset_request_page(request: Request):
        return render(request, "reset_request.html", "web.reset.request_title")

    @router.post("/reset")
    def reset_request(request: Request, email: str = Form("", max_length=FIELD), csrf_token: str = Form("", max_length=FIELD)):
        if not csrf_ok(request, csrf_token):
            return render(request, "reset_request.html", "web.reset.request_title", 403,
                          error=message(request, "web.errors.csrf"))
        port.request_reset(email.strip(), *client(request))
        # The same answer whether or not the email has an account: nothing to learn here.
        return render(request, "message.html", "web.reset.request_title", info=message(request, "web.reset.requested"))

    @router.get("/reset/{token}")
    def reset_page(request: Request, token: str):
        return password_form(request, token[:FIELD], "reset")

    @router.post("/reset/{token}")
    def reset_post(request: Request, token: str, password: str = Form("", max_length=FIELD),
                   confirm: str = Form("", max_length=FIELD), csrf_token: str = Form("", max_length=FIELD)):
        return password_post(request, token[:FIELD], "reset", password, confirm, csrf_token)

    # --- MFA enrolment ----------------------------------------------------------------------
    def mfa_form(request, ctx, status=200, error=None, secret=None, uri=None):
        if port.mfa_status(ctx)["enabled"]:
            return render(request, "mfa.html", "web.mfa.title", enabled=True)
        if not (secret and uri):
            started = port.mfa_begin(ctx)  # a new secret, stored (encrypted) until confirmed
            secret, uri = started["secret"], started["uri"]
        return render(request, "mfa.html", "web.mfa.title", status, error=error, enabled=False, secret=secret,
                      uri=uri, qr=qr_data_uri(uri), required=request.state.pm_session.mfa_setup_required)

    @router.get("/mfa")
    def mfa_page(request: Request):
        session = request.state.pm_session
        if session is None:
            return redirect(request, "/login?next=/mfa")
        return mfa_form(request, session.ctx)

    @router.post("/mfa")
    def mfa_confirm(request: Request, code: str = Form("", max_length=64), secret: str = Form("", max_length=64),
                    uri: str = Form("", max_length=FIELD), csrf_token: str = Form("", max_length=FIELD)):
        session = request.state.pm_session
        if session is None:
            return redirect(request, "/login?next=/mfa")
        ctx = session.ctx
        if not csrf_ok(request, csrf_token):
            return mfa_form(request, ctx, 403, message(request, "web.errors.csrf"), secret or None, uri or None)
        try:
            codes = port.mfa_confirm(ctx, code.strip())
        except PromptMgrError as exc:
            # The same secret again (the one in the user's app): begun once, confirmed with a code.
            return mfa_form(request, ctx, 422, exc.translate(page_locale(request)), secret or None, uri or None)
        cookies = []
        if session.mfa_setup_required:
            # The session was issued before MFA was on: a fresh pair no longer carries the flag.
            pair = port.refresh(request.cookies.get(REFRESH_COOKIE) or "")
            cookies = session_cookies(pair, secure(request)) if pair else []
        response = render(request, "mfa.html", "web.mfa.title", codes=codes)
        for cookie in cookies:
            response.headers.append("set-cookie", cookie)
        return response

    # --- workspace switch ----------------------------------------------------------------------
    @router.post("/workspace")
    def switch_workspace(request: Request, workspace: str = Form("", max_length=200),
                         csrf_token: str = Form("", max_length=FIELD)):
        ctx = request.state.pm_ctx
        if ctx is None:
            return redirect(request, "/login")
        if not csrf_ok(request, csrf_token):
            return render(request, "message.html", "web.workspace.switch", 403,
                          error=message(request, "web.errors.csrf"))
        try:
            pair = port.switch(ctx, request.cookies.get(REFRESH_COOKIE), workspace, *client(request))
        except PromptMgrError as exc:
            return render(request, "message.html", "web.workspace.switch", 403,
                          error=exc.translate(page_locale(request)))
        return redirect(request, "/", session_cookies(pair, secure(request)))

    @router.get("/healthz")
    def healthz():
        return {"ok": True}

    return router


def qr_data_uri(uri: str) -> str:
    """The otpauth:// link as an SVG QR code, inline (no request leaves the page)."""
    import segno

    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)
