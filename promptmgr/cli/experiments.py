"""`promptmgr experiments ...`: a minimal group on the results branch (the datasets helper owns this
module: create/list/rm live there; the lead merges the two)."""
from __future__ import annotations

import typer

from . import experiments_report

app = typer.Typer(no_args_is_help=True, help="A/B experiments: prompts x models over a dataset, with statistics.")
experiments_report.register(app)
