"""How the CRM tells that two records are the same person: the forms of an email address and of
a phone number that are compared, never shown. Inbound capture deduplicates on them, lookups by
email match on them, and duplicate candidates are pairs that share one.

- An email compares case-insensitively and without surrounding spaces; a plus-address
  (`ann+news@example.com`) stays a distinct address, as the mail system treats it.
- A phone compares in E.164 form (`+442079460000`). A number written without its country code
  needs the person's country (or a configured default region) to be put in that form; one that
  cannot be is not compared at all, rather than compared wrongly.
"""

from __future__ import annotations

import phonenumbers


def normalised_email(email: str) -> str:
    """The form of an email address that compares: stripped and lower-cased, plus-address kept."""
    return email.strip().lower()


def normalised_phone(phone: str, region: str | None = None) -> str | None:
    """The E.164 form of a phone number, or None when it cannot be told: no country code and no
    region (an ISO 3166 alpha-2 code such as "GB") to read it in, or not a possible number."""
    try:
        number = phonenumbers.parse(phone.strip(), region.upper() if region else None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
