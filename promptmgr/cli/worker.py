"""`promptmgr worker`: a process that runs queued experiment shards (hosted mode, PostgreSQL).

Start as many as you like, on as many machines as reach the database; see promptmgr/worker.py."""
from __future__ import annotations

from typing import Annotated

import typer


def worker(
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, max=64,
                                             help="Experiment shards this process runs at once (each makes "
                                                  "the experiment's number of model calls at once).")] = 1,
    stalled_after: Annotated[float, typer.Option("--stalled-after", min=2.0, max=3600.0,
                                                 help="Seconds without a heartbeat after which another worker's "
                                                      "jobs are retried.")] = 10.0,
) -> None:
    """Run queued experiment shards until stopped (Ctrl-C or SIGTERM: the calls in flight finish and
    the shard goes back to the queue). Needs DATABASE_URL on PostgreSQL."""
    import logging

    from .. import worker as queue
    from .common import echo, services, t

    built = services()
    queue.conninfo(built.settings.db_url)  # a clear error on SQLite before anything starts
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    echo(t("worker.cli.started", concurrency=concurrency), err=True)
    queue.serve(built, concurrency=concurrency, stalled_after=stalled_after,
                heartbeat=max(1.0, stalled_after / 5))


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
