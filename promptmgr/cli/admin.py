"""`promptmgr admin ...`: operator commands (workspaces, users, the audit log).

Each part registers its commands here from its own module (admin_audit.py: `admin audit`)."""
from __future__ import annotations

import typer

from . import admin_audit

app = typer.Typer(no_args_is_help=True, help="Operator commands: workspaces, users and the audit log.")
admin_audit.register(app)
