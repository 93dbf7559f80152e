"""Merging duplicates: what a merged lead brings to its survivor, and the totals the survivor's
merge events carry.

A merge marks one record (the duplicate) as merged into another (its survivor) with a pair of
events saved together: `merged_into` on the duplicate, naming the survivor, and `absorbed` on the
survivor, naming the duplicate. Unmerging appends `unmerged` and `released`. Nothing is copied
and nothing is deleted: the read models take the duplicate out of their live figures and count
its figures with the survivor's, from what these events say (see docs/read-models.md)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict


@dataclass(frozen=True)
class MergedLeadFigures:
    """What a merged lead brings to its survivor's figures, as it stood at the merge (a merged
    lead takes no commands, so these do not change while it is merged)."""

    interactions: int
    score: int
    last_interaction_at: datetime | None


class AbsorbedTotals(TypedDict):
    """What a survivor holds from all its merged duplicates together: their interactions added
    up, the highest of their scores, their latest interaction."""

    absorbed_interactions: int
    absorbed_score: int
    absorbed_last_interaction_at: datetime | None


def absorbed_totals(figures: Iterable[MergedLeadFigures]) -> AbsorbedTotals:
    """The totals of a survivor's duplicates (zeros and None when it holds none)."""
    held = list(figures)
    lasts = [f.last_interaction_at for f in held if f.last_interaction_at is not None]
    return {
        "absorbed_interactions": sum(f.interactions for f in held),
        "absorbed_score": max((f.score for f in held), default=0),
        "absorbed_last_interaction_at": max(lasts, default=None),
    }
