"""Per-person data keys: each person (a lead, the contact it becomes and that contact's later
leads) has one AES-256 key. Keys are stored apart from the events, wrapped (encrypted) by a
`KeyVault`, and destroying a person's key erases their personal data everywhere it is stored
encrypted: the events, and the envelopes published to Kafka.

The vault is an interface: `MasterKeyVault` wraps keys with a master key from a setting or a
file; a KMS or Vault can implement the same two methods later."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12


class KeyVault(Protocol):
    """Wraps and unwraps data keys (a KMS, an HSM, or a master key)."""

    def wrap(self, key: bytes, person: str) -> bytes:
        """The key encrypted for storage, bound to its person."""
        ...

    def unwrap(self, wrapped: bytes, person: str) -> bytes:
        """The key back; raises when the wrapped key was not made for this person by this vault."""
        ...


class MasterKeyVault:
    """Wraps data keys with AES-256-GCM under one master key (32 bytes)."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != KEY_BYTES:
            raise ValueError(f"the master key must be {KEY_BYTES} bytes, not {len(master_key)}")
        self._aead = AESGCM(master_key)

    def wrap(self, key: bytes, person: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, key, person.encode())

    def unwrap(self, wrapped: bytes, person: str) -> bytes:
        return self._aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], person.encode())


class KeyStore(Protocol):
    """Where wrapped keys and the aggregate -> person links are kept (services.storage)."""

    def add_person(self, person: str, wrapped_key: bytes, aggregate_id: str) -> None:
        """Store a new person's key and link the aggregate to them; a person already stored
        (a concurrent or retried create) keeps their key."""
        ...

    def link(self, aggregate_id: str, person: str) -> None:
        """Link another aggregate to a person (a contact made from a lead, a reactivation lead)."""
        ...

    def person_of(self, aggregate_id: str) -> str | None:
        """The person an aggregate belongs to, if linked."""
        ...

    def aggregates_of(self, person: str) -> list[str]:
        """Every aggregate linked to a person."""
        ...

    def wrapped_key(self, person: str) -> bytes | None:
        """The person's wrapped key; None once it was destroyed (or never stored)."""
        ...

    def destroy(self, person: str) -> bool:
        """Destroy the person's key for good; False when there was none."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class PersonKeys:
    """The key ring: which person an aggregate belongs to, and their data key (None once
    erased). Keys are cached for `cache_seconds` so that a replay does not read the key table
    per event; an erasure in this process drops the key at once, and other processes stop using
    it within `cache_seconds`."""

    def __init__(self, store: KeyStore, vault: KeyVault, cache_seconds: float = 30.0) -> None:
        self.store = store
        self.vault = vault
        self.cache_seconds = cache_seconds
        self._keys: dict[str, tuple[AESGCM | None, float]] = {}
        self._people: dict[str, str] = {}
        self._lock = threading.Lock()

    def person_of(self, aggregate_id: str) -> str | None:
        """The aggregate's person, if it has one (links never change, so they are cached)."""
        with self._lock:
            known = self._people.get(aggregate_id)
        if known is not None:
            return known
        person = self.store.person_of(aggregate_id)
        if person is not None:
            self._remember_link(aggregate_id, person)
        return person

    def person_for(self, aggregate_id: str, linked_to: str | None = None) -> str:
        """The aggregate's person: the one it is linked to already, else the person of
        `linked_to` (a contact made from a lead, a reactivation lead of a contact), else a new
        person with a new key."""
        person = self.person_of(aggregate_id)
        if person is not None:
            return person
        if linked_to is not None:
            person = self.person_of(linked_to)
            if person is not None:
                self.store.link(aggregate_id, person)
                self._remember_link(aggregate_id, person)
                return person
        person = aggregate_id
        self.store.add_person(person, self.vault.wrap(AESGCM.generate_key(bit_length=256), person), aggregate_id)
        self._remember_link(aggregate_id, person)
        return person

    def key(self, person: str) -> AESGCM | None:
        """The person's data key, ready to seal and open with; None once it was destroyed."""
        now = time.monotonic()
        with self._lock:
            cached = self._keys.get(person)
        if cached is not None and cached[1] > now:
            return cached[0]
        wrapped = self.store.wrapped_key(person)
        key = None if wrapped is None else AESGCM(self.vault.unwrap(wrapped, person))
        with self._lock:
            if len(self._keys) > 100_000:
                self._keys.clear()
            self._keys[person] = (key, now + self.cache_seconds)
        return key

    def aggregates_of(self, person: str) -> Sequence[str]:
        """Every aggregate of the person."""
        return self.store.aggregates_of(person)

    def shred(self, person: str) -> bool:
        """Destroy the person's key: everything encrypted with it is unreadable from now on."""
        destroyed = self.store.destroy(person)
        with self._lock:
            self._keys[person] = (None, float("inf"))
        return destroyed

    def forget(self, person: str) -> None:
        """Drop a cached key (another process erased the person)."""
        with self._lock:
            self._keys.pop(person, None)

    def _remember_link(self, aggregate_id: str, person: str) -> None:
        with self._lock:
            if len(self._people) > 200_000:
                self._people.clear()
            self._people[aggregate_id] = person
