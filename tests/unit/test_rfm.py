"""Contact features: RFM in the Fader-Hardie convention, checked by hand on real CDNOW customers,
plus value, lifecycle and the as-of cut."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from projections.contact_features import Purchase, contact_features, lifecycle_of

CDNOW_SAMPLE = Path(__file__).resolve().parents[1] / "data" / "cdnow" / "CDNOW_sample.txt"
END_OF_CALIBRATION = datetime(1997, 9, 30, tzinfo=UTC)
"""The literature's calibration end (39 weeks after 1997-01-01); purchases on that day count."""


def cdnow_purchases(sample_customer_id: str) -> list[Purchase]:
    """One sample customer's rows as purchases: midnight UTC of the date, dollars as cents."""
    purchases = []
    for line in CDNOW_SAMPLE.read_text().splitlines():
        _master_id, sample_id, day, _cds, dollars = line.split()
        if sample_id == sample_customer_id:
            occurred_at = datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC)
            purchases.append(Purchase(occurred_at, round(float(dollars) * 100), "USD"))
    assert purchases, f"no rows for sample customer {sample_customer_id}"
    return purchases


def rfm_in_weeks(sample_customer_id: str) -> tuple[int, float | None, float | None, float]:
    purchases = cdnow_purchases(sample_customer_id)
    f = contact_features(purchases[0].occurred_at, purchases, [], {}, END_OF_CALIBRATION, "weeks")
    return f.frequency, f.recency, f.T, f.monetary


# --- RFM on CDNOW customers, worked out by hand ----------------------------------------------
# Day numbers of 1997 (not a leap year): Jan 1 = 1, Jan 2 = 2, Jan 4 = 4, Jan 13 = 13, Jan 20 = 20,
# Jan 24 = 24, Feb 24 = 31 + 24 = 55, Mar 3 = 59 + 3 = 62, Jul 29 = 181 + 29 = 210,
# Aug 2 = 212 + 2 = 214, Sep 30 = 243 + 30 = 273.


def test_a_customer_with_a_single_purchase_has_no_repeat_purchases() -> None:
    # given customer 0003:  00050 0003 19970101  1    6.79
    # when its RFM is computed as of 1997-09-30
    frequency, recency, big_t, monetary = rfm_in_weeks("0003")

    # then one purchase day: frequency = 1 - 1 = 0, recency = 0, monetary = 0 (no repeat day)
    # and T = Sep 30 - Jan 1 = 273 - 1 = 272 days = 272 / 7 weeks
    assert frequency == 0
    assert recency == 0
    assert big_t == pytest.approx(272 / 7)  # 38.857...
    assert monetary == 0


def test_several_purchases_on_one_day_count_as_one_purchase_day() -> None:
    # given customer 0564, three purchases all on the same day:
    #   05972 0564 19970124  1   14.37
    #   05972 0564 19970124  1   13.97
    #   05972 0564 19970124  1   15.36
    # when its RFM is computed as of 1997-09-30
    frequency, recency, big_t, monetary = rfm_in_weeks("0564")

    # then one distinct day: frequency = 0, recency = 0, monetary = 0
    # and T = Sep 30 - Jan 24 = 273 - 24 = 249 days = 249 / 7 weeks
    assert frequency == 0
    assert recency == 0
    assert big_t == pytest.approx(249 / 7)  # 35.571...
    assert monetary == 0


def test_the_value_of_a_repeat_day_is_the_sum_of_that_days_purchases() -> None:
    # given customer 0026:
    #   00314 0026 19970102  1    3.99   <- first purchase day, not in monetary
    #   00314 0026 19970113 10  166.89   \ one repeat day worth
    #   00314 0026 19970113  4   60.25   / 16689 + 6025 = 22714 cents
    # when its RFM is computed as of 1997-09-30
    frequency, recency, big_t, monetary = rfm_in_weeks("0026")

    # then days {Jan 2, Jan 13}: frequency = 2 - 1 = 1
    # recency = Jan 13 - Jan 2 = 11 days = 11 / 7 weeks
    # T = Sep 30 - Jan 2 = 273 - 2 = 271 days = 271 / 7 weeks
    # monetary = 22714 / 1 = 22714 cents
    assert frequency == 1
    assert recency == pytest.approx(11 / 7)  # 1.571...
    assert big_t == pytest.approx(271 / 7)  # 38.714...
    assert monetary == pytest.approx(22714)


