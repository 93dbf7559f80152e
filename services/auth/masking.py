"""What an analyst sees of personal data: names, emails and phone numbers masked, in single
fields and inside event data alike."""

from __future__ import annotations

from typing import Any

PERSONAL_FIELDS = ("name", "email", "phone")
"""What an analyst sees masked."""


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


_MASKS = {"name": mask_name, "email": mask_email, "phone": mask_phone}


def mask_personal(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of event data with names, emails and phones masked (also inside `changes`)."""
    masked = {k: _MASKS[k](v) if k in _MASKS and (v is None or isinstance(v, str)) else v for k, v in data.items()}
    changes = masked.get("changes")
    if isinstance(changes, dict):
        masked["changes"] = mask_personal(changes)
    return masked
