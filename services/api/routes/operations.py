"""The operations routes, outside /v1: `GET /healthz` (liveness: the process answers, touching
nothing), `GET /readyz` (readiness: the event store answers and the read models follow the log,
within a 1 s budget) and `GET /metrics` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse

from services.api.deps import MetricsDep, ReadinessDep
from services.api.metrics import CONTENT_TYPE
from services.api.problems import NOT_READY_RESPONSES
from services.api.schemas import Health, Readiness

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process answers (liveness; the database is not asked)")
def get_health() -> Health:
    """200 whenever the process can answer at all, the database down or not: restarting the
    process would not bring the database back. Readiness is `/readyz`."""
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="The event store answers and the read models follow the log (readiness)",
    responses=NOT_READY_RESPONSES,
)
def get_readiness(readiness: ReadinessDep) -> Readiness:
    """The head of the log and each read model's lag behind it, found out within 1 s; 503 with
    `Retry-After` and, per check, ok, failed or skipped, when the event store does not answer or
    a read model does not answer or is too far behind."""
    ready = readiness.check()
    return Readiness(status="ready", head_position=ready.head_position, lag=ready.lag)


_METRICS_EXAMPLE = """\
# HELP crm_http_requests_total HTTP requests answered
# TYPE crm_http_requests_total counter
crm_http_requests_total{method="POST",route="/v1/leads",status="201"} 1.0
"""


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}, "example": _METRICS_EXAMPLE}}}},
)
def get_metrics(metrics: MetricsDep) -> Response:
    """Requests, latency histograms, the process, and the store's figures when it answers
    (`crm_event_store_up 0` while it does not)."""
    return Response(metrics.render(), media_type=CONTENT_TYPE)
