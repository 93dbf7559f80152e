"""The request path's cost: `crm serve` runs uvicorn on httptools and uvloop, and every
dependency of the API's routes runs on the event loop (a plain `def` dependency would take a
thread-pool hop of its own on every request), so that a route's body, which does the store's
I/O, is a request's one hop to the thread pool."""

from __future__ import annotations

import inspect
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from services.api.app import create_app
from services.bootstrap import bootstrap
from services.cli.serve import EVENT_LOOP, HTTP_PARSER
from services.settings import Settings
from services.storage.access_log import MemoryAccessLog
from services.storage.tokens import MemoryTokenStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def app() -> Iterator[FastAPI]:
    """The API over an in-memory store."""
    crm = bootstrap(Settings(database_url="memory://"))
    try:
        yield create_app(crm, MemoryTokenStore(), access_log=MemoryAccessLog())
    finally:
        crm.close()


def runs_on_the_loop(call: Any) -> bool:
    """True for a coroutine function, or an object whose `__call__` is one (e.g. `Permit(...)`)."""
    if inspect.isroutine(call):
        return inspect.iscoroutinefunction(call)
    return inspect.iscoroutinefunction(type(call).__call__)


def dependencies(dependant: Dependant) -> Iterator[tuple[str, Any]]:
    """Every dependency a route solves, its dependencies' own included, by name."""
    pending = list(dependant.dependencies)
    while pending:
        current = pending.pop()
        if current.call is not None:
            yield getattr(current.call, "__qualname__", type(current.call).__qualname__), current.call
        pending.extend(current.dependencies)


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every API route of the app, those of the routers it includes too."""
    routes: list[APIRoute] = []
    pending = list(app.routes)
    while pending:
        route = pending.pop()
        if isinstance(route, APIRoute):
            routes.append(route)
        else:  # an included router keeps its own routes
            pending.extend(getattr(getattr(route, "original_router", None), "routes", []))
    return routes


def app_wide(app: FastAPI) -> Iterator[tuple[str, Any]]:
    """The dependencies the app adds to every route (e.g. the request's form)."""
    for depends in app.router.dependencies:
        yield depends.dependency.__qualname__, depends.dependency


def test_every_dependency_of_every_route_is_a_coroutine_function(app: FastAPI) -> None:
    routes = api_routes(app)
    assert len(routes) > 50  # the whole API, not a part of it
    solved = [(route.path, name, call) for route in routes for name, call in dependencies(route.dependant)]
    solved += [("every route", name, call) for name, call in app_wide(app)]
    assert {name for _, name, _ in solved} >= {"Permit", "HTTPBearer", "check_request_form", "_crm", "_if_match"}
    assert sorted({f"{path}: {name}" for path, name, call in solved if not runs_on_the_loop(call)}) == []


def test_every_write_route_is_authorised_by_its_permit_dependency(app: FastAPI) -> None:
    writes = [route for route in api_routes(app) if route.methods & {"POST", "PUT", "PATCH", "DELETE"}]
    assert writes
    for route in writes:
        names = {name for name, _ in dependencies(route.dependant)}
        assert "Permit" in names, route.path


def test_crm_serve_runs_uvicorn_on_httptools_and_uvloop_which_the_project_installs(app: FastAPI) -> None:
    config = uvicorn.Config(app, http=HTTP_PARSER, loop=EVENT_LOOP)
    config.load()  # imports the parser and the loop: fails when they are not installed
    assert config.http_protocol_class.__module__ == "uvicorn.protocols.http.httptools_impl"
    assert (HTTP_PARSER, EVENT_LOOP) == ("httptools", "uvloop")
    with (ROOT / "pyproject.toml").open("rb") as pyproject:
        required = tomllib.load(pyproject)["project"]["dependencies"]
    assert {re.split(r"[<>=;\s]", spec, maxsplit=1)[0] for spec in required} >= {"httptools", "uvloop", "uvicorn"}
