"""The HTTP API under /v1: thin routes from request bodies (the command models) through the
application to response DTOs. Each route authenticates and checks the role rules of
`services.auth.policy` once, with its one `Permit` dependency, and hands the caller's owner
scope to the application, which enforces it on the aggregate it loads. The error -> status
mapping is `services.api.problems`.

Conventions:
- single lead/contact responses carry `ETag: "<version>"`; a change may send it back as
  `If-Match` and gets 409 when the aggregate moved on;
- creates honour an `Idempotency-Key` header (a retry answers 200 with the same id);
- every response echoes `X-Request-ID` (the caller's, or a new one), which is also the
  correlation id of the events the request appended;
- errors are `application/problem+json`;
- a query parameter the route does not take is a 422 naming it, a body not sent as JSON a 415
  (`services.api.request_form`, one app-wide dependency).

The parts: `services.api.edge` (request id, body limit, metrics timing), `services.api.metrics`
(Prometheus), `services.api.deps` (what routes read from the request and the app),
`services.api.read_models` (read-your-writes), `services.api.pagination` (cursors and pages),
the response DTOs `services.api.schemas`, `services.api.schemas_read_models`,
`services.api.schemas_tasks` and `services.api.schemas_sequences`, and the module-level routers of
`services.api.routes` (leads, contacts, tasks, read_models, sequences, operations, privacy, audit,
users, assignment_rules, webhooks);
`create_app` stores what the dependencies read on `app.state` and includes the routers;
`services.api.openapi` finishes the OpenAPI document (operation ids, tags, the responses and
headers each operation can give); `crm openapi` writes it to docs/openapi.json.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI

from services.api.deps import AfterErasureHook
from services.api.docs_pages import install_docs
from services.api.edge import MAX_BODY_BYTES, Edge
from services.api.metrics import Metrics
from services.api.openapi import CONTACT, LICENSE, SERVERS, TAGS, finish, operation_id
from services.api.problems import install_problem_handlers
from services.api.read_models import READ_WAIT_SECONDS, ReadModelGate, WaitFor
from services.api.readiness import READY_MAX_LAG, Readiness
from services.api.request_form import check_request_form
from services.api.routes.analytics import router as analytics_routes
from services.api.routes.assignment_rules import router as assignment_rule_routes
from services.api.routes.audit import router as audit_routes
from services.api.routes.campaigns import router as campaign_routes
from services.api.routes.contacts import router as contact_routes
from services.api.routes.inbound import router as inbound_routes
from services.api.routes.leads import router as lead_routes
from services.api.routes.operations import router as operation_routes
from services.api.routes.privacy import router as privacy_routes
from services.api.routes.read_models import router as read_model_routes
from services.api.routes.scoring import router as scoring_routes
from services.api.routes.sequences import router as sequence_routes
from services.api.routes.tasks import router as task_routes
from services.api.routes.users import router as user_routes
from services.api.routes.webhooks import router as webhook_routes
from services.app.application import CrmApplication
from services.app.inbound import IdentityLocks, InProcessIdentityLocks
from services.app.queries import ReadModelQueries
from services.auth.access import AccessRecorder
from services.auth.policy import Authenticator
from services.webhooks.subscriptions import WebhookDesk

_DESCRIPTION = """\
Event-sourced CRM: leads and contacts as append-only event streams.

