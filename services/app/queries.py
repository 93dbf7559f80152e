"""Queries over the read models, as the HTTP API and the CLI ask them: pydantic models out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from projections import forecast as forecasting
from projections import segments
from projections.forecast import Forecast, ForecastAccuracy
from projections.pipeline_queries import PipelineSummary, pipeline_summary
from projections.segment_rules import SegmentRule, default_rules
from projections.segments import ContactFeatures, SegmentContact, SegmentMember, SegmentSummary
from services.app.errors import ContactNotFound
from services.storage.read_model_store import ReadModelStore


def _now() -> datetime:
    return datetime.now(UTC)


class ReadModelQueries:
    """Pipeline, forecast and segments, each answerable as of any business date (now by default)."""

    def __init__(self, store: ReadModelStore, rules: list[SegmentRule] | None = None, min_sample: int = 20) -> None:
        self.store = store
        self.rules = rules if rules is not None else default_rules()
        self.min_sample = min_sample

    def pipeline(
        self, as_of: datetime | None = None, owner: str | None = None, source: str | None = None
    ) -> PipelineSummary:
        """Counts, values, weighted values (learned win probabilities), conversion rates, time in stage."""
        as_of = as_of or _now()
        learned = forecasting.learn_win_probabilities(self.store, as_of, self.min_sample)
        return pipeline_summary(self.store, as_of, owner, source, learned.probabilities)

    def forecast(self, as_of: datetime | None = None, months: int = 3) -> Forecast:
        """Expected revenue per month for the next `months` months, with forecast categories."""
        return forecasting.forecast(self.store, as_of or _now(), months, self.min_sample)

    def forecast_accuracy(self, made_as_of: datetime, months: int = 3) -> ForecastAccuracy:
        """What the forecast made at a past date predicted, against what actually closed."""
        return forecasting.forecast_accuracy(self.store, made_as_of, months, self.min_sample)

    def segments(self, as_of: datetime | None = None) -> list[SegmentSummary]:
        """Every segment with its member count."""
        return segments.segment_summaries(self.store, self.rules, as_of or _now())

    def segment_members(self, name: str, as_of: datetime | None = None) -> list[SegmentMember]:
        """Members of one segment, with when they entered (UnknownSegment for a bad name)."""
        return segments.segment_members(self.store, self.rules, name, as_of or _now())

    def contact_features(
        self, contact_id: UUID, as_of: datetime | None = None, unit: Literal["days", "weeks"] = "days"
    ) -> ContactFeatures:
        """RFM and the other features of one contact."""
        found = segments.fetch_contact_features(self.store, contact_id, as_of or _now(), unit)
        if found is None:
            raise ContactNotFound(contact_id, f" as of {as_of.isoformat()}" if as_of else "")
        return found

    def contact_by_external_id(self, external_id: str) -> SegmentContact | None:
        """The contact imported or created with this id of another system."""
        return segments.find_contact_by_external_id(self.store, external_id)
