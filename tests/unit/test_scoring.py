"""Lead scoring: a pure function of facts, interactions, the scoring time and the model."""

from __future__ import annotations

import math
from datetime import timedelta
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.scoring import (
    DEFAULT_MODEL,
    ENGAGEMENT_CAP,
    MAX_SCORE,
    LeadFacts,
    ScoredInteraction,
    ScoringModel,
    decay,
    score_lead,
    title_points,
)
from domain.values import InteractionKind, LeadSource
from tests.unit.factories import T0, at

NO_FIT = LeadFacts(title=None, company=None, source=LeadSource.COLD_OUTREACH)  # 2 source points only


def engagement(*interactions: ScoredInteraction, when=T0, model: ScoringModel = DEFAULT_MODEL) -> float:
    """The engagement part of the score of a lead with no fit beyond its source."""
    return score_lead(NO_FIT, interactions, when, model).breakdown["engagement"]


# --- decay -----------------------------------------------------------------------------------


@pytest.mark.parametrize("half_life", [1.0, 7.0, 14.0, 30.5])
def test_decay_halves_after_one_half_life(half_life: float) -> None:
    # given / when / then
    assert decay(half_life, half_life) == pytest.approx(0.5)
    assert decay(2 * half_life, half_life) == pytest.approx(0.25)
    assert decay(0, half_life) == 1.0


def test_an_interaction_loses_half_its_points_after_one_half_life() -> None:
    # given a demo (15 points) 14 days before the scoring time
    demo = ScoredInteraction(InteractionKind.DEMO, T0)

    # when it is scored now, after one and after two half-lives
    # then it counts 15, 7.5 and 3.75
    assert engagement(demo, when=T0) == 15.0
    assert engagement(demo, when=at(days=14)) == 7.5
    assert engagement(demo, when=at(days=28)) == 3.75


@pytest.mark.parametrize("age_days", [-0.0001, -1, -365])
def test_decay_of_a_future_age_is_zero(age_days: float) -> None:
    # given / when / then
    assert decay(age_days, 14) == 0.0


def test_interactions_after_the_scoring_time_count_zero() -> None:
    # given a meeting one second after the scoring time
    future = ScoredInteraction(InteractionKind.MEETING, at(seconds=1))

    # when the lead is scored at T0
    # then the meeting is not counted yet
    assert engagement(future, when=T0) == 0.0


def test_an_interaction_at_the_scoring_time_counts_in_full() -> None:
    # given / when / then
    assert engagement(ScoredInteraction(InteractionKind.MEETING, T0), when=T0) == 12.0


@given(
    younger=st.floats(min_value=0, max_value=3650, allow_nan=False),
    extra=st.floats(min_value=0, max_value=3650, allow_nan=False),
    half_life=st.floats(min_value=0.1, max_value=365, allow_nan=False),
)
def test_decay_never_grows_with_age_and_stays_between_zero_and_one(
    younger: float, extra: float, half_life: float
) -> None:
    # given two ages, one older than the other
    older = younger + extra

    # when / then the older interaction never counts more, and no factor leaves [0, 1]
    assert 0.0 <= decay(older, half_life) <= decay(younger, half_life) <= 1.0


# --- caps ------------------------------------------------------------------------------------


def test_engagement_is_capped_at_sixty() -> None:
    # given five demos at the scoring time (75 points)
    demos = [ScoredInteraction(InteractionKind.DEMO, T0)] * 5

    # when the lead is scored
    score = score_lead(NO_FIT, demos, T0)

    # then engagement stops at 60
    assert ENGAGEMENT_CAP == 60.0
    assert score.breakdown["engagement"] == 60.0
    assert score.value == 62


def test_the_total_is_capped_at_one_hundred() -> None:
    # given a model that gives 50 points for a referral, and a perfect-fit, highly engaged lead
    generous = ScoringModel(source_points=MappingProxyType({LeadSource.REFERRAL: 50.0}))
    facts = LeadFacts(title="CEO", company="Acme", source=LeadSource.REFERRAL)
    demos = [ScoredInteraction(InteractionKind.DEMO, T0)] * 4

    # when it is scored: 60 + 15 + 5 + 50 = 130
    score = score_lead(facts, demos, T0, generous)

    # then the total stops at 100, while the breakdown still shows every part
    assert MAX_SCORE == 100
    assert score.value == 100
    assert sum(score.breakdown.values()) == 130


