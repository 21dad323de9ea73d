"""The audit log: who changed what, when, from where — recorded inside the write it describes.

Recording: every service write calls `record(session, ctx, action, target, before, after)` in its own
open transaction (its unit of work's session), so the row commits with the change or rolls back with
it; a failed write leaves no audit row. `record` is not caller-facing: the write already passed the
policy. Reading (`list`, `actions`, `export_csv`) needs Action.READ_AUDIT.

Secrets never reach a row, by one rule (`redact`): any field whose name says it holds a secret
(key, secret, password, token, hash, MFA, recovery...) is stored as "[redacted]" (or null when it
was empty), at any depth; every string has URL credentials masked and is clipped."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from ..context import TenantContext
from ..db import Database
from ..errors import ValidationError
from ..models import User
from ..models_audit import AuditEvent
from ..policy import Action, require
from ..repositories.audit import AuditRepository
from ..schemas import Page, parse
from ..schemas_audit import AuditEventPublic, AuditQuery
from ..secrets import mask_urls_in_text

REDACTED = "[redacted]"
# Words that make a field secret wherever they appear in its name ("api_key", "password_hash",
# "mfaSecret", "refresh-token"): one rule for every writer, including those not written yet.
SECRET_WORDS = frozenset({"key", "apikey", "secret", "password", "passwd", "pwd", "passphrase", "token", "hash",
                          "mfa", "totp", "otp", "recovery", "credential", "credentials", "cookie",
                          "authorization", "salt", "encrypted"})
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
MAX_STRING = 500
MAX_ITEMS = 50
MAX_DEPTH = 6
MAX_EXPORT = 50_000
_SINCE = re.compile(r"^\s*(\d{1,6})\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_CSV_COLUMNS = ("time", "actor", "action", "target_type", "target", "before", "after", "address", "user_agent")


def is_secret_field(name: str) -> bool:
    """True when a field's name says it holds a secret (the one redaction rule)."""
    return any(word.lower() in SECRET_WORDS for word in _WORD.findall(str(name)))


def redact(value: Any, depth: int = 0) -> Any:
    """`value` as JSON-ready data fit for the audit log: secret fields redacted, URL credentials
    masked, strings and lists clipped, datetimes as ISO text."""
    if depth > MAX_DEPTH:
        return "…"
    if isinstance(value, dict):
        return {str(k)[:100]: ((REDACTED if v not in (None, "") else None) if is_secret_field(k)
                               else redact(v, depth + 1))
                for k, v in list(value.items())[:MAX_ITEMS]}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [redact(v, depth + 1) for v in list(value)[:MAX_ITEMS]]
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = mask_urls_in_text(str(value))
    return text if len(text) <= MAX_STRING else text[:MAX_STRING] + "…"


def _clip(text: str | None, limit: int) -> str | None:
    return None if text is None else str(text)[:limit]


def _actor_name(session, ctx: TenantContext) -> str:
    """The name the actor has now (an email in hosted mode, the username in single-user mode),
    stored with the row so it still reads right after the user is renamed or removed."""
    user = session.get(User, ctx.user_id) if ctx.user_id else None
    if user is None:
        return f"#{ctx.user_id}" if ctx.user_id else ""
    return str(getattr(user, "email", None) or getattr(user, "username", None) or f"#{ctx.user_id}")[:320]


def record(session, ctx: TenantContext, action: str, target: tuple[str, Any], before: dict | None = None,
           after: dict | None = None) -> AuditEvent:
    """Append one event inside the caller's open transaction (see the module's docstring)."""
    target_type, target_name = target
    return AuditRepository(session, ctx).append(AuditEvent(
        actor_id=ctx.user_id or None, actor=_actor_name(session, ctx),
        token_id=getattr(ctx, "token_id", None), action=str(action)[:64], target_type=str(target_type)[:32],
        target=str(target_name if target_name is not None else "")[:400],
        before=redact(before) if before is not None else None, after=redact(after) if after is not None else None,
        address=_clip(ctx.address, 64), user_agent=_clip(ctx.user_agent, 400)))


