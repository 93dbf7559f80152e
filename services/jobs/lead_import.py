"""Import an opportunity history exported from another CRM as back-dated lead events.

Each CSV row becomes one lead: captured (with its owner) at its created date, its open stages at
their dates (`stage_history`, "stage@date;stage@date", else the current stage at the created
date), then converted (won, deal value = amount) or disqualified (lost) at its close date. A
mapping file names the columns and maps foreign stage and source names to ours. The capture's
idempotency key is `import:<source system>:<external id>`, so a re-run appends nothing."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from pydantic import ValidationError

from domain.errors import DomainError
from domain.money import minor_unit_digits
from domain.values import LeadSource, Stage
from services.app.application import Context, CrmApplication
from services.app.commands import CaptureLead, ChangeStage, ConvertLead, DisqualifyLead
from services.app.errors import HistoryStepRefused, IdempotencyKeyReused

IMPORTER = Context(actor="system:import", correlation_id="lead-import", shared_keys=True)
"""Shared keys, as the purchases import: a re-import finds every lead it made."""

FIELDS = (
    "external_id created owner source campaign company name email phone stage close_date "
    "won closed status amount currency stage_history lost_reason"
).split()
"""What a mapping's `columns` may name; `external_id`, `created` and `stage` or `status` are needed."""


_FIELD_OF = {"occurred_at": "created", "estimated_value": "amount"}
"""The row field a lead's own field comes from, where the names differ."""


class MappingError(ValueError):
    """The mapping file is not usable."""


@dataclass(frozen=True)
class RowError:
    """Why one row was not imported: its row number (the header is row 1), field and reason."""

    row: int
    field: str
    reason: str


