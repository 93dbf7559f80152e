"""The read models the CRM keeps, and how to open their store for given settings."""

from __future__ import annotations

from collections.abc import Sequence

from projections.pipeline import PipelineProjection
from projections.row_changes import Projection
from projections.segments import SegmentsProjection
from services.settings import Settings
from services.storage.read_model_store import ReadModelStore, read_model_recorder

PROJECTION_NAMES = ("pipeline", "segments")
RELAY_TRACKING = "relay@kafka"
"""The Kafka relay's saved position, kept in the tracking table beside the read models."""


def all_projections() -> list[Projection]:
    """Every projection, in a fixed order."""
    return [PipelineProjection(), SegmentsProjection()]


def select_projections(names: Sequence[str] | None) -> list[Projection]:
    """The named projections (all when None); unknown names are an error."""
    projections = all_projections()
    if not names:
        return projections
    unknown = set(names) - {p.name for p in projections}
    if unknown:
        raise ValueError(f"unknown projection(s): {', '.join(sorted(unknown))}; known: {', '.join(PROJECTION_NAMES)}")
    return [p for p in projections if p.name in names]


def open_read_models(
    settings: Settings, namespace: str = "", projections: Sequence[Projection] | None = None
) -> ReadModelStore:
    """The read-model store beside the event store (same database), in a namespace."""
    recorder = read_model_recorder(settings.eventsourcing_env(), namespace)
    return ReadModelStore(recorder, projections if projections is not None else all_projections())
