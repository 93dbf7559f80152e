"""Which failures of an automated action are the store's (wait and try again) and which are the
action's own (a bug: record it and go on), so that one bad timer or event never stops the rest."""

from __future__ import annotations

import sqlite3

from eventsourcing.persistence import PersistenceError


def is_infrastructure(error: BaseException) -> bool:
    """True for a failure of the database or the network (the action is tried again later); False
    for anything else an action raises, which trying again would only repeat."""
    if isinstance(error, PersistenceError | sqlite3.Error | OSError | TimeoutError):
        return True
    module = type(error).__module__
    return module.startswith(("psycopg", "psycopg_pool"))
