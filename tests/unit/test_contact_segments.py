"""The segments one contact is in as of a date (`contact_segments`): the same verdicts as the
segments' member lists, read from that contact's history alone."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from projections.segment_queries import contact_segments, segment_members
from projections.segment_rules import default_rules
from tests.unit.test_segments_projection import CID, CONTACT_ID, CREATED, FIRST_BUY, UNTIL, a_customer_story, store_of


def test_a_contacts_segments_are_those_whose_members_it_is_in_with_the_same_entry_times() -> None:
    # given the customer story stored through the projection
    store = store_of(a_customer_story())
    rules = default_rules()

    for as_of in (CREATED, FIRST_BUY, datetime(2024, 9, 1, tzinfo=UTC), UNTIL):
        # when the contact's segments are read as of a date
        segments = contact_segments(store, rules, CONTACT_ID, as_of)

        # then they are exactly the segments listing it as a member then, each since the same time
        expected = [
            (rule.name, member.entered_at)
            for rule in rules
            for member in segment_members(store, rules, rule.name, as_of)
            if member.contact_id == CID
        ]
        assert segments is not None
        assert [(s.name, s.entered_at) for s in segments] == expected, as_of
    september = contact_segments(store, rules, CONTACT_ID, datetime(2024, 9, 1, tzinfo=UTC))
    assert september is not None
    assert [(s.name, s.entered_at) for s in september] == [("dormant", datetime(2024, 8, 29, 9, 0, tzinfo=UTC))]


def test_an_unknown_contact_or_one_not_created_yet_has_no_segments_to_tell() -> None:
    # given the customer story stored
    store = store_of(a_customer_story())

    # when an unknown contact, and the contact before it existed, are asked for
    unknown = contact_segments(store, default_rules(), UUID(int=99), UNTIL)
    too_early = contact_segments(store, default_rules(), CONTACT_ID, datetime(2024, 1, 1, tzinfo=UTC))

    # then there is nothing to tell (None), not "in no segment" ([])
    assert unknown is None and too_early is None
