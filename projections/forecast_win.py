"""The hazard forecast told what the learned win probability knows of each open deal
(`projections.win_model`): the hazard table sees a deal's stage and age in the stage only, the
naive Bayes model also its source, campaign, owner, company and engagement.

Per open deal with hazard chance p (of converting in the horizon, given stage and age in stage),
the naive Bayes assumption (features independent given the outcome) gives its odds given the
features the hazard does not see as its odds given stage and age times their likelihood ratio:

    q = logistic(logit(p) + sum over f in UNSEEN_FEATURES of [log P(x_f | won) - log P(x_f | lost)])

and then, per stage, every q is scaled by (sum of the stage's p) / (sum of the stage's q): the
hazard's expected conversions per stage are what it learned from the snapshots, the model only says
which of the stage's deals they are likelier to come from. Without that scaling the likelihood
ratios shift the totals: they are learned from leads as they were just before closing and read from
leads in the middle of their lives (fewer interactions, no owner yet), and a source that sends
leads that are soon disqualified says less of the ones that are still open in a later stage.
Each month's chance is scaled as the deal's horizon chance is: the features move whether a deal is
won, not when.

The model is trained as of the first instant (UTC) of the forecast date's day, from the leads closed
by then (`TRAINED_AT`), so a forecast uses nothing that was unknown at its date and a backtest trains
as of each month's first instant.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time

from domain.time import utc
from projections.forecast_hazard import OpenLead
from projections.row_changes import Reader
from projections.win_model import LeadFeatures, NoModel, WinModel, logistic, train
from projections.win_model_queries import JournalEntry, lead_at, lead_histories, training_rows

UNSEEN_FEATURES: tuple[str, ...] = ("source", "campaign", "owner", "company", "engagement")
"""The naive Bayes features the hazard table does not see (it sees the stage, and the age in the
stage, which stands for the model's age since capture)."""


def trained_at(as_of: datetime) -> datetime:
    """The instant the forecast's win model is trained as of: the start (UTC) of `as_of`'s day."""
    return datetime.combine(utc(as_of).astimezone(UTC).date(), time(), UTC)


@dataclass
class LeadJournal:
    """The pipeline's lead journal read once, from which the win model as of any instant and any
    lead as it was then are computed without reading again (a backtest reads it once)."""

    histories: Mapping[str, Sequence[JournalEntry]]
    _models: dict[datetime, WinModel | NoModel] = field(default_factory=dict)

    @classmethod
    def load(cls, reader: Reader, lead_ids: Sequence[str] | None = None) -> LeadJournal:
        """Every lead's journaled events (only the `lead_ids`' when given: enough for the
        features of those leads, not for training), merged duplicates left out."""
        return cls(lead_histories(reader, lead_ids=lead_ids))

    def model(self, as_of: datetime) -> WinModel | NoModel:
        """The model trained as of `trained_at(as_of)`, kept per training instant."""
        instant = trained_at(as_of)
        if instant not in self._models:
            self._models[instant] = train(training_rows(self.histories, instant), instant)
        return self._models[instant]

    def features(self, lead_id: str, at: datetime) -> LeadFeatures | None:
        """The lead as the model reads it at `at` (None: not captured by then as far as the journal knows)."""
        lead = lead_at(lead_id, self.histories.get(lead_id, ()), at)
        return lead.features if lead is not None else None


@dataclass(frozen=True)
class LearnedWin:
    """A trained model and the journal to read the open deals' features from, at `as_of`."""

    model: WinModel
    journal: LeadJournal
    as_of: datetime

    def log_likelihood_ratio(self, lead: OpenLead) -> float:
        """The sum of the model's contributions of the features the hazard does not see (0 for a
        lead the journal does not hold)."""
        features = self.journal.features(lead.lead_id, self.as_of)
        if features is None:
            return 0.0
        return sum(c.contribution for c in self.model.explain(features, only=UNSEEN_FEATURES).contributions)


def adjusted(p: float, log_likelihood_ratio: float) -> float:
    """logistic(logit(p) + the log likelihood ratio); p itself at 0 or 1, where odds cannot move."""
    if p <= 0.0 or p >= 1.0:
        return p
    return logistic(math.log(p / (1.0 - p)) + log_likelihood_ratio)


def reweigh(deals: Sequence[tuple[OpenLead, float]], ratios: Sequence[float]) -> list[float]:
    """Each deal's chance p moved by its log likelihood ratio (`adjusted`), then scaled per stage so
    that the stage's sum stays the sum of its p; capped at 1."""
    if len(deals) != len(ratios):
        raise ValueError("one likelihood ratio per deal")
    moved = [adjusted(p, r) for (_, p), r in zip(deals, ratios, strict=True)]
    before: dict[str, float] = defaultdict(float)
    after: dict[str, float] = defaultdict(float)
    for (lead, p), q in zip(deals, moved, strict=True):
        before[lead.stage] += p
        after[lead.stage] += q
    return [
        min(q * before[lead.stage] / after[lead.stage], 1.0) if after[lead.stage] else q
        for (lead, _), q in zip(deals, moved, strict=True)
    ]


def learned_win(journal: LeadJournal, as_of: datetime, model: WinModel | NoModel | None = None) -> LearnedWin | NoModel:
    """The learned win probability for a forecast as of `as_of`: `model` when given (trained as of
    `trained_at(as_of)` by the caller), else the journal's; NoModel when too little had closed."""
    trained = model if model is not None else journal.model(as_of)
    if isinstance(trained, NoModel):
        return trained
    return LearnedWin(trained, journal, utc(as_of))