Authenticate with `Authorization: Bearer <token>` (issue one with `crm token issue --user NAME --role ROLE`).
Roles: **admin** and **manager** may do everything (but only an admin manages the team's users); a **rep**
works on their own leads (and the contacts those leads became); an **analyst** reads, with names, emails and
phone numbers masked (inside free text too); a **service** may log interactions, record purchases and create
contacts, send inbound forms and email events (`/v1/inbound`), and look leads and contacts up by `email` (ids
and minimal fields only). Every read of a lead's or a contact's data is logged; only an admin reads that access log
(`GET /v1/audit/access`).

A lead is owned by a user of the team (`/v1/users`, managed by admins, read by admins, managers and reps):
capturing, assigning or reactivating with an `owner` who is not an active user is a 422 naming `owner`.
The assignment rules (`/v1/assignment-rules`, admins and managers) say which rep a new lead goes to.

Every single-aggregate response carries `ETag: "<version>"`; send it back as `If-Match` to make a change
conditional (409 when someone else changed it first). Creates accept an `Idempotency-Key` header.
Errors are RFC 9457 `application/problem+json`. A query parameter an operation does not take is a 422 naming it;
a body not sent as `application/json` is a 415. While the database does not answer, every route answers 503
with `Retry-After` within about a second; `/healthz` tells that the process lives, `/readyz` whether it can serve.

Follow-up tasks sit on leads and contacts (`POST /v1/leads/{id}/tasks`, `POST /v1/contacts/{id}/tasks`) and
are read, completed and rescheduled under `/v1/tasks`: a rep adds tasks for themselves on their own records and
sees and changes their own tasks; managers and admins all of them; analysts read them, masked.

The read models (pipeline, leads list, forecast, segments, contacts list, contact features, tasks) follow the log
shortly after each command. To read your own write, pass the `position` the command answered with as
`min_position`: the read waits up to 2 s for the read models to apply it, else answers 503 with `Retry-After`.
Lists page with an opaque `cursor` (the previous page's `next_cursor`). Reps see their own pipeline and leads;
analysts, managers and admins see all of it; service tokens none.
"""


def create_app(
    crm: CrmApplication,
    tokens: Authenticator,
    *,
    read_models: ReadModelQueries | None = None,
    wait_for: WaitFor | None = None,
    read_wait_seconds: float = READ_WAIT_SECONDS,
    max_body_bytes: int = MAX_BODY_BYTES,
    title: str = "CRM API",
    follows_read_models: bool = True,
    access_log: AccessRecorder,
    ready_max_lag: int = READY_MAX_LAG,
    after_erasure: AfterErasureHook | None = None,
    identity_locks: IdentityLocks | None = None,
    webhooks: WebhookDesk | None = None,
) -> FastAPI:
    """The FastAPI app serving `crm` to holders of tokens from `tokens`; every read of a
    person's data goes to `access_log`, which admins read back at /v1/audit/access.

    `read_models` answers the pipeline, forecast, segment and list routes (without it they
    answer 503); `wait_for(position, timeout)` tells when the projections feeding them have
    applied a position (by default: the read-model store's own positions). Without
    `follows_read_models` (Kafka consumers keep them) `/metrics` reports no projection lag
    and `/readyz` does not check it; otherwise `/readyz` answers 503 when a read model is more
    than `ready_max_lag` events behind the log.
    `after_erasure(position)` runs after an erasure appended its events (e.g. to scrub the
    person's old rows from an embedded SQLite file once the read models applied them).
    `identity_locks` serialise inbound submissions for the same person (this process's own
    locks by default; on PostgreSQL pass `bootstrap.open_identity_locks`, which locks across
    processes too). `webhooks` manages the webhook subscriptions (without it /v1/webhooks answers 503)."""
    gate = ReadModelGate(crm, read_models, wait_for, read_wait_seconds)
    positions = gate.positions if read_models is not None and follows_read_models else None
    metrics = Metrics(crm.head_position, positions or _none, crm.append_groups())

    app = FastAPI(
        title=title,
        version="1.0.0",
        description=_DESCRIPTION,
        openapi_tags=TAGS,
        contact=CONTACT,
        license_info=LICENSE,
        servers=SERVERS,
        generate_unique_id_function=operation_id,
        # unknown query parameters (422) and a body that is not JSON (415), for every route
        dependencies=[Depends(check_request_form)],
        # /docs and /redoc are served over local assets (services.api.docs_pages)
        docs_url=None,
        redoc_url=None,
    )
    # what the dependencies of services.api.deps read, and nothing else
    app.state.crm = crm
    app.state.tokens = tokens
    app.state.access_log = access_log
    app.state.metrics = metrics
    app.state.readiness = Readiness(lambda: crm.head_position(), positions, max_lag=ready_max_lag)
    app.state.read_models = gate
    app.state.after_erasure = after_erasure or _nothing_after_erasure
    app.state.identity_locks = identity_locks or InProcessIdentityLocks()
    app.state.webhooks = webhooks
    install_problem_handlers(app)
    app.add_middleware(Edge, metrics=metrics, max_body_bytes=max_body_bytes, fastapi_app=app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finish(FastAPI.openapi(app), [route for router in routers for route in router.routes])
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    routers = (
        operation_routes,
        lead_routes,
        contact_routes,
        inbound_routes,
        task_routes,
        read_model_routes,
        scoring_routes,
        sequence_routes,
        privacy_routes,
        audit_routes,
        user_routes,
        assignment_rule_routes,
        webhook_routes,
        campaign_routes,
        analytics_routes,
    )
    for routes in routers:
        app.include_router(routes)
    install_docs(app)
    return app


def _none() -> None:
    return None


def _nothing_after_erasure(position: int | None) -> None:
    return None
