"""Lead scoring: a pure, versioned function of a lead's facts and interactions at a given time.

score = min(100, engagement + fit), where
  engagement = min(ENGAGEMENT_CAP, sum(points[kind] * 0.5 ** (age_days / half_life_days)))
  fit        = title points + company points + source points
Only interactions that happened at or before the scoring time count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from domain.values import InteractionKind, LeadSource

ENGAGEMENT_CAP = 60.0
MAX_SCORE = 100

_ENGAGEMENT_POINTS = {
    InteractionKind.EMAIL_OPEN: 1.0,
    InteractionKind.EMAIL_CLICK: 3.0,
    InteractionKind.WEB_VISIT: 2.0,
    InteractionKind.FORM_SUBMIT: 8.0,
    InteractionKind.WEBINAR: 10.0,
    InteractionKind.CALL: 6.0,
    InteractionKind.MEETING: 12.0,
    InteractionKind.DEMO: 15.0,
    InteractionKind.SOCIAL: 2.0,
    InteractionKind.SUPPORT: 1.0,
    # Added without a new revision: no interaction recorded before these kinds existed can be one
    # of them, so revision 1 still scores every earlier history exactly as it did.
    InteractionKind.EMAIL_SENT: 0.0,  # what we do is not the person's engagement
    InteractionKind.EMAIL_REPLY: 8.0,  # the person wrote back: as strong as submitting a form
}

_SOURCE_POINTS = {
    LeadSource.REFERRAL: 15.0,
    LeadSource.PARTNER: 12.0,
    LeadSource.REACTIVATION: 12.0,
    LeadSource.EVENT: 10.0,
    LeadSource.WEBINAR: 10.0,
    LeadSource.WEB_FORM: 8.0,
    LeadSource.SOCIAL: 5.0,
    LeadSource.PAID_ADS: 5.0,
    LeadSource.IMPORT: 3.0,
    LeadSource.COLD_OUTREACH: 2.0,
}

# First matching keyword group wins; matched on lower-cased words of the title.
_TITLE_POINTS: tuple[tuple[frozenset[str], float], ...] = (
    (frozenset({"chief", "ceo", "cto", "cfo", "cio", "coo", "founder", "owner", "president"}), 15.0),
    (frozenset({"vp", "vice", "head"}), 12.0),
    (frozenset({"director"}), 10.0),
    (frozenset({"manager", "lead"}), 6.0),
)
_ANY_TITLE_POINTS = 2.0
_COMPANY_POINTS = 5.0


@dataclass(frozen=True)
class ScoringModel:
    """The parameters of one scoring function; its version names them."""

    name: str = "engagement-fit"
    revision: int = 1
    half_life_days: float = 14.0
    engagement_points: Mapping[InteractionKind, float] = field(
        default_factory=lambda: MappingProxyType(dict(_ENGAGEMENT_POINTS))
    )
    source_points: Mapping[LeadSource, float] = field(default_factory=lambda: MappingProxyType(dict(_SOURCE_POINTS)))

    def __post_init__(self) -> None:
        if not self.half_life_days > 0:
            raise ValueError("half_life_days must be positive")

    @property
    def version(self) -> str:
        """Stable name of this model and its parameters, recorded on every `Scored` event."""
        return f"{self.name}/{self.revision}/hl{self.half_life_days:g}d"


DEFAULT_MODEL = ScoringModel()


@dataclass(frozen=True)
class LeadFacts:
    """What scoring knows about who the lead is."""

    title: str | None
    company: str | None
    source: LeadSource


@dataclass(frozen=True)
class ScoredInteraction:
    """What scoring knows about one interaction."""

    kind: InteractionKind
    occurred_at: datetime


@dataclass(frozen=True)
class Score:
    """A computed score: the rounded total and the points behind it."""

    value: int
    breakdown: dict[str, float]


def title_points(title: str | None) -> float:
    """Fit points for seniority, read from the job title."""
    if not title:
        return 0.0
    words = set(title.lower().replace("-", " ").replace(",", " ").split())
    for keywords, points in _TITLE_POINTS:
        if words & keywords:
            return points
    return _ANY_TITLE_POINTS


def decay(age_days: float, half_life_days: float) -> float:
    """Exponential decay factor: 1 now, 0.5 after one half-life; future interactions count 0."""
    if age_days < 0:
        return 0.0
    return float(0.5 ** (age_days / half_life_days))


def score_lead(
    facts: LeadFacts,
    interactions: Iterable[ScoredInteraction],
    at: datetime,
    model: ScoringModel = DEFAULT_MODEL,
) -> Score:
    """Score a lead as of `at`: engagement with time decay plus fit."""
    engagement = 0.0
    for interaction in interactions:
        age_days = (at - interaction.occurred_at).total_seconds() / 86400.0
        engagement += model.engagement_points[interaction.kind] * decay(age_days, model.half_life_days)
    engagement = min(ENGAGEMENT_CAP, engagement)
    breakdown = {
        "engagement": round(engagement, 4),
        "fit_title": title_points(facts.title),
        "fit_company": _COMPANY_POINTS if facts.company else 0.0,
        "fit_source": model.source_points.get(facts.source, 0.0),
    }
    total = min(MAX_SCORE, round(sum(breakdown.values())))
    return Score(value=total, breakdown=breakdown)


DECAY_PRECISION = timedelta(minutes=1)
"""How finely `next_score_change` pins the moment a rounded score drops."""
_DECAY_HORIZON = timedelta(days=3650)


def next_score_change(
    facts: LeadFacts,
    interactions: Sequence[ScoredInteraction],
    after: datetime,
    model: ScoringModel = DEFAULT_MODEL,
) -> datetime | None:
    """The first moment after `after` at which decay alone changes the rounded score (to within
    `DECAY_PRECISION`, never early), or None when decay will never change it. With no new
    interactions the score can only fall, so the moment is found by doubling, then bisection."""
    current = score_lead(facts, interactions, after, model).value

    def changed(at: datetime) -> bool:
        return score_lead(facts, interactions, at, model).value != current

    step = timedelta(hours=1)
    while not changed(after + step):
        if step > _DECAY_HORIZON:
            return None
        step *= 2
    low, high = after + step / 2 if step > timedelta(hours=1) else after, after + step
    while high - low > DECAY_PRECISION:
        middle = low + (high - low) / 2
        if changed(middle):
            high = middle
        else:
            low = middle
    return high
