"""Merging duplicate leads and contacts, and unmerging them: the guards and the fold."""

from __future__ import annotations

from typing import Any

import pytest

from domain.contact import Contact
from domain.errors import (
    HoldsMergedRecords,
    LeadAlreadyConverted,
    LeadAlreadyDisqualified,
    MergeFinal,
    MergeIntoItself,
    NotMerged,
    PersonErased,
    RecordMerged,
)
from domain.lead import Lead
from domain.merging import MergedLeadFigures
from domain.money import Money
from domain.values import ConsentChannel, InteractionKind, Stage
from tests.unit.factories import (
    a_contact,
    a_converted_lead,
    a_disqualified_lead,
    a_lead,
    a_settled_contact,
    a_settled_lead,
    at,
    kinds,
    meta,
    pending,
    replay,
    the_only,
)


def engaged_lead(interactions: int = 2) -> Lead:
    """A settled lead with some interactions (and the score they gave it)."""
    lead = a_settled_lead()
    for n in range(interactions):
        lead.log_interaction(InteractionKind.DEMO, None, meta(at=at(hours=n + 1)))
    lead.collect_events()
    return lead


# --- leads: merging ----------------------------------------------------------------------


def test_merging_a_lead_marks_the_duplicate_and_the_survivor_absorbs_its_figures() -> None:
    duplicate, survivor = engaged_lead(2), a_settled_lead()
    duplicate.merge_into(survivor, meta(at=at(days=1)))
    merged = the_only(pending(duplicate), Lead.MergedInto)
    absorbed = the_only(pending(survivor), Lead.Absorbed)
    assert merged.survivor_id == survivor.id and absorbed.duplicate_id == duplicate.id
    assert (merged.interactions, merged.score) == (2, duplicate.score)
    assert merged.last_interaction_at == at(hours=2)
    assert (absorbed.absorbed_interactions, absorbed.absorbed_score) == (2, duplicate.score)
    assert duplicate.merged_into == survivor.id
    assert survivor.absorbed == {duplicate.id: MergedLeadFigures(2, duplicate.score, at(hours=2))}


def test_a_survivor_of_several_duplicates_adds_their_interactions_and_keeps_the_highest_score() -> None:
    first, second, survivor = engaged_lead(1), engaged_lead(3), a_settled_lead()
    first.merge_into(survivor, meta(at=at(days=1)))
    second.merge_into(survivor, meta(at=at(days=1)))
    absorbed = [e for e in pending(survivor) if isinstance(e, Lead.Absorbed)]
    assert [a.absorbed_interactions for a in absorbed] == [1, 4]
    assert absorbed[-1].absorbed_score == max(first.score, second.score)


def test_a_merged_lead_refuses_every_other_command_naming_its_survivor() -> None:
    duplicate, survivor = a_settled_lead(), a_settled_lead()
    duplicate.merge_into(survivor, meta(at=at(days=1)))
    commands = [
        lambda m: duplicate.log_interaction(InteractionKind.CALL, None, m),
        lambda m: duplicate.assign("bob", m),
        lambda m: duplicate.change_stage(Stage.CONTACTED, m),
        lambda m: duplicate.disqualify("dup", m),
        lambda m: duplicate.convert(survivor.id, Money(1, "USD"), m),
        lambda m: duplicate.rescore(m),
        lambda m: duplicate.change_consent(ConsentChannel.EMAIL, True, m),
    ]
    for command in commands:
        with pytest.raises(RecordMerged, match=f"merged into lead {survivor.id}"):
            command(meta(at=at(days=2)))


def test_a_lead_is_not_merged_into_itself() -> None:
    lead = a_settled_lead()
    with pytest.raises(MergeIntoItself) as refused:
        lead.merge_into(lead, meta(at=at(days=1)))
    assert refused.value.field == "into"
    assert pending(lead) == []


