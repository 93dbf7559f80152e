"""What an analyst sees of personal data: names, emails and phone numbers masked, in single
fields and inside event data alike, and every email address and phone number written inside
free text (an interaction's detail, a reason, an interest, a company, a title, or a task's title
and note)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from domain.money import is_currency_code

PERSONAL_FIELDS = ("name", "email", "phone")
"""What an analyst sees masked."""

FREE_TEXT_FIELDS = (
    "detail",
    "reason",
    "interest",
    "disqualified_reason",
    "company",
    "title",
    "campaign",
    "notes",
    "note",
)
"""Text people type freely, where an email address or a phone number may be written: an analyst
sees it with those masked (`mask_free_text`) and the rest as it is."""


def mask_name(value: str | None) -> str | None:
    """`Ada Lovelace` -> `A*** L***`."""
    if value is None:
        return None
    return " ".join(f"{part[0]}***" for part in value.split()) or "***"


def mask_email(value: str | None) -> str | None:
    """`ada@acme.example` -> `a***@acme.example`."""
    if value is None:
        return None
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_phone(value: str | None) -> str | None:
    """`+44 20 7946 0018` -> `***18`."""
    if value is None:
        return None
    digits = [c for c in value if c.isdigit()]
    return "***" + "".join(digits[-2:])


_EMAIL = r"(?<![\w.!#$%&'*+/=?^`{|}~-])[\w.!#$%&'*+/=?^`{|}~-]+@(?:[\w-]+\.)+[\w-]{2,}"
_ISO_DATE = (
    r"(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?"
)
_DOTTED_DATE = r"(?:0?[1-9]|[12]\d|3[01])\.(?:0?[1-9]|1[0-2])\.(?:19|20)\d\d"
_YEARS = r"(?:19|20)\d\d ?[-\u2013] ?(?:19|20)\d\d"
_DECIMAL_AMOUNT = r"\d+(?:,\d{3})*[.,]\d\d(?![.,]?\d)"
_PHONE_LIKE = r"(?<![\w+])\+?\(?\d(?:[ .()-]{0,2}\d)+"
_FREE_TEXT = re.compile(
    rf"(?P<email>{_EMAIL})|(?<![\d.,])(?P<kept>{_ISO_DATE}|{_DOTTED_DATE}|{_YEARS}|{_DECIMAL_AMOUNT})(?!\d)"
    rf"|(?P<phone>{_PHONE_LIKE})(?!\d)"
)
"""Emails; dates, year ranges and amounts with cents, which are left alone even though they are
long runs of digits; and runs of digits with the separators phone numbers are written with."""
PHONE_MIN_DIGITS = 7
"""A shorter run of digits (an amount like 1200, a year, a quantity) is not taken for a phone number."""
_CURRENCY_SYMBOLS = "$\u20ac\u00a3\u00a5"


def mask_free_text(text: str | None) -> str | None:
    """Free text with every email address masked like `mask_email` and every phone number (7
    or more digits, with spaces, dots, dashes, brackets, a leading +) like `mask_phone`:
    `call ada@acme.example or +44 20 7946 0018` -> `call a***@acme.example or ***18`.
    Dates (2026-03-02), amounts (1200, 1200.50, USD 1500000) and short numbers stay."""
    if text is None:
        return None
    return _FREE_TEXT.sub(lambda match: _masked(match, text), text)


def _masked(match: re.Match[str], text: str) -> str:
    found = match.group()
    if match.group("email"):
        return mask_email(found) or "***"
    if match.group("kept") or sum(c.isdigit() for c in found) < PHONE_MIN_DIGITS or _is_amount(text, match):
        return found
    return mask_phone(found) or "***"


def _is_amount(text: str, match: re.Match[str]) -> bool:
    """Digits with a currency right before or after them (`EUR 1.200.000`, `1 500 000 USD`)."""
    before, after = text[: match.start()].rstrip(), text[match.end() :].lstrip()
    if before.endswith(tuple(_CURRENCY_SYMBOLS)) or after.startswith(tuple(_CURRENCY_SYMBOLS)):
        return True
    code_before = re.search(r"(?<![A-Za-z])([A-Z]{3})$", before)
    code_after = re.match(r"([A-Z]{3})(?![A-Za-z])", after)
    return any(code is not None and is_currency_code(code.group(1)) for code in (code_before, code_after))


_MASKS: dict[str, Callable[[str | None], str | None]] = {"name": mask_name, "email": mask_email, "phone": mask_phone}
_MASKS.update(dict.fromkeys(FREE_TEXT_FIELDS, mask_free_text))


def mask_personal(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of event data with names, emails and phones masked, and emails and phones inside
    free text (also inside `changes`)."""
    masked = {k: _MASKS[k](v) if k in _MASKS and (v is None or isinstance(v, str)) else v for k, v in data.items()}
    changes = masked.get("changes")
    if isinstance(changes, dict):
        masked["changes"] = mask_personal(changes)
    return masked
