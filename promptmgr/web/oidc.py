"""Single sign-on with OpenID Connect (authlib's Starlette client).

Configured from the environment: PROMPTMGR_OIDC_ISSUER, PROMPTMGR_OIDC_CLIENT_ID,
PROMPTMGR_OIDC_CLIENT_SECRET, PROMPTMGR_OIDC_SCOPES (default "openid email profile"),
PROMPTMGR_OIDC_ALLOWED_DOMAINS (comma separated; empty: any), PROMPTMGR_OIDC_ROLE (the role of a
new member, default viewer), PROMPTMGR_OIDC_WORKSPACE (the workspace new members join). On a
Hugging Face Space with `hf_oauth: true` the Space's own OPENID_PROVIDER_URL, OAUTH_CLIENT_ID,
OAUTH_CLIENT_SECRET and OAUTH_SCOPES fill the same roles.

The state and nonce of a sign-in in progress live in a signed session cookie (starlette's
SessionMiddleware, keyed by PROMPTMGR_SECRET_KEY) for the round trip to the provider only."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from fastapi import APIRouter, Request

from ..errors import PromptMgrError
from .render import message, page_locale, render, secure
from .session import session_cookies

log = logging.getLogger("promptmgr.web")
CALLBACK = "/auth/oidc/callback"


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str
    scopes: str
    allowed_domains: tuple[str, ...]
    role: str
    workspace: str | None

    @property
    def metadata_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


def oidc_config(env=None) -> OidcConfig | None:
    """The provider from the environment, or None when single sign-on is not configured."""
    env = os.environ if env is None else env
    issuer = env.get("PROMPTMGR_OIDC_ISSUER") or env.get("OPENID_PROVIDER_URL")
    client_id = env.get("PROMPTMGR_OIDC_CLIENT_ID") or env.get("OAUTH_CLIENT_ID")
    secret = env.get("PROMPTMGR_OIDC_CLIENT_SECRET") or env.get("OAUTH_CLIENT_SECRET")
    if not (issuer and client_id and secret):
        return None
    scopes = env.get("PROMPTMGR_OIDC_SCOPES") or env.get("OAUTH_SCOPES") or "openid email profile"
    if "openid" not in scopes.split():
        scopes = "openid " + scopes
    if "email" not in scopes.split():  # the account is matched by email: ask for it
        scopes += " email"
    domains = tuple(d.strip().lower().lstrip("@") for d in (env.get("PROMPTMGR_OIDC_ALLOWED_DOMAINS") or "").split(",")
                    if d.strip())
    return OidcConfig(issuer, client_id, secret, scopes, domains, (env.get("PROMPTMGR_OIDC_ROLE") or "viewer").strip(),
                      (env.get("PROMPTMGR_OIDC_WORKSPACE") or "").strip() or None)


def callback_url(request: Request) -> str:
    """Where the provider sends the browser back: the Space's public https name on a Space,
    else this request's own scheme (https behind a TLS proxy) and host."""
    space = os.environ.get("SPACE_HOST")
    if space:
        return f"https://{space}{CALLBACK}"
    scheme = "https" if secure(request) else request.url.scheme
    host = request.headers.get("x-forwarded-host") or request.headers.get("host") or request.url.netloc
    return f"{scheme}://{host}{CALLBACK}"


def build_router(port, config: OidcConfig | None) -> APIRouter:
    router = APIRouter()
    oauth = None
    if config is not None:
        from authlib.integrations.starlette_client import OAuth

        oauth = OAuth()
        oauth.register("pm", client_id=config.client_id, client_secret=config.client_secret,
                       server_metadata_url=config.metadata_url, client_kwargs={"scope": config.scopes})

    def failed(request: Request, key: str, status: int = 400, **params):
        return render(request, "message.html", "web.login.title", status, error=message(request, key, **params))

    @router.get("/auth/oidc/login")
    async def oidc_login(request: Request):
        if oauth is None:
            return failed(request, "web.errors.oidc_off", 404)
        try:
            return await oauth.pm.authorize_redirect(request, callback_url(request))
        except Exception as exc:  # noqa: BLE001 — the provider is unreachable or misconfigured
            log.warning("OpenID Connect discovery failed: %s", exc)
            return failed(request, "web.errors.oidc_failed", 502, detail=type(exc).__name__)

    @router.get(CALLBACK)
    async def oidc_callback(request: Request):
        from authlib.integrations.starlette_client import OAuthError
        from starlette.concurrency import run_in_threadpool

        from .pages import client, redirect

        if oauth is None:
            return failed(request, "web.errors.oidc_off", 404)
        try:
            token = await oauth.pm.authorize_access_token(request)
        except OAuthError as exc:
            return failed(request, "web.errors.oidc_failed", 400, detail=exc.error or "error")
        except Exception as exc:  # noqa: BLE001 — a bad id_token, an unreachable token endpoint
            log.warning("OpenID Connect callback failed: %s", exc)
            return failed(request, "web.errors.oidc_failed", 502, detail=type(exc).__name__)
        claims = token.get("userinfo") or {}
        email = (claims.get("email") or "").strip().lower()
        if not email or claims.get("email_verified") is False:
            return failed(request, "web.errors.oidc_no_email", 403)
        domain = email.rsplit("@", 1)[-1]
        if config.allowed_domains and domain not in config.allowed_domains:
            return failed(request, "web.errors.oidc_domain", 403)
        try:
            pair = await run_in_threadpool(port.sso_login, config, claims, email, *client(request))
        except PromptMgrError as exc:
            return render(request, "message.html", "web.login.title", 403,
                          error=exc.translate(page_locale(request)))
        return redirect(request, "/", session_cookies(pair, secure(request)))

    return router
