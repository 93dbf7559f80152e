"""The operations routes: `GET /healthz` (the service and its event store answer) and
`GET /metrics` (Prometheus), outside /v1."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse

from services.api.deps import CrmDep, MetricsDep
from services.api.metrics import CONTENT_TYPE
from services.api.problems import UNAVAILABLE_RESPONSES, StoreUnavailable
from services.api.schemas import Health

router = APIRouter(tags=["operations"], responses=UNAVAILABLE_RESPONSES)


@router.get("/healthz", summary="The service and its event store answer")
def healthz(crm: CrmDep) -> Health:
    try:
        head = crm.head_position()
    except Exception as error:
        raise StoreUnavailable(f"the event store does not answer: {type(error).__name__}") from error
    return Health(status="ok", head_position=head)


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
def prometheus_metrics(metrics: MetricsDep) -> Response:
    """Requests, latency histograms, the process, and the store's figures when it answers."""
    return Response(metrics.render(), media_type=CONTENT_TYPE)
