"""Assignment rules, and the pure choice of the rep a new lead goes to.

A rule says which leads it takes (`when`: sources, campaigns, countries, a minimum score) and
how it shares them among its reps (`strategy`). The rules form one ordered list, kept by the
Workspace; `choose_rep` walks it for a lead:

- the first rule whose conditions the lead meets picks one of its reps who takes new leads
  (active, not away, below their daily capacity);
- when every rep of that rule is unavailable, the lead falls through to the next matching rule
  (so a last, catch-all rule can take what a team cannot), and None comes back when no rule
  matches or no matching rule has anyone available.

The choice is a function of its inputs only (the rules, the team, the lead's facts and a
snapshot of the workload), never of a clock or chance, so that a replay or a what-if simulation
makes exactly the choices that were made. Whoever calls it fills the workload from what it
knows: open leads and today's assignments per rep from the pipeline read model
(`projections.pipeline_queries.open_leads_by_owner` and `assignments_since`), and per rule its
last pick and its picks per rep from its own record of what it assigned; `Workload.picked`
gives the snapshot after a choice, for the next lead of a batch or a simulation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from domain.team import User, UserId
from domain.text import single_line
from domain.values import CountryCode, LeadSource

if TYPE_CHECKING:
    from domain.lead import Lead

RuleName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), AfterValidator(single_line)
]
Campaign = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(single_line)
]
Weight = Annotated[int, Field(strict=True, ge=1, le=1000)]


class Strategy(StrEnum):
    """How a rule shares its leads among its reps."""

    ROUND_ROBIN = "round_robin"
    """In turn: the next rep after the rule's last pick."""
    WEIGHTED = "weighted"
    """In proportion to each rep's weight, spread evenly (smooth weighted round robin)."""
    LEAST_LOADED = "least_loaded"
    """The rep with the fewest open leads (then the fewest assigned today, then list order)."""


class RuleConditions(BaseModel):
    """Which leads a rule takes: every condition given must hold; an empty list accepts any value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sources: tuple[LeadSource, ...] = ()
    """The lead's source is one of these."""
    campaigns: tuple[Campaign, ...] = ()
    """The lead's campaign is one of these (a lead without a campaign matches none)."""
    countries: tuple[CountryCode, ...] = ()
    """The lead's country is one of these ISO 3166-1 alpha-2 codes (a lead without one matches none)."""
    min_score: Annotated[int, Field(strict=True, ge=0, le=100)] | None = None
    """The lead scores at least this."""

    def accept(self, lead: LeadProfile) -> bool:
        """True when the lead meets every condition."""
        return (
            (not self.sources or lead.source in self.sources)
            and (not self.campaigns or lead.campaign in self.campaigns)
            and (not self.countries or lead.country in self.countries)
            and (self.min_score is None or lead.score >= self.min_score)
        )


class AssignmentRule(BaseModel):
    """One rule of the ordered list: which leads, which reps, and how they share them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: RuleName
    """Unique in the list; names the rule in what it assigns."""
    when: RuleConditions = RuleConditions()
    strategy: Strategy
    reps: tuple[UserId, ...] = Field(min_length=1)
    """The users who take this rule's leads, in order (each a user of the team)."""
    weights: dict[UserId, Weight] | None = Field(default=None, validate_default=True)
    """For `weighted` only: a positive weight for each rep, and for no one else."""

    @field_validator("reps")
    @classmethod
    def _each_rep_once(cls, reps: tuple[str, ...]) -> tuple[str, ...]:
        twice = sorted({rep for rep in reps if reps.count(rep) > 1})
        if twice:
            raise ValueError(f"each rep may be named once; named more than once: {', '.join(twice)}")
        return reps

    @field_validator("weights")
    @classmethod
    def _weights_match_reps(cls, weights: dict[str, int] | None, info: ValidationInfo) -> dict[str, int] | None:
        strategy, reps = info.data.get("strategy"), info.data.get("reps")
        if strategy is None or reps is None:
            return weights  # already reported
        if strategy is not Strategy.WEIGHTED:
            if weights is not None:
                raise ValueError(f"weights are for the weighted strategy only, not for {strategy.value}")
            return None
        if weights is None:
            raise ValueError("the weighted strategy needs a weight for each rep")
        missing, extra = [r for r in reps if r not in weights], sorted(set(weights) - set(reps))
        if missing or extra:
            problems = [f"no weight for {', '.join(missing)}"] if missing else []
            problems += [f"weights for users not among the reps: {', '.join(extra)}"] if extra else []
            raise ValueError("; ".join(problems))
        return {rep: weights[rep] for rep in reps}  # in the reps' order


# --- the choice -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadProfile:
    """The facts of a lead that assignment rules look at."""

    source: str
    campaign: str | None = None
    country: str | None = None
    score: int = 0

    @classmethod
    def of(cls, lead: Lead) -> LeadProfile:
        """A lead's facts as they stand."""
        return cls(source=lead.source.value, campaign=lead.campaign, country=lead.country, score=lead.score)


