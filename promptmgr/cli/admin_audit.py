"""`promptmgr admin audit`: the audit log of a workspace, newest first, as a table or JSON.

The operator at the terminal reads any workspace's log (the database is theirs); in single-user
mode the only workspace is the local one, the default."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from .common import emit, services, t


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)


def audit(
    workspace: Annotated[Optional[str], typer.Option("--workspace", "-w", help="The workspace's slug (default: "
                                                                                "the local one).")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="Only events this recent: 30m, 12h, 1d, 2w, "
                                                               "or an ISO date such as 2026-12-01.")] = None,
    actor: Annotated[Optional[str], typer.Option("--actor", help="Only events by users whose name contains "
                                                               "this.")] = None,
    action: Annotated[Optional[str], typer.Option("--action", help="Only this action (prompt.update) or group "
                                                                 "(prompt).")] = None,
    target: Annotated[Optional[str], typer.Option("--target", help="Only targets whose name contains this, or "
                                                                 "of this type (prompt, provider...).")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many events (1-500).")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: objects with time, actor, action, "
                                                        "target.")] = False,
) -> None:
    """Show who changed what and when (every write is in the audit log)."""
    from ..services.audit import parse_since

    svc = services()
    if not workspace and svc.settings.mode != "single":
        from ..errors import ValidationError

        raise ValidationError("audit.cli.workspace_required")
    ctx = svc.accounts.operator_context(workspace) if workspace else svc.local_context()
    ctx = ctx.with_origin("local", "promptmgr-cli")
    page = svc.audit.list(ctx, {"since": parse_since(since), "actor": actor, "action": action, "target": target,
                                "limit": limit})
    events = [{"time": e.time.isoformat(), "actor": e.actor, "action": e.action, "target": e.target,
               "target_type": e.target_type, "before": e.before, "after": e.after, "address": e.address}
              for e in page.items]
    emit(events, as_json, lambda rows: _table(rows, page.total))


def _table(rows: list[dict], total: int) -> str:
    from .models import aligned

    if not rows:
        return t("audit.cli.none")
    header = [t(f"audit.cli.col_{key}") for key in ("time", "actor", "action", "target")]
    body = [[r["time"][:19].replace("T", " "), r["actor"], r["action"],
             f"{r['target_type']}:{r['target']}" if r["target"] else r["target_type"]] for r in rows]
    shown = aligned([header, *body])
    if total > len(rows):
        shown += "\n" + t("audit.cli.more", shown=len(rows), total=total)
    return shown
