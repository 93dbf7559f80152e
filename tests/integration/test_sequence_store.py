"""The nurture sequences' definitions in the workspace, on every backend: a name is defined
once, its definition is an event of the workspace, and a durable store keeps it for the next
process."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from domain.errors import SequenceAlreadyDefined
from domain.workspace import WORKSPACE_ID
from services.app.application import CrmApplication
from services.app.commands import DefineSequence
from services.app.errors import SequenceNotFound
from tests.integration.conftest import BACKENDS
from tests.integration.factories import ALICE

DURABLE = [backend for backend in BACKENDS if backend.values != ("memory",)]


def welcome(**fields: object) -> DefineSequence:
    return DefineSequence.model_validate(
        {"name": "welcome", "steps": [{"wait_days": 1, "email": {"template": "hello"}}], **fields}
    )


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_a_name_is_defined_once_and_the_first_definition_stays(app: CrmApplication) -> None:
    app.define_sequence(welcome(description="first"), ALICE)

    with pytest.raises(SequenceAlreadyDefined):
        app.define_sequence(welcome(description="second"), ALICE)

    stored = app.sequence("welcome")
    assert (stored.definition.description, stored.defined_by) == ("first", "alice")
    trail = app.history(WORKSPACE_ID)
    assert [e.event_type for e in trail].count("workspace.sequence_defined") == 1
    assert trail[-1].event_type == "workspace.sequence_defined" and trail[-1].actor == "alice"
    assert trail[-1].data["steps"] == stored.definition.step_snapshots()
    with pytest.raises(SequenceNotFound):
        app.sequence("no-such-one")


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_a_durable_store_keeps_the_definitions_for_the_next_process(open_app: Callable[[], CrmApplication]) -> None:
    first = open_app()
    first.define_sequence(welcome(enrol_when={"sources": ["webinar"], "min_score": 20}), ALICE)
    first.define_sequence(welcome(name="after-demo"), ALICE)

    again = open_app().list_sequences()

    assert [s.name for s in again] == ["after-demo", "welcome"]
    assert again[1].definition == first.sequence("welcome").definition
    assert again[1].defined_at == first.sequence("welcome").defined_at