def test_the_default_model_cannot_exceed_ninety_five() -> None:
    # given the best possible lead under the default model
    facts = LeadFacts(title="Founder", company="Acme", source=LeadSource.REFERRAL)
    demos = [ScoredInteraction(InteractionKind.DEMO, T0)] * 10

    # when / then: 60 engagement + 15 title + 5 company + 15 source
    assert score_lead(facts, demos, T0).value == 95


@given(
    title=st.one_of(st.none(), st.text(max_size=40)),
    company=st.one_of(st.none(), st.text(max_size=20)),
    source=st.sampled_from(LeadSource),
    interactions=st.lists(
        st.tuples(st.sampled_from(InteractionKind), st.floats(min_value=-400, max_value=400, allow_nan=False)),
        max_size=30,
    ),
)
def test_every_score_is_an_integer_between_zero_and_one_hundred(
    title: str | None, company: str | None, source: LeadSource, interactions: list[tuple[InteractionKind, float]]
) -> None:
    # given any lead and any interactions, before or after the scoring time
    facts = LeadFacts(title=title, company=company, source=source)
    scored = [ScoredInteraction(kind, at(days=days)) for kind, days in interactions]

    # when it is scored
    score = score_lead(facts, scored, T0)

    # then the score is a whole number in range, and engagement within its cap
    assert isinstance(score.value, int)
    assert 0 <= score.value <= MAX_SCORE
    assert 0.0 <= score.breakdown["engagement"] <= ENGAGEMENT_CAP


# --- fit: title, company, source ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "points"),
    [
        ("CEO", 15.0),
        ("Chief Revenue Officer", 15.0),
        ("Co-Founder", 15.0),
        ("Owner", 15.0),
        ("President", 15.0),
        ("cto", 15.0),
        ("VP Sales", 12.0),
        ("VP, Marketing", 12.0),
        ("Vice-Chair", 12.0),
        ("Head of Growth", 12.0),
        ("Director of IT", 10.0),
        ("Engineering Manager", 6.0),
        ("Team Lead", 6.0),
        ("Software Engineer", 2.0),
        ("Leader of Things", 2.0),
        ("Headhunter", 2.0),
        ("", 0.0),
        (None, 0.0),
    ],
)
def test_title_points_come_from_the_first_matching_keyword_group(title: str | None, points: float) -> None:
    # given / when / then
    assert title_points(title) == points


def test_a_title_matching_several_groups_gets_the_most_senior_points() -> None:
    # given a title with words from the vp group and the chief group
    # when / then the chief group, listed first, wins
    assert title_points("Vice President") == 15.0
    assert title_points("Director, Head of Data") == 12.0
    assert title_points("Lead Director") == 10.0


@pytest.mark.parametrize(
    ("source", "points"),
    [
        (LeadSource.REFERRAL, 15.0),
        (LeadSource.PARTNER, 12.0),
        (LeadSource.REACTIVATION, 12.0),
        (LeadSource.EVENT, 10.0),
        (LeadSource.WEBINAR, 10.0),
        (LeadSource.WEB_FORM, 8.0),
        (LeadSource.SOCIAL, 5.0),
        (LeadSource.PAID_ADS, 5.0),
        (LeadSource.IMPORT, 3.0),
        (LeadSource.COLD_OUTREACH, 2.0),
    ],
)
def test_every_source_has_its_fit_points(source: LeadSource, points: float) -> None:
    # given / when
    score = score_lead(LeadFacts(title=None, company=None, source=source), [], T0)

    # then
    assert score.breakdown["fit_source"] == points
    assert score.value == points


@pytest.mark.parametrize(("company", "points"), [("Acme", 5.0), ("", 0.0), (None, 0.0)])
def test_a_known_company_is_worth_five_points(company: str | None, points: float) -> None:
    # given / when / then
    assert score_lead(LeadFacts(None, company, LeadSource.IMPORT), [], T0).breakdown["fit_company"] == points


def test_the_breakdown_names_engagement_and_the_three_fit_parts() -> None:
    # given / when
    score = score_lead(NO_FIT, [], T0)

    # then
    assert set(score.breakdown) == {"engagement", "fit_title", "fit_company", "fit_source"}


# --- hand-computed examples ----------------------------------------------------------------------


def test_a_hand_computed_score() -> None:
    # given a VP at a company, referred, with a meeting now, a webinar one half-life ago
    # and a demo next week (which does not count yet)
    facts = LeadFacts(title="VP of Sales", company="Acme", source=LeadSource.REFERRAL)
    interactions = [
        ScoredInteraction(InteractionKind.MEETING, T0),
        ScoredInteraction(InteractionKind.WEBINAR, at(days=-14)),
        ScoredInteraction(InteractionKind.DEMO, at(days=7)),
    ]

    # when it is scored at T0
    score = score_lead(facts, interactions, T0)

    # then engagement = 12 + 10/2 = 17, fit = 12 + 5 + 15 = 32, total 49
    assert score.breakdown == {"engagement": 17.0, "fit_title": 12.0, "fit_company": 5.0, "fit_source": 15.0}
    assert score.value == 49


