"""The read models the CRM keeps, by name."""

from __future__ import annotations

from collections.abc import Sequence

from projections.row_changes import Projection

PROJECTION_NAMES = ("pipeline", "segments", "tasks", "nurture")


def all_projections() -> list[Projection]:
    """Every projection, in a fixed order."""
    from projections.nurture import NurtureProjection
    from projections.pipeline import PipelineProjection  # the projections' modules load on demand
    from projections.segments import SegmentsProjection
    from projections.tasks import TasksProjection

    return [PipelineProjection(), SegmentsProjection(), TasksProjection(), NurtureProjection()]


def select_projections(names: Sequence[str] | None) -> list[Projection]:
    """The named projections (all when None or empty); unknown names are a ValueError."""
    projections = all_projections()
    if not names:
        return projections
    unknown = set(names) - set(PROJECTION_NAMES)
    if unknown:
        raise ValueError(f"unknown projection(s): {', '.join(sorted(unknown))}; known: {', '.join(PROJECTION_NAMES)}")
    return [p for p in projections if p.name in names]
