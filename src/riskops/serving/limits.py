"""Bounded concurrency for decision reads: they never take what scoring needs.

``GET /v1/decisions/{id}`` reads the store (and, for an auditor, writes the audit chain), which
can be slow when the database is. Left to FastAPI's shared thread pool, a burst of slow reads
would hold every worker thread while batch scoring waits behind them. :class:`ReadLimit`
admits at most ``limit`` reads at once; the service reads the store on threads of its own, as
many as the limit (:meth:`riskops.serving.service.ScoringService.get_decision_async`), never on
the shared pool. A read over the limit is refused at once with
:class:`riskops.errors.BusyError` (503 with ``Retry-After``), never queued: a caller that
retries later costs nothing meanwhile.

Admission is counted on the event loop's thread (no await between the check and the count),
so it needs no lock.

Example::

    reads = ReadLimit(8, on_refused=metrics.reads_refused.inc)
    async with reads.admitted():
        found = await service.get_decision_async(decision_id, caller)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from riskops.errors import BusyError

RETRY_AFTER_SECONDS = 1


class ReadLimit:
    """At most ``limit`` decision reads at once; the next is refused at once."""

    def __init__(self, limit: int, *, on_refused: Callable[[], object] | None = None) -> None:
        self.limit = limit
        self.in_flight = 0
        self._on_refused = on_refused  # e.g. a counter's inc, so that operators see refusals

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        """One admitted read for the body of the ``async with``, or BusyError when ``limit``
        reads are running."""
        self._admit()
        try:
            yield
        finally:
            self.in_flight -= 1

    def _admit(self) -> None:
        if self.in_flight >= self.limit:
            if self._on_refused is not None:
                self._on_refused()
            raise BusyError(
                f"The server is answering {self.limit} decision reads already, its limit; "
                "scoring is not affected.",
                retry_after=RETRY_AFTER_SECONDS,
                hint=f"Retry after {RETRY_AFTER_SECONDS} s (the Retry-After header). An operator "
                "can raise the limit: riskops serve --max-reads N",
            )
        self.in_flight += 1