def test_another_hand_computed_score_with_rounding() -> None:
    # given a manager with no company, from a web form, with an email click 7 days ago
    facts = LeadFacts(title="Marketing Manager", company=None, source=LeadSource.WEB_FORM)
    click = ScoredInteraction(InteractionKind.EMAIL_CLICK, T0 - timedelta(days=7))

    # when it is scored at T0
    score = score_lead(facts, [click], T0)

    # then engagement = 3 * 0.5 ** 0.5 = 2.1213, fit = 6 + 0 + 8, total 16.12 -> 16
    assert score.breakdown["engagement"] == round(3 / math.sqrt(2), 4) == 2.1213
    assert score.value == 16


def test_scoring_is_deterministic_and_independent_of_interaction_order() -> None:
    # given the same interactions in two orders
    a = ScoredInteraction(InteractionKind.CALL, at(days=-3))
    b = ScoredInteraction(InteractionKind.SOCIAL, at(days=-1))
    facts = LeadFacts("Director", "Acme", LeadSource.EVENT)

    # when / then they score the same
    assert score_lead(facts, [a, b], T0) == score_lead(facts, [b, a], T0)


def test_an_email_we_sent_earns_nothing_and_a_reply_counts_like_a_form() -> None:
    # given / when / then
    assert engagement(ScoredInteraction(InteractionKind.EMAIL_SENT, T0)) == 0.0
    assert engagement(ScoredInteraction(InteractionKind.EMAIL_REPLY, T0)) == 8.0
    assert engagement(ScoredInteraction(InteractionKind.EMAIL_REPLY, at(days=-14))) == 4.0


def test_every_interaction_kind_has_its_points() -> None:
    assert set(DEFAULT_MODEL.engagement_points) == set(InteractionKind)


def test_the_existing_points_are_unchanged_so_the_model_keeps_its_revision() -> None:
    # a history without the new kinds scores as revision 1 always did; the version names the same function
    old = {k: v for k, v in DEFAULT_MODEL.engagement_points.items() if k.value not in ("email_sent", "email_reply")}
    assert old == {
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
    }
    assert DEFAULT_MODEL.revision == 1


# --- the model ------------------------------------------------------------------------------------


def test_the_default_model_version_names_its_half_life() -> None:
    # given / when / then
    assert DEFAULT_MODEL.half_life_days == 14.0
    assert DEFAULT_MODEL.version == "engagement-fit/1/hl14d"


@pytest.mark.parametrize(
    ("half_life", "version"),
    [(7, "engagement-fit/1/hl7d"), (7.0, "engagement-fit/1/hl7d"), (10.5, "engagement-fit/1/hl10.5d")],
)
def test_the_model_version_changes_with_the_half_life(half_life: float, version: str) -> None:
    # given / when / then
    model = ScoringModel(half_life_days=half_life)
    assert model.version == version
    assert model.version != DEFAULT_MODEL.version


def test_the_model_version_names_its_name_and_revision() -> None:
    # given / when / then
    assert ScoringModel(name="fit-only", revision=3).version == "fit-only/3/hl14d"


@pytest.mark.parametrize("half_life", [0, 0.0, -1, -14.0, math.nan])
def test_a_model_with_a_non_positive_half_life_is_rejected(half_life: float) -> None:
    # given / when / then
    with pytest.raises(ValueError, match="half_life_days"):
        ScoringModel(half_life_days=half_life)


def test_a_shorter_half_life_decays_faster() -> None:
    # given a demo a week ago
    demo = ScoredInteraction(InteractionKind.DEMO, at(days=-7))

    # when it is scored under a 7-day and the default 14-day model
    fast = engagement(demo, model=ScoringModel(half_life_days=7))
    slow = engagement(demo)

    # then the 7-day model halves it, the 14-day one keeps ~71%
    assert fast == 7.5
    assert slow == round(15 / math.sqrt(2), 4)


def test_the_default_model_points_cannot_be_changed() -> None:
    # given / when / then the default model's tables are read-only
    with pytest.raises(TypeError):
        DEFAULT_MODEL.engagement_points[InteractionKind.DEMO] = 100.0  # type: ignore[index]
