"""`promptmgr admin ...`: operator commands for hosted mode (workspaces, people, roles).

They act as the owner of the named workspace (AccountService.operator_context): whoever runs them on
the server already holds the database and its settings, so there is no one to log in as. Passwords
are never command-line arguments (shell history, `ps`): they are read from standard input, or asked
for with hidden input in a terminal."""
from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from .common import emit, services, t

app = typer.Typer(no_args_is_help=True, help="Hosted mode administration: workspaces, users and their roles "
                                             "(acts as the workspace's owner).")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
WorkspaceOpt = Annotated[str, typer.Option("--workspace", help="The workspace's short name (slug).")]
RoleOpt = Annotated[str, typer.Option("--role", help="viewer, editor, admin or owner.")]


def _prompt_password() -> str:
    return typer.prompt(t("cli_admin.password_prompt"), hide_input=True, confirmation_prompt=True)


@app.command("create-workspace")
def create_workspace(
    slug: Annotated[str, typer.Argument(help="A short name: 2-63 lower-case letters, digits and dashes.")],
    name: Annotated[str, typer.Option("--name", help="The name people see.")],
    locale: Annotated[Optional[str], typer.Option("--locale", help="The workspace's default language.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a workspace (then add its first owner with create-user --role owner)."""
    accounts = services().accounts
    workspace = accounts.create_workspace(accounts.operator_context(), slug, name, locale)
    emit(workspace, as_json, lambda w: t("cli_admin.workspace_created", slug=w["slug"], name=w["name"]))


@app.command("create-user")
def create_user(
    email: Annotated[str, typer.Argument(help="The person's email address (their login).")],
    workspace: WorkspaceOpt,
    role: RoleOpt = "viewer",
    as_json: JsonOpt = False,
) -> None:
    """Add a person to a workspace. The password is read from standard input (one line), or asked
    for in a terminal; an existing account joins with its own password (nothing is read)."""
    from ..errors import ValidationError

    accounts = services().accounts
    ctx = accounts.operator_context(workspace)
    password = None if sys.stdin.isatty() else (sys.stdin.readline().rstrip("\r\n") or None)
    try:
        member = accounts.create_user(ctx, email, password, role)
    except ValidationError as exc:
        if exc.message_key != "auth.password_required" or not sys.stdin.isatty():
            raise
        member = accounts.create_user(ctx, email, _prompt_password(), role)  # a new account: ask for it
    emit({"email": member["email"], "workspace": member["workspace"], "role": member["role"]}, as_json,
         lambda m: t("cli_admin.user_created", email=m["email"], workspace=m["workspace"], role=m["role"]))


@app.command("set-role")
def set_role(
    email: Annotated[str, typer.Argument(help="The member's email address.")],
    workspace: WorkspaceOpt,
    role: RoleOpt,
    as_json: JsonOpt = False,
) -> None:
    """Change a member's role; it applies to their next request."""
    accounts = services().accounts
    member = accounts.set_role(accounts.operator_context(workspace), email, role)
    emit({"email": member["email"], "workspace": workspace, "role": member["role"]}, as_json,
         lambda m: t("cli_admin.role_set", email=m["email"], workspace=m["workspace"], role=m["role"]))


@app.command("users")
def users(
    workspace: Annotated[Optional[str], typer.Option("--workspace", help="Only this workspace.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Members of one workspace or of all: email, workspace, role."""
    accounts = services().accounts
    slugs = [workspace] if workspace else accounts.operator_workspaces()
    rows = []
    for slug in slugs:
        for member in accounts.members(accounts.operator_context(slug)):
            rows.append({"email": member["email"], "workspace": slug, "role": member["role"],
                         "active": member["active"]})
    emit(rows, as_json, _users_text)


def _users_text(rows: list[dict]) -> str:
    if not rows:
        return t("cli_admin.none")
    header = (t("cli_admin.col_email"), t("cli_admin.col_workspace"), t("cli_admin.col_role"))
    table = [header] + [(r["email"] or "-", r["workspace"], r["role"]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in table)

