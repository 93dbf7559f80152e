"""`python -m bench.console`: the server render time of the console's main pages: the median of
50 renders of each (in process, through the ASGI app, no network) over a SQLite store seeded
with 1000 leads (`crm seed`'s stories), for a rep and for a manager (the manager and analyst
pages a rep may not open are not timed for the rep). The figures go into docs/console.md;
nothing asserts them."""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import quote
from uuid import UUID

from fastapi.testclient import TestClient

from projections.segment_queries import SegmentContact
from services.api.app import create_app
from services.app.application import CrmApplication
from services.app.errors import NotFound
from services.bootstrap import bootstrap, following_read_models, open_access_log, open_token_store
from services.console.app import install_console
from services.jobs.seed import REPS, seed_history
from services.settings import Settings


def _signed_in(client: TestClient, token: str) -> None:
    form = client.get("/app/sign-in").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf
    response = client.post("/app/sign-in", data={"token": token, "csrf_token": csrf.group(1)})
    assert response.status_code == 303, response.text


def _median_ms(client: TestClient, path: str, renders: int, status: int = 200) -> float:
    timings = []
    for _ in range(renders):
        began = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - began) * 1000)
        assert response.status_code == status, (path, response.status_code)
    return statistics.median(timings)


def _contact_of(crm: CrmApplication, contacts: list[SegmentContact], owner: str) -> SegmentContact:
    """The first of `contacts` that `owner` may read (its lead was theirs) and that has an email."""
    for contact in contacts:
        try:
            crm.get_contact(UUID(contact.contact_id), owner_scope=owner)
        except NotFound:
            continue
        if contact.email:
            return contact
    raise SystemExit(f"no contact of {owner} among the seeded ones")


def main() -> int:
    """Seed, serve in process, render each page `--renders` times, print a Markdown table."""
    parser = argparse.ArgumentParser(prog="python -m bench.console", description=__doc__)
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--renders", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(database_url=f"sqlite:///{Path(folder) / 'crm.sqlite'}")
        crm = bootstrap(settings)
        tokens = open_token_store(settings)
        access_log = open_access_log(settings)
        try:
            report = seed_history(crm, args.leads)
            print(f"seeded {report.leads} leads, {report.events} events in {report.seconds:.0f} s")
            with following_read_models(crm, settings) as read_side:
                assert read_side.wait_for(crm.head_position(), 300)
                app = create_app(
                    crm, tokens, read_models=read_side.queries, wait_for=read_side.wait_for, access_log=access_log
                )
                install_console(app)
                rep = REPS[0]
                lead = read_side.queries.hot_leads(owner=rep, limit=1)[0].lead_id
                print("| page | rep (ms) | manager (ms) |\n|---|---|---|")
                clients = {}
                for user, role in ((rep, "rep"), ("bench-manager", "manager")):
                    clients[role] = TestClient(app, follow_redirects=False)
                    _signed_in(clients[role], tokens.issue(user, role))
                version = crm.get_lead(UUID(lead)).version
                contact = _contact_of(crm, read_side.queries.contacts(limit=500), rep)
                for name, path, status in (
                    ("My day", "/app/", 200),
                    ("a lead's page", f"/app/leads/{lead}", 200),
                    ("the timeline fragment (a poll after a change)", f"/app/leads/{lead}/timeline", 200),
                    ("a timeline poll when nothing changed (204)", f"/app/leads/{lead}/timeline?since={version}", 204),
                    ("search by name", "/app/search?q=an", 200),
                    ("a contact's page", f"/app/contacts/{contact.contact_id}", 200),
                    ("search by email", f"/app/search?q={quote(contact.email or '')}", 200),
                ):
                    rep_ms = _median_ms(clients["rep"], path, args.renders, status)
                    manager_ms = _median_ms(clients["manager"], path, args.renders, status)
                    print(f"| {name} | {rep_ms:.1f} | {manager_ms:.1f} |")
                pipeline = read_side.queries.store.position("pipeline")
                for name, path, status, rep_may in (
                    ("the pipeline board with its funnel (now)", "/app/pipeline", 200, True),
                    ("the board as of a past day (slider at day 100)", "/app/pipeline?day=100", 200, True),
                    ("a board poll when nothing changed (204)", f"/app/pipeline/board?since={pipeline}", 204, True),
                    ("the forecast against actual (4 months)", "/app/forecast", 200, False),
                    ("segment sizes over 12 months", "/app/segments", 200, False),
                    ("the rep and campaign tables", "/app/analytics", 200, True),
                ):
                    rep_cell = f"{_median_ms(clients['rep'], path, args.renders, status):.1f}" if rep_may else "(403)"
                    manager_ms = _median_ms(clients["manager"], path, args.renders, status)
                    print(f"| {name} | {rep_cell} | {manager_ms:.1f} |")
        finally:
            access_log.close()
            tokens.close()
            crm.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