def test_a_purchase_after_the_observation_date_is_ignored() -> None:
    # given customer 0001:
    #   00004 0001 19970101  2   29.33   <- first purchase day
    #   00004 0001 19970118  2   29.73   repeat day: 2973 cents
    #   00004 0001 19970802  1   14.96   repeat day: 1496 cents
    #   00004 0001 19971212  2   26.48   after 1997-09-30: ignored
    # when its RFM is computed as of 1997-09-30
    frequency, recency, big_t, monetary = rfm_in_weeks("0001")

    # then days {Jan 1, Jan 18, Aug 2}: frequency = 3 - 1 = 2
    # recency = Aug 2 - Jan 1 = 214 - 1 = 213 days = 213 / 7 weeks
    # T = Sep 30 - Jan 1 = 272 days = 272 / 7 weeks
    # monetary = (2973 + 1496) / 2 = 4469 / 2 = 2234.5 cents
    assert frequency == 2
    assert recency == pytest.approx(213 / 7)  # 30.428...
    assert big_t == pytest.approx(272 / 7)
    assert monetary == pytest.approx(2234.5)


def test_repeat_days_with_several_purchases_and_later_purchases_combine() -> None:
    # given customer 0061:
    #   00773 0061 19970104  4   56.27   <- first purchase day
    #   00773 0061 19970120  4   62.90   \ Jan 20: 6290 + 1536 = 7826
    #   00773 0061 19970120  1   15.36   /
    #   00773 0061 19970224  3   63.95   \ Feb 24: 6395 + 2499 = 8894
    #   00773 0061 19970224  1   24.99   /
    #   00773 0061 19970303  1   15.36   Mar 3: 1536
    #   00773 0061 19970729  1   31.03   Jul 29: 3103
    #   00773 0061 19971217  2   29.48   \
    #   00773 0061 19971218  1   28.49    > after 1997-09-30: ignored
    #   00773 0061 19971222  3   66.97   /
    # when its RFM is computed as of 1997-09-30
    frequency, recency, big_t, monetary = rfm_in_weeks("0061")

    # then days {Jan 4, Jan 20, Feb 24, Mar 3, Jul 29}: frequency = 5 - 1 = 4
    # recency = Jul 29 - Jan 4 = 210 - 4 = 206 days = 206 / 7 weeks
    # T = Sep 30 - Jan 4 = 273 - 4 = 269 days = 269 / 7 weeks
    # monetary = (7826 + 8894 + 1536 + 3103) / 4 = 21359 / 4 = 5339.75 cents
    assert frequency == 4
    assert recency == pytest.approx(206 / 7)  # 29.428...
    assert big_t == pytest.approx(269 / 7)  # 38.428...
    assert monetary == pytest.approx(5339.75)


def test_in_days_recency_and_t_are_whole_day_counts() -> None:
    # given customer 0061 (see above)
    purchases = cdnow_purchases("0061")

    # when its RFM is computed in days
    f = contact_features(purchases[0].occurred_at, purchases, [], {}, END_OF_CALIBRATION, "days")

    # then recency and T are the day counts themselves, and the other features follow the cut:
    # 7 purchases up to Sep 30 worth 5627 + 7826 + 8894 + 1536 + 3103 = 26986 cents
    assert (f.frequency, f.recency, f.T, f.monetary) == (4, 206.0, 269.0, 5339.75)
    assert f.purchase_count == 7
    assert f.total_value == 26986
    assert f.average_value == pytest.approx(26986 / 7)
    assert f.first_purchase_at == datetime(1997, 1, 4, tzinfo=UTC)
    assert f.last_purchase_at == datetime(1997, 7, 29, tzinfo=UTC)


