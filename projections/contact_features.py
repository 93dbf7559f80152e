"""A contact's features as of a moment (with RFM and lifecycle), computed from their facts.

Pure: the facts come in as arguments (projections.segment_queries reads them from the segments
read model).

Conventions
- Times are timezone-aware and handled in UTC; a naive datetime is taken as UTC. "As of t" means
  every event whose business time (occurred_at) is at or before t.
- Money is in integer minor units (cents). A contact's *main currency* is the currency of most of
  their purchases (ties: the larger total, then the alphabetically first code). `total_value`,
  `average_value` and `monetary` count purchases in the main currency only; `totals_by_currency`
  has every currency. `average_value` and `monetary` are floats of minor units.
- RFM follows Fader & Hardie as implemented by `lifetimes.utils.summary_data_from_transaction_data`
  with daily periods: purchases are grouped by UTC calendar day;
    frequency = number of distinct purchase days - 1,
    recency   = days from the first to the last purchase day,
    T         = days from the first purchase day to the day of the observation date,
    monetary  = mean value of the repeat purchase days (all days but the first; a day's value is
                the sum of its purchases), 0 when frequency is 0.
  In weeks, recency and T are those day counts / 7. A contact with no purchase has frequency 0,
  monetary 0 and no recency or T (None).
- Lifecycle, from the purchase times (thresholds below): "prospect" never bought; "new" first
  purchase less than 90 days ago; "active" last purchase less than 90 days ago; "at_risk" last
  purchase 90 to less than 180 days ago; "lapsed" last purchase 180 days ago or more.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

from domain.time import utc
from projections.segment_rules import FEATURES, Unit

DAY = timedelta(days=1)
NEW_CUSTOMER_DAYS = 90
"""A buyer whose first purchase is less than this many days old is "new"."""
AT_RISK_AFTER_DAYS = 90
"""A buyer whose last purchase is at least this many days old is "at_risk"..."""
LAPSED_AFTER_DAYS = 180
"""...and "lapsed" from this many days on."""

Lifecycle = Literal["prospect", "new", "active", "at_risk", "lapsed"]


def _days(delta: timedelta) -> float:
    return delta / DAY


class Purchase(NamedTuple):
    """One purchase as features need it; a plain (occurred_at, amount, currency) tuple works too."""

    occurred_at: datetime
    amount: int
    currency: str


class ContactFeatures(BaseModel):
    """A contact's features as of one moment (see the module docstring for the conventions)."""

    model_config = ConfigDict(frozen=True)

    as_of: datetime
    unit: Unit
    created_at: datetime | None
    purchase_count: int
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    currency: str | None
    """The main currency (most purchases); None without purchases."""
    total_value: int
    """Minor units spent in the main currency."""
    average_value: float
    """Mean purchase amount in the main currency, in minor units (0 without purchases)."""
    totals_by_currency: dict[str, int]
    last_interaction_at: datetime | None
    consent: dict[str, bool]
    """Channel -> granted, for the channels the contact ever decided on."""
    reactivations: int
    lifecycle: Lifecycle
    frequency: int
    recency: float | None
    T: float | None
    monetary: float
    days_since_created: float | None
    days_since_first_purchase: float | None
    days_since_last_purchase: float | None
    days_since_last_interaction: float | None

    def value(self, feature: str) -> Any:
        """A feature by the name segment rules use; `consent_<channel>` is False when never given."""
        if feature not in FEATURES:
            raise KeyError(f"unknown feature {feature!r}")
        if feature.startswith("consent_"):
            return self.consent.get(feature.removeprefix("consent_"), False)
        return getattr(self, feature)


def _main_currency(purchases: Sequence[Purchase]) -> str | None:
    if not purchases:
        return None
    counts = Counter(p.currency for p in purchases)
    totals: Counter[str] = Counter()
    for p in purchases:
        totals[p.currency] += p.amount
    return min(counts, key=lambda c: (-counts[c], -totals[c], c))


def lifecycle_of(first_purchase_at: datetime | None, last_purchase_at: datetime | None, as_of: datetime) -> Lifecycle:
    """prospect / new / active / at_risk / lapsed (thresholds: the module constants)."""
    if first_purchase_at is None or last_purchase_at is None:
        return "prospect"
    if as_of - first_purchase_at < timedelta(days=NEW_CUSTOMER_DAYS):
        return "new"
    since_last = as_of - last_purchase_at
    if since_last < timedelta(days=AT_RISK_AFTER_DAYS):
        return "active"
    if since_last < timedelta(days=LAPSED_AFTER_DAYS):
        return "at_risk"
    return "lapsed"


def contact_features(
    created_at: datetime | None,
    purchases: Iterable[tuple[datetime, int, str]],
    interactions: Iterable[datetime],
    consents: Mapping[str, bool],
    as_of: datetime,
    unit: Unit = "days",
    reactivations: int = 0,
) -> ContactFeatures:
    """A contact's features as of `as_of`. Purchases and interactions after `as_of` are ignored;
    `consents` and `reactivations` are taken as given (already as of `as_of`)."""
    as_of = utc(as_of)
    bought = sorted(
        (Purchase(utc(p[0]), p[1], p[2]) for p in purchases if utc(p[0]) <= as_of),
        key=lambda p: p.occurred_at,
    )
    seen = [t for t in (utc(i) for i in interactions) if t <= as_of]
    last_interaction_at = max(seen) if seen else None

    currency = _main_currency(bought)
    in_main = [p for p in bought if p.currency == currency]
    total_value = sum(p.amount for p in in_main)
    totals_by_currency: dict[str, int] = {}
    for p in bought:
        totals_by_currency[p.currency] = totals_by_currency.get(p.currency, 0) + p.amount

    first_at = bought[0].occurred_at if bought else None
    last_at = bought[-1].occurred_at if bought else None

    # RFM on calendar days (UTC)
    day_values: dict[date, int] = {}
    for p in bought:
        day = p.occurred_at.date()
        day_values[day] = day_values.get(day, 0) + (p.amount if p.currency == currency else 0)
    days = sorted(day_values)
    scale = 7.0 if unit == "weeks" else 1.0
    frequency = max(len(days) - 1, 0)
    recency = (days[-1] - days[0]).days / scale if days else None
    big_t = (as_of.date() - days[0]).days / scale if days else None
    repeat_values = [day_values[d] for d in days[1:]]
    monetary = sum(repeat_values) / len(repeat_values) if repeat_values else 0.0

    def since(moment: datetime | None) -> float | None:
        return None if moment is None else _days(as_of - moment)

    return ContactFeatures(
        as_of=as_of,
        unit=unit,
        created_at=utc(created_at) if created_at is not None else None,
        purchase_count=len(bought),
        first_purchase_at=first_at,
        last_purchase_at=last_at,
        currency=currency,
        total_value=total_value,
        average_value=total_value / len(in_main) if in_main else 0.0,
        totals_by_currency=totals_by_currency,
        last_interaction_at=last_interaction_at,
        consent=dict(consents),
        reactivations=reactivations,
        lifecycle=lifecycle_of(first_at, last_at, as_of),
        frequency=frequency,
        recency=recency,
        T=big_t,
        monetary=float(monetary),
        days_since_created=since(utc(created_at) if created_at is not None else None),
        days_since_first_purchase=since(first_at),
        days_since_last_purchase=since(last_at),
        days_since_last_interaction=since(last_interaction_at),
    )