@dataclass(frozen=True)
class Mapping:
    """How a file's columns and values map onto leads."""

    source_system: str
    columns: dict[str, str]
    stages: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    true_values: tuple[str, ...] = ("1", "true", "yes", "y")
    default_currency: str = "USD"
    lost_reason: str = "closed lost"

    @classmethod
    def load(cls, path: Path) -> Mapping:
        """A mapping from its JSON file; MappingError when it is not one."""
        try:
            data = json.loads(path.read_text())
            unknown = set(data.get("columns", {})) - set(FIELDS)
            if unknown:
                raise MappingError(f"unknown fields in columns: {', '.join(sorted(unknown))}")
            mapping = cls(
                source_system=data["source_system"],
                columns=dict(data["columns"]),
                stages={k.casefold(): v for k, v in data.get("stages", {}).items()},
                sources={k.casefold(): v for k, v in data.get("sources", {}).items()},
                owners=dict(data.get("owners", {})),
                statuses={k.casefold(): v for k, v in data.get("statuses", {}).items()},
                date_formats=tuple(data.get("date_formats", ["%Y-%m-%d"])),
                true_values=tuple(v.casefold() for v in data.get("true_values", ["1", "true", "yes", "y"])),
                default_currency=data.get("default_currency", "USD"),
                lost_reason=data.get("lost_reason", "closed lost"),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise MappingError(f"{path}: {error}") from None
        for needed in ("external_id", "created"):
            if needed not in mapping.columns:
                raise MappingError(f"{path}: columns must name {needed!r}")
        return mapping


@dataclass(frozen=True)
class LeadStory:
    """The commands one row asks for, in business order."""

    row: int
    capture: CaptureLead
    stages: list[ChangeStage]
    close: ConvertLead | DisqualifyLead | None


@dataclass
class ImportReport:
    """What an import did."""

    rows: int = 0
    imported: int = 0
    already: int = 0
    events: int = 0
    errors: list[RowError] = field(default_factory=list)


class _RowFailed(Exception):
    def __init__(self, error_field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = error_field
        self.reason = reason


def parse_row(number: int, row: dict[str, str], mapping: Mapping) -> LeadStory | RowError:
    """The commands of one row, or why it cannot be imported."""
    try:
        return _story(number, row, mapping)
    except _RowFailed as failed:
        return RowError(number, failed.field, failed.reason)


def _story(number: int, row: dict[str, str], m: Mapping) -> LeadStory:
    def value(name: str) -> str:
        column = m.columns.get(name)
        return (row.get(column) or "").strip() if column else ""

    external_id = value("external_id")
    if not external_id:
        raise _RowFailed("external_id", "missing")
    created = _date(value("created"), m, "created", required=True)
    assert created is not None
    stage = _stage(value("stage"), m, "stage") if value("stage") else None
    outcome = _outcome(value, stage, m)
    close_at = _date(value("close_date"), m, "close_date", required=outcome != "open")
    if close_at is not None and close_at < created and outcome != "open":
        raise _RowFailed("close_date", "close date before created date")
    currency = value("currency") or m.default_currency
    amount = _amount(value("amount"), currency)
    history = _history(value("stage_history"), m, created)
    if not history and stage is not None and stage.is_open and stage != Stage.NEW:
        history = [(stage, created)]
    if outcome != "open" and close_at is not None:
        late = [when for _, when in history if when > close_at]
        if late:
            raise _RowFailed("stage_history", f"a stage change on {late[0]:%Y-%m-%d} is after the close date")
    source_name = value("source")
    source = m.sources.get(source_name.casefold(), source_name.casefold() or LeadSource.IMPORT.value)
    if source not in {s.value for s in LeadSource}:
        raise _RowFailed("source", f"unknown source {source_name!r}")
    owner = value("owner")
    try:
        capture = CaptureLead(
            name=value("name") or value("company") or external_id,
            email=value("email") or None,
            phone=value("phone") or None,
            company=value("company") or None,
            source=LeadSource(source),
            campaign=value("campaign") or None,
            estimated_value=amount,
            currency=currency,
            owner=m.owners.get(owner, owner) or None,
            idempotency_key=f"import:{m.source_system}:{external_id}",
            occurred_at=created,
        )
        stages = [ChangeStage(stage=s, occurred_at=when) for s, when in history]
        close: ConvertLead | DisqualifyLead | None = None
        if outcome == "won":
            close = ConvertLead(deal_value=amount or 0, currency=currency, occurred_at=close_at)
        elif outcome == "lost":
            close = DisqualifyLead(reason=value("lost_reason") or m.lost_reason, occurred_at=close_at)
    except ValidationError as error:
        first = error.errors()[0]
        where = str(first["loc"][0]) if first["loc"] else "row"
        raise _RowFailed(_FIELD_OF.get(where, where), first["msg"]) from None
    return LeadStory(number, capture, stages, close)


def _date(text: str, m: Mapping, name: str, required: bool) -> datetime | None:
    if not text:
        if required:
            raise _RowFailed(name, "missing")
        return None
    for pattern in m.date_formats:
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise _RowFailed(name, f"not a date: {text!r} (expected {' or '.join(m.date_formats)})")


def _stage(text: str, m: Mapping, name: str) -> Stage:
    mapped = m.stages.get(text.casefold(), text.casefold())
    try:
        return Stage(mapped)
    except ValueError:
        raise _RowFailed(name, f"unknown stage {text!r}") from None


def _outcome(value: Callable[[str], str], stage: Stage | None, m: Mapping) -> str:
    if "status" in m.columns:
        status = m.statuses.get(value("status").casefold(), value("status").casefold())
        if status not in ("won", "lost", "open"):
            raise _RowFailed("status", f"unknown status {value('status')!r}")
        return status
    if "closed" in m.columns:
        if value("closed").casefold() not in m.true_values:
            return "open"
        return "won" if value("won").casefold() in m.true_values else "lost"
    if stage is None:
        raise _RowFailed("stage", "missing")
    return {Stage.CONVERTED: "won", Stage.DISQUALIFIED: "lost"}.get(stage, "open")


def _amount(text: str, currency: str) -> int | None:
    """The amount in the currency's minor units (cents, yen, fils: ISO 4217 decimals)."""
    if not text:
        return None
    try:
        amount = Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise _RowFailed("amount", f"not a number: {text!r}") from None
    if not amount.is_finite():
        raise _RowFailed("amount", f"not a number: {text!r}")
    if amount < 0:
        raise _RowFailed("amount", "negative amount")
    minor = amount.scaleb(minor_unit_digits(currency))
    if minor != minor.to_integral_value():
        decimals = minor_unit_digits(currency)
        raise _RowFailed("amount", f"{text!r} has more decimals than {currency} has ({decimals})")
    return int(minor)


def _history(text: str, m: Mapping, created: datetime) -> list[tuple[Stage, datetime]]:
    steps: list[tuple[Stage, datetime]] = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, at, when_text = part.rpartition("@")
        if not at:
            raise _RowFailed("stage_history", f"expected stage@date, got {part!r}")
        stage = _stage(name.strip(), m, "stage_history")
        when = _date(when_text.strip(), m, "stage_history", required=True)
        assert when is not None
        if when < created:
            raise _RowFailed("stage_history", f"{part!r} is before the created date")
        steps.append((stage, when))
    steps.sort(key=lambda step: step[1])
    kept: list[tuple[Stage, datetime]] = []
    current = Stage.NEW
    for stage, when in steps:
        # closing stages come from the outcome and close date; repeats are no change
        if stage.is_open and stage != current:
            kept.append((stage, when))
            current = stage
    return kept


def import_leads(
    app: CrmApplication, path: Path, mapping: Mapping, progress: Callable[[int, int], None] | None = None
) -> ImportReport:
    """Import every valid row of the file; the invalid ones are reported, not imported."""
    report = ImportReport()
    head = app.head_position()
    with path.open(newline="", encoding="utf-8-sig") as file:
        rows = list(csv.DictReader(file))
    # other mapped columns may be absent from an export: their values are empty
    needed = {mapping.columns[name] for name in ("external_id", "created")}
    missing = sorted(needed - set(rows[0] if rows else needed))
    if missing:
        raise MappingError(f"{path}: no such columns: {', '.join(missing)}")
    for index, row in enumerate(rows):
        report.rows += 1
        story = parse_row(index + 2, row, mapping)
        if isinstance(story, RowError):
            report.errors.append(story)
        else:
            _import_story(app, story, report)
        if progress:
            progress(index + 1, len(rows))
    report.events = app.head_position() - head
    return report


def _import_story(app: CrmApplication, story: LeadStory, report: ImportReport) -> None:
    # one append per row: a row either is imported whole or leaves nothing to finish later
    history: list[ChangeStage | ConvertLead | DisqualifyLead] = [*story.stages]
    if story.close is not None:
        history.append(story.close)
    try:
        imported = app.import_lead(story.capture, history, IMPORTER)
    except HistoryStepRefused as refused:
        step = "stage_history" if refused.step < len(story.stages) else "close_date"
        report.errors.append(RowError(story.row, step, str(refused)))
        return
    except IdempotencyKeyReused as reused:
        # the export changed since that row was imported: an import adds history, it does not edit
        differing = [_FIELD_OF.get(name, name) for name in reused.fields or []]
        reason = f"imported before with other values for: {', '.join(differing)}; the lead is left as imported"
        report.errors.append(RowError(story.row, differing[0] if differing else "external_id", reason))
        return
    except (DomainError, ValueError) as error:
        report.errors.append(RowError(story.row, "owner", str(error)))
        return
    if imported.position is None:
        report.already += 1  # imported by an earlier run: nothing more to append
    else:
        report.imported += 1


def write_errors(errors: list[RowError], path: Path) -> None:
    """The error report: JSON for a `.json` path, else CSV (row, field, reason)."""
    if path.suffix == ".json":
        path.write_text(json.dumps([e.__dict__ for e in errors], indent=2) + "\n")
        return
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["row", "field", "reason"])
        writer.writerows([e.row, e.field, e.reason] for e in errors)
