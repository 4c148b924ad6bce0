"""The pure access rules: key matching, credentials, exposure, the token bucket and the per-caller limiter."""

from __future__ import annotations

import base64

import pytest

from distillery.access import (
    RateLimiter,
    TokenBucket,
    check_exposure,
    credential_of,
    input_too_long,
    is_loopback,
    match_key,
    retry_after_s,
    too_large,
)
from distillery.errors import ConfigError


def test_the_bucket_spends_its_burst_then_refills_at_the_rate() -> None:
    bucket = TokenBucket(rate_per_s=4.0, burst=3, now=10.0)
    assert [bucket.take(10.0) for _ in range(4)] == [0.0, 0.0, 0.0, 0.25]
    assert bucket.take(10.1) == pytest.approx(0.15)  # 0.4 of a token back after 0.1 s
    assert bucket.take(10.25) == 0.0
    assert bucket.take(10.25) == 0.25
    assert bucket.take(100.0) == 0.0 and bucket.tokens == 2.0  # a long pause refills to the burst, no more


def test_a_refused_take_spends_nothing_and_time_never_runs_backwards() -> None:
    bucket = TokenBucket(rate_per_s=1.0, burst=1, now=5.0)
    assert bucket.take(5.0) == 0.0
    assert [bucket.take(5.5) for _ in range(3)] == [0.5, 0.5, 0.5]
    assert bucket.take(4.0) == 0.5  # an earlier clock reading changes nothing
    assert bucket.take(6.0) == 0.0


def test_the_bucket_refuses_a_rate_or_burst_that_would_never_admit() -> None:
    with pytest.raises(ValueError, match="rate_per_s must be > 0"):
        TokenBucket(rate_per_s=0.0, burst=1)
    with pytest.raises(ValueError, match="burst >= 1"):
        TokenBucket(rate_per_s=1.0, burst=0)


def test_each_caller_has_its_own_bucket_and_the_oldest_is_dropped_past_the_cap() -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=2, max_callers=2)
    assert [limiter.take("key#1", 0.0) for _ in range(3)] == [0.0, 0.0, 1.0]
    assert limiter.take("key#2", 0.0) == 0.0  # key#1's flood leaves key#2 alone
    assert limiter.take("key#1", 0.0) == 1.0  # key#1 seen last: key#2 is now the oldest
    assert limiter.take("key#3", 0.0) == 0.0  # a third caller drops key#2's bucket
    assert sorted(limiter._buckets) == ["key#1", "key#3"]
    assert limiter.take("key#1", 0.0) == 1.0


def test_retry_after_is_whole_seconds_never_zero() -> None:
    assert [retry_after_s(w) for w in (0.0001, 0.5, 1.0, 1.01, 7.9)] == [1, 1, 1, 2, 8]


def test_a_key_matches_by_its_place_and_only_exactly() -> None:
    keys = ["key-alpha-0123456789", "key-beta-0123456789"]
    assert match_key("key-beta-0123456789", keys) == 1
    assert match_key("key-alpha-0123456789", keys) == 0
    for wrong in ("key-beta-012345678", "key-beta-0123456789 ", "", "KEY-ALPHA-0123456789"):
        assert match_key(wrong, keys) is None
    assert match_key("anything", []) is None
    assert match_key("dup-0123456789abcdef", ["dup-0123456789abcdef", "dup-0123456789abcdef"]) == 0


def test_credentials_come_from_bearer_or_a_basic_password() -> None:
    basic = "Basic " + base64.b64encode(b"alice:key-0123456789abcdef").decode()
    assert credential_of(basic) == "key-0123456789abcdef"
    assert credential_of("bearer  key-1 ") == "key-1"
    assert credential_of("Basic " + base64.b64encode(b":pw").decode()) == "pw"
    for bad in ("Bearer", "Bearer ", "Basic !!!", "Basic " + base64.b64encode(b"nopassword").decode(),
                "Basic " + base64.b64encode(b"user:").decode(), "Digest x", ""):
        assert credential_of(bad) is None, bad


def test_loopback_addresses() -> None:
    assert [is_loopback(h) for h in ("127.0.0.1", "127.8.0.3", "::1", "[::1]", "localhost")] == [True] * 5
    assert [is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.4", "example.com", "")] == [False] * 5


def test_an_open_surface_may_only_listen_on_loopback() -> None:
    assert check_exposure("router", "127.0.0.1", keys=0, allow_unauthenticated=False) == (
        "router on 127.0.0.1 requires no API key (loopback only); set DISTILLERY_API_KEYS before exposing it")
    assert check_exposure("ops page", "0.0.0.0", keys=2, allow_unauthenticated=False) is None
    with pytest.raises(ConfigError) as err:
        check_exposure("router", "0.0.0.0", keys=0, allow_unauthenticated=False)
    assert "[DISTILLERY_API_KEYS]" in str(err.value) and "'0.0.0.0'" in str(err.value)
    warning = check_exposure("router", "0.0.0.0", keys=0, allow_unauthenticated=True)
    assert warning is not None and "allow_unauthenticated" in warning


def test_limit_errors_name_the_limit_and_its_setting() -> None:
    denial = too_large(2_000_000, 1_048_576)
    assert denial.status == 413
    assert denial.body["error"] == {
        "message": "request body of 2,000,000 bytes exceeds the limit of 1,048,576 bytes ([http] max_body_bytes)",
        "type": "invalid_request_error", "param": None, "code": "request_too_large"}
    assert input_too_long(40_000, 32_768, "messages")["error"]["param"] == "messages"
