"""Queries over the read models, as the HTTP API and the CLI ask them: pydantic models out."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Literal, Protocol, TypeVar, cast
from uuid import UUID

from domain.identity import normalised_email, normalised_phone
from domain.time import utc
from projections import (
    analytics_queries,
    campaign_queries,
    forecast_backtest,
    people_queries,
    segment_queries,
    task_queries,
    win_model_queries,
)
from projections import forecast as forecasting
from projections.analytics_queries import CampaignRow, RepActivityRow
from projections.contact_features import ContactFeatures
from projections.forecast import Forecast, ForecastAccuracy
from projections.nurture import SequenceStats, WaitingStep, sequence_stats, waiting_steps
from projections.people import PeopleProjection
from projections.people_queries import DuplicateCandidate, Kind, PersonRow
from projections.pipeline_queries import (
    LeadHit,
    LeadRow,
    PipelineSummary,
    hottest_leads,
    lead_ids_owned_by,
    leads_named,
    list_leads,
    pipeline_summary,
    with_current_names,
)
from projections.segment_membership import SegmentMember
from projections.segment_queries import ContactSegment, SegmentContact, SegmentSummary, list_contacts
from projections.segment_rules import SegmentRule, default_rules
from projections.task_queries import StatusFilter, TaskRow
from projections.win_model import NoModel, WinModel
from projections.win_model_queries import LeadWinProbability, ScoringBacktest
from services.app.errors import ContactNotFound


class ReadModels(Protocol):
    """What the queries need of the read-model store (services.storage implements it): its
    rows, and how far each of its projections has applied the log."""

    @property
    def projections(self) -> Mapping[str, object]:
        """The projections kept in the store, by name."""
        ...

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a query written with `?` placeholders and unqualified table names."""
        ...

    def position(self, projection: str, source: str = "log") -> int:
        """The last log position a projection has applied."""
        ...

    def wait(self, position: int, timeout: float = 2.0, source: str = "log") -> bool:
        """Wait until every projection has applied `position`; False on timeout."""
        ...


class KnownAtUnavailable(ValueError):
    """This server cannot rebuild the pipeline as known at a past moment."""


def _now() -> datetime:
    return datetime.now(UTC)


def _this_second() -> datetime:
    """Now, to the whole second: how long an answer "as of now" is kept (`_kept`)."""
    return _now().replace(microsecond=0)


_ANSWERS_KEPT = 64
"""How many pipeline and forecast answers a `ReadModelQueries` keeps (the newest used)."""

_Answer = TypeVar("_Answer")


class ClosableReadModels(ReadModels, Protocol):
    """Read models of a moment (a scratch store), to close after use."""

    def close(self) -> None:
        """Release the scratch store."""
        ...


class BelievedAt(Protocol):
    """(known_at, occurred_by) -> the journaled read models (the pipeline) as the store knew them
    at `known_at` (None: as it knows them now), folded from the events that occurred by
    `occurred_by` when given."""

    def __call__(self, known_at: datetime | None, occurred_by: datetime | None = None) -> ClosableReadModels: ...


_WIN_MODELS_KEPT = 8
"""How many trained win models (per day and transaction time) are kept."""


@dataclass(frozen=True)
class _KeptModel:
    """A trained win model, with the pipeline position and the fingerprint of the journal it
    was trained at."""

    position: int
    fingerprint: tuple[int, str | None]
    model: WinModel | NoModel


