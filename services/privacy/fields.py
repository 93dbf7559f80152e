"""Sealing the personal fields of events: each personal value (see `domain.personal_data`) is
stored, and published, as a token that only its person's key opens:

    enc:v1:<person id>:<base64url(nonce(12) || AES-256-GCM ciphertext || tag(16))>

The associated data is `<person id>|<field>` (`<person id>|changes.<detail>` for a changed
detail), so a token opens only as the field it was sealed for, and only for its person. A token whose key was destroyed
opens to the field's erased value (`[erased]` for a name, null otherwise); a value that is not
a token (recorded before sealing existed) reads as it is."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.personal_data import PERSONAL_DETAILS, PERSONAL_EVENT_FIELDS, erased_value
from projections.event_record import EventRecord
from services.privacy.keys import NONCE_BYTES, PersonKeys

TOKEN_PREFIX = "enc:v1:"

LINKED_BY: dict[str, str] = {"lead.captured": "contact_id", "contact.created": "lead_id"}
"""The field of a creation event naming the aggregate whose person it belongs to: a contact
made from a lead is that lead's person, a reactivation lead is its contact's person."""


def is_token(value: object) -> bool:
    """True for a sealed value."""
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX)


def seal_value(value: str, person: str, key: AESGCM, context: str) -> str:
    """One value sealed with a person's key for a place (`person|field`)."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = nonce + key.encrypt(nonce, value.encode(), context.encode())
    return f"{TOKEN_PREFIX}{person}:{base64.urlsafe_b64encode(sealed).decode().rstrip('=')}"


def person_of_token(token: str) -> str:
    """The person a token was sealed for."""
    return token[len(TOKEN_PREFIX) :].split(":", 1)[0]


class SealedValueError(ValueError):
    """A sealed value does not open with its person's key at its place: it was altered or moved."""


def open_value(token: str, key: AESGCM, context: str) -> str:
    """The value in a token; SealedValueError when the key or the place is not the token's."""
    try:
        body = token[len(TOKEN_PREFIX) :].split(":", 1)[1]
        sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return key.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context.encode()).decode()
    except (InvalidTag, IndexError, ValueError) as error:
        raise SealedValueError(
            f"a sealed {context.split('|', 1)[-1]} of person {context.split('|')[0]} does not open"
        ) from error


class PersonalFields:
    """Seals and opens the personal fields of event states with the people's keys."""

    def __init__(self, keys: PersonKeys) -> None:
        self.keys = keys

    @staticmethod
    def carries_personal_data(event_type: str) -> bool:
        """True when events of this type hold personal fields."""
        return event_type in PERSONAL_EVENT_FIELDS

    def seal(self, event_type: str, aggregate_id: str, state: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of an event's state with every personal value sealed."""
        linked = state.get(LINKED_BY.get(event_type, ""))
        person = self.keys.person_for(aggregate_id, None if linked is None else str(linked))
        key = self.keys.key(person)
        if key is None:
            raise PermissionError(f"the person of {aggregate_id} was erased; nothing personal can be recorded")

        def seal(value: Any, field: str) -> Any:
            if value is None or is_token(value):
                return value
            return seal_value(str(value), person, key, f"{person}|{field}")

        return self._map(event_type, state, seal)

    def open(self, event_type: str, state: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of an event's state with every sealed value opened (or erased)."""

        def open_(value: Any, field: str) -> Any:
            if not is_token(value):
                return value
            person = person_of_token(value)
            key = self.keys.key(person)
            if key is None:
                return erased_value(field.removeprefix("changes."))
            return open_value(value, key, f"{person}|{field}")

        return self._map(event_type, state, open_)

    @staticmethod
    def _map(event_type: str, state: Mapping[str, Any], change: Callable[[Any, str], Any]) -> dict[str, Any]:
        result = dict(state)
        for field in PERSONAL_EVENT_FIELDS.get(event_type, ()):
            value = result.get(field)
            if field == "changes" and isinstance(value, Mapping):
                result[field] = {
                    name: change(v, f"changes.{name}") if name in PERSONAL_DETAILS else v for name, v in value.items()
                }
            elif field in result:
                result[field] = change(value, field)
        return result

    def open_record(self, record: EventRecord) -> EventRecord:
        """A published record with its sealed fields opened (or erased): what a projection fed
        from Kafka sees, the same as one fed from the store. An erasure drops the person's
        cached key at once."""
        if record.event_type.endswith(".erased"):
            person = self.keys.person_of(str(record.aggregate_id))
            if person is not None:
                self.keys.forget(person)
        if not self.carries_personal_data(record.event_type):
            return record
        return replace(record, data=self.open(record.event_type, record.data))
