"""The forms of an email address and a phone number that the CRM compares to tell a person."""

from __future__ import annotations

import pytest

from domain.identity import normalised_email, normalised_phone


def test_an_email_compares_without_case_or_surrounding_spaces() -> None:
    assert normalised_email("  Ann.Lee@Example.COM ") == "ann.lee@example.com"


def test_a_plus_address_stays_a_distinct_address() -> None:
    assert normalised_email("ann+news@example.com") != normalised_email("ann@example.com")


@pytest.mark.parametrize(
    ("written", "region"),
    [("+44 20 7946 0000", None), ("020 7946 0000", "GB"), ("(020) 7946-0000", "gb"), ("+44.20.7946.0000", "US")],
)
def test_a_phone_compares_in_e164_form_however_it_is_written(written: str, region: str | None) -> None:
    assert normalised_phone(written, region) == "+442079460000"


def test_a_number_without_its_country_code_is_not_compared_without_a_region() -> None:
    assert normalised_phone("020 7946 0000") is None


def test_an_impossible_number_is_not_compared() -> None:
    assert normalised_phone("+44 12", None) is None
    assert normalised_phone("not a number", "GB") is None
