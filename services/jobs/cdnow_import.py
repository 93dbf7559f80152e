"""Import purchase histories in the CDNOW format as contacts with their historical purchases.

Master file rows: customer_id, date (YYYYMMDD), number_of_cds, dollar_value; the sample file has
an extra sample id after the customer id. One contact per customer (`external_id`
`cdnow:<customer id>`, created at its first purchase), one `PurchaseRecorded` per row. Ids and
order ids are derived from the data, so importing the same file twice appends nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from itertools import groupby
from pathlib import Path

from services.app.application import Context, CrmApplication
from services.app.commands import CreateContact, RecordPurchase
from services.app.errors import ConcurrencyConflict

IMPORTER = Context(actor="system:import", correlation_id="cdnow-import", shared_keys=True)
"""The import's keys are shared (not the importer's own), so a re-import finds every contact it made."""


@dataclass(frozen=True)
class PurchaseRow:
    """One line of the file."""

    customer_id: str
    day: datetime
    quantity: int
    cents: int


class ImportFormatError(ValueError):
    """A line of the file is not in the CDNOW format."""


def parse_rows(lines: Iterable[str]) -> Iterator[PurchaseRow]:
    """Rows of a master or sample file; a header line is skipped."""
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields or not fields[-1].replace(".", "", 1).isdigit():
            continue  # blank or header
        if len(fields) not in (4, 5):
            raise ImportFormatError(f"line {number}: expected 4 or 5 columns, got {len(fields)}")
        customer, date, cds, dollars = fields[0], fields[-3], fields[-2], fields[-1]
        try:
            day = datetime.strptime(date, "%Y%m%d").replace(tzinfo=UTC)
            cents = int((Decimal(dollars) * 100).to_integral_value())
            quantity = int(cds)
        except ValueError as error:
            raise ImportFormatError(f"line {number}: {error}") from None
        yield PurchaseRow(customer.lstrip("0") or "0", day, quantity, cents)


@dataclass
class ImportReport:
    """What an import did."""

    customers: int = 0
    purchases: int = 0
    events: int = 0


def import_purchases(
    app: CrmApplication, path: Path, progress: Callable[[int], None] | None = None, chunk_size: int = 250
) -> ImportReport:
    """Import a CDNOW file; returns counts. Rows of one customer must be contiguous (they are)."""
    report = ImportReport()
    head = app.head_position()
    chunk: list[tuple[CreateContact, list[RecordPurchase]]] = []
    with path.open() as lines:
        for customer, group in groupby(parse_rows(lines), key=lambda row: row.customer_id):
            rows = sorted(group, key=lambda row: row.day)
            chunk.append(_commands(customer, rows))
            report.customers += 1
            report.purchases += len(rows)
            if len(chunk) == chunk_size:
                _import_chunk(app, chunk)
                chunk = []
                if progress:
                    progress(report.customers)
    _import_chunk(app, chunk)
    report.events = app.head_position() - head
    return report


def _import_chunk(app: CrmApplication, chunk: list[tuple[CreateContact, list[RecordPurchase]]]) -> None:
    """New customers in one append; where some exist already (a re-run), one at a time, which
    records only what is missing."""
    try:
        app.import_new_contacts(chunk, IMPORTER)
    except ConcurrencyConflict:
        for create, purchases in chunk:
            contact = app.create_contact(create, IMPORTER)
            app.record_purchases(contact.id, purchases, IMPORTER)


def _commands(customer: str, rows: list[PurchaseRow]) -> tuple[CreateContact, list[RecordPurchase]]:
    external_id = f"cdnow:{customer}"
    create = CreateContact(
        name=f"CDNOW customer {customer}",
        external_id=external_id,
        idempotency_key=external_id,
        occurred_at=rows[0].day,
    )
    purchases = []
    per_day: dict[datetime, int] = {}
    for row in rows:
        per_day[row.day] = per_day.get(row.day, 0) + 1
        purchases.append(
            RecordPurchase(
                order_id=f"{external_id}:{row.day:%Y%m%d}:{per_day[row.day]}",
                amount=row.cents,
                currency="USD",
                quantity=row.quantity,
                occurred_at=row.day,
            )
        )
    return create, purchases
