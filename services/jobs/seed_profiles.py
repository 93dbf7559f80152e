"""Other reproducible synthetic histories than `seed.seed_history`'s, written the same way (through
the application's commands), to check models on more than one kind of business.

`quarterly`: 18 months with a growing, uneven monthly volume of leads (each month's share drawn at
random, x 0.6..1.4, around a 60 % growth over the span), reps who pull the wins due in a quarter's
last two months into its last ten days, deals that go stale (a fifth of the leads stop for two to
six months before their outcome, and win half as often), and deal values that follow the estimate
(x 0.6..1.5) instead of being drawn anew.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from domain.values import Stage
from services.app.application import Context, CrmApplication
from services.app.commands import (
    AssignLead,
    CaptureLead,
    ChangeStage,
    ConvertLead,
    DisqualifyLead,
    LogInteraction,
)
from services.jobs.seed import (
    _COMPANIES,
    _DISQUALIFY_REASONS,
    _FIRST,
    _KINDS,
    _LAST,
    _PROGRESSION,
    _SOURCES,
    _TITLES,
    REPS,
    SeedReport,
    _Clock,
    _customer_story,
    _weighted,
    hire_the_team,
)

PROFILES = ("quarterly",)
"""The histories `seed_profile` writes (besides `crm seed`'s default one)."""

MONTHS = 18
"""How many months the `quarterly` history spans (before `end`)."""

QUARTER_PUSH = 0.6
"""Share of the `quarterly` wins due in a quarter's last two months that close in its last ten days."""

STALE_SHARE = 0.2
"""Share of the `quarterly` leads that stall for 60..180 days before their outcome."""


def seed_profile(
    app: CrmApplication,
    profile: str,
    leads: int,
    seed: int = 7,
    end: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> SeedReport:
    """Write `leads` lead stories of `profile` over the MONTHS months before `end` (today, UTC midnight,
    by default). The same profile, seed and end give the same history; a rerun appends nothing new."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: one of {', '.join(PROFILES)}")
    end = end or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=MONTHS * 365 / 12)
    head_before = app.head_position()
    began = datetime.now(UTC)
    hire_the_team(app, Context(actor="system:seed", correlation_id=f"seed:{profile}:{seed}:team"))
    plan = random.Random(f"{profile}:{seed}:months")
    weights = [(1.0 + 0.6 * month / (MONTHS - 1)) * plan.uniform(0.6, 1.4) for month in range(MONTHS)]
    for index in range(leads):
        rng = random.Random(f"{profile}:{seed}:{index}")
        month = rng.choices(range(MONTHS), weights=weights)[0]
        captured_at = start + timedelta(days=month * 365 / 12 + rng.uniform(0, 365 / 12))
        clock = _Clock(rng, captured_at, end)
        _quarterly_story(app, rng, clock, f"seed:{profile}:{seed}:{index}")
        if progress:
            progress(index + 1)
    seconds = (datetime.now(UTC) - began).total_seconds()
    return SeedReport(leads=leads, events=app.head_position() - head_before, seconds=seconds)


def _quarter_end(moment: datetime) -> datetime:
    """The first instant after the calendar quarter of `moment`."""
    month = (moment.month - 1) // 3 * 3 + 4
    year = moment.year + (month > 12)
    return datetime(year, (month - 1) % 12 + 1, 1, tzinfo=UTC)


def _quarterly_story(app: CrmApplication, rng: random.Random, clock: _Clock, key: str) -> None:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    company = rng.choice(_COMPANIES)
    estimate = rng.randrange(1_000_00, 80_000_00, 100)
    marketing = Context(actor="system:marketing", correlation_id=f"{key}:capture", shared_keys=True)
    captured = app.capture_lead(
        CaptureLead(
            name=f"{first} {last}",
            email=f"{first}.{last}.q{key.rsplit(':', 1)[-1]}@{company.lower()}.example".lower(),
            company=company,
            title=rng.choice(_TITLES),
            source=_weighted(rng, _SOURCES),  # type: ignore[arg-type]
            campaign=rng.choice((None, "q-push", "webinar-series")),
            estimated_value=estimate,
            currency="USD",
            idempotency_key=key,
            occurred_at=clock.now,
        ),
        marketing,
    )
    if captured.position is None:
        return  # already seeded by an earlier run
    lead_id = captured.id
    rep = rng.choice(REPS)
    sales = Context(actor=rep, correlation_id=f"{key}:sales")
    if (at := clock.advance(1, 72)) is None:
        return
    app.assign_lead(lead_id, AssignLead(owner=rep, occurred_at=at), Context("manager", f"{key}:assign"))

    reached = -1
    for _ in range(rng.randint(1, 12)):
        if (at := clock.advance(12, 24 * 14)) is None:
            return
        app.log_lead_interaction(lead_id, LogInteraction(kind=_weighted(rng, _KINDS), occurred_at=at), sales)  # type: ignore[arg-type]
        if reached + 1 < len(_PROGRESSION) and rng.random() < 0.4:
            reached += 1
            app.change_stage(lead_id, ChangeStage(stage=_PROGRESSION[reached], occurred_at=at), sales)

    stalls = rng.random() < STALE_SHARE
    if (at := clock.advance(24 * 60, 24 * 180) if stalls else clock.advance(24, 24 * 40)) is None:
        return
    outcome = rng.random()
    win_chance = (0.05 + 0.11 * max(reached, 0)) * (0.5 if stalls else 1.0)
    if outcome < win_chance:
        # reps pull the wins due in a quarter's last two months into its last ten days
        close_by = _quarter_end(at)
        if close_by - at < timedelta(days=61) and rng.random() < QUARTER_PUSH:
            hours = (close_by - timedelta(hours=rng.uniform(2, 24 * 10)) - at).total_seconds() / 3600
            if hours > 0 and (moved := clock.advance(hours, hours)) is not None:
                at = moved
        deal = round(estimate * rng.uniform(0.6, 1.5) / 100) * 100
        converted = app.convert_lead(lead_id, ConvertLead(deal_value=deal, currency="USD", occurred_at=at), sales)
        assert converted.related_id is not None
        _customer_story(app, rng, clock, converted.related_id, key, rep)
    elif outcome < win_chance + 0.35:
        app.disqualify_lead(lead_id, DisqualifyLead(reason=rng.choice(_DISQUALIFY_REASONS), occurred_at=at), sales)
    elif stalls and reached != _PROGRESSION.index(Stage.NURTURING) and rng.random() < 0.5:
        app.change_stage(lead_id, ChangeStage(stage=Stage.NURTURING, occurred_at=at), sales)
