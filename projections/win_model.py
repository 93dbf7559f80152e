"""A learned win probability (predictive lead scoring): naive Bayes with Laplace smoothing, as
Odoo's predictive lead scoring does, over what a lead was when it closed.

P(won | features) is learned from the leads closed (converted = won, disqualified = lost) by the
training date: the prior is the won share, and each feature value's likelihood among the won and
among the lost is its (Laplace-smoothed) frequency there. The log-odds of a lead is the prior's
log-odds plus, per feature, log P(value | won) - log P(value | lost): each of these terms is the
feature's contribution, which is how the model explains itself.

Pure: facts in (`LeadFeatures`, `TrainingRow`), a model out; what a lead was at a date is read
by `projections.win_model_queries`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.time import utc
from projections.forecast_model import DealHistory, WinProbability

FEATURES: tuple[str, ...] = ("stage", "source", "campaign", "owner", "company", "engagement", "age")
"""The features, in the order they are listed. None of them is personal data
(`domain.personal_data`): the name, email, phone and job title are not used."""

MODEL_KIND = "nb-1"
"""The model's kind and revision, the first part of every model version."""

SMOOTHING = 1.0
"""Laplace's pseudo-count added to every value of a feature, among the won and among the lost."""

MIN_CLOSED = 30
"""Fewest closed leads a model is learned from."""

MIN_EACH_OUTCOME = 5
"""Fewest won, and fewest lost, leads a model is learned from."""

MIN_COMPANY_LEADS = 3
"""A company with fewer closed leads than this in the training set reads as `other`: a value
seen once or twice says more about those leads than about the company."""

NONE_VALUE = "none"
"""A feature value that is absent (no campaign, no owner, no company)."""

OTHER_COMPANY = "other"
"""The bucket of the companies too rare in the training set to have a likelihood of their own."""

ENGAGEMENT_BUCKETS: tuple[tuple[int, str], ...] = ((0, "0"), (2, "1-2"), (5, "3-5"), (9, "6-9"))
"""(most interactions, bucket): more than the last reads `10+`."""

AGE_BUCKETS: tuple[tuple[float, str], ...] = ((7.0, "0-7d"), (30.0, "7-30d"), (90.0, "30-90d"), (180.0, "90-180d"))
"""(fewest days since capture it is younger than, bucket): older reads `180d+`."""


def engagement_bucket(interactions: int) -> str:
    """The bucket of an interaction count."""
    for most, name in ENGAGEMENT_BUCKETS:
        if interactions <= most:
            return name
    return "10+"


def age_bucket(days: float) -> str:
    """The bucket of an age in days since capture."""
    for below, name in AGE_BUCKETS:
        if days < below:
            return name
    return "180d+"


@dataclass(frozen=True)
class LeadFeatures:
    """What a lead was at one instant, as the model reads it."""

    lead_id: str
    stage: str
    source: str | None
    campaign: str | None
    owner: str | None
    company: str | None
    interactions: int
    age_days: float

    def values(self) -> dict[str, str]:
        """Each feature's value (company by name: the model buckets rare ones)."""
        return {
            "stage": self.stage,
            "source": self.source or NONE_VALUE,
            "campaign": self.campaign or NONE_VALUE,
            "owner": self.owner or NONE_VALUE,
            "company": self.company or NONE_VALUE,
            "engagement": engagement_bucket(self.interactions),
            "age": age_bucket(self.age_days),
        }


@dataclass(frozen=True)
class TrainingRow:
    """A closed lead: what it was just before it closed, and whether it was won."""

    features: LeadFeatures
    won: bool
    closed_at: datetime


@dataclass(frozen=True)
class Contribution:
    """One feature's part of a lead's log-odds: log P(value | won) - log P(value | lost)."""

    feature: str
    value: str
    contribution: float


@dataclass(frozen=True)
class Explanation:
    """A lead's log-odds, term by term: `base_log_odds` (the won share's) plus every
    contribution, the largest in size first."""

    base_log_odds: float
    contributions: list[Contribution]

    @property
    def log_odds(self) -> float:
        """The lead's log-odds of being won."""
        return self.base_log_odds + sum(c.contribution for c in self.contributions)

    @property
    def probability(self) -> float:
        """P(won), the logistic of the log-odds."""
        return logistic(self.log_odds)


def logistic(log_odds: float) -> float:
    """1 / (1 + e^-x), without overflow for large |x|."""
    if log_odds >= 0:
        return 1.0 / (1.0 + math.exp(-log_odds))
    odds = math.exp(log_odds)
    return odds / (1.0 + odds)


