"""kiln.core.loop.ControlLoop: the loop every service's reconciler runs."""

from __future__ import annotations

import asyncio
import threading

import pytest

from kiln.core.loop import ControlLoop


async def _until(cond: object, timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


def test_steps_on_interval_and_at_once_on_notify_from_another_thread() -> None:
    async def main() -> None:
        calls: list[float] = []

        async def step() -> None:
            calls.append(asyncio.get_running_loop().time())

        loop = ControlLoop("t", step, interval=60.0)
        loop.notify()  # before start: a no-op, not an error
        loop.start()
        await _until(lambda: len(calls) == 1)  # the first step runs at once
        threading.Thread(target=loop.notify).start()
        await _until(lambda: len(calls) == 2)  # woken long before the 60 s interval
        await loop.stop()

    asyncio.run(main())


def test_a_failing_step_is_logged_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        calls = 0

        async def step() -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("boom")

        loop = ControlLoop("failing", step, interval=0.01)
        loop.start()
        await _until(lambda: calls >= 3)
        await loop.stop()

    asyncio.run(main())
    assert "failing: step failed" in caplog.text and "boom" in caplog.text


def test_a_notify_during_a_step_runs_another_step_right_after() -> None:
    async def main() -> None:
        calls = 0
        loop: ControlLoop

        async def step() -> None:
            nonlocal calls
            calls += 1
            if calls == 2:
                loop.notify()  # e.g. a conflict seen mid-step: look again

        loop = ControlLoop("t", step, interval=60.0)
        loop.start()
        await _until(lambda: calls == 1)
        loop.notify()
        await _until(lambda: calls == 3, timeout=1.0)  # not 60 s later
        await loop.stop()
        stopped_at = calls
        await asyncio.sleep(0.05)
        assert calls == stopped_at  # stop() ends it

    asyncio.run(main())
