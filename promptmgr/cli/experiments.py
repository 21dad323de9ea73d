"""`promptmgr experiments`: the command group. Defining commands (create/list/rm) come from the
datasets work; the runner's commands register from cli/experiments_run.py."""
from __future__ import annotations

import typer

from . import experiments_run

app = typer.Typer(no_args_is_help=True, help="A/B experiments: prompt versions x models over a dataset.")
experiments_run.register(app)