@dataclass(frozen=True)
class WinModel:
    """A trained model: per feature and value, how many won and lost training leads had it."""

    trained_as_of: datetime
    won: int
    lost: int
    counts: Mapping[str, Mapping[str, tuple[int, int]]]
    """feature -> value -> (won, lost) among the training leads."""
    companies: frozenset[str]
    """The companies with a likelihood of their own (the others read as `other`)."""

    @property
    def leads(self) -> int:
        """How many closed leads it learned from."""
        return self.won + self.lost

    @property
    def version(self) -> str:
        """What identifies the model: its kind, its training date and its number of leads."""
        return f"{MODEL_KIND}:{self.trained_as_of.strftime('%Y-%m-%dT%H:%M:%SZ')}:{self.leads}"

    def value_of(self, feature: str, features: LeadFeatures) -> str:
        """A lead's value of a feature as the model reads it (a rare company as `other`)."""
        value = features.values()[feature]
        if feature == "company" and value != NONE_VALUE and value not in self.companies:
            return OTHER_COMPANY
        return value

    def contribution(self, feature: str, value: str) -> float:
        """log P(value | won) - log P(value | lost), Laplace-smoothed over the feature's values
        seen in training plus one for a value never seen."""
        seen = self.counts.get(feature, {})
        won, lost = seen.get(value, (0, 0))
        kinds = len(seen) + (0 if value in seen else 1)
        p_won = (won + SMOOTHING) / (self.won + SMOOTHING * kinds)
        p_lost = (lost + SMOOTHING) / (self.lost + SMOOTHING * kinds)
        return math.log(p_won) - math.log(p_lost)

    def explain(self, features: LeadFeatures, only: Sequence[str] = FEATURES) -> Explanation:
        """The lead's log-odds term by term, the largest contribution in size first (then by
        feature order); `only` leaves the other features out (naive Bayes over fewer features)."""
        terms = [Contribution(f, v, self.contribution(f, v)) for f in only for v in [self.value_of(f, features)]]
        terms.sort(key=lambda c: -abs(c.contribution))
        return Explanation(math.log(self.won / self.lost), terms)

    def probability(self, features: LeadFeatures) -> float:
        """P(won | features)."""
        return self.explain(features).probability


@dataclass(frozen=True)
class NoModel:
    """Why no model could be learned as of a date."""

    trained_as_of: datetime
    won: int
    lost: int
    reason: str


def train(rows: Sequence[TrainingRow], as_of: datetime) -> WinModel | NoModel:
    """The model learned from the rows closed on or before `as_of` (a later one is left out
    whatever the caller gave); NoModel below MIN_CLOSED of them or MIN_EACH_OUTCOME of either outcome."""
    as_of = utc(as_of)
    closed = [r for r in rows if r.closed_at <= as_of]
    won = sum(1 for r in closed if r.won)
    lost = len(closed) - won
    if len(closed) < MIN_CLOSED or won < MIN_EACH_OUTCOME or lost < MIN_EACH_OUTCOME:
        reason = (
            f"too few closed leads to learn from as of {as_of.date().isoformat()}: {won} won and {lost} lost"
            f" (at least {MIN_CLOSED} in all and {MIN_EACH_OUTCOME} of each)"
        )
        return NoModel(as_of, won, lost, reason)
    per_company = Counter(r.features.company for r in closed if r.features.company)
    companies = frozenset(c for c, n in per_company.items() if n >= MIN_COMPANY_LEADS)
    counts: dict[str, dict[str, list[int]]] = {f: {} for f in FEATURES}
    for row in closed:
        for feature in FEATURES:
            value = row.features.values()[feature]
            if feature == "company" and value != NONE_VALUE and value not in companies:
                value = OTHER_COMPANY
            tally = counts[feature].setdefault(value, [0, 0])
            tally[0 if row.won else 1] += 1
    frozen = {f: {v: (t[0], t[1]) for v, t in sorted(values.items())} for f, values in counts.items()}
    return WinModel(trained_as_of=as_of, won=won, lost=lost, counts=frozen, companies=companies)


def auc(scores: Sequence[float], won: Sequence[bool]) -> float | None:
    """The area under the ROC curve: P(a won lead scores above a lost one), ties counting half
    (Mann-Whitney U over average ranks); None without at least one of each."""
    if len(scores) != len(won):
        raise ValueError("one outcome per score")
    positives = sum(1 for w in won if w)
    negatives = len(won) - positives
    if not positives or not negatives:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2 + 1  # the tied scores share their average rank
        start = end + 1
    rank_sum = sum(r for r, w in zip(ranks, won, strict=True) if w)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def forecast_win_probability(model: WinModel) -> WinProbability:
    """The model as the stage-and-age forecast's pluggable P(win): that model knows a deal by its
    stage and age in the stage only, so this is naive Bayes over the stage feature alone (the prior
    and the stage's likelihoods); the default forecast uses the model otherwise
    (`projections.forecast_win`)."""

    def probability(stage: str, age_days: float, history: DealHistory) -> float:
        bare = LeadFeatures(
            lead_id="", stage=stage, source=None, campaign=None, owner=None, company=None, interactions=0, age_days=0.0
        )
        return model.explain(bare, only=("stage",)).probability

    return probability
