from __future__ import annotations

import httpx
import pytest

from switchboard.config import RoutingPolicy, Target, parse_config
from switchboard.dialects.request import ChatRequest
from switchboard.errors import (
    AllTargetsFailed,
    DeadlineExceeded,
    InvalidRequest,
    UnknownModel,
    UpstreamAuthError,
    UpstreamClientError,
    UpstreamConnectError,
    UpstreamRateLimited,
    UpstreamRedirected,
    UpstreamServerError,
    UpstreamTimeout,
)
from switchboard.providers.base import classify_status, parse_retry_after
from switchboard.routing.health import TargetHealth
from switchboard.routing.policy import backoff_s, deadline_ms, decide, final_error, plan_targets

POLICY = RoutingPolicy()
A, B = Target("a", "m1"), Target("b", "m2")


def config(**gateway):
    return parse_config(
        {
            "gateway": gateway,
            "providers": {p: {"type": "openai", "base_url": f"https://{p}.x"} for p in "abc"},
            "models": {
                "m": {"targets": ["a/m1", "b/m2", "c/m3"], "timeout_ms": 1234},
                "n": {"targets": ["b/m2", "c/m4"]},
            },
        },
        env={},
    )


def req(model="m", **kw) -> ChatRequest:
    return ChatRequest(model=model, stream=False, **kw)


def test_plan_default_chain() -> None:
    assert [t.id for t in plan_targets(config(), req())] == ["a/m1", "b/m2", "c/m3"]


def test_plan_models_override_concatenates_without_duplicates() -> None:
    assert [t.id for t in plan_targets(config(), req(models=("n", "m")))] == ["b/m2", "c/m4", "a/m1", "c/m3"]


def test_plan_primary_only_goes_first() -> None:
    assert [t.id for t in plan_targets(config(), req(primary="c"))] == ["c/m3", "a/m1", "b/m2"]


def test_plan_primary_and_fallback_restrict() -> None:
    assert [t.id for t in plan_targets(config(), req(primary="b", fallback=("a",)))] == ["b/m2", "a/m1"]


def test_plan_errors() -> None:
    with pytest.raises(UnknownModel):
        plan_targets(config(), req("zzz"))
    with pytest.raises(InvalidRequest):
        plan_targets(config(), req(primary="zzz"))
    with pytest.raises(InvalidRequest, match="disabled"):
        plan_targets(config(allow_request_routing=False), req(models=("n",)))


def test_deadline() -> None:
    assert deadline_ms(config(), req()) == 1234
    assert deadline_ms(config(), req("n")) == POLICY.timeout_ms
    assert deadline_ms(config(), req(timeout_s=2.5)) == 2500
    assert deadline_ms(config(), req(timeout_s=10_000)) == POLICY.max_timeout_ms


def test_backoff_full_jitter_bounds() -> None:
    assert backoff_s(0, POLICY, lambda: 0.0) == 0
    assert backoff_s(0, POLICY, lambda: 1.0) == POLICY.backoff_base_ms / 1000
    assert backoff_s(3, POLICY, lambda: 1.0) == POLICY.backoff_base_ms * 8 / 1000
    assert backoff_s(30, POLICY, lambda: 1.0) == POLICY.backoff_cap_ms / 1000


def d(error, *, retries_left=2, on_target=0, has_next=True, remaining=30.0):
    return decide(
        error,
        policy=POLICY,
        retries_left=retries_left,
        retries_on_target=on_target,
        has_next=has_next,
        remaining_s=remaining,
        rand=lambda: 0.5,
    )


def test_decide_matrix() -> None:
    server = UpstreamServerError("x", upstream_status=503)
    assert d(server).action == "retry"
    assert d(server, on_target=1).action == "next"  # one retry per target
    assert d(server, retries_left=0).action == "next"
    assert d(server, retries_left=0, has_next=False).action == "fail"
    assert d(server, remaining=0.0001).action == "next"  # the backoff would outlive the deadline
    assert d(UpstreamTimeout("t")).action == "retry"
    assert d(UpstreamConnectError("c")).action == "retry"
    for skip in (UpstreamAuthError("a", upstream_status=401), UpstreamRedirected("r", upstream_status=302)):
        assert d(skip).action == "next"
        assert d(skip, has_next=False).action == "fail"
    assert d(UpstreamClientError("bad", upstream_status=400)).action == "fail"


