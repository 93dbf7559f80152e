"""The pipeline read model in business time: a back-dated event rebuilds its lead's rows in
occurred_at order, so counts, stage intervals and owners as of any date agree with the lead's
own timeline, whatever order its events were recorded in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.values import Stage
from projections.pipeline_queries import lead_versions_at, pipeline_summary, stage_intervals_until
from services.app.application import AuditEntry, CrmApplication
from services.app.commands import AssignLead, ChangeStage, ErasePerson
from services.jobs.rebuild import verify
from services.settings import Settings
from services.storage.as_known import pipeline_as_known_at
from services.storage.read_model_store import ReadModelStore
from tests.integration.conftest import BACKENDS
from tests.integration.factories import ALICE, capture, caught_up, known_at_of
from tests.integration.test_business_time import COMMANDS, reference_fold, run

DURABLE = [p for p in BACKENDS if p.values[0] != "memory"]
CAPTURED_AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    """So many hours after the lead was captured, in business time."""
    return CAPTURED_AT + timedelta(hours=hours)


def recorded_one_by_one(
    app: CrmApplication, store: ReadModelStore, commands: list[tuple[str, int, int]]
) -> tuple[UUID, list[AuditEntry]]:
    """A lead captured at CAPTURED_AT and the commands run on it, each accepted event applied as
    it is recorded, back-dated or not (the refused ones skipped); the lead and its history."""
    lead_id = app.capture_lead(capture(occurred_at=CAPTURED_AT), ALICE).id
    for kind, hours, pick in commands:
        try:
            run(app, lead_id, kind, hours, pick)
        except DomainError:
            continue
        caught_up(app, store)
    caught_up(app, store)
    return lead_id, app.history(lead_id)


def stage(app: CrmApplication, lead_id: UUID, to: str, hours: float) -> None:
    app.change_stage(lead_id, ChangeStage(stage=Stage(to), occurred_at=at(hours)), ALICE)


def stays(store: ReadModelStore, lead_id: UUID) -> list[tuple[str, datetime, datetime | None]]:
    """The lead's stage intervals in business order."""
    intervals = stage_intervals_until(store, at(10_000))
    return sorted(
        ((i.stage, i.entered_at, i.left_at) for i in intervals if i.lead_id == str(lead_id)), key=lambda s: s[1]
    )


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
class TestPipelineInBusinessTime:
    def test_a_stage_change_dated_between_two_others_counts_the_lead_once_in_the_stage_it_was_in(
        self, app: CrmApplication, store: ReadModelStore
    ) -> None:
        lead_id = app.capture_lead(capture(occurred_at=CAPTURED_AT), ALICE).id
        stage(app, lead_id, "contacted", 24)
        stage(app, lead_id, "qualified", 72)
        caught_up(app, store)
        stage(app, lead_id, "nurturing", 48)  # recorded last, dated between the two
        caught_up(app, store)

        for hours, expected in [(30, "contacted"), (50, "nurturing"), (80, "qualified")]:
            summary = pipeline_summary(store, at(hours))
            counted = {s.stage: s.count for s in summary.stages if s.count}
            assert counted == {expected: 1}, f"as of +{hours}h"
        assert stays(store, lead_id) == [
            ("new", at(0), at(24)),
            ("contacted", at(24), at(48)),
            ("nurturing", at(48), at(72)),
            ("qualified", at(72), None),
        ]
        durations = pipeline_summary(store, at(100)).time_in_stage
        assert all(d.mean_days is None or d.mean_days >= 0 for d in durations)
        [row] = store.fetch("SELECT stage, stage_entered_at, version FROM pipeline_leads")
        newest = app.get_lead(lead_id).version
        assert (row["stage"], row["version"]) == ("qualified", newest), "now is the latest business time"

    def test_an_owner_is_credited_from_the_assignment_s_business_time_not_from_when_it_was_recorded(
        self, app: CrmApplication, store: ReadModelStore
    ) -> None:
        lead_id = app.capture_lead(capture(occurred_at=CAPTURED_AT, owner="alice"), ALICE).id
        stage(app, lead_id, "contacted", 48)
        app.assign_lead(lead_id, AssignLead(owner="bob", occurred_at=at(24)), ALICE)
        caught_up(app, store)

        owners = {h: {v.owner for v in lead_versions_at(store, at(h))} for h in (10, 30, 50)}
        assert owners == {10: {"alice"}, 30: {"bob"}, 50: {"bob"}}
        assert pipeline_summary(store, at(30), owner="bob").stage("new").count == 1
        assert pipeline_summary(store, at(10), owner="bob").open_count == 0
        [row] = store.fetch("SELECT owner, stage FROM pipeline_leads")
        assert (row["owner"], row["stage"]) == ("bob", "contacted")

    def test_the_journal_that_rebuilds_a_lead_holds_no_personal_data_and_an_erased_name_stays_erased(
        self, app: CrmApplication, store: ReadModelStore
    ) -> None:
        lead_id = app.capture_lead(capture(occurred_at=CAPTURED_AT, name="Ada Lovelace"), ALICE).id
        stage(app, lead_id, "contacted", 48)
        stage(app, lead_id, "nurturing", 24)  # a rebuild while the name is known
        caught_up(app, store)
        [row] = store.fetch("SELECT name FROM pipeline_leads")
        assert row["name"] == "Ada Lovelace", "the rebuild carried the name over"

        app.erase_person(lead_id, ErasePerson(reason="data subject request"), ALICE)
        stage(app, lead_id, "qualified", 36)  # a rebuild after the erasure
        caught_up(app, store)

        [row] = store.fetch("SELECT name FROM pipeline_leads")
        assert row["name"] == "[erased]"
        journal = " ".join(r["record"] for r in store.fetch("SELECT record FROM pipeline_lead_events"))
        assert "Ada" not in journal and "Lovelace" not in journal
        assert len(store.fetch("SELECT version FROM pipeline_lead_events")) == app.get_lead(lead_id).version


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_verify_checks_the_pipeline_against_a_fold_per_lead_and_catches_a_stay_that_does_not_end(
    app: CrmApplication, store: ReadModelStore, database_url: str
) -> None:
    lead_id = app.capture_lead(capture(occurred_at=CAPTURED_AT), ALICE).id
    stage(app, lead_id, "contacted", 24)
    stage(app, lead_id, "qualified", 72)
    caught_up(app, store)
    stage(app, lead_id, "nurturing", 48)
    app.assign_lead(lead_id, AssignLead(owner="bob", occurred_at=at(12)), ALICE)
    caught_up(app, store)
    settings_ = Settings(database_url=database_url)

    _, checks = verify(app, settings_)
    assert checks and all(c.same for c in checks), [c for c in checks if not c.same]

    with store.recorder.datastore.transaction(commit=True) as c:
        c.execute("UPDATE pipeline_stage_intervals SET left_at = NULL WHERE stage = 'contacted'")
    _, checks = verify(app, settings_)
    assert [c.table for c in checks if not c.same] == ["pipeline_stage_intervals"]


