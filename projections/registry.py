"""The read models the CRM keeps, by name."""

from __future__ import annotations

from collections.abc import Sequence

from projections.row_changes import Projection

PROJECTION_NAMES = ("pipeline", "segments", "tasks", "nurture", "people", "campaign_costs", "activities")

JOURNALED = ("pipeline",)
"""The projections whose rows follow business time through a journal per aggregate
(`projections.row_changes.Journal`): a back-dated event rebuilds its aggregate's rows."""

IN_BUSINESS_TIME = (*JOURNALED, "segments", "people")
"""The projections whose rows are what a fold of each aggregate's events in business order
writes, whatever order the events were recorded in: the journaled ones; the segments, whose
rows are facts per event with their business time; and, in both the segments and the identity
index (people), a contact's details are set only by a change not dated before the one that set
them (`projections.row_changes.Update.not_after`). `crm verify` checks them against a fold per
aggregate."""


def all_projections(default_phone_region: str | None = None) -> list[Projection]:
    """Every projection, in a fixed order; the identity index reads phones without a country
    code in `default_phone_region`."""
    from projections.activities import ActivitiesProjection
    from projections.campaign_costs import CampaignCostsProjection
    from projections.nurture import NurtureProjection
    from projections.people import PeopleProjection
    from projections.pipeline import PipelineProjection  # the projections' modules load on demand
    from projections.segments import SegmentsProjection
    from projections.tasks import TasksProjection

    return [
        PipelineProjection(),
        SegmentsProjection(),
        TasksProjection(),
        NurtureProjection(),
        PeopleProjection(default_phone_region),
        CampaignCostsProjection(),
        ActivitiesProjection(),
    ]


def select_projections(names: Sequence[str] | None, default_phone_region: str | None = None) -> list[Projection]:
    """The named projections (all when None or empty); unknown names are a ValueError."""
    projections = all_projections(default_phone_region)
    if not names:
        return projections
    unknown = set(names) - set(PROJECTION_NAMES)
    if unknown:
        raise ValueError(f"unknown projection(s): {', '.join(sorted(unknown))}; known: {', '.join(PROJECTION_NAMES)}")
    return [p for p in projections if p.name in names]
