"""Open routes: GET /healthz (process up), GET /readyz (model and database), GET /metrics
(and HEAD on each, as on every GET route: `api.middleware.HeadMiddleware`)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from api.deps import ServicesDep
from api.metrics import CONTENT_TYPE
from api.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> Health:
    """Always 200 while the process serves requests."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Model loaded and database reachable",
    responses={503: {"model": Readiness, "description": "Not ready, with the reasons"}},
)
def readyz(services: ServicesDep) -> Response:
    """200 when a model is loaded and the database answers; 503 with the reasons otherwise."""
    reasons: list[str] = []
    version: str | None = None
    if services.models is None or not services.models.ready:
        reasons.append("model not loaded")
    else:
        version = services.models.get().version
    if services.database is None:
        reasons.append("database not opened")
    else:
        problem = services.database.ping()
        if problem is not None:
            reasons.append(problem)
    body = Readiness(status="not_ready" if reasons else "ready", model_version=version, reasons=reasons)
    return JSONResponse(body.model_dump(), status_code=503 if reasons else 200)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(services: ServicesDep) -> Response:
    """Requests, latencies, predictions per class, tickets per tier, and the backlog of open tickets
    read from the database (`api.metrics`), in Prometheus text format; 200 even when the database
    cannot be read (`triage_backlog_up` 0)."""
    return Response(services.metrics.render(), media_type=CONTENT_TYPE)
