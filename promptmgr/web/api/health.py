"""Liveness and readiness: no token needed (a load balancer asks them)."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    database: bool
    migrations: bool
    revision: str | None = None


def build_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/health", response_model=Health, summary="Liveness: the process answers")
    def health():
        return Health(status="ok")

    @router.get("/ready", response_model=Ready, summary="Readiness: the database answers and its schema is current",
                responses={503: {"model": Ready}})
    def ready(request: Request):
        from sqlalchemy import text

        from ...db import SCHEMA_HEAD

        db = request.app.state.pm_services.db
        revision, reachable = None, False
        try:
            with db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                reachable = True
            revision = db.current_revision()
        except Exception:  # noqa: BLE001 — any failure to reach the database means not ready
            pass
        state = Ready(status="ready" if reachable and revision == SCHEMA_HEAD else "unavailable", database=reachable,
                      migrations=revision == SCHEMA_HEAD, revision=revision)
        return JSONResponse(state.model_dump(), status_code=200 if state.status == "ready" else 503,
                            headers={"cache-control": "no-store"})

    return router