def parse_since(text: str | None, now: datetime | None = None) -> datetime | None:
    """'30m', '12h', '1d', '2w' before now, or an ISO date/time (UTC unless it says otherwise);
    empty means no bound. Raises ValidationError."""
    text = (text or "").strip()
    if not text:
        return None
    now = now or datetime.now(timezone.utc)
    match = _SINCE.match(text)
    if match:
        return now - timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError("audit.bad_since", value=text[:40]) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _public(row: AuditEvent) -> AuditEventPublic:
    moment = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=timezone.utc)
    return AuditEventPublic(id=row.id, time=moment, actor=row.actor, actor_id=row.actor_id, token_id=row.token_id,
                            action=row.action, target_type=row.target_type, target=row.target, before=row.before,
                            after=row.after, address=row.address, user_agent=row.user_agent)


def _csv_cell(value) -> str:
    # A cell a spreadsheet would run as a formula is prefixed with a quote (CSV injection).
    text = "" if value is None else value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class AuditService:
    def __init__(self, db: Database):
        self.db = db

    # --- recording (inside other services' transactions) -------------------------------------
    @staticmethod
    def record(session, ctx: TenantContext, action: str, target: tuple[str, Any], before: dict | None = None,
               after: dict | None = None) -> AuditEvent:
        """Append one event in the caller's open transaction (not caller-facing: no policy check)."""
        return record(session, ctx, action, target, before, after)

    # --- reading ------------------------------------------------------------------------------
    def list(self, ctx: TenantContext, query: AuditQuery | dict | None = None) -> Page[AuditEventPublic]:
        """A page of the workspace's events, newest first. Raises PermissionDeniedError, ValidationError."""
        require(ctx, Action.READ_AUDIT)
        query = self._query(query)
        with self.db.session() as session:
            rows, total = AuditRepository(session, ctx).query(**query.model_dump())
            items = [_public(row) for row in rows]
        return Page[AuditEventPublic](items=items, total=total, limit=query.limit, offset=query.offset)

    def actions(self, ctx: TenantContext) -> list[str]:
        """The actions the workspace's log holds. Raises PermissionDeniedError."""
        require(ctx, Action.READ_AUDIT)
        with self.db.session() as session:
            return AuditRepository(session, ctx).actions()

    def export_csv(self, ctx: TenantContext, query: AuditQuery | dict | None = None) -> str:
        """The matching events (all pages, newest first, at most MAX_EXPORT) as CSV text.
        Raises PermissionDeniedError, ValidationError."""
        require(ctx, Action.READ_AUDIT)
        query = self._query(query)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(_CSV_COLUMNS)
        filters = query.model_dump(exclude={"limit", "offset"})
        with self.db.session() as session:
            repo = AuditRepository(session, ctx)
            offset = 0
            while offset < MAX_EXPORT:
                rows, _total = repo.query(**filters, limit=1000, offset=offset)
                for row in rows:
                    event = _public(row)
                    writer.writerow([_csv_cell(v) for v in (
                        event.time.isoformat(), event.actor, event.action, event.target_type, event.target,
                        event.before, event.after, event.address, event.user_agent)])
                if len(rows) < 1000:
                    break
                offset += 1000
        return out.getvalue()

    @staticmethod
    def _query(query) -> AuditQuery:
        if query is None:
            return AuditQuery()
        if isinstance(query, AuditQuery):
            return query
        return parse(AuditQuery, query)


# The accounts, sessions and MFA services (services/accounts.py, auth.py, mfa.py) record through their
# `_audit(session, *, action, actor_user_id, workspace_id, ...)` hook, which calls this: it has the
# actor's id and the workspace instead of a TenantContext (a login has no caller yet).
_ACCOUNT_TARGETS = {"member": "member", "workspace": "workspace"}


def account_event(session, *, action: str, actor_user_id: int | None, workspace_id: int | None, target: str = "",
                  before: dict | None = None, after: dict | None = None, address: str | None = None,
                  user_agent: str | None = None) -> AuditEvent:
    """Append an accounts/auth/MFA event in the caller's open transaction (redacted like any other)."""
    user = session.get(User, actor_user_id) if actor_user_id else None
    actor = str(getattr(user, "email", None) or getattr(user, "username", None) or "") if user is not None else ""
    return AuditRepository.append_system(session, AuditEvent(
        tenant_id=workspace_id, actor_id=actor_user_id, actor=actor[:320], action=str(action)[:64],
        target_type=_ACCOUNT_TARGETS.get(str(action).split(".", 1)[0], "user"), target=str(target or "")[:400],
        before=redact(before) if before is not None else None, after=redact(after) if after is not None else None,
        address=_clip(address, 64), user_agent=_clip(user_agent, 400)))
