"""Decision reads: at most the limit at once; one more is refused at once, never queued."""

from __future__ import annotations

import threading

import anyio
import anyio.to_thread
import pytest

from riskops.errors import BusyError
from riskops.serving.limits import ReadLimit


def test_one_read_over_the_limit_is_refused_at_once_and_the_slot_comes_back() -> None:
    release = threading.Event()
    entered = threading.Semaphore(0)

    def slow(value: int) -> int:
        entered.release()
        assert release.wait(10)
        return value

    async def main() -> list[int]:
        refusals: list[int] = []
        reads = ReadLimit(2, on_refused=lambda: refusals.append(1))
        done: list[int] = []

        async def read(value: int) -> None:
            async with reads.admitted():
                done.append(await anyio.to_thread.run_sync(slow, value))

        async with anyio.create_task_group() as group:
            group.start_soon(read, 1)
            group.start_soon(read, 2)
            for _ in range(2):
                await anyio.to_thread.run_sync(entered.acquire)
            assert reads.in_flight == 2
            with anyio.fail_after(1):  # refused at once, not queued behind the two
                with pytest.raises(BusyError, match="2 decision reads already") as busy:
                    async with reads.admitted():
                        pass
            assert busy.value.retry_after == 1
            assert refusals == [1]
            release.set()
        assert reads.in_flight == 0
        async with reads.admitted():  # the slots are back
            assert reads.in_flight == 1
        return sorted(done)

    assert anyio.run(main) == [1, 2]


def test_a_failing_read_gives_its_slot_back() -> None:
    async def main() -> None:
        reads = ReadLimit(1)
        for _ in range(3):
            with pytest.raises(ValueError, match="the store said no"):
                async with reads.admitted():
                    raise ValueError("the store said no")
        assert reads.in_flight == 0

    anyio.run(main)