@pytest.mark.parametrize(
    ("make_survivor", "error"),
    [(a_converted_lead, LeadAlreadyConverted), (a_disqualified_lead, LeadAlreadyDisqualified)],
)
def test_a_lead_is_not_merged_into_a_closed_lead(make_survivor: Any, error: type[Exception]) -> None:
    duplicate, survivor = a_settled_lead(), make_survivor()
    with pytest.raises(error):
        duplicate.merge_into(survivor, meta(at=at(days=2)))
    assert pending(duplicate) == [] and pending(survivor) == []


def test_a_closed_lead_is_not_merged() -> None:
    with pytest.raises(LeadAlreadyDisqualified):
        a_disqualified_lead().merge_into(a_settled_lead(), meta(at=at(days=2)))


def test_a_lead_is_not_merged_into_a_merged_or_an_erased_lead() -> None:
    merged, its_survivor, erased = a_settled_lead(), a_settled_lead(), a_settled_lead()
    merged.merge_into(its_survivor, meta(at=at(days=1)))
    erased.erase("request", meta(at=at(days=1)))
    with pytest.raises(RecordMerged):
        a_settled_lead().merge_into(merged, meta(at=at(days=2)))
    with pytest.raises(PersonErased):
        a_settled_lead().merge_into(erased, meta(at=at(days=2)))


def test_a_survivor_holding_duplicates_is_not_merged_until_they_are_unmerged() -> None:
    duplicate, survivor, other = a_settled_lead(), a_settled_lead(), a_settled_lead()
    duplicate.merge_into(survivor, meta(at=at(days=1)))
    with pytest.raises(HoldsMergedRecords):
        survivor.merge_into(other, meta(at=at(days=2)))
    duplicate.unmerge(survivor, meta(at=at(days=3)))
    survivor.merge_into(other, meta(at=at(days=4)))
    assert survivor.merged_into == other.id


# --- leads: unmerging --------------------------------------------------------------------


def state_of(aggregate: Any) -> dict[str, Any]:
    """What an aggregate holds, but its version, its last change's time and what awaits saving."""
    skip = {"_version", "_modified_on", "_pending_events", "_pending_timers"}
    return {k: v for k, v in vars(aggregate).items() if k not in skip}


def test_unmerging_a_lead_restores_both_exactly_as_they_were() -> None:
    duplicate, survivor = engaged_lead(2), a_settled_lead()
    before = (state_of(duplicate), state_of(survivor))
    duplicate.merge_into(survivor, meta(at=at(days=1)))
    assert (state_of(duplicate), state_of(survivor)) != before
    duplicate.unmerge(survivor, meta(at=at(days=2)))
    assert kinds(pending(duplicate)) == ["MergedInto", "Unmerged"]
    released = the_only(pending(survivor), Lead.Released)
    assert (released.duplicate_id, released.absorbed_interactions, released.absorbed_score) == (duplicate.id, 0, 0)
    assert (state_of(duplicate), state_of(survivor)) == before


def test_a_merge_and_its_undoing_replay_to_the_same_leads() -> None:
    duplicate, survivor = a_lead(), a_lead()
    duplicate.log_interaction(InteractionKind.WEBINAR, None, meta(at=at(hours=1)))
    duplicate.merge_into(survivor, meta(at=at(days=1)))
    duplicate_events, survivor_events = pending(duplicate), pending(survivor)
    assert replay(duplicate_events).merged_into == survivor.id
    assert replay(survivor_events).absorbed == survivor.absorbed
    duplicate.unmerge(survivor, meta(at=at(days=2)))
    assert replay(duplicate_events + pending(duplicate)).merged_into is None
    assert replay(survivor_events + pending(survivor)).absorbed == {}


def test_a_lead_not_merged_is_not_unmerged() -> None:
    lead, other = a_settled_lead(), a_settled_lead()
    with pytest.raises(NotMerged):
        lead.unmerge(other, meta(at=at(days=1)))


def test_a_merge_is_final_once_the_survivor_is_converted_or_erased() -> None:
    duplicate, survivor = a_settled_lead(), a_settled_lead()
    duplicate.merge_into(survivor, meta(at=at(days=1)))
    survivor.convert(duplicate.id, Money(1_000, "USD"), meta(at=at(days=2)))
    with pytest.raises(MergeFinal, match="converted"):
        duplicate.unmerge(survivor, meta(at=at(days=3)))
    other_duplicate, erased = a_settled_lead(), a_settled_lead()
    other_duplicate.merge_into(erased, meta(at=at(days=1)))
    erased.erase("request", meta(at=at(days=2)))
    with pytest.raises(MergeFinal, match="erased"):
        other_duplicate.unmerge(erased, meta(at=at(days=3)))


