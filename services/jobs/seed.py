"""A realistic, reproducible synthetic CRM history, written through the application's commands."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from domain.team import TeamRole
from domain.values import ConsentChannel, InteractionKind, LeadSource, Stage
from services.app.application import Context, CrmApplication
from services.app.commands import (
    AddUser,
    AssignLead,
    CaptureLead,
    ChangeConsent,
    ChangeStage,
    ConvertLead,
    DisqualifyLead,
    LogInteraction,
    ReactivateContact,
    RecordPurchase,
)

REPS = ("alice", "bob", "carol", "dave", "erin")
"""The seeded team: the reps every seeded lead is given to, added as users before the first story."""
_SOURCES = (
    (LeadSource.WEB_FORM, 30),
    (LeadSource.WEBINAR, 12),
    (LeadSource.REFERRAL, 10),
    (LeadSource.EVENT, 8),
    (LeadSource.COLD_OUTREACH, 12),
    (LeadSource.PAID_ADS, 14),
    (LeadSource.SOCIAL, 8),
    (LeadSource.PARTNER, 6),
)
_KINDS = (
    (InteractionKind.EMAIL_OPEN, 30),
    (InteractionKind.EMAIL_CLICK, 15),
    (InteractionKind.WEB_VISIT, 20),
    (InteractionKind.FORM_SUBMIT, 5),
    (InteractionKind.WEBINAR, 5),
    (InteractionKind.CALL, 10),
    (InteractionKind.MEETING, 6),
    (InteractionKind.DEMO, 4),
    (InteractionKind.SOCIAL, 5),
)
_FIRST = "Ada Alan Grace Linus Barbara Edsger Margaret Donald Frances Ken Radia Tim Hedy Dennis Katherine".split()
_LAST = "Lovelace Turing Hopper Torvalds Liskov Dijkstra Hamilton Knuth Allen Thompson Perlman Berners-Lee".split()
_COMPANIES = "Acme Globex Initech Umbrella Hooli Stark Wayne Tyrell Cyberdyne Soylent Wonka Aperture".split()
_TITLES = ("CEO", "CTO", "VP Sales", "Head of IT", "Director of Operations", "Engineering Manager", "Analyst", None)
_DISQUALIFY_REASONS = ("no budget", "no authority", "no need", "bad timing", "went with a competitor", "unreachable")
_INTERESTS = ("premium support", "additional seats", "analytics add-on", "annual plan upgrade")
_PROGRESSION = (Stage.CONTACTED, Stage.NURTURING, Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION)


def _weighted(rng: random.Random, table: tuple[tuple[object, int], ...]) -> object:
    values, weights = zip(*table, strict=True)
    return rng.choices(values, weights=weights)[0]


@dataclass
class SeedReport:
    """What a seed run wrote."""

    leads: int
    events: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        """Appended events per wall-clock second."""
        return self.events / self.seconds if self.seconds else 0.0


class _Clock:
    """Business time of one story: moves forward only and never past the end of the history."""

    def __init__(self, rng: random.Random, start: datetime, end: datetime) -> None:
        self.rng, self.now, self.end = rng, start, end

    def advance(self, min_hours: float, max_hours: float) -> datetime | None:
        step = timedelta(hours=self.rng.uniform(min_hours, max_hours))
        if self.now + step >= self.end:
            return None
        self.now += step
        return self.now


def seed_history(
    app: CrmApplication,
    leads: int,
    seed: int = 42,
    end: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> SeedReport:
    """Write `leads` lead stories spread over the 12 months before `end` (today, UTC midnight,
    by default). The same seed and end give the same history; a rerun appends nothing new."""
    end = end or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=365)
    head_before = app.head_position()
    began = datetime.now(UTC)
    hire_the_team(app, Context(actor="system:seed", correlation_id=f"seed:{seed}:team"))
    for index in range(leads):
        rng = random.Random(f"{seed}:{index}")
        clock = _Clock(rng, start + timedelta(seconds=rng.uniform(0, 365 * 86400 * 0.97)), end)
        _lead_story(app, rng, clock, f"seed:{seed}:{index}")
        if progress:
            progress(index + 1)
    seconds = (datetime.now(UTC) - began).total_seconds()
    return SeedReport(leads=leads, events=app.head_position() - head_before, seconds=seconds)


def hire_the_team(app: CrmApplication, ctx: Context) -> None:
    """Put the seeded reps on the team, those who are not on it already (a rerun adds no one)."""
    on_the_team = {user.id for user in app.users()}
    for rep in REPS:
        if rep not in on_the_team:
            app.add_user(AddUser(id=rep, name=rep.title(), role=TeamRole.REP), ctx)


def _lead_story(app: CrmApplication, rng: random.Random, clock: _Clock, key: str) -> None:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    company = rng.choice(_COMPANIES)
    # the seed's keys are shared (not its actors' own), so that a re-run finds every lead it made
    marketing = Context(actor="system:marketing", correlation_id=f"{key}:capture", shared_keys=True)
    captured = app.capture_lead(
        CaptureLead(
            name=f"{first} {last}",
            email=f"{first}.{last}.{key.rsplit(':', 1)[-1]}@{company.lower()}.example".lower(),
            company=company,
            title=rng.choice(_TITLES),
            source=_weighted(rng, _SOURCES),  # type: ignore[arg-type]
            campaign=rng.choice((None, "spring-launch", "webinar-series", "black-friday")),
            estimated_value=rng.randrange(500_00, 50_000_00, 100),
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
    if (at := clock.advance(1, 48)) is None:
        return
    app.assign_lead(lead_id, AssignLead(owner=rep, occurred_at=at), Context("manager", f"{key}:assign"))

    reached = -1
    for _ in range(rng.randint(1, 10)):
        if (at := clock.advance(6, 24 * 10)) is None:
            return
        kind = _weighted(rng, _KINDS)
        app.log_lead_interaction(lead_id, LogInteraction(kind=kind, occurred_at=at), sales)  # type: ignore[arg-type]
        if reached + 1 < len(_PROGRESSION) and rng.random() < 0.45:
            reached += 1
            app.change_stage(lead_id, ChangeStage(stage=_PROGRESSION[reached], occurred_at=at), sales)

    outcome = rng.random()
    if (at := clock.advance(24, 24 * 30)) is None:
        return
    win_chance = 0.08 + 0.12 * max(reached, 0)
    if outcome < win_chance:
        deal = rng.randrange(500_00, 60_000_00, 100)
        converted = app.convert_lead(lead_id, ConvertLead(deal_value=deal, currency="USD", occurred_at=at), sales)
        assert converted.related_id is not None
        _customer_story(app, rng, clock, converted.related_id, key, rep)
    elif outcome < win_chance + 0.3:
        app.disqualify_lead(lead_id, DisqualifyLead(reason=rng.choice(_DISQUALIFY_REASONS), occurred_at=at), sales)


def _customer_story(
    app: CrmApplication, rng: random.Random, clock: _Clock, contact_id: UUID, key: str, rep: str
) -> None:
    shop = Context(actor="service:shop", correlation_id=f"{key}:shop")
    if rng.random() < 0.7 and (at := clock.advance(1, 72)) is not None:
        app.change_consent(contact_id, ChangeConsent(channel=ConsentChannel.EMAIL, granted=True, occurred_at=at), shop)
    for order in range(rng.randint(0, 6)):
        if (at := clock.advance(24 * 3, 24 * 60)) is None:
            return
        amount = rng.randrange(9_99, 900_00, 1)
        app.record_purchase(
            contact_id,
            RecordPurchase(order_id=f"{key}:order:{order}", amount=amount, quantity=rng.randint(1, 5), occurred_at=at),
            shop,
        )
    if rng.random() < 0.2 and (at := clock.advance(24, 24 * 60)) is not None:
        reactivated = app.reactivate_contact(
            contact_id,
            ReactivateContact(
                interest=rng.choice(_INTERESTS), owner=rep, idempotency_key=f"{key}:reactivate", occurred_at=at
            ),
            Context(actor=rep, correlation_id=f"{key}:reactivate", shared_keys=True),
        )
        if rng.random() < 0.5 and (at := clock.advance(24, 24 * 20)) is not None:
            app.change_stage(
                reactivated.related_id,  # type: ignore[arg-type]
                ChangeStage(stage=Stage.QUALIFIED, occurred_at=at),
                Context(actor=rep, correlation_id=f"{key}:reactivate"),
            )
