"""`routing.policy.Plans`: a request that only names a model gets that model's plan, decided once;
anything that makes a plan request-specific is planned afresh."""

from __future__ import annotations

import pytest

from switchboard.config import Price, Target
from switchboard.dialects.request import ChatRequest
from switchboard.errors import UnknownModel
from switchboard.routing.policy import Plans, plan_request
from tests.support import make_config

CONFIG = make_config(
    {
        "models": {
            "chain": {"targets": ["a/model-a", "b/model-b"]},
            "spread": {"targets": ["a/model-a", "b/model-b"], "strategy": "weighted"},
        }
    },
    gateway={"region": "test-region", "auth": "open", "allow_request_routing": True},
)


def request(model: str = "chain", **fields: object) -> ChatRequest:
    return ChatRequest(model=model, stream=False, **fields)  # type: ignore[arg-type]


def test_a_plain_request_gets_its_models_plan_once() -> None:
    plans = Plans(CONFIG)
    first = plans.plan(request())
    assert first == plan_request(CONFIG, request())
    assert plans.plan(request()) is first


@pytest.mark.parametrize(
    "fields",
    [
        {"models": ("chain",)},
        {"primary": "b"},
        {"fallback": ("b",)},
        {"timeout_s": 1.5},
    ],
)
def test_a_request_with_its_own_routing_is_planned_afresh(fields: dict[str, object]) -> None:
    plans = Plans(CONFIG)
    common = plans.plan(request())
    own = plans.plan(request(**fields))
    assert own is not common
    assert own == plan_request(CONFIG, request(**fields))
    assert plans.plan(request()) is common  # and it did not replace the model's plan


def test_a_budgeted_request_is_planned_with_its_prices() -> None:
    plans = Plans(CONFIG)
    common = plans.plan(request())
    price = Price(prompt=1.0, completion=2.0)
    priced = plans.plan(request(), price_of=lambda t: price if t == Target("a", "model-a") else None)
    assert priced.targets == (Target("a", "model-a"),)  # the unpriced target is not in its chain
    assert priced.ceiling == price
    assert plans.plan(request()) is common


def test_a_session_keyed_strategy_is_never_shared() -> None:
    plans = Plans(CONFIG)
    keyed = plans.plan(request("spread"), session=b"user-1")
    assert keyed.balance.affinity == "user-1"
    assert plans.plan(request("spread"), session=b"user-2").balance.affinity == "user-2"
    assert plans.plan(request("spread")).balance.affinity is None


def test_an_unknown_model_is_refused_every_time() -> None:
    plans = Plans(CONFIG)
    for _ in range(2):
        with pytest.raises(UnknownModel):
            plans.plan(request("nope"))