def test_decide_rate_limit() -> None:
    limited = UpstreamRateLimited("r", upstream_status=429, retry_after_s=2.0)
    assert d(limited).action == "next"
    stay = d(limited, has_next=False)
    assert (stay.action, stay.delay_s) == ("retry", 2.0)
    assert d(UpstreamRateLimited("r", retry_after_s=60.0), has_next=False).action == "fail"  # over the cap
    assert d(limited, has_next=False, retries_left=0).action == "fail"
    assert d(limited, has_next=False, remaining=1.0).action == "fail"


def test_final_error_classes() -> None:
    limited = UpstreamRateLimited("r", upstream_status=429, retry_after_s=7)
    auth = UpstreamAuthError("a", upstream_status=401)
    result = final_error([(A, limited), (B, auth)], deadline_hit=False, deadline_ms=1000)
    assert isinstance(result, AllTargetsFailed) and result.http_status == 429
    assert (b"retry-after", b"7") in result.headers()
    assert final_error([(A, UpstreamTimeout("t"))], deadline_hit=False, deadline_ms=1).http_status == 504
    assert (
        final_error(
            [(A, UpstreamServerError("s", upstream_status=503))], deadline_hit=False, deadline_ms=1
        ).http_status
        == 503
    )
    assert (
        final_error(
            [(A, UpstreamServerError("s", upstream_status=500))], deadline_hit=False, deadline_ms=1
        ).http_status
        == 502
    )
    assert final_error([(A, auth)], deadline_hit=False, deadline_ms=1).http_status == 502
    assert isinstance(final_error([(A, auth)], deadline_hit=True, deadline_ms=1), DeadlineExceeded)
    client = UpstreamClientError("bad", upstream_status=422)
    assert final_error([(A, client)], deadline_hit=False, deadline_ms=1) is client


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, UpstreamClientError),
        (404, UpstreamClientError),
        (413, UpstreamClientError),
        (422, UpstreamClientError),
        (401, UpstreamAuthError),
        (402, UpstreamAuthError),
        (403, UpstreamAuthError),
        (429, UpstreamRateLimited),
        (408, UpstreamTimeout),
        (500, UpstreamServerError),
        (502, UpstreamServerError),
        (503, UpstreamServerError),
        (529, UpstreamServerError),
        (504, UpstreamTimeout),
        (301, UpstreamRedirected),
    ],
)
def test_classify_status(status: int, kind: type) -> None:
    assert type(classify_status(status, httpx.Headers(), b"{}")) is kind


def test_client_error_message_is_parsed_and_masked() -> None:
    body = b'{"error": {"message": "bad key sk-secret-1 in request"}}'
    error = classify_status(400, httpx.Headers(), body, ("sk-secret-1",))
    assert error.message == "bad key *** in request"
    assert (
        classify_status(400, httpx.Headers(), b"<html>oops</html>").message
        == "upstream rejected the request (400)"
    )


def test_retry_after_parsing() -> None:
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "250"})) == 0.25
    assert parse_retry_after(httpx.Headers({"retry-after": "3"})) == 3.0
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "nan", "retry-after": "2"})) == 2.0
    date = parse_retry_after(
        httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}), now=1445412470.0
    )
    assert date == pytest.approx(10.0)
    assert parse_retry_after(httpx.Headers({"retry-after": "soon"})) is None
    assert parse_retry_after(httpx.Headers()) is None


def test_cooldown_orders_failing_targets_last() -> None:
    now = [0.0]
    health = TargetHealth(RoutingPolicy(cooldown_failures=2, cooldown_ms=1000), clock=lambda: now[0])
    health.failure(A)
    assert health.order([A, B]) == [A, B]
    health.failure(A)
    assert health.order([A, B]) == [B, A] and health.cooling(A)
    now[0] = 1.5
    assert health.order([A, B]) == [A, B]
    health.failure(A)
    health.success(A)
    health.failure(A)
    assert not health.cooling(A)
