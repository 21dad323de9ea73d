"""/api/v1 members, API tokens and the audit log (admins and owners): thin adapters over AccountService,
ApiTokenService and AuditService (the same methods, and so the same policy, as the Admin tab and the
`admin`/`tokens`/`audit` commands).

The role rules live in the services: nobody grants a role above their own, and a token never makes a
token above its own role (its caller's role is the token's, capped by its member's)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Optional

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from ...context import TenantContext
from ...errors import ValidationError
from ...schemas import Page
from ...schemas_audit import AuditEventPublic, AuditQuery
from .deps import caller
from .errors import error_responses

Caller = Annotated[TenantContext, Depends(caller)]
Role = Literal["viewer", "editor", "admin", "owner"]
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]
NO_STORE = {"cache-control": "no-store"}


class MemberOut(BaseModel):
    user_id: int
    email: Optional[str] = None
    display_name: str
    role: Role
    active: bool
    mfa_enabled: bool
    last_login_at: Optional[datetime] = None


class InvitationRequest(BaseModel):
    email: str = Field(max_length=254)
    role: Role = "viewer"


class InvitationOut(BaseModel):
    email: str
    role: Role
    link: str = Field(description="The one-time link to send (mailed too when `emailed`)")
    expires_at: datetime
    emailed: bool


class MemberChange(BaseModel):
    role: Optional[Role] = None
    active: Optional[bool] = Field(default=None, description="false ends the person's sessions (owner)")


class TokenOut(BaseModel):
    id: int
    name: str
    user: Optional[str] = Field(default=None, description="The member the token acts as")
    role: Role
    prefix: str = Field(description="The secret's first characters, to recognise it")
    created_at: datetime
    expires_at: Optional[datetime] = None
    last_used_at: Optional[datetime] = None
    revoked_at: Optional[datetime] = None
    status: Literal["active", "expired", "revoked"]


class TokenCreated(TokenOut):
    token: str = Field(description="The secret: shown in this response only, never again")


class TokenRequest(BaseModel):
    name: str = Field(max_length=100)
    user: str = Field(max_length=254, description="The member's email")
    role: Optional[Role] = Field(default=None, description="At most the caller's and the member's role "
                                                           "(default: the member's)")
    expires: str = Field(default="90d", max_length=20, description="12h, 90d, 2w... or never")


def build_router() -> APIRouter:
    router = APIRouter(responses=error_responses())

    def services(request: Request):
        return request.app.state.pm_services

    # --- members ------------------------------------------------------------------------------
    @router.get("/members", response_model=list[MemberOut], tags=["members"], summary="The workspace's members")
    def members(request: Request, ctx: Caller):
        return services(request).accounts.members(ctx)

    @router.post("/members/invitations", response_model=InvitationOut, status_code=201, tags=["members"],
                 summary="Invite a person (a one-time link, mailed when SMTP is configured)")
    def invite(request: Request, ctx: Caller, data: InvitationRequest, response: Response):
        response.headers.update(NO_STORE)  # the link lets whoever holds it join
        return services(request).accounts.invite(ctx, data.email, data.role)

    @router.patch("/members/{user_id}", response_model=MemberOut, tags=["members"],
                  summary="Change a member's role, or (owner) activate or deactivate the account: one per request")
    def change_member(request: Request, ctx: Caller, user_id: UserId, data: MemberChange):
        # One change per request: each is its own service call with its own permission (active needs
        # the owner), and a refused second change must not leave the first one saved.
        if (data.role is None) == (data.active is None):
            raise ValidationError("api_admin.nothing_to_change")
        accounts = services(request).accounts
        if data.role is not None:
            return accounts.set_role(ctx, user_id, data.role)
        return accounts.set_active(ctx, user_id, data.active)

    @router.delete("/members/{user_id}", status_code=204, tags=["members"],
                   summary="Remove a member from the workspace (their sessions here end)")
    def remove_member(request: Request, ctx: Caller, user_id: UserId):
        services(request).accounts.remove_member(ctx, user_id)
        return Response(status_code=204)

    # --- API tokens ---------------------------------------------------------------------------
    @router.get("/tokens", response_model=list[TokenOut], tags=["tokens"],
                summary="The workspace's API tokens (never their secrets)")
    def tokens(request: Request, ctx: Caller):
        return services(request).api_tokens.list(ctx)

    @router.post("/tokens", response_model=TokenCreated, status_code=201, tags=["tokens"],
                 summary="Make a token for a member; its secret is in this response only")
    def create_token(request: Request, ctx: Caller, data: TokenRequest, response: Response):
        response.headers.update(NO_STORE)
        return services(request).api_tokens.create(ctx, data.name, data.user, data.role, data.expires)

    @router.delete("/tokens/{name}", response_model=TokenOut, tags=["tokens"],
                   summary="Revoke a token: its next request is refused")
    def revoke_token(request: Request, ctx: Caller, name: Annotated[str, Path(max_length=100)]):
        return services(request).api_tokens.revoke(ctx, name)

    # --- audit log ----------------------------------------------------------------------------
    @router.get("/audit", response_model=Page[AuditEventPublic], tags=["audit"],
                summary="The audit log, newest first (filters: actor, action, target, since, until)")
    def audit(request: Request, ctx: Caller, query: Annotated[AuditQuery, Query()]):
        return services(request).audit.list(ctx, query)

    @router.get("/audit.csv", response_class=Response, tags=["audit"],
                summary="Every event the filters match (at most 50,000) as CSV",
                responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                                 "description": "CSV, one event a row"}})
    def audit_csv(request: Request, ctx: Caller, query: Annotated[AuditQuery, Query()]):
        data = services(request).audit.export_csv(ctx, query)
        return Response(data, media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": 'attachment; filename="promptmgr-audit.csv"', **NO_STORE})

    return router
