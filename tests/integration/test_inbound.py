"""Inbound capture under concurrency, against the real databases: submissions for the same new
person at the same time make one lead, the others land on it as `form_submit` interactions.
On PostgreSQL two capture services with locks of their own (as two API processes have) are
serialised by the advisory locks alone."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from consumers.in_process_runner import InProcessRunner
from services.api.read_models import ReadModelGate
from services.app.application import Context, CrmApplication
from services.app.commands import InboundLead
from services.app.inbound import IdentityLocks, InboundCapture, InboundOutcome, InboundResult
from services.app.queries import ReadModelQueries
from services.bootstrap import bootstrap, open_identity_locks, open_read_models
from services.settings import Settings
from services.storage.identity_locks import PostgresIdentityLocks

FORMS = Context(actor="forms", correlation_id="req-inbound", may_read=False)
DURABLE = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=DURABLE)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return Settings(database_url=f"sqlite:///{tmp_path / 'crm.sqlite'}", master_key_file=str(tmp_path / "mk"))
    return Settings(database_url=str(request.getfixturevalue("postgres_url")), master_key_file=str(tmp_path / "mk"))


@pytest.fixture
def crm(settings: Settings) -> Iterator[tuple[CrmApplication, Callable[[IdentityLocks], InboundCapture]]]:
    """The application with its read models followed in the background, and a maker of
    capture services (each given its locks)."""
    app = bootstrap(settings)
    store = open_read_models(settings)
    runner = InProcessRunner(app, store, poll_interval=0.01)
    gate = ReadModelGate(app, ReadModelQueries(store), runner.wait, read_wait_seconds=10.0)

    def capture_service(locks: IdentityLocks) -> InboundCapture:
        return InboundCapture(app, lambda: gate.caught_up(app.head_position()), locks, gate.applied)

    with runner:
        yield app, capture_service
    store.close()
    app.close()


def at_once(submit: Callable[[int], InboundResult], n: int) -> list[InboundResult]:
    """`submit(i)` for i in 0..n-1 from n threads released together."""
    start = threading.Barrier(n)

    def go(i: int) -> InboundResult:
        start.wait()
        return submit(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(go, range(n)))


def form(i: int) -> InboundLead:
    email = "New.Person@Example.com" if i % 2 else "  new.person@example.com "
    return InboundLead(name="New Person", email=email, company="Acme", message=f"form {i}")


def test_simultaneous_forms_for_the_same_new_email_make_one_lead(
    crm: tuple[CrmApplication, Callable[[IdentityLocks], InboundCapture]], settings: Settings
) -> None:
    app, capture_service = crm
    inbound = capture_service(open_identity_locks(settings))

    results = at_once(lambda i: inbound.submit(form(i), FORMS), 6)

    created = [r for r in results if r.outcome is InboundOutcome.CREATED]
    assert len(created) == 1
    lead_id = created[0].result.id
    assert {r.lead_id for r in results} == {lead_id}
    logged = [e for e in app.history(lead_id) if e.event_type == "lead.interaction_logged"]
    assert len(logged) == 5 and {e.data["kind"] for e in logged} == {"form_submit"}


@pytest.mark.parametrize("settings", [DURABLE[1]], indirect=True)
def test_two_processes_forms_for_the_same_new_email_make_one_lead_on_postgres(
    crm: tuple[CrmApplication, Callable[[IdentityLocks], InboundCapture]], settings: Settings
) -> None:
    app, capture_service = crm
    conninfo = open_identity_locks(settings)
    assert isinstance(conninfo, PostgresIdentityLocks)
    # two services, each with in-process locks of its own: only the database serialises them
    services = [capture_service(PostgresIdentityLocks(conninfo.conninfo)) for _ in range(2)]

    results = at_once(lambda i: services[i % 2].submit(form(i), FORMS), 6)

    assert [r.outcome for r in results].count(InboundOutcome.CREATED) == 1
    assert len({r.lead_id for r in results}) == 1
