"""Prometheus metrics for the hosted app at /metrics (prometheus-client: the reference client, with
the text format, histograms and multi-process support we would otherwise write by hand).

What is counted: HTTP requests and their latency by route template (never the raw path, so a
client cannot grow the label set), model calls, tokens, cost and cache hits by model (every call
the gateway makes in this process, through llm/observe.py), and the experiment queue's depth (read
from PostgreSQL when scraped). No metric carries a workspace, user or prompt name: it is the
operator's view of the instance.

Who may read it: a request from loopback that no proxy forwarded (a proxy on the same machine
adds X-Forwarded-For, so a request from outside through it is not "loopback"), or a bearer API
token whose role allows Action.READ_METRICS (admins and owners).

With several uvicorn processes (`serve --workers N`) each process counts its own; set
PROMETHEUS_MULTIPROC_DIR to an empty folder before start and /metrics sums them (the client's
multi-process mode)."""
from __future__ import annotations

import os
import threading

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from ..exposure import is_loopback
from ..llm import observe

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_MODEL_LABELS = 100      # models named beyond this many are counted as "other"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
FORWARDED = (b"x-forwarded-for", b"forwarded", b"x-real-ip")


class ProcessMetrics:
    """The counters of this process (one per process: prometheus-client values are process-wide)."""

    def __init__(self):
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("promptmgr_http_requests", "HTTP requests answered", ["method", "route", "status"],
                                registry=r)
        self.latency = Histogram("promptmgr_http_request_duration_seconds", "Time to answer an HTTP request",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=r)
        self.model_calls = Counter("promptmgr_model_calls", "Model calls by result (ok, cached or an error code)",
                                   ["model", "result"], registry=r)
        self.tokens = Counter("promptmgr_model_tokens", "Tokens sent and received", ["model", "kind"], registry=r)
        self.cost = Counter("promptmgr_model_cost_usd", "Estimated cost of model calls in USD", ["model"],
                            registry=r)
        self.cache_hits = Counter("promptmgr_model_cache_hits", "Model calls answered from the response cache",
                                  ["model"], registry=r)
        self._models: set[str] = set()
        self._lock = threading.Lock()

    def _model(self, name: str) -> str:
        with self._lock:
            if name in self._models or len(self._models) < MAX_MODEL_LABELS:
                self._models.add(name)
                return name
        return "other"

    def model_call(self, result) -> None:
        """llm/observe listener: one finished model call."""
        model = self._model(result.model or "unknown")
        outcome = "cached" if result.cached else ("ok" if result.ok else str(result.error_code))
        self.model_calls.labels(model, outcome).inc()
        if result.cached:
            self.cache_hits.labels(model).inc()
            return  # a cache hit sends nothing and costs nothing
        self.tokens.labels(model, "prompt").inc(max(0, result.prompt_tokens))
        self.tokens.labels(model, "completion").inc(max(0, result.completion_tokens))
        if result.cost:
            self.cost.labels(model).inc(max(0.0, result.cost))

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


_process: ProcessMetrics | None = None
_process_lock = threading.Lock()


def process_metrics() -> ProcessMetrics:
    """This process's metrics, listening to the gateway from the first call on."""
    global _process
    with _process_lock:
        if _process is None:
            _process = ProcessMetrics()
            observe.listen(_process.model_call)
        return _process


class QueueDepth:
    """Collector read at scrape time: queued experiment shard jobs by status (hosted mode on
    PostgreSQL), and the experiments running inside this process otherwise."""

    def __init__(self, services):
        self.services = services

    def collect(self):
        gauge = GaugeMetricFamily("promptmgr_experiment_queue_jobs",
                                  "Experiment shard jobs waiting (todo) or being run (doing)", labels=["status"])
        if self.services.settings.queued_experiments:
            from ..worker import queue_depth

            for status, count in queue_depth(self.services).items():
                gauge.add_metric([status], count)
        else:
            gauge.add_metric(["doing"], self.services.experiment_jobs.running_here)
        yield gauge


def route_of(scope) -> str:
    """The matched route's template ('/api/v1/prompts/{name}'), or 'unmatched'."""
    route = scope.get("route")
    path = getattr(route, "path", None) or getattr(route, "path_format", None)
    if not path:
        return "unmatched"
    return f"{scope.get('root_path', '')}{path}"


def forwarded(scope) -> bool:
    return any(name in FORWARDED for name, _ in scope.get("headers") or ())


def exposition(services) -> bytes:
    """The text a scrape gets: this process's metrics (or every process's, in multi-process
    mode) and the queue depth."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = process_metrics().registry
    queue = CollectorRegistry(auto_describe=False)
    queue.register(QueueDepth(services))
    return generate_latest(counted) + generate_latest(queue)


def build_router(services):
    """GET /metrics, for loopback callers (not forwarded) or an admin's API token."""
    from ..errors import AuthenticationError, PromptMgrError
    from ..policy import Action, require
    from .api.errors import error_response, locale_of, status_of

    router = APIRouter()

    def admin_token(request: Request) -> None:
        scheme, _, secret = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise AuthenticationError("api.errors.unauthenticated")
        require(services.api_tokens.authenticate(secret.strip(), locale_of(request)), Action.READ_METRICS)

    @router.get("/metrics", include_in_schema=False)
    def metrics(request: Request):
        if not (request.client is not None and is_loopback(request.client.host) and not forwarded(request.scope)):
            try:
                admin_token(request)
            except PromptMgrError as exc:  # the API's one error shape, in the caller's language
                return error_response(status_of(exc), exc.code, exc.translate(locale_of(request)))
        return Response(exposition(services), media_type=CONTENT_TYPE)

    return router
