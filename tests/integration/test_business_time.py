"""A lead's timeline in business time: as-of reads fold its events in occurred_at order, as known
at a recording time, and back-dated commands are placed at their business time or refused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from uuid import UUID

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domain.errors import DomainError, TimelineConflict
from domain.timeline import check_timeline
from domain.values import InteractionKind, Stage
from services.app.application import AuditEntry, Context, CrmApplication
from services.app.commands import AssignLead, ChangeStage, ConvertLead, DisqualifyLead, LogInteraction, RescoreLead
from services.app.errors import LeadNotFound
from tests.integration.conftest import BACKENDS
from tests.integration.factories import ALICE, capture

CAPTURED_AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    """So many hours after the lead was captured, in business time."""
    return CAPTURED_AT + timedelta(hours=hours)


def stage(app: CrmApplication, lead_id: UUID, to: str, hours: float) -> None:
    app.change_stage(lead_id, ChangeStage(stage=Stage(to), occurred_at=at(hours)), ALICE)


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
class TestBackDatedCommands:
    def test_a_stage_change_dated_between_two_others_is_placed_at_its_business_time(self, app: CrmApplication) -> None:
        lead_id = app.capture_lead(capture(occurred_at=CAPTURED_AT), ALICE).id
        stage(app, lead_id, "contacted", 24)
        stage(app, lead_id, "qualified", 72)
        stage(app, lead_id, "nurturing", 48)

        assert app.get_lead(lead_id).stage == Stage.QUALIFIED, "now is the latest business time"
        assert app.get_lead(lead_id, as_of=at(50)).stage == Stage.NURTURING
        assert app.get_lead(lead_id, as_of=at(30)).stage == Stage.CONTACTED
        assert app.get_lead(lead_id).stage_entered_at == at(72)

    def test_a_conversion_dated_before_a_later_stage_change_is_refused_and_appends_nothing(
        self, app: CrmApplication
    ) -> None:
        lead_id = app.capture_lead(capture(occurred_at=CAPTURED_AT), ALICE).id
        stage(app, lead_id, "contacted", 24)
        stage(app, lead_id, "qualified", 72)
        head, version = app.head_position(), app.get_lead(lead_id).version

        with pytest.raises(TimelineConflict) as refused:
            app.convert_lead(lead_id, ConvertLead(deal_value=100_00, occurred_at=at(48)), ALICE)

        assert refused.value.event_type == "lead.stage_changed"
        assert refused.value.version == version and refused.value.occurred_at == at(72).isoformat()
        assert (app.head_position(), app.get_lead(lead_id).version) == (head, version)
        assert app.get_lead(lead_id).stage == Stage.QUALIFIED

    def test_a_stage_change_dated_before_an_existing_conversion_is_accepted_before_it(
        self, app: CrmApplication
    ) -> None:
        lead_id = app.capture_lead(capture(occurred_at=CAPTURED_AT), ALICE).id
        app.convert_lead(lead_id, ConvertLead(deal_value=100_00, occurred_at=at(72)), ALICE)

        stage(app, lead_id, "proposal", 24)

        assert app.get_lead(lead_id).stage == Stage.CONVERTED
        assert app.get_lead(lead_id, as_of=at(30)).stage == Stage.PROPOSAL
        stages = [e.data.get("stage") or e.event_type for e in in_business_order(app.history(lead_id))]
        assert stages.index("proposal") < stages.index("lead.converted")

    def test_a_conversion_dated_before_an_automatic_decay_score_is_accepted_and_the_score_stays_recorded(
        self, app: CrmApplication
    ) -> None:
        lead_id = app.capture_lead(capture(occurred_at=CAPTURED_AT), ALICE).id
        app.log_lead_interaction(lead_id, LogInteraction(kind=InteractionKind.MEETING, occurred_at=at(1)), ALICE)
        scored = app.get_lead(lead_id).version
        decay = Context(actor="automation:decay", correlation_id="timer-decay")
        decayed = app.rescore_lead(lead_id, RescoreLead(occurred_at=at(24 * 60)), decay).version
        assert decayed > scored, "sixty days on, the meeting's points have decayed"

        app.convert_lead(lead_id, ConvertLead(deal_value=100_00, occurred_at=at(24 * 30)), ALICE)

        assert app.get_lead(lead_id).stage == Stage.CONVERTED
        assert app.get_lead(lead_id, as_of=at(24 * 31)).stage == Stage.CONVERTED
        assert app.history(lead_id)[decayed - 1].event_type == "lead.scored", "the decay stays recorded"

    def test_a_conversion_dated_before_a_person_s_later_stage_change_is_still_refused_by_it(
        self, app: CrmApplication
    ) -> None:
        lead_id = app.capture_lead(capture(occurred_at=CAPTURED_AT), ALICE).id
        stage(app, lead_id, "contacted", 24)

        with pytest.raises(TimelineConflict):
            app.convert_lead(lead_id, ConvertLead(deal_value=100_00, occurred_at=at(12)), ALICE)

    def test_a_back_dated_stage_change_to_the_stage_it_was_in_then_is_refused(self, app: CrmApplication) -> None:
        lead_id = app.capture_lead(capture(occurred_at=CAPTURED_AT), ALICE).id
        stage(app, lead_id, "contacted", 24)
        stage(app, lead_id, "qualified", 72)

        with pytest.raises(DomainError):
            stage(app, lead_id, "contacted", 48)  # it was in contacted then, though not now

    def test_known_at_shows_the_record_as_it_was_known_before_a_back_dated_command(self, app: CrmApplication) -> None:
        lead_id = app.capture_lead(capture(occurred_at=CAPTURED_AT), ALICE).id
        stage(app, lead_id, "contacted", 24)
        known_before = app.history(lead_id)[-1].recorded_at
        stage(app, lead_id, "nurturing", 12)

        assert app.get_lead(lead_id, as_of=at(30)).stage == Stage.CONTACTED
        assert app.get_lead(lead_id, as_of=at(13)).stage == Stage.NURTURING
        assert app.get_lead(lead_id, as_of=at(13), known_at=known_before).stage == Stage.NEW
        with pytest.raises(LeadNotFound):
            app.get_lead(lead_id, as_of=at(-1))


# --- the property: every accepted history folds as a naive reference does -------------------


def in_business_order(entries: list[AuditEntry]) -> list[AuditEntry]:
    return sorted(entries, key=lambda e: (e.event_type != "lead.captured", e.occurred_at, e.version))


@dataclass
class Reference:
    """What a lead is, worked out from its audit trail by hand."""

    stage: str
    owner: str | None
    interactions: int
    score: int
    version: int
    stage_entered_at: datetime


def reference_fold(entries: list[AuditEntry], as_of: datetime | None, known_at: datetime | None) -> Reference | None:
    chosen = [
        e
        for e in entries
        if (as_of is None or e.occurred_at <= as_of) and (known_at is None or e.recorded_at <= known_at)
    ]
    ordered = in_business_order(chosen)
    if not ordered or ordered[0].event_type != "lead.captured":
        return None
    first = ordered[0]
    ref = Reference("new", first.data["owner"], 0, 0, max(e.version for e in chosen), first.occurred_at)
    closing = {"lead.converted": "converted", "lead.disqualified": "disqualified"}
    for e in ordered[1:]:
        if e.event_type in ("lead.stage_changed", *closing):
            ref.stage = str(e.data["stage"]) if e.event_type == "lead.stage_changed" else closing[e.event_type]
            ref.stage_entered_at = e.occurred_at
        elif e.event_type == "lead.assigned":
            ref.owner = str(e.data["owner"])
        elif e.event_type == "lead.interaction_logged":
            ref.interactions += 1
        elif e.event_type == "lead.scored":
            ref.score = int(str(e.data["score"]))
    return ref


OPEN_STAGES = ["new", "contacted", "nurturing", "qualified", "proposal", "negotiation"]
COMMANDS = st.lists(
    st.tuples(
        st.sampled_from(["stage", "stage", "stage", "assign", "interaction", "disqualify", "convert"]),
        st.integers(min_value=-6, max_value=240),
        st.integers(min_value=0, max_value=5),
    ),
    min_size=1,
    max_size=9,
)


def run(app: CrmApplication, lead_id: UUID, kind: str, hours: int, pick: int) -> None:
    when = at(hours)
    if kind == "stage":
        app.change_stage(lead_id, ChangeStage(stage=Stage(OPEN_STAGES[pick]), occurred_at=when), ALICE)
    elif kind == "assign":
        app.assign_lead(lead_id, AssignLead(owner=("alice", "bob")[pick % 2], occurred_at=when), ALICE)
    elif kind == "interaction":
        kinds = (InteractionKind.CALL, InteractionKind.MEETING, InteractionKind.WEB_VISIT)
        app.log_lead_interaction(lead_id, LogInteraction(kind=kinds[pick % 3], occurred_at=when), ALICE)
    elif kind == "disqualify":
        app.disqualify_lead(lead_id, DisqualifyLead(reason="no budget", occurred_at=when), ALICE)
    else:
        app.convert_lead(lead_id, ConvertLead(deal_value=100_00 * (pick + 1), occurred_at=when), ALICE)


def assert_folds_as_the_reference(
    app: CrmApplication, lead_id: UUID, as_of: datetime | None, known_at: datetime | None
) -> None:
    entries = app.history(lead_id)
    expected = reference_fold(entries, as_of, known_at)
    if expected is None:
        with pytest.raises(LeadNotFound):
            app.get_lead(lead_id, as_of=as_of, known_at=known_at)
        return
    if as_of is None and known_at is None:
        lead = app.get_lead(lead_id)
    else:
        lead = app.get_lead(lead_id, as_of=as_of, known_at=known_at)
    found = (lead.stage.value, lead.owner, len(lead.interactions), lead.score, lead.version, lead.stage_entered_at)
    wanted = (expected.stage, expected.owner, expected.interactions, expected.score, expected.version)
    assert found == (*wanted, expected.stage_entered_at)
    if as_of is not None:
        assert lead.stage_entered_at <= as_of, "time in the stage it is in is never negative"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=COMMANDS, probes=st.lists(st.tuples(st.integers(-10, 250), st.integers(0, 40)), max_size=6))
def test_every_accepted_history_folds_as_a_naive_reference_and_refusals_append_nothing(
    app: CrmApplication, commands: list[tuple[str, int, int]], probes: list[tuple[int, int]]
) -> None:
    lead_id = app.capture_lead(capture(occurred_at=CAPTURED_AT), ALICE).id
    for kind, hours, pick in commands:
        head, trail = app.head_position(), app.history(lead_id)
        back_dated = at(hours) < max(e.occurred_at for e in trail)
        try:
            run(app, lead_id, kind, hours, pick)
        except DomainError as refused:
            event(f"refused: {type(refused).__name__}")
            assert (app.head_position(), len(app.history(lead_id))) == (head, len(trail)), "a refusal appends nothing"
        else:
            event("accepted back-dated" if back_dated else "accepted in order")

    check_timeline(list(app.events.get(lead_id)))  # every event allowed where it stands
    assert_folds_as_the_reference(app, lead_id, None, None)  # now: the fold at the latest business time
    recorded = [e.recorded_at for e in app.history(lead_id)]
    for hours, index in probes:
        assert_folds_as_the_reference(app, lead_id, at(hours), recorded[index % len(recorded)])
        assert_folds_as_the_reference(app, lead_id, at(hours), None)
    # every stay in a stage, read off the folds at each business time, lasts zero or more
    times = sorted({e.occurred_at for e in app.history(lead_id)})
    entered = [app.get_lead(lead_id, as_of=t).stage_entered_at for t in times]
    assert all(a <= b for a, b in pairwise(entered)), "a stage is never left before it was entered"
