"""The operations routes: `GET /healthz` (the service and its event store answer) and
`GET /metrics` (Prometheus)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from services.api.metrics import Metrics
from services.api.problems import UNAVAILABLE_RESPONSES, StoreUnavailable
from services.api.read_models import ReadModelGate
from services.api.schemas import Health
from services.app.application import CrmApplication


def add_operation_routes(app: FastAPI, crm: CrmApplication, metrics: Metrics, reads: ReadModelGate) -> None:
    """Adds /healthz and /metrics to `app` itself (outside /v1 and its routers)."""
    positions, read_models = reads.positions, reads.read_models

    @app.get(
        "/healthz",
        tags=["operations"],
        summary="The service and its event store answer",
        responses=UNAVAILABLE_RESPONSES,
    )
    def healthz() -> Health:
        try:
            head = crm.head_position()
        except Exception as error:
            raise StoreUnavailable(f"the event store does not answer: {type(error).__name__}") from error
        return Health(status="ok", head_position=head)

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses=UNAVAILABLE_RESPONSES,
    )
    def prometheus_metrics() -> PlainTextResponse:
        try:
            head = crm.head_position()
            projection_positions = positions() if read_models is not None else None
        except Exception as error:
            raise StoreUnavailable(f"the event store does not answer: {type(error).__name__}") from error
        return PlainTextResponse(
            metrics.render(head, projection_positions), media_type="text/plain; version=0.0.4; charset=utf-8"
        )