# --- the property: the pipeline as of any date is the lead's own fold then ---------------------

PROBES = st.lists(st.integers(-10, 250), min_size=1, max_size=6)


@pytest.mark.parametrize("database_url", [DURABLE[0]], indirect=True)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=COMMANDS, probes=PROBES)
def test_the_pipeline_as_of_any_date_answers_as_the_lead_s_fold_whatever_the_recording_order(
    app: CrmApplication, store: ReadModelStore, commands: list[tuple[str, int, int]], probes: list[int]
) -> None:
    lead_id, entries = recorded_one_by_one(app, store, commands)
    event(f"{sum(1 for a, b in zip(entries, entries[1:], strict=False) if b.occurred_at < a.occurred_at)} back-dated")

    lead = str(lead_id)
    for hours in probes:
        expected = reference_fold(entries, at(hours), None)
        versions = [v for v in lead_versions_at(store, at(hours)) if v.lead_id == lead]
        if expected is None:
            assert versions == []
            continue
        assert [(v.stage, v.owner) for v in versions] == [(expected.stage, expected.owner)], f"as of +{hours}h"
        counts = {s.stage: s.count for s in pipeline_summary(store, at(hours)).stages if s.count}
        assert counts.get(expected.stage, 0) >= 1 and sum(counts.values()) == len(lead_versions_at(store, at(hours)))
    mine = stays(store, lead_id)
    assert all(left is None or left >= entered for _, entered, left in mine), "no stay lasts less than nothing"
    assert all(a[2] == b[1] for a, b in zip(mine, mine[1:], strict=False)), "each stay ends where the next begins"
    assert mine[-1][2] is None


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_the_pipeline_as_known_at_a_past_moment_leaves_out_what_was_recorded_later(
    app: CrmApplication, store: ReadModelStore
) -> None:
    lead_id = app.capture_lead(capture(occurred_at=CAPTURED_AT), ALICE).id
    stage(app, lead_id, "contacted", 24)
    stage(app, lead_id, "qualified", 72)
    known_before = app.history(lead_id)[-1].recorded_at
    stage(app, lead_id, "nurturing", 48)  # learned later, dated between the two
    caught_up(app, store)

    believed = pipeline_as_known_at(store, known_before)
    try:
        assert [v.stage for v in lead_versions_at(believed, at(50))] == ["contacted"]
        assert [v.stage for v in lead_versions_at(store, at(50))] == ["nurturing"]
        assert pipeline_summary(believed, at(80)).stage("qualified").count == 1
        assert stays(believed, lead_id)[1] == ("contacted", at(24), at(72))
        [row] = believed.fetch("SELECT name FROM pipeline_leads")
        assert row["name"] == "[erased]", "the journal holds no personal data"
    finally:
        believed.close()


