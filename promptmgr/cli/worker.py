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
    metrics_port: Annotated[int, typer.Option("--metrics-port", min=0, max=65535,
                                              help="Serve this worker's Prometheus metrics (model calls, "
                                                   "tokens, cost) on this port; 0: none.")] = 0,
    metrics_host: Annotated[str, typer.Option("--metrics-host", help="Address for --metrics-port "
                                                                     "(loopback by default).")] = "127.0.0.1",
) -> None:
    """Run queued experiment shards until stopped (Ctrl-C or SIGTERM: the calls in flight finish and
    the shard goes back to the queue). Needs DATABASE_URL on PostgreSQL."""
    from .. import worker as queue
    from .common import echo, services, t

    built = services()
    queue.conninfo(built.settings.db_url)  # a clear error on SQLite before anything starts
    from ..web.requests_log import configure_logging

    configure_logging(built.settings.log_format, built.settings.log_level)
    if metrics_port:
        from prometheus_client import start_http_server

        from ..web.metrics import process_metrics

        start_http_server(metrics_port, addr=metrics_host, registry=process_metrics().registry)
    echo(t("worker.cli.started", concurrency=concurrency), err=True)
    queue.serve(built, concurrency=concurrency, stalled_after=stalled_after,
                heartbeat=max(1.0, stalled_after / 5))


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
