"""`promptmgr tokens create|list|revoke`: API tokens for the REST API (hosted mode).

Operator commands like `promptmgr admin`: they act as the owner of the named workspace
(AccountService.operator_context). The secret is printed once, by `create`, and never again.
(`promptmgr tokens TEXT` without one of these words still counts a text's tokens: cli/models.py.)"""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from .common import emit, services, t

SUBCOMMANDS = ("create", "list", "revoke")
app = typer.Typer(no_args_is_help=True, help="API tokens for the REST API (acts as the workspace's owner).")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A name for the token, unique in its workspace.")],
    user: Annotated[str, typer.Option("--user", help="The member (email) the token acts as.")],
    workspace: Annotated[str, typer.Option("--workspace", help="The workspace's short name (slug).")],
    role: Annotated[Optional[str], typer.Option(
        "--role", help="viewer (read-only), editor, admin or owner; never above the member's. Default: theirs.")] = None,
    expires: Annotated[str, typer.Option("--expires", help="Lifetime: 12h, 90d, 2w, or never.")] = "90d",
    as_json: JsonOpt = False,
) -> None:
    """Make a token and print its secret (shown this once only: store it now)."""
    accounts = services().accounts
    made = services().api_tokens.create(accounts.operator_context(workspace), name, user, role, expires)
    emit({"name": made["name"], "token": made["token"], "user": made["user"], "role": made["role"],
          "workspace": workspace, "expires_at": made["expires_at"]}, as_json,
         lambda m: "\n".join([t("api.cli.created", name=m["name"], user=m["user"], role=m["role"],
                                workspace=workspace, expires=_when(m["expires_at"])),
                              m["token"], t("api.cli.shown_once")]))


@app.command("list")
def list_(
    workspace: Annotated[Optional[str], typer.Option("--workspace", help="Only this workspace.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Tokens of one workspace or of all (never their secrets)."""
    accounts = services().accounts
    rows = []
    for slug in [workspace] if workspace else accounts.operator_workspaces():
        for token in services().api_tokens.list(accounts.operator_context(slug)):
            token.pop("id", None)
            rows.append({**token, "workspace": slug})
    emit(rows, as_json, _table)


@app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    workspace: Annotated[Optional[str], typer.Option(
        "--workspace", help="Its workspace (needed when several have a token of this name).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Refuse a token from now on: its next request fails."""
    from ..errors import NotFoundError, ValidationError

    accounts = services().accounts
    tokens = services().api_tokens
    slugs = [workspace] if workspace else [
        slug for slug in accounts.operator_workspaces()
        if any(tok["name"] == name for tok in tokens.list(accounts.operator_context(slug)))]
    if not slugs:
        raise NotFoundError("api.tokens.unknown", name=name)
    if len(slugs) > 1:
        raise ValidationError("api.cli.ambiguous", name=name, workspaces=", ".join(slugs))
    done = tokens.revoke(accounts.operator_context(slugs[0]), name)
    emit({"name": done["name"], "workspace": slugs[0], "status": done["status"]}, as_json,
         lambda d: t("api.cli.revoked", name=d["name"], workspace=d["workspace"]))


def _table(rows: list[dict]) -> str:
    if not rows:
        return t("api.cli.none")
    header = [t(f"api.cli.col_{c}") for c in ("name", "workspace", "user", "role", "status", "expires", "last_used")]
    table = [header] + [[r["name"], r["workspace"], r["user"] or "-", r["role"], t(f"api.cli.status_{r['status']}"),
                         _when(r["expires_at"]), _when(r["last_used_at"])] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in table)