class ReadModelQueries:
    """Pipeline, forecast and segments, each answerable as of any business date (now by default),
    and the lead and contact lists as the read models hold them now. With `believed_at`, the
    pipeline and forecast also as known at a past moment (`as_known_at`); segments and contact
    features take `known_at` themselves (their rows carry when each event was recorded)."""

    def __init__(
        self,
        store: ReadModels,
        rules: list[SegmentRule] | None = None,
        min_sample: int = 20,
        believed_at: BelievedAt | None = None,
    ) -> None:
        self.store = store
        self.rules = rules if rules is not None else default_rules()
        self.min_sample = min_sample
        self.believed_at = believed_at
        self._win_models: dict[tuple[date, datetime | None], _KeptModel] = {}
        self._win_models_lock = threading.Lock()
        self._answers: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._answers_lock = threading.Lock()

    @contextmanager
    def as_known_at(self, known_at: datetime | None) -> Iterator[ReadModelQueries]:
        """These queries as the store knew the pipeline at `known_at` (transaction time), over a
        scratch store closed on exit; without `known_at`, these queries."""
        if known_at is None:
            yield self
            return
        if self.believed_at is None:
            raise KnownAtUnavailable("these read models keep no journal to answer as known at a past moment")
        believed = self.believed_at(known_at)
        try:
            yield ReadModelQueries(believed, self.rules, self.min_sample)
        finally:
            believed.close()

    def reps(self, start: datetime, end: datetime, owner: str | None = None) -> list[RepActivityRow]:
        """Per owner over the business-time period [start, end): leads worked, activities, win
        rate, won value, median days to first touch and to close (only `owner`'s when given)."""
        return analytics_queries.rep_activity(self.store, start, end, owner)

    def campaigns(self, as_of: datetime | None = None, known_at: datetime | None = None) -> list[CampaignRow]:
        """Per source and campaign: leads, conversions, won value, cost, ROI and cost per lead as of
        `as_of`, and with `known_at` as known then (only events and costs recorded by then)."""
        as_of = as_of or _now()
        costs = campaign_queries.costs_as_of(self.store, as_of, known_at)
        with self.as_known_at(known_at) as known:
            return analytics_queries.campaign_table(known.store, as_of, costs=costs)

    def pipeline(
        self, as_of: datetime | None = None, owner: str | None = None, source: str | None = None
    ) -> PipelineSummary:
        """Counts, values, weighted values (learned win probabilities), conversion rates, time in
        stage; kept per pipeline position and parameters (`_kept`)."""

        def compute() -> PipelineSummary:
            when = as_of or _now()
            learned = forecasting.learn_win_probabilities(self.store, when, self.min_sample)
            return pipeline_summary(self.store, when, owner, source, learned.probabilities)

        return self._kept("pipeline", as_of, (owner, source), compute)

    def forecast(self, as_of: datetime | None = None, months: int = 3) -> Forecast:
        """Expected revenue per month for the next `months` months, with forecast categories; the
        deals' chances moved by the learned win probability of that day (`win_model`, kept);
        kept per pipeline position and parameters (`_kept`)."""

        def compute() -> Forecast:
            when = as_of or _now()
            model = self.win_model(utc(when).date())
            return forecasting.forecast(self.store, when, months, self.min_sample, win_model=model)

        return self._kept("forecast", as_of, (months,), compute)

    def _kept(
        self, what: str, as_of: datetime | None, params: tuple[Any, ...], compute: Callable[[], _Answer]
    ) -> _Answer:
        """`compute()`, kept per (pipeline read-model position, `what`, `as_of`, `params`): the
        pipeline and forecast read nothing but the pipeline's tables, so an answer holds until
        that read model applies another event. An answer as of now (`as_of` None) is computed as
        of the moment it is computed, with every event applied at that position, and is kept for
        the rest of that whole second (`_this_second`), so that the requests of one second share
        it. The newest `_ANSWERS_KEPT` answers are kept."""
        key = (self.store.position("pipeline"), what, as_of or ("now", _this_second()), *params)
        with self._answers_lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                return cast(_Answer, self._answers[key])
        answer = compute()
        with self._answers_lock:
            self._answers[key] = answer
            while len(self._answers) > _ANSWERS_KEPT:
                self._answers.popitem(last=False)
        return answer

    def forecast_accuracy(self, made_as_of: datetime, months: int = 3) -> ForecastAccuracy:
        """What the forecast made at a past date predicted, against what actually closed."""
        model = self.win_model(utc(made_as_of).date())
        return forecasting.forecast_accuracy(self.store, made_as_of, months, self.min_sample, win_model=model)

    def forecast_backtest(self, from_month: date, to_month: date, months: int = 1) -> forecast_backtest.Backtest:
        """Per month in the range, the forecast made before it against what converted, with baselines."""
        return forecast_backtest.backtest(self.store, from_month, to_month, months, self.min_sample)

    def win_probability(
        self, lead_id: UUID, as_of: datetime | None = None, known_at: datetime | None = None
    ) -> LeadWinProbability:
        """A lead's learned P(won) at `as_of` (now by default) with its explanation, from the
        model trained as of the start (UTC) of that day, as known at `known_at`."""
        when = as_of or _now()
        model = self.win_model(when.astimezone(UTC).date(), known_at)
        return win_model_queries.lead_win_probability(self.store, model, str(lead_id), when, known_at)

    def win_model(self, day: date, known_at: datetime | None = None) -> WinModel | NoModel:
        """The model trained as of the start of `day` (UTC), kept per day (and `known_at`) with
        the read-model position it was trained at: a lead's read does not retrain it until the
        pipeline has applied something new, nor then unless what it learns from changed (an
        event dated before that day: most writes happen today and leave it as it is)."""
        key, position = (day, known_at), self.store.position("pipeline")
        cutoff = datetime.combine(day, time(), UTC)
        with self._win_models_lock:
            kept = self._win_models.get(key)
        if kept is not None and kept.position == position:
            return kept.model
        fingerprint = win_model_queries.training_fingerprint(self.store, cutoff, known_at)
        if kept is not None and kept.fingerprint == fingerprint:
            model = kept.model
        else:
            model = win_model_queries.learn(self.store, cutoff, known_at)
        with self._win_models_lock:
            if key not in self._win_models and len(self._win_models) >= _WIN_MODELS_KEPT:
                self._win_models.pop(next(iter(self._win_models)))  # the oldest kept
            self._win_models[key] = _KeptModel(position, fingerprint, model)
        return model

    def scoring_backtest(self, as_of: datetime) -> ScoringBacktest:
        """The AUC of the learned probability and of the rule score as of `as_of`, over the
        leads open then that have closed since."""
        return win_model_queries.scoring_backtest(self.store, as_of)

    def segments(self, as_of: datetime | None = None, known_at: datetime | None = None) -> list[SegmentSummary]:
        """Every segment with its member count; with `known_at`, from the events recorded by then."""
        return segment_queries.segment_summaries(self.store, self.rules, as_of or _now(), known_at)

    def segment_members(
        self, name: str, as_of: datetime | None = None, known_at: datetime | None = None
    ) -> list[SegmentMember]:
        """Members of one segment, with when they entered (UnknownSegment for a bad name); with
        `known_at`, from the events recorded by then."""
        return segment_queries.segment_members(self.store, self.rules, name, as_of or _now(), known_at)

    def contact_features(
        self,
        contact_id: UUID,
        as_of: datetime | None = None,
        unit: Literal["days", "weeks"] = "days",
        known_at: datetime | None = None,
    ) -> ContactFeatures:
        """RFM and the other features of one contact; with `known_at`, from the events recorded by then."""
        found = segment_queries.fetch_contact_features(self.store, contact_id, as_of or _now(), unit, known_at)
        if found is None:
            when = (f" as of {as_of.isoformat()}" if as_of else "") + (
                f" as known at {known_at.isoformat()}" if known_at else ""
            )
            raise ContactNotFound(contact_id, when)
        return found

    def contact_segments(
        self, contact_id: UUID, as_of: datetime | None = None, known_at: datetime | None = None
    ) -> list[ContactSegment] | None:
        """The segments one contact is in (now by default), each since when; with `known_at`, from
        the events recorded by then; None when the read models do not hold that contact (yet, or
        then)."""
        return segment_queries.contact_segments(self.store, self.rules, contact_id, as_of or _now(), known_at)

    def leads(
        self,
        *,
        stage: str | None = None,
        owner: str | None = None,
        unassigned: bool = False,
        source: str | None = None,
        min_score: int | None = None,
        after: str | None = None,
        limit: int = 50,
        email: str | None = None,
        as_of: datetime | None = None,
        known_at: datetime | None = None,
        owner_scope: str | None = None,
    ) -> list[LeadRow]:
        """Leads matching every filter given (`unassigned`: only those nobody owns; `email`: only
        those whose email is this one, compared normalised), in lead id order after the lead id
        `after`: as they stand now, or with `as_of` and/or `known_at` as they stood at `as_of` as
        known at `known_at` (each lead the fold of its events by then, the filters applied to it
        then; names as now, since the journal holds none). `owner_scope` (a rep): only the leads
        that user owns now, whatever the filters say."""
        among = None if email is None else {p.person_id for p in self.people_with_email("lead", email)}
        filters: dict[str, Any] = {
            "stage": stage,
            "owner": owner,
            "unassigned": unassigned,
            "source": source,
            "min_score": min_score,
            "after": after,
            "limit": limit,
        }
        if as_of is None and known_at is None:
            return list_leads(self.store, **filters, among=None if among is None else sorted(among))
        if self.believed_at is None:
            raise KnownAtUnavailable("these read models keep no journal to answer as of a past moment")
        if owner_scope is not None:
            owned = lead_ids_owned_by(self.store, owner_scope)
            among = owned if among is None else among & owned
        then = self.believed_at(known_at, as_of)
        try:
            rows = list_leads(then, **filters, among=None if among is None else sorted(among))
        finally:
            then.close()
        return with_current_names(self.store, rows)

    def contacts(
        self,
        *,
        segment: str | None = None,
        external_id: str | None = None,
        after: str | None = None,
        limit: int = 50,
        email: str | None = None,
    ) -> list[SegmentContact]:
        """Contacts with their current details in contact id order after the contact id `after`:
        all, or only the members of `segment` now (UnknownSegment for a bad name), and/or only
        the one with `external_id`, and/or only those whose email is `email` (compared normalised)."""
        among = None if segment is None else [m.contact_id for m in self.segment_members(segment)]
        if email is not None:
            with_email = [p.person_id for p in self.people_with_email("contact", email)]
            among = with_email if among is None else [i for i in among if i in set(with_email)]
        return list_contacts(self.store, external_id=external_id, among=among, after=after, limit=limit)

    def people_with_email(self, kind: Kind, email: str) -> list[PersonRow]:
        """The leads or contacts (not erased) whose email is this one, compared normalised."""
        return people_queries.with_email(self.store, kind, normalised_email(email))

    def people_with_phone(self, kind: Kind, phone: str) -> list[PersonRow]:
        """The leads or contacts (not erased) whose phone is this E.164 number."""
        return people_queries.with_phone(self.store, kind, phone)

    def phone_of(self, phone: str | None, country: str | None) -> str | None:
        """A phone in E.164 form as the identity index compares it: read in `country`, else in
        the index's default region (None when it cannot be told)."""
        people = self.store.projections.get("people")
        if isinstance(people, PeopleProjection):
            return people.phone(phone, country)
        return None if phone is None else normalised_phone(phone, country)

    def person(self, kind: Kind, person_id: UUID) -> PersonRow | None:
        """One lead or contact of the identity index, unless erased."""
        return people_queries.person(self.store, kind, str(person_id))

    def duplicate_candidates(self, kind: Kind, owner: str | None = None) -> list[DuplicateCandidate]:
        """Pairs of open leads, or of contacts, that look like one person, the surest first;
        with `owner`, only pairs of leads both of which that owner owns now."""
        among = people_queries.candidates_among(self.store, kind)
        if owner is not None:
            own = lead_ids_owned_by(self.store, owner)
            among = [p for p in among if p.person_id in own]
        return people_queries.duplicate_candidates(among)

    def find_task(self, task_id: UUID) -> TaskRow | None:
        """One follow-up task as the tasks read model holds it, if it does."""
        return task_queries.fetch_task(self.store, task_id)

    def record_of_task(self, task_id: UUID) -> tuple[str, UUID] | None:
        """(`lead` or `contact`, its id) of the record a task is on: the application's `TaskLocator`."""
        found = self.find_task(task_id)
        return None if found is None else (found.aggregate_type, UUID(found.aggregate_id))

    def tasks(
        self,
        *,
        now: datetime | None = None,
        owner: str | None = None,
        status: StatusFilter | None = None,
        due_before: datetime | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int = 50,
    ) -> list[TaskRow]:
        """Follow-up tasks matching every filter given, soonest due first, after the (due time,
        id) `after`; `overdue` is asked as of `now` (the present by default)."""
        return task_queries.list_tasks(
            self.store, now=now or _now(), owner=owner, status=status, due_before=due_before, after=after, limit=limit
        )

    def sequence_stats(self, sequence: str) -> SequenceStats:
        """How a nurture sequence has done: enrolments by outcome, leads converted after one."""
        return sequence_stats(self.store, sequence)

    def hot_leads(self, *, owner: str | None = None, limit: int = 10) -> list[LeadHit]:
        """The open leads scoring highest now (only `owner`'s when given)."""
        return hottest_leads(self.store, owner=owner, limit=limit)

    def leads_named(self, text: str, *, owner: str | None = None, limit: int = 20) -> list[LeadHit]:
        """Current leads whose name contains `text`, in name order (only `owner`'s when given)."""
        return leads_named(self.store, text, owner=owner, limit=limit)

    def waiting_steps(self, *, owner: str | None = None, limit: int = 20) -> list[WaitingStep]:
        """Nurture enrolments under way, waiting for their next step (only `owner`'s leads when given)."""
        return waiting_steps(self.store, owner=owner, limit=limit)

    def positions(self) -> dict[str, int]:
        """The log position each projection has applied."""
        return {name: self.store.position(name) for name in self.store.projections}

    def wait(self, position: int, timeout: float) -> bool:
        """Read your writes: True once every projection has applied `position`, False on timeout."""
        return self.store.wait(position, timeout)
