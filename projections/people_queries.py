"""Queries over the identity index (`projections/people.py`): who has this email or phone, and
which records look like the same person (duplicate candidates, a pure function over index rows)."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import combinations
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from domain.time import parse_time
from projections.people import CONTACT, LEAD, OPEN, PEOPLE, UNMATCHABLE
from projections.row_changes import Reader

Kind = Literal["lead", "contact"]
Reason = Literal["email", "phone", "name_company"]

NAME_SIMILARITY = 0.85
"""The least difflib ratio of two normalised names (at the same company) that makes a candidate."""

CONFIDENCE: dict[str, float] = {"email": 0.95, "phone": 0.8, "name_company": 0.7}
"""How sure each reason alone makes a pair (a similar name scales its own by the similarity)."""


class PersonRow(BaseModel):
    """One lead or contact as the identity index holds it."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    person_id: str
    email: str | None
    phone: str | None
    name: str | None
    company: str | None
    country: str | None
    status: str
    contact_id: str | None
    created_at: datetime
    updated_position: int


_COLUMNS = tuple(PersonRow.model_fields)


def _rows(reader: Reader, where: str, params: Sequence[Any]) -> list[PersonRow]:
    unmatchable = sorted(UNMATCHABLE)
    rows = reader.fetch(
        f"SELECT {', '.join(_COLUMNS)} FROM {PEOPLE.name} WHERE {where}"
        f" AND status NOT IN ({', '.join('?' * len(unmatchable))}) ORDER BY created_at, person_id",
        [*params, *unmatchable],
    )
    people = []
    for row in rows:
        values = dict(row)
        values["created_at"] = parse_time(values["created_at"])
        values["updated_position"] = int(values["updated_position"])
        people.append(PersonRow.model_validate(values))
    return people


def with_email(reader: Reader, kind: Kind, email: str) -> list[PersonRow]:
    """The records of a kind whose normalised email is `email` (already normalised), oldest first."""
    return _rows(reader, "kind = ? AND email = ?", [kind, email])


def with_phone(reader: Reader, kind: Kind, phone: str) -> list[PersonRow]:
    """The records of a kind whose E.164 phone is `phone`, oldest first."""
    return _rows(reader, "kind = ? AND phone = ?", [kind, phone])


def person(reader: Reader, kind: Kind, person_id: str) -> PersonRow | None:
    """One record of the index, unless erased (or merged)."""
    found = _rows(reader, "kind = ? AND person_id = ?", [kind, person_id])
    return found[0] if found else None


def candidates_among(reader: Reader, kind: Kind) -> list[PersonRow]:
    """The records that may be someone's duplicate: open leads, or contacts (not erased)."""
    if kind == LEAD:
        return _rows(reader, "kind = ? AND status = ?", [LEAD, OPEN])
    return _rows(reader, "kind = ?", [CONTACT])


# --- duplicate candidates ------------------------------------------------------------------------


class DuplicateCandidate(BaseModel):
    """Two records that look like one person: why, and how sure (0..1)."""

    model_config = ConfigDict(frozen=True)

    first: PersonRow
    second: PersonRow
    """The two records, the older first."""
    reasons: tuple[Reason, ...]
    """Every reason that holds, the strongest first."""
    confidence: float
    name_similarity: float | None = None

    @property
    def reason(self) -> Reason:
        """The strongest reason."""
        return self.reasons[0]

    @property
    def key(self) -> str:
        """The pair's place in the list (for keyset pages): the confidence descending, then the ids."""
        return f"{1 - self.confidence:.6f}:{self.first.person_id}:{self.second.person_id}"


_LEGAL_FORMS = frozenset(
    {"ltd", "limited", "inc", "incorporated", "llc", "plc", "gmbh", "ag", "sa", "sas", "bv", "co", "corp", "company"}
)


def normalised_name(name: str | None) -> str | None:
    """A name as names compare: accents, case, punctuation and extra spaces do not count."""
    if name is None:
        return None
    decomposed = unicodedata.normalize("NFKD", name)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    words = re.findall(r"\w+", letters)
    return " ".join(words) or None


def normalised_company(company: str | None) -> str | None:
    """A company as companies compare: as a name, and without its legal form (Ltd, GmbH, Inc...)."""
    name = normalised_name(company)
    if name is None:
        return None
    words = [w for w in name.split() if w not in _LEGAL_FORMS]
    return " ".join(words) or name


def name_similarity(a: str | None, b: str | None) -> float:
    """difflib's ratio of two normalised names (0 when either has none)."""
    left, right = normalised_name(a), normalised_name(b)
    if left is None or right is None:
        return 0.0
    return difflib.SequenceMatcher(None, left, right).ratio()


def duplicate_candidates(rows: Iterable[PersonRow]) -> list[DuplicateCandidate]:
    """Every pair of rows that share a normalised email, an E.164 phone, or a similar name
    (ratio >= NAME_SIMILARITY) at the same normalised company; the most certain first, then by
    the ids. Confidence combines the reasons that hold: 1 - the product of (1 - each one's)."""
    people = sorted(rows, key=lambda r: (r.created_at, r.person_id))
    order = {r.person_id: i for i, r in enumerate(people)}
    found: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)

    def note(group: Sequence[PersonRow], reason: str, weight: float) -> None:
        for a, b in combinations(group, 2):
            found[(a.person_id, b.person_id)][reason] = weight

    for field, reason in (("email", "email"), ("phone", "phone")):
        groups: dict[str, list[PersonRow]] = defaultdict(list)
        for row in people:
            value = getattr(row, field)
            if value is not None:
                groups[value].append(row)
        for group in groups.values():
            note(group, reason, CONFIDENCE[reason])
    by_company: dict[str, list[PersonRow]] = defaultdict(list)
    for row in people:
        company = normalised_company(row.company)
        if company is not None and normalised_name(row.name) is not None:
            by_company[company].append(row)
    similarities: dict[tuple[str, str], float] = {}
    for group in by_company.values():
        for a, b in combinations(group, 2):
            ratio = name_similarity(a.name, b.name)
            if ratio >= NAME_SIMILARITY:
                found[(a.person_id, b.person_id)]["name_company"] = CONFIDENCE["name_company"] * ratio
                similarities[(a.person_id, b.person_id)] = ratio
    by_id = {r.person_id: r for r in people}
    candidates = []
    for (left, right), weights in found.items():
        first, second = sorted((by_id[left], by_id[right]), key=lambda r: order[r.person_id])
        doubt = 1.0
        for weight in weights.values():
            doubt *= 1 - weight
        reasons = tuple(sorted(weights, key=lambda r: -weights[r]))
        candidates.append(
            DuplicateCandidate(
                first=first,
                second=second,
                reasons=reasons,  # type: ignore[arg-type]
                confidence=round(1 - doubt, 4),
                name_similarity=None if (left, right) not in similarities else round(similarities[(left, right)], 4),
            )
        )
    return sorted(candidates, key=lambda c: c.key)


def candidates_page(
    candidates: Sequence[DuplicateCandidate], after: str | None, limit: int
) -> list[DuplicateCandidate]:
    """The candidates after the one whose `key` is `after`, at most `limit` of them."""
    return [c for c in candidates if after is None or c.key > after][: max(int(limit), 0)]
