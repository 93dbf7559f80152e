"""Money as integer minor units plus an ISO 4217 currency code; never floats."""

from __future__ import annotations

from dataclasses import dataclass

# Active ISO 4217 alphabetic codes (list of 2024), without funds and precious-metal codes.
ISO_4217_CODES: frozenset[str] = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP
    MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR
    RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
    TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER
    ZAR ZMW ZWG
    """.split()
)

_MINOR_UNIT_DIGITS: dict[str, int] = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
}
"""ISO 4217 minor units of the codes that have other than two decimals (list of 2024)."""


def minor_unit_digits(code: str) -> int:
    """How many decimals a minor unit of the currency is: 2 (cents) unless ISO 4217 says 0 or 3."""
    return _MINOR_UNIT_DIGITS.get(code, 2)


MAX_AMOUNT_MINOR = 10**13
"""Upper bound for one amount (100 billion in a two-decimal currency): larger is a typo."""


def is_currency_code(code: str) -> bool:
    """True when the code is an active ISO 4217 alphabetic code."""
    return code in ISO_4217_CODES


@dataclass(frozen=True)
class Money:
    """An amount in minor units (cents) of one currency."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise TypeError("money amounts are integer minor units")
        if not is_currency_code(self.currency):
            raise ValueError(f"unknown ISO 4217 currency code: {self.currency!r}")
