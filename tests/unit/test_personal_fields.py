"""Sealing personal fields with a person's key: what a token hides, what it is bound to, and what
it reads as once the key is destroyed."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.personal_data import ERASED_NAME
from services.privacy.fields import PersonalFields, SealedValueError, is_token, open_value, person_of_token
from services.privacy.keys import MasterKeyVault, PersonKeys
from services.storage.person_keys import MemoryKeyStore

LEAD, CONTACT = "0b6f7f0e-2a41-4b8e-9a57-0c1d9a3e5f21", "7d4e2c1a-5b3f-4e8d-8c2a-9f1e0d3b6a47"
CAPTURED = {"name": "Ada Lovelace", "email": "ada@acme.example", "phone": None, "title": "CTO", "company": "Acme"}


def a_key_ring() -> PersonKeys:
    return PersonKeys(MemoryKeyStore(), MasterKeyVault(os.urandom(32)))


def test_a_sealed_event_hides_its_personal_values_and_opens_to_them_again() -> None:
    fields = PersonalFields(a_key_ring())
    sealed = fields.seal("lead.captured", LEAD, CAPTURED)
    assert is_token(sealed["name"]) and is_token(sealed["email"]) and is_token(sealed["title"])
    assert sealed["phone"] is None and sealed["company"] == "Acme"  # nothing to seal; not personal
    assert "Ada" not in repr(sealed) and "acme.example" not in repr(sealed)
    assert fields.open("lead.captured", sealed) == CAPTURED


def test_a_lead_its_contact_and_a_later_lead_share_one_person_and_key() -> None:
    keys = a_key_ring()
    fields = PersonalFields(keys)
    lead = fields.seal("lead.captured", LEAD, CAPTURED)
    contact = fields.seal("contact.created", CONTACT, {**CAPTURED, "lead_id": LEAD})
    assert keys.person_of(CONTACT) == keys.person_of(LEAD) == person_of_token(contact["name"])
    assert person_of_token(lead["name"]) == person_of_token(contact["name"])
    other = fields.seal("lead.captured", "1b6f7f0e-2a41-4b8e-9a57-0c1d9a3e5f21", CAPTURED)
    assert person_of_token(other["name"]) != person_of_token(lead["name"])


def test_a_token_opens_only_as_its_own_field_of_its_own_person() -> None:
    keys = a_key_ring()
    fields = PersonalFields(keys)
    sealed = fields.seal("lead.captured", LEAD, CAPTURED)
    key = keys.key(LEAD)
    assert key is not None
    assert open_value(sealed["email"], key, f"{LEAD}|email") == "ada@acme.example"
    with pytest.raises(SealedValueError):
        fields.open("lead.captured", {**sealed, "name": sealed["email"]})  # moved to another field
    with pytest.raises(SealedValueError):
        open_value(sealed["email"], key, f"{CONTACT}|email")  # claimed for another person
    with pytest.raises(SealedValueError):
        fields.open("lead.captured", {**sealed, "email": sealed["email"][:-4] + "AAAA"})  # altered


def test_once_the_key_is_shredded_every_personal_value_reads_as_erased() -> None:
    keys = a_key_ring()
    fields = PersonalFields(keys)
    sealed = fields.seal("lead.captured", LEAD, CAPTURED)
    changes = fields.seal(
        "contact.details_updated", LEAD, {"changes": {"email": "new@acme.example", "company": "Acme 2"}}
    )
    assert keys.shred(LEAD)
    assert fields.open("lead.captured", sealed) == {**CAPTURED, "name": ERASED_NAME, "email": None, "title": None}
    assert fields.open("contact.details_updated", changes) == {"changes": {"email": None, "company": "Acme 2"}}
    with pytest.raises(PermissionError):
        fields.seal("lead.interaction_logged", LEAD, {"kind": "call", "detail": "after the erasure"})


def test_values_recorded_before_sealing_read_as_they_are() -> None:
    fields = PersonalFields(a_key_ring())
    assert fields.open("lead.captured", CAPTURED) == CAPTURED


def test_a_wrapped_key_is_bound_to_its_person_and_its_master_key() -> None:
    vault = MasterKeyVault(os.urandom(32))
    wrapped = vault.wrap(b"k" * 32, "person-a")
    assert vault.unwrap(wrapped, "person-a") == b"k" * 32
    with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidTag
        vault.unwrap(wrapped, "person-b")
    with pytest.raises(Exception):  # noqa: B017
        MasterKeyVault(os.urandom(32)).unwrap(wrapped, "person-a")
    with pytest.raises(ValueError):
        MasterKeyVault(b"short")


@given(st.text(min_size=1, max_size=200))
def test_any_text_survives_sealing(text: str) -> None:
    fields = PersonalFields(a_key_ring())
    sealed = fields.seal("lead.interaction_logged", LEAD, {"kind": "call", "detail": text})
    assert fields.open("lead.interaction_logged", sealed)["detail"] == text