def test_t_counts_calendar_days_whatever_the_time_of_day() -> None:
    # given a first purchase late on Jan 1 and a repeat early on Jan 2 (UTC)
    purchases = [
        (datetime(1997, 1, 1, 23, 0, tzinfo=UTC), 1000, "USD"),
        (datetime(1997, 1, 2, 1, 0, tzinfo=UTC), 500, "USD"),
    ]

    # when observed late on Jan 10
    f = contact_features(None, purchases, [], {}, datetime(1997, 1, 10, 22, 0, tzinfo=UTC))

    # then the days are Jan 1 and Jan 2 (recency 1) and T is Jan 10 - Jan 1 = 9
    assert (f.frequency, f.recency, f.T, f.monetary) == (1, 1.0, 9.0, 500.0)


def test_times_in_other_zones_are_grouped_by_their_utc_day() -> None:
    # given two purchases on the same UTC day, one written in UTC+02:00 (a different local day)
    plus_two = timezone(timedelta(hours=2))
    purchases = [
        (datetime(1997, 3, 1, 1, 0, tzinfo=plus_two), 100, "USD"),  # 1997-02-28 23:00 UTC
        (datetime(1997, 2, 28, 10, 0, tzinfo=UTC), 200, "USD"),
    ]

    # when observed on Mar 5
    f = contact_features(None, purchases, [], {}, datetime(1997, 3, 5, tzinfo=UTC))

    # then they make a single purchase day
    assert f.frequency == 0
    assert f.first_purchase_at == datetime(1997, 2, 28, 10, 0, tzinfo=UTC)


# --- other features ----------------------------------------------------------------------------


def test_a_contact_without_purchases_is_a_prospect_with_no_recency_or_t() -> None:
    # given a contact created on Jan 1 who only had interactions
    created = datetime(2024, 1, 1, tzinfo=UTC)
    interactions = [datetime(2024, 1, 5, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)]

    # when features are computed as of Jan 11
    f = contact_features(created, [], interactions, {"email": True}, datetime(2024, 1, 11, tzinfo=UTC))

    # then nothing about purchases, the last interaction up to that date, consent as given
    assert (f.purchase_count, f.frequency, f.recency, f.T, f.monetary) == (0, 0, None, None, 0)
    assert f.lifecycle == "prospect"
    assert f.currency is None and f.total_value == 0 and f.average_value == 0
    assert f.last_interaction_at == datetime(2024, 1, 5, tzinfo=UTC)
    assert f.days_since_last_interaction == 6
    assert f.days_since_created == 10
    assert f.days_since_last_purchase is None
    assert f.value("consent_email") is True
    assert f.value("consent_sms") is False


def test_the_main_currency_is_the_one_most_purchases_were_made_in() -> None:
    # given two EUR purchases and one larger USD purchase
    day = datetime(2024, 1, 1, tzinfo=UTC)
    purchases = [(day, 1000, "EUR"), (day + timedelta(days=1), 3000, "EUR"), (day + timedelta(days=2), 9000, "USD")]

    # when features are computed
    f = contact_features(day, purchases, [], {}, day + timedelta(days=10))

    # then values are in EUR; the USD purchase counts as a purchase day worth 0 EUR
    assert f.currency == "EUR"
    assert f.total_value == 4000
    assert f.average_value == 2000
    assert f.totals_by_currency == {"EUR": 4000, "USD": 9000}
    assert f.purchase_count == 3
    assert (f.frequency, f.monetary) == (2, (3000 + 0) / 2)


@pytest.mark.parametrize(
    ("first_days_ago", "last_days_ago", "expected"),
    [
        (89.9, 10, "new"),
        (90, 10, "active"),
        (200, 89.9, "active"),
        (200, 90, "at_risk"),
        (200, 179.9, "at_risk"),
        (200, 180, "lapsed"),
    ],
)
def test_lifecycle_follows_the_documented_thresholds(
    first_days_ago: float, last_days_ago: float, expected: str
) -> None:
    # given a first and last purchase some days before the observation date
    now = datetime(2024, 6, 1, tzinfo=UTC)

    # when the lifecycle stage is computed
    stage = lifecycle_of(now - timedelta(days=first_days_ago), now - timedelta(days=last_days_ago), now)

    # then new < 90 days after the first purchase; active < 90, at_risk < 180, else lapsed since the last
    assert stage == expected
    assert lifecycle_of(None, None, now) == "prospect"
