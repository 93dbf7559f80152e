"""Money: integer minor units of one ISO 4217 currency."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.money import (
    _MINOR_UNIT_DIGITS,
    ISO_4217_CODES,
    MAX_AMOUNT_MINOR,
    Money,
    is_currency_code,
    minor_unit_digits,
)


def test_money_is_an_integer_amount_and_a_currency() -> None:
    # given / when
    price = Money(12_999, "EUR")

    # then
    assert (price.amount, price.currency) == (12_999, "EUR")


@pytest.mark.parametrize("amount", [0, -500, MAX_AMOUNT_MINOR])
def test_any_integer_amount_is_accepted(amount: int) -> None:
    # given / when / then
    assert Money(amount, "USD").amount == amount


@pytest.mark.parametrize("amount", [1.0, 12.5, Decimal("10"), "100", None, True, False])
def test_an_amount_that_is_not_a_plain_integer_is_rejected(amount: object) -> None:
    # given / when / then: floats, decimals, strings and booleans are not minor units
    with pytest.raises(TypeError, match="integer minor units"):
        Money(amount, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["usd", "US", "USDX", "", "XXX", "XAU", "BTC", " USD"])
def test_an_unknown_currency_is_rejected(currency: str) -> None:
    # given / when / then
    with pytest.raises(ValueError, match="ISO 4217"):
        Money(100, currency)


@pytest.mark.parametrize("currency", ["USD", "EUR", "GBP", "JPY", "CHF", "BHD"])
def test_common_currencies_are_known(currency: str) -> None:
    # given / when / then
    assert is_currency_code(currency)
    assert currency in ISO_4217_CODES
    assert Money(1, currency).currency == currency


def test_amounts_are_equal_only_in_the_same_currency() -> None:
    # given / when / then: money compares by amount and currency together
    assert Money(1_050, "USD") == Money(1_050, "USD")
    assert Money(1_050, "USD") != Money(1_051, "USD")
    assert Money(100, "USD") != Money(100, "EUR")
    assert Money(100, "EUR") != Money(100, "USD")


def test_money_is_immutable() -> None:
    # given an amount
    price = Money(100, "USD")

    # when / then it cannot be changed in place
    with pytest.raises(dataclasses.FrozenInstanceError):
        price.amount = 200  # type: ignore[misc]


@given(
    a=st.integers(min_value=-MAX_AMOUNT_MINOR, max_value=MAX_AMOUNT_MINOR),
    b=st.integers(min_value=-MAX_AMOUNT_MINOR, max_value=MAX_AMOUNT_MINOR),
    currency=st.sampled_from(sorted(ISO_4217_CODES)),
)
def test_amounts_are_kept_exactly_in_integer_minor_units(a: int, b: int, currency: str) -> None:
    # given / when: any two amounts in range
    first, second = Money(a, currency), Money(b, currency)

    # then each keeps its integer exactly, and they are equal exactly when their cents are
    assert (first.amount, second.amount) == (a, b)
    assert isinstance(first.amount, int) and isinstance(second.amount, int)
    assert (first == second) == (a == b)


def test_a_minor_unit_is_a_cent_unless_iso_4217_says_otherwise() -> None:
    assert [minor_unit_digits(code) for code in ("USD", "EUR", "GBP", "JPY", "KRW", "KWD", "BHD")] == [
        2,
        2,
        2,
        0,
        0,
        3,
        3,
    ]
    # every exception names an active code, so a typo there cannot hide
    assert set(_MINOR_UNIT_DIGITS) <= ISO_4217_CODES
