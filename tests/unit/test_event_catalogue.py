"""The published event catalogue matches the code."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from domain.catalogue import event_classes, render_markdown
from domain.events import CrmEvent

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def test_docs_events_md_is_the_generated_catalogue() -> None:
    assert DOCS.read_text() == render_markdown(), "regenerate: python -m domain.catalogue > docs/events.md"


def test_every_event_class_declares_its_class_version() -> None:
    for type_name, cls in event_classes().items():
        declared = [k for k in cls.__mro__ if k.__module__.startswith("domain.") and "class_version" in vars(k)]
        assert declared and declared[0].__name__ == cls.__name__, f"{type_name} must declare class_version"


def test_event_type_names_are_unique_and_dotted() -> None:
    names = list(event_classes())
    assert len(names) == len(set(names)) == 50
    assert all(n.split(".")[0] in {"lead", "contact", "workspace", "webhook", "campaign"} for n in names)


SHARED_FIELDS = {"actor", "correlation_id", "occurred_at"}


def test_every_event_says_who_in_which_request_and_when_through_one_base() -> None:
    for type_name, cls in event_classes().items():
        assert issubclass(cls, CrmEvent), type_name
        assert SHARED_FIELDS <= {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        declaring = [k for k in cls.__mro__ if SHARED_FIELDS & set(vars(k).get("__annotations__", {}))]
        assert declaring == [CrmEvent], f"{type_name} must take its shared fields from CrmEvent only"
