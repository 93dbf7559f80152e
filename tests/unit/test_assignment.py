"""Assignment rules and the pure choice of a rep: which rule takes a lead, and which of its reps
gets it under each strategy, with away, inactive and full reps passed over."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from pydantic import ValidationError

from domain.assignment import (
    AssignmentRule,
    Choice,
    LeadProfile,
    RepLoad,
    RuleHistory,
    Workload,
    choose_rep,
    matching_rules,
)
from domain.team import User
from tests.unit.factories import a_lead


def rule(name: str = "all", **fields: Any) -> AssignmentRule:
    """A rule validated as the API validates it (round robin over anna, ben, cy by default)."""
    return AssignmentRule.model_validate(
        {"name": name, "strategy": "round_robin", "reps": ["anna", "ben", "cy"], **fields}
    )


def team(*ids: str, **overrides: dict[str, Any]) -> dict[str, User]:
    """Reps by id, each active, present and unlimited unless overridden."""
    return {i: User.model_validate({"id": i, "name": i.title(), "role": "rep", **overrides.get(i, {})}) for i in ids}


TEAM = team("anna", "ben", "cy", "dora")
LEAD = LeadProfile(source="web_form", campaign="spring", country="DE", score=40)


def picks(rules: list[AssignmentRule], people: dict[str, User], n: int, workload: Workload | None = None) -> list[str]:
    """The reps of n leads in a row, each choice carried out before the next."""
    workload = workload or Workload()
    chosen = []
    for _ in range(n):
        choice = choose_rep(rules, people, LEAD, workload)
        assert choice is not None
        chosen.append(choice.rep)
        workload = workload.picked(choice)
    return chosen


# --- the rules ---------------------------------------------------------------------------------


def test_a_rule_without_conditions_takes_every_lead() -> None:
    assert rule().when.accept(LeadProfile(source="import"))


@pytest.mark.parametrize(
    ("when", "accepted"),
    [
        ({"sources": ["web_form", "webinar"]}, True),
        ({"sources": ["referral"]}, False),
        ({"campaigns": ["spring"]}, True),
        ({"campaigns": ["autumn"]}, False),
        ({"countries": ["de", "AT"]}, True),
        ({"countries": ["FR"]}, False),
        ({"min_score": 40}, True),
        ({"min_score": 41}, False),
        ({"sources": ["web_form"], "countries": ["DE"], "min_score": 10, "campaigns": ["spring"]}, True),
        ({"sources": ["web_form"], "countries": ["FR"]}, False),
    ],
)
def test_a_rule_takes_a_lead_only_when_every_condition_given_holds(when: dict[str, Any], accepted: bool) -> None:
    assert rule(when=when).when.accept(LEAD) is accepted


def test_a_lead_without_a_campaign_or_country_matches_no_list_of_them() -> None:
    bare = LeadProfile(source="web_form", score=90)
    assert not rule(when={"campaigns": ["spring"]}).when.accept(bare)
    assert not rule(when={"countries": ["DE"]}).when.accept(bare)
    assert rule(when={"campaigns": [], "countries": []}).when.accept(bare)


def test_countries_are_upper_cased_and_must_be_two_letters() -> None:
    assert rule(when={"countries": ["de", " at "]}).when.countries == ("DE", "AT")
    with pytest.raises(ValidationError) as error:
        rule(when={"countries": ["DE", "Deutschland"]})
    assert [e["loc"] for e in error.value.errors()] == [("when", "countries", 1)]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"reps": []}, ("reps",)),
        ({"reps": ["anna", "anna"]}, ("reps",)),
        ({"reps": ["anna", "Ben"]}, ("reps", 1)),
        ({"strategy": "random"}, ("strategy",)),
        ({"strategy": "weighted"}, ("weights",)),
        ({"strategy": "weighted", "weights": {"anna": 1, "ben": 1}}, ("weights",)),
        ({"strategy": "weighted", "weights": {"anna": 1, "ben": 1, "cy": 1, "dora": 1}}, ("weights",)),
        ({"strategy": "weighted", "weights": {"anna": 1, "ben": 0, "cy": 1}}, ("weights", "ben")),
        ({"strategy": "round_robin", "weights": {"anna": 1, "ben": 1, "cy": 1}}, ("weights",)),
        ({"name": ""}, ("name",)),
        ({"name": "two\nlines"}, ("name",)),
        ({"when": {"min_score": 101}}, ("when", "min_score")),
        ({"when": {"sources": ["carrier_pigeon"]}}, ("when", "sources", 0)),
        ({"when": {"colour": ["red"]}}, ("when", "colour")),
    ],
)
def test_a_bad_rule_is_refused_naming_the_field(fields: dict[str, Any], field: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as error:
        rule(**fields)
    assert [e["loc"] for e in error.value.errors()] == [field]


def test_weights_are_kept_in_the_order_of_the_reps() -> None:
    weighted = rule(strategy="weighted", weights={"cy": 1, "anna": 3, "ben": 2})
    assert list(weighted.weights or {}) == ["anna", "ben", "cy"]


def test_the_lead_profile_of_a_lead_is_its_source_campaign_country_and_score() -> None:
    lead = a_lead(source="webinar", campaign="spring", country="AT")
    assert LeadProfile.of(lead) == LeadProfile(source="webinar", campaign="spring", country="AT", score=lead.score)


# --- which rule --------------------------------------------------------------------------------


def test_no_rules_or_no_matching_rule_chooses_no_one() -> None:
    assert choose_rep([], TEAM, LEAD, Workload()) is None
    assert choose_rep([rule(when={"countries": ["FR"]})], TEAM, LEAD, Workload()) is None


def test_the_first_matching_rule_takes_the_lead() -> None:
    rules = [
        rule("france", when={"countries": ["FR"]}, reps=["anna"]),
        rule("germany", when={"countries": ["DE"]}, reps=["ben"]),
        rule("everyone", reps=["cy"]),
    ]
    assert [r.name for r in matching_rules(rules, LEAD)] == ["germany", "everyone"]
    assert choose_rep(rules, TEAM, LEAD, Workload()) == Choice("germany", "ben")


def test_a_lead_falls_through_to_the_next_matching_rule_when_no_rep_of_the_first_is_available() -> None:
    rules = [rule("germany", when={"countries": ["DE"]}, reps=["anna", "ben"]), rule("overflow", reps=["dora"])]
    people = team("anna", "ben", "dora", anna={"away": True}, ben={"daily_capacity": 1})
    busy = Workload(reps={"ben": RepLoad(assigned_today=1)})
    assert choose_rep(rules, people, LEAD, busy) == Choice("overflow", "dora")


def test_no_one_is_chosen_when_every_rep_of_every_matching_rule_is_unavailable() -> None:
    people = team("anna", "ben", "cy", anna={"away": True}, ben={"active": False}, cy={"daily_capacity": 0})
    assert choose_rep([rule()], people, LEAD, Workload()) is None


def test_a_rep_who_is_not_on_the_team_is_passed_over() -> None:
    assert choose_rep([rule(reps=["ghost", "ben"])], TEAM, LEAD, Workload()) == Choice("all", "ben")


# --- round robin -------------------------------------------------------------------------------


def test_round_robin_gives_the_leads_in_turn_starting_with_the_first_rep() -> None:
    assert picks([rule()], TEAM, 7) == ["anna", "ben", "cy", "anna", "ben", "cy", "anna"]


def test_round_robin_continues_after_the_rules_last_pick() -> None:
    after_ben = Workload(rules={"all": RuleHistory(last_pick="ben")})
    assert picks([rule()], TEAM, 3, after_ben) == ["cy", "anna", "ben"]


def test_round_robin_starts_over_when_its_last_pick_is_no_longer_among_its_reps() -> None:
    gone = Workload(rules={"all": RuleHistory(last_pick="zed")})
    assert picks([rule()], TEAM, 2, gone) == ["anna", "ben"]


def test_round_robin_with_capacity_and_away_reps() -> None:
    # given anna is away, ben takes at most 2 leads a day and already has 1, cy and dora have no limit
    rules = [rule(reps=["anna", "ben", "cy", "dora"])]
    people = team("anna", "ben", "cy", "dora", anna={"away": True}, ben={"daily_capacity": 2})
    workload = Workload(reps={"ben": RepLoad(assigned_today=1, open_leads=9)})
    # when eight leads come in
    chosen = picks(rules, people, 8, workload)
    # then anna gets none, ben one (his second of the day), and cy and dora go on taking turns
    assert chosen == ["ben", "cy", "dora", "cy", "dora", "cy", "dora", "cy"]
    # and when anna is back (and a new day began for ben), the turn resumes after the last pick
    back = team("anna", "ben", "cy", "dora")
    last = Workload(rules={"all": RuleHistory(last_pick="cy")})
    assert picks(rules, back, 4, last) == ["dora", "anna", "ben", "cy"]


def test_round_robin_skips_an_inactive_rep() -> None:
    people = team("anna", "ben", "cy", ben={"active": False})
    assert picks([rule()], people, 4) == ["anna", "cy", "anna", "cy"]


# --- weighted ----------------------------------------------------------------------------------


def weighted(weights: dict[str, int]) -> AssignmentRule:
    return rule(strategy="weighted", reps=list(weights), weights=weights)


def test_weighted_is_a_smooth_weighted_round_robin() -> None:
    # nginx's sequence for weights 5, 1, 1: the heavy rep's turns are spread out, not bunched
    sequence = picks([weighted({"anna": 5, "ben": 1, "cy": 1})], TEAM, 14)
    assert [rep[0] for rep in sequence] == list("aabacaa" * 2)


def test_weighted_shares_the_leads_in_proportion_to_the_weights() -> None:
    sequence = picks([weighted({"anna": 3, "ben": 2, "cy": 1})], TEAM, 60)
    assert Counter(sequence) == {"anna": 30, "ben": 20, "cy": 10}
    # and never more than one turn ahead of its share at any point
    for n in range(1, 61):
        counts = Counter(sequence[:n])
        assert all(abs(counts[rep] - n * share) < 1 for rep, share in (("anna", 1 / 2), ("ben", 1 / 3), ("cy", 1 / 6)))


def test_weighted_gives_the_same_answer_for_the_same_picks_every_time() -> None:
    rules = [weighted({"anna": 2, "ben": 1})]
    history = Workload(rules={"all": RuleHistory(last_pick="anna", picks={"anna": 4, "ben": 1})})
    first = choose_rep(rules, TEAM, LEAD, history)
    assert first == choose_rep(rules, TEAM, LEAD, history) == Choice("all", "ben")


def test_weighted_passes_over_an_unavailable_rep_and_shares_among_the_others() -> None:
    people = team("anna", "ben", "cy", anna={"away": True})
    sequence = picks([weighted({"anna": 5, "ben": 2, "cy": 1})], people, 9)
    assert "anna" not in sequence and Counter(sequence) == {"ben": 6, "cy": 3}


def test_weighted_ties_go_to_the_first_rep_in_the_list() -> None:
    assert picks([weighted({"cy": 1, "anna": 1})], TEAM, 4) == ["cy", "anna", "cy", "anna"]


# --- least loaded ------------------------------------------------------------------------------


def least_loaded(*reps: str) -> AssignmentRule:
    return rule(strategy="least_loaded", reps=list(reps))


def test_least_loaded_picks_the_rep_with_the_fewest_open_leads() -> None:
    workload = Workload(reps={"anna": RepLoad(open_leads=5), "ben": RepLoad(open_leads=2), "cy": RepLoad(open_leads=3)})
    assert choose_rep([least_loaded("anna", "ben", "cy")], TEAM, LEAD, workload) == Choice("all", "ben")


def test_least_loaded_breaks_ties_by_fewest_assigned_today_then_by_rule_order() -> None:
    tied = Workload(
        reps={
            "anna": RepLoad(open_leads=2, assigned_today=3),
            "ben": RepLoad(open_leads=2, assigned_today=1),
            "cy": RepLoad(open_leads=2, assigned_today=1),
        }
    )
    assert choose_rep([least_loaded("anna", "cy", "ben")], TEAM, LEAD, tied) == Choice("all", "cy")
    assert choose_rep([least_loaded("anna", "ben", "cy")], TEAM, LEAD, tied) == Choice("all", "ben")


def test_least_loaded_evens_out_the_open_leads_as_it_assigns() -> None:
    workload = Workload(reps={"anna": RepLoad(open_leads=4), "ben": RepLoad(open_leads=1)})
    chosen = picks([least_loaded("anna", "ben", "cy")], TEAM, 8, workload)
    assert chosen == ["cy", "ben", "cy", "ben", "cy", "ben", "cy", "anna"]


def test_least_loaded_passes_over_a_rep_at_capacity_however_few_open_leads_they_have() -> None:
    people = team("anna", "ben", anna={"daily_capacity": 3})
    workload = Workload(reps={"anna": RepLoad(open_leads=0, assigned_today=3), "ben": RepLoad(open_leads=8)})
    assert choose_rep([least_loaded("anna", "ben")], people, LEAD, workload) == Choice("all", "ben")


# --- the workload ------------------------------------------------------------------------------


def test_carrying_out_a_choice_adds_a_lead_to_the_rep_and_a_pick_to_the_rule() -> None:
    before = Workload(reps={"anna": RepLoad(2, 7)}, rules={"all": RuleHistory("ben", {"anna": 1, "ben": 1})})
    after = before.picked(Choice("all", "anna"))
    assert after.of_rep("anna") == RepLoad(assigned_today=3, open_leads=8)
    assert after.of_rule("all") == RuleHistory(last_pick="anna", picks={"anna": 2, "ben": 1})
    assert before.of_rep("anna") == RepLoad(2, 7), "a snapshot does not change"
    assert after.of_rep("zed") == RepLoad() and after.of_rule("other") == RuleHistory()


def test_weighted_lets_a_rep_back_from_away_catch_up_on_their_share_of_the_rules_picks() -> None:
    rules = [weighted({"anna": 1, "ben": 1, "cy": 1})]
    while_away = Workload(rules={"all": RuleHistory(last_pick="cy", picks={"ben": 3, "cy": 3})})
    # anna gets the next leads until her share equals theirs (a tie goes to the first rep: her again)
    assert picks(rules, TEAM, 6, while_away) == ["anna", "anna", "anna", "anna", "ben", "cy"]
