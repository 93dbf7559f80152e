"""Where the nurture sequences' definitions are kept, as the application sees it: a definition
with who defined it and when, and the store's protocol (`services.storage.sequences` keeps them
in a table beside the event store; `MemorySequences` here, for `memory://` and tests).

Definitions are configuration, not the history of a lead: what a lead's enrolment does is the
copy of the steps its `lead.nurture_enrolled` event holds, whatever becomes of the definition."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.nurture import NurtureSequence


@dataclass(frozen=True)
class StoredSequence:
    """A sequence's definition, who defined it (an actor) and when."""

    definition: NurtureSequence
    defined_by: str
    defined_at: datetime

    @property
    def name(self) -> str:
        """The sequence's name."""
        return self.definition.name


class SequenceStore(Protocol):
    """The nurture sequences' definitions, by name."""

    def add(self, sequence: StoredSequence) -> bool:
        """Keep a new definition; False (and nothing changed) when the name is taken."""
        ...

    def get(self, name: str) -> StoredSequence | None:
        """The definition of that name, if any."""
        ...

    def all(self) -> list[StoredSequence]:
        """Every definition, by name."""
        ...

    def close(self) -> None:
        """Release the store's connections."""
        ...


class MemorySequences:
    """Definitions of a `memory://` store: gone when the process ends, like its events."""

    def __init__(self) -> None:
        self._sequences: dict[str, StoredSequence] = {}
        self._lock = threading.Lock()

    def add(self, sequence: StoredSequence) -> bool:
        """Keep a new definition; False when the name is taken."""
        with self._lock:
            if sequence.name in self._sequences:
                return False
            self._sequences[sequence.name] = sequence
            return True

    def get(self, name: str) -> StoredSequence | None:
        """The definition of that name, if any."""
        with self._lock:
            return self._sequences.get(name)

    def all(self) -> list[StoredSequence]:
        """Every definition, by name."""
        with self._lock:
            return [self._sequences[name] for name in sorted(self._sequences)]

    def close(self) -> None:
        """Nothing to release."""