@dataclass(frozen=True)
class RepLoad:
    """How much one rep has on their plate."""

    assigned_today: int = 0
    """Leads given to them since their own day began (in their time zone)."""
    open_leads: int = 0
    """Open leads they own now."""


@dataclass(frozen=True)
class RuleHistory:
    """What one rule has assigned so far (over whatever window its caller keeps, e.g. since the
    rules were last replaced)."""

    last_pick: str | None = None
    """The rep the rule gave its last lead to."""
    picks: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """How many of its leads each rep got (what `weighted` balances)."""


@dataclass(frozen=True)
class Workload:
    """A snapshot of who has how much, per rep and per rule; anyone missing has nothing yet."""

    reps: Mapping[str, RepLoad] = field(default_factory=lambda: MappingProxyType({}))
    rules: Mapping[str, RuleHistory] = field(default_factory=lambda: MappingProxyType({}))

    def of_rep(self, rep: str) -> RepLoad:
        """A rep's load (none yet when not in the snapshot)."""
        return self.reps.get(rep, RepLoad())

    def of_rule(self, rule: str) -> RuleHistory:
        """A rule's history (none yet when not in the snapshot)."""
        return self.rules.get(rule, RuleHistory())

    def picked(self, choice: Choice) -> Workload:
        """The snapshot after the choice was carried out: the rep has one more lead, open and
        assigned today, and the rule remembers the pick."""
        load = self.of_rep(choice.rep)
        history = self.of_rule(choice.rule)
        picks = {**history.picks, choice.rep: history.picks.get(choice.rep, 0) + 1}
        return Workload(
            reps={**self.reps, choice.rep: RepLoad(load.assigned_today + 1, load.open_leads + 1)},
            rules={**self.rules, choice.rule: replace(history, last_pick=choice.rep, picks=picks)},
        )


@dataclass(frozen=True)
class Choice:
    """The rule that took a lead and the rep it gave the lead to."""

    rule: str
    rep: str


def matching_rules(rules: Sequence[AssignmentRule], lead: LeadProfile) -> list[AssignmentRule]:
    """The rules whose conditions the lead meets, in list order."""
    return [rule for rule in rules if rule.when.accept(lead)]


def choose_rep(
    rules: Sequence[AssignmentRule], team: Mapping[str, User], lead: LeadProfile, workload: Workload
) -> Choice | None:
    """The first matching rule that has a rep available, and that rep; None when no rule matches
    or every rep of every matching rule is away, inactive, at capacity or not on the team."""
    for rule in matching_rules(rules, lead):
        available = [
            rep for rep in rule.reps if rep in team and team[rep].takes_new_leads(workload.of_rep(rep).assigned_today)
        ]
        if available:
            return Choice(rule.name, _PICKERS[rule.strategy](rule, available, workload))
    return None


def _round_robin(rule: AssignmentRule, available: list[str], workload: Workload) -> str:
    """The first available rep after the rule's last pick, going round the list."""
    last = workload.of_rule(rule.name).last_pick
    start = rule.reps.index(last) + 1 if last in rule.reps else 0
    turn = rule.reps[start:] + rule.reps[:start]
    return next(rep for rep in turn if rep in available)


def _weighted(rule: AssignmentRule, available: list[str], workload: Workload) -> str:
    """Smooth weighted round robin (as nginx balances upstreams), its state derived from the picks:
    after n picks from the start, rep i's current weight is n * w_i - W * c_i (W the total weight,
    c_i rep i's picks), so the next pick is the rep with the largest (n + 1) * w_i - W * c_i, the
    first in the list on a tie. With weights 5, 1, 1 the turns go a a b a c a a, and again.

    Counted over the available reps only, so that the others share the leads in proportion to
    their own weights while someone is away. A rep back from away is behind their share of the
    picks and catches up first: the caller bounds that by the window its picks cover (a day, say)."""
    assert rule.weights is not None  # a weighted rule always has them
    weights = {rep: rule.weights[rep] for rep in available}
    picks = workload.of_rule(rule.name).picks
    done = sum(picks.get(rep, 0) for rep in available)
    total = sum(weights.values())
    return max(
        available, key=lambda rep: ((done + 1) * weights[rep] - total * picks.get(rep, 0), -available.index(rep))
    )


def _least_loaded(rule: AssignmentRule, available: list[str], workload: Workload) -> str:
    """The available rep with the fewest open leads, then the fewest assigned today, then the
    first in the list."""
    return min(
        available,
        key=lambda rep: (workload.of_rep(rep).open_leads, workload.of_rep(rep).assigned_today, rule.reps.index(rep)),
    )


_PICKERS = {
    Strategy.ROUND_ROBIN: _round_robin,
    Strategy.WEIGHTED: _weighted,
    Strategy.LEAST_LOADED: _least_loaded,
}
