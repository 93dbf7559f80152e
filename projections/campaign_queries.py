"""Questions asked of the campaign costs read model: what each campaign cost as of a business time
(and as known at a transaction time), and the arithmetic of return on that spend.

Money stays integer minor units per currency. A ratio of two amounts is only taken within one
currency: the CRM keeps no exchange rates, so an answer that would mix currencies is None."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime

from domain.time import utc
from projections.campaign_costs import CAMPAIGN_COSTS
from projections.row_changes import Reader

Amounts = Mapping[str, int]
"""Minor units per currency."""


def costs_as_of(reader: Reader, as_of: datetime, known_at: datetime | None = None) -> dict[str, dict[str, int]]:
    """Per campaign, the sum per currency of its costs spent by `as_of` (occurred_at <= as_of) and,
    with `known_at`, recorded by then (recorded_at <= known_at)."""
    sql = f"SELECT campaign, currency, amount FROM {CAMPAIGN_COSTS.name} WHERE occurred_at <= ?"
    params: list[object] = [utc(as_of)]
    if known_at is not None:
        sql, params = sql + " AND recorded_at <= ?", [*params, utc(known_at)]
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in reader.fetch(sql, params):
        totals[row["campaign"]][row["currency"]] += int(row["amount"])
    return {campaign: dict(sorted(amounts.items())) for campaign, amounts in sorted(totals.items())}


def return_on(won: Amounts, cost: Amounts) -> float | None:
    """ROI = (won - cost) / cost, when the cost is in one currency only, more than 0, and nothing
    was won in another currency (nothing won counts as 0 won: ROI -1); else None."""
    if len(cost) != 1:
        return None
    currency, spent = next(iter(cost.items()))
    if spent <= 0 or set(won) - {currency}:
        return None
    return (won.get(currency, 0) - spent) / spent


def per_lead(cost: Amounts, leads: int) -> dict[str, int]:
    """Cost per lead in each currency, rounded to whole minor units (half to even); {} without leads."""
    if leads <= 0:
        return {}
    return {currency: round(amount / leads) for currency, amount in cost.items()}


def shared_out(cost: Amounts, weights: Sequence[int]) -> list[dict[str, int]]:
    """The cost split into one share per weight, in proportion to the weights, each currency by
    largest remainder so that the shares add up to the cost exactly (ties to the earlier share);
    all of it to the first share when every weight is 0."""
    if not weights:
        return []
    total = sum(weights)
    shares: list[dict[str, int]] = [{} for _ in weights]
    for currency, amount in cost.items():
        if total <= 0:
            parts = [amount] + [0] * (len(weights) - 1)
        else:
            parts = [amount * w // total for w in weights]
            left = amount - sum(parts)
            order = sorted(range(len(weights)), key=lambda i: (-(amount * weights[i] % total), i))
            for i in order[:left]:
                parts[i] += 1
        for share, part in zip(shares, parts, strict=True):
            if part:
                share[currency] = part
    return shares