def test_a_merged_lead_can_still_be_erased_and_then_stays_merged() -> None:
    duplicate, survivor = a_settled_lead(), a_settled_lead()
    duplicate.merge_into(survivor, meta(at=at(days=1)))
    duplicate.erase("request", meta(at=at(days=2)))
    with pytest.raises(PersonErased):
        duplicate.unmerge(survivor, meta(at=at(days=3)))


def test_unmerging_a_lead_asks_for_its_decay_timer_again() -> None:
    duplicate, survivor = engaged_lead(1), a_settled_lead()
    duplicate.collect_timers()
    duplicate.merge_into(survivor, meta(at=at(days=1)))
    duplicate.unmerge(survivor, meta(at=at(days=2)))
    assert [t.kind for t in duplicate.collect_timers()] == ["decay"]


# --- contacts ----------------------------------------------------------------------------


def test_merging_a_contact_marks_both_and_unmerging_restores_them() -> None:
    duplicate, survivor = a_settled_contact(), a_settled_contact()
    duplicate.merge_into(survivor, meta(at=at(days=1)))
    assert duplicate.merged_into == survivor.id and survivor.absorbed == [duplicate.id]
    assert the_only(pending(duplicate), Contact.MergedInto).survivor_id == survivor.id
    assert the_only(pending(survivor), Contact.Absorbed).duplicate_id == duplicate.id
    duplicate.unmerge(survivor, meta(at=at(days=2)))
    assert duplicate.merged_into is None and survivor.absorbed == []
    assert kinds(pending(duplicate)) == ["Unmerged"] and kinds(pending(survivor)) == ["Released"]


def test_a_merged_contact_refuses_its_commands_naming_its_survivor() -> None:
    duplicate, survivor = a_settled_contact(), a_settled_contact()
    duplicate.merge_into(survivor, meta(at=at(days=1)))
    commands = [
        lambda m: duplicate.record_purchase("order-1", Money(100, "USD"), 1, m),
        lambda m: duplicate.log_interaction(InteractionKind.CALL, None, m),
        lambda m: duplicate.update_details({"name": "Someone Else"}, m),
        lambda m: duplicate.change_consent(ConsentChannel.EMAIL, True, m),
        lambda m: duplicate.reactivate(survivor.id, "more", m),
    ]
    for command in commands:
        with pytest.raises(RecordMerged, match=f"merged into contact {survivor.id}"):
            command(meta(at=at(days=2)))


def test_contact_merges_follow_the_same_rules_as_leads() -> None:
    contact, survivor, other = a_settled_contact(), a_settled_contact(), a_settled_contact()
    with pytest.raises(MergeIntoItself):
        contact.merge_into(contact, meta(at=at(days=1)))
    with pytest.raises(NotMerged):
        contact.unmerge(survivor, meta(at=at(days=1)))
    contact.merge_into(survivor, meta(at=at(days=1)))
    with pytest.raises(RecordMerged):
        other.merge_into(contact, meta(at=at(days=2)))
    with pytest.raises(HoldsMergedRecords):
        survivor.merge_into(other, meta(at=at(days=2)))
    survivor.erase("request", meta(at=at(days=3)))
    with pytest.raises(MergeFinal):
        contact.unmerge(survivor, meta(at=at(days=4)))
    with pytest.raises(PersonErased):
        other.merge_into(survivor, meta(at=at(days=4)))


def test_a_contact_merge_replays_from_its_events() -> None:
    duplicate, survivor = a_contact(), a_contact()
    duplicate.merge_into(survivor, meta(at=at(days=1)))
    assert replay(pending(duplicate)).merged_into == survivor.id
    assert replay(pending(survivor)).absorbed == [duplicate.id]
