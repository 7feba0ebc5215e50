"""`routing.deadline.within`: the executor's per-attempt time limit (as asyncio.timeout)."""

from __future__ import annotations

import asyncio

import pytest

from switchboard.routing.deadline import within

pytestmark = pytest.mark.anyio


async def test_expiry_becomes_timeout_error() -> None:
    with pytest.raises(TimeoutError):
        async with within(0.01):
            await asyncio.sleep(1)
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # nothing left pending on the task


async def test_no_expiry_changes_nothing() -> None:
    async with within(1) as limit:
        await asyncio.sleep(0)
    assert not limit.expired
    await asyncio.sleep(0.01)  # the timer was cancelled: no late cancellation arrives


async def test_a_cancellation_from_elsewhere_passes_through() -> None:
    async def guarded() -> None:
        async with within(10):
            await asyncio.sleep(10)

    task = asyncio.get_running_loop().create_task(guarded())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_error_inside_is_not_masked() -> None:
    with pytest.raises(ValueError):
        async with within(10):
            raise ValueError("boom")
