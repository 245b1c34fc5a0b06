"""The shared Lambda Cloud client: pacing, back-off, errors, and the contract checks of the fake."""
from __future__ import annotations

import email.utils
from typing import List

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.hearth.platform.plugins.module_utils.lambda_cloud import (
    LambdaApiError,
    LambdaClient,
    RateLimiter,
    backoff_delay,
    error_from_response,
    parse_retry_after,
)
from fake_lambda.fixtures import fake  # noqa: F401 - pytest fixture


class FakeClock:
    """A clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: List[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def client_for(fake, clock: FakeClock, **kwargs) -> LambdaClient:  # noqa: F811
    return LambdaClient(kwargs.pop("api_key", fake.api_key), fake.url, clock=clock, sleep=clock.sleep, **kwargs)


def test_rate_limiter_spaces_requests_by_bucket() -> None:
    clock = FakeClock()
    limiter = RateLimiter({"request": 1.0, "launch": 12.0}, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.acquire()
    limiter.acquire(("request", "launch"))
    limiter.acquire(("request", "launch"))
    assert clock.sleeps == [1.0, 1.0, 12.0]


def test_rate_limiter_does_not_sleep_when_time_has_passed() -> None:
    clock = FakeClock()
    limiter = RateLimiter({"request": 1.0}, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    clock.now += 5
    assert limiter.acquire() == 0
    assert clock.sleeps == []


def test_rate_limiter_defer_pushes_the_next_request_back() -> None:
    clock = FakeClock()
    limiter = RateLimiter({"request": 1.0}, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.defer(7.5)
    limiter.acquire()
    assert clock.sleeps == [7.5]


@given(st.lists(st.tuples(st.floats(min_value=0, max_value=30), st.booleans()), max_size=40))
def test_rate_limiter_never_grants_faster_than_the_limits(steps) -> None:
    """Whatever the pauses between calls, grants keep 1 s apart and launches 12 s apart."""
    clock = FakeClock()
    limiter = RateLimiter({"request": 1.0, "launch": 12.0}, clock=clock, sleep=clock.sleep)
    grants, launches = [], []
    for pause, is_launch in steps:
        clock.now += pause
        limiter.acquire(("request", "launch") if is_launch else ("request",))
        grants.append(clock.now)
        if is_launch:
            launches.append(clock.now)
    assert all(b - a >= 1.0 - 1e-9 for a, b in zip(grants, grants[1:]))
    assert all(b - a >= 12.0 - 1e-9 for a, b in zip(launches, launches[1:]))


@pytest.mark.parametrize("value, expected", [("5", 5.0), ("0", 0.0), (" 2.5 ", 2.5), ("-3", 0.0),
                                             (None, None), ("", None), ("soon", None)])
def test_parse_retry_after_seconds(value, expected) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=now) == 30.0


def test_backoff_doubles_without_retry_after_and_is_capped() -> None:
    assert [backoff_delay(n, None) for n in range(4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff_delay(20, None) == 120.0
    assert backoff_delay(3, 4.0) == 4.0
    assert backoff_delay(0, 999.0) == 120.0


def test_error_from_response_keeps_code_message_suggestion() -> None:
    err = error_from_response(400, b'{"error": {"code": "global/quota-exceeded", "message": "Quota exceeded.",'
                                   b' "suggestion": "Contact Support."}}')
    assert (err.status, err.code, err.message, err.suggestion) == (400, "global/quota-exceeded",
                                                                   "Quota exceeded.", "Contact Support.")
    assert "global/quota-exceeded" in str(err) and "Contact Support." in str(err)


def test_error_from_response_without_envelope_uses_status() -> None:
    err = error_from_response(502, b"<html>Bad gateway</html>")
    assert err.code == "http/502" and "Bad gateway" in err.message


def test_missing_api_key_is_reported_before_any_request() -> None:
    with pytest.raises(LambdaApiError) as info:
        LambdaClient("", "http://127.0.0.1:9")
    assert info.value.code == "client/missing-api-key" and "LAMBDA_API_KEY" in str(info.value)


def test_bad_api_key_surfaces_the_api_error(fake) -> None:  # noqa: F811
    client = client_for(fake, FakeClock(), api_key="wrong")
    with pytest.raises(LambdaApiError) as info:
        client.list_instances()
    assert info.value.status == 401
    assert info.value.code == "global/invalid-api-key"
    assert info.value.suggestion


def test_429_is_retried_after_retry_after_then_doubling(fake) -> None:  # noqa: F811
    clock = FakeClock()
    client = client_for(fake, clock, request_interval=1.0)
    fake.throttle = ["3", None]
    assert client.list_ssh_keys()[0]["name"] == "ops"
    assert clock.sleeps == [3.0, 2.0]
    assert client.retries == 2
    assert len(fake.calls("GET", "/ssh-keys")) == 1


def test_429_gives_up_after_max_retries(fake) -> None:  # noqa: F811
    clock = FakeClock()
    client = client_for(fake, clock, max_retries=2)
    fake.throttle = ["1", "1", "1"]
    with pytest.raises(LambdaApiError) as info:
        client.list_instances()
    assert info.value.status == 429
    assert fake.calls("GET", "/instances") == []


def test_launches_are_twelve_seconds_apart(fake) -> None:  # noqa: F811
    clock = FakeClock()
    client = client_for(fake, clock)
    body = {"region_name": "us-west-1", "instance_type_name": "gpu_1x_a10", "ssh_key_names": ["ops"]}
    client.launch_instance(body)
    client.list_instances()
    client.launch_instance(body)
    assert clock.sleeps == [1.0, 11.0]
    assert len(fake.instances) == 2


def test_connection_failure_is_an_api_error() -> None:
    client = LambdaClient("key", "http://127.0.0.1:9", request_interval=0, timeout=2)
    with pytest.raises(LambdaApiError) as info:
        client.list_instances()
    assert info.value.code == "client/connection-failed"


def test_fake_rejects_requests_that_break_the_contract(fake) -> None:  # noqa: F811
    client = client_for(fake, FakeClock(), request_interval=0)
    with pytest.raises(LambdaApiError) as info:
        client.request("POST", "/instance-operations/launch",
                       {"region": "us-west-1", "instance_type_name": "gpu_1x_a10", "ssh_key_names": ["ops"]})
    assert info.value.code == "global/invalid-parameters"
    assert any("'region' was unexpected" in v for v in fake.violations)
    assert any("'region_name' is a required property" in v for v in fake.violations)
    fake.violations.clear()


def test_fake_rejects_undocumented_operations_and_bad_responses(fake) -> None:  # noqa: F811
    client = client_for(fake, FakeClock(), request_interval=0)
    with pytest.raises(LambdaApiError):
        client.request("GET", "/instances/abc/console")
    assert fake.violations == ["GET /api/v1/instances/abc/console is not a documented operation"]
    fake.violations.clear()
    inst = fake.add_instance("drifted")
    inst["undocumented"] = True
    client.list_instances()
    assert any("'undocumented' was unexpected" in v for v in fake.violations)
    fake.violations.clear()
