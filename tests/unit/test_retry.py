"""services/retry.py: reading Retry-After and the waits of the one retry policy, without sleeping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.retry import RetryPolicy, parse_retry_after, retry_after_seconds

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("5", 5.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("0.5", 0.5),
        ("120", 120.0),
        ("86400000", 86400000.0),  # read as given; the policy caps what is waited
    ],
)
def test_delta_seconds(value: str, seconds: float):
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("Wed, 01 Jan 2025 12:00:07 GMT", 7.0),  # IMF-fixdate, the form RFC 9110 asks senders to use
        ("Wednesday, 01-Jan-25 12:00:30 GMT", 30.0),  # obsolete RFC 850 form, still to be read
        ("Wed Jan  1 12:01:00 2025", 60.0),  # obsolete asctime form: no zone, meaning GMT
    ],
)
def test_an_http_date_in_the_future_is_the_seconds_until_then(value: str, seconds: float):
    assert parse_retry_after(value, NOW) == seconds


def test_an_http_date_in_the_past_means_now():
    assert parse_retry_after("Tue, 31 Dec 2024 23:59:00 GMT", NOW) == 0.0


def test_an_http_date_is_read_against_the_clock_when_no_now_is_given():
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:07 GMT") == 0.0  # long past
    assert parse_retry_after("Fri, 01 Jan 9999 00:00:00 GMT") > 0


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "soon",
        "-5",
        "-0.5",
        "+5",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "1e3",
        "5 s",
        "1_000",
        "٣",  # a digit, but not an ASCII one
        "9" * 400,  # overflows to infinity
        "Wed, 01 Jan 2025 25:00:07 GMT",
        "Wed, 01 Jan 99999 12:00:07 GMT",
        "Wed, 01 Jan 2025 12:00:07 +9999",
    ],
)
def test_garbage_negative_and_non_finite_values_are_none(value: str | None):
    assert parse_retry_after(value, NOW) is None


def test_the_header_is_found_whatever_its_case():
    assert retry_after_seconds({"Retry-After": "5"}) == 5.0
    assert retry_after_seconds({"retry-after": "Wed, 01 Jan 2025 12:00:07 GMT"}, NOW) == 7.0
    assert retry_after_seconds({"RETRY-AFTER": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_a_given_retry_after_is_the_wait_up_to_the_cap():
    policy = RetryPolicy(retry_after_max_seconds=10.0)
    assert policy.delay(1, 0.0) == 0.0
    assert policy.delay(1, 4.0) == 4.0
    assert policy.delay(3, 4.0) == 4.0, "the server's word replaces the backoff"
    assert policy.delay(1, 86400000.0) == 10.0


def test_a_retry_after_beyond_the_cap_is_given_up_on_only_where_the_policy_says_so():
    give_up = RetryPolicy(retry_after_max_seconds=30.0)
    assert give_up.gives_up_on(31.0)
    assert not give_up.gives_up_on(30.0)
    wait_the_cap = RetryPolicy(retry_after_max_seconds=30.0, give_up_beyond_retry_after_max=False)
    assert not wait_the_cap.gives_up_on(600.0)
    assert wait_the_cap.delay(1, 600.0) == 30.0


def test_backoff_doubles_per_attempt_with_half_of_it_jitter_up_to_the_cap():
    policy = RetryPolicy(backoff_base_seconds=0.5, backoff_max_seconds=8.0)
    low = [policy.delay(n, rand=lambda: 0.0) for n in range(1, 8)]
    high = [policy.delay(n, rand=lambda: 1.0) for n in range(1, 8)]
    assert low == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert high == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert policy.delay(2, rand=lambda: 0.5) == 0.75


def test_backoff_with_the_real_random_source_stays_within_its_bounds():
    policy = RetryPolicy(backoff_base_seconds=0.2, backoff_max_seconds=10.0)
    for attempt in range(1, 10):
        ceiling = min(10.0, 0.2 * 2 ** (attempt - 1))
        for _ in range(50):
            assert ceiling / 2 <= policy.delay(attempt) <= ceiling


def test_retryable_statuses_are_the_policys():
    assert [s for s in (200, 400, 401, 412, 429, 500, 502, 503, 504) if RetryPolicy().retryable(s)] == [
        429,
        500,
        502,
        503,
        504,
    ]
    connector_like = RetryPolicy(retry_statuses=frozenset({412, 429}))
    assert connector_like.retryable(412) and not connector_like.retryable(500)


def test_the_policy_checks_its_numbers():
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(retry_after_max_seconds=-1)