# --- the property over (as_of, known_at): the pipeline believed at a moment about any date -------

KNOWN_PROBES = st.lists(
    st.tuples(st.integers(-10, 250), st.one_of(st.none(), st.integers(0, 10))), min_size=1, max_size=4
)


@pytest.mark.parametrize("database_url", [DURABLE[0]], indirect=True)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=COMMANDS, probes=KNOWN_PROBES)
def test_the_pipeline_as_of_any_date_as_known_at_any_moment_answers_as_the_fold_of_what_was_recorded_then(
    app: CrmApplication,
    store: ReadModelStore,
    commands: list[tuple[str, int, int]],
    probes: list[tuple[int, int | None]],
) -> None:
    lead_id, entries = recorded_one_by_one(app, store, commands)
    event(f"{sum(1 for a, b in zip(entries, entries[1:], strict=False) if b.occurred_at < a.occurred_at)} back-dated")

    lead = str(lead_id)
    for hours, k in probes:
        known_at = known_at_of(entries, k)
        believed = store if known_at is None else pipeline_as_known_at(store, known_at)
        try:
            expected = reference_fold(entries, at(hours), known_at)
            versions = [v for v in lead_versions_at(believed, at(hours)) if v.lead_id == lead]
            if expected is None:
                assert versions == [], (hours, k)
            else:
                assert [(v.stage, v.owner) for v in versions] == [(expected.stage, expected.owner)], (hours, k)
                counts = {s.stage: s.count for s in pipeline_summary(believed, at(hours)).stages if s.count}
                assert counts.get(expected.stage, 0) >= 1, (hours, k)
            latest = reference_fold(entries, None, known_at)  # the lead row: as it stood as known then
            rows = believed.fetch("SELECT stage, version FROM pipeline_leads WHERE lead_id = ?", [lead])
            assert [(r["stage"], r["version"]) for r in rows] == (
                [] if latest is None else [(latest.stage, latest.version)]
            ), k
            mine = stays(believed, lead_id)
            assert all(a[2] == b[1] for a, b in zip(mine, mine[1:], strict=False)), (
                "each stay ends where the next begins"
            )
            assert all(left is None or left >= entered for _, entered, left in mine), "no stay lasts less than nothing"
        finally:
            if believed is not store:
                believed.close()
