"""The history features of a spec, compiled once, and the one rule both paths follow.

**Point in time.** A transaction at time ``t`` sees only its entity's transactions strictly
before ``t`` (itself and any other transaction at the same instant excluded):

- ``count``, ``sum``, ``mean`` of the amount over ``[t - window, t)``;
- ``fraud_rate``: frauds ÷ transactions over ``[t - delay - window, t - delay)``, ``delay``
  being ``history.label_delay_days``: a label arrives late, so only transactions older than
  the delay have one. A transaction with no label recorded counts as not fraud.

An empty window gives 0 (a mean or rate of nothing is 0, as in the fraud-detection handbook
the reference data comes from). Amounts are held as whole units of ``10^-amount_decimals``
(cents by default) so that sums are exact integers whichever path adds them, and
:func:`finish` turns counts and sums into the feature value with the same float operations in
both paths: offline and online values are equal bit for bit, not only close.

Times are microseconds since 1970-01-01 UTC; a time without a zone is taken as UTC.

Example::

    definitions = HistoryDefinitions.of(spec.history)
    definitions.names                       # ('customer_amount_sum_1d', ...)
    lo, hi = definitions.bounds(feature)    # the window is [t - lo, t - hi)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from riskops.spec import History, HistoryFeature

DAY_US = 86_400_000_000
_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)

# One past transaction as a lookup sees it: (time in µs, amount in units, 1 if fraud else 0).
Past = tuple[int, int, int]


@dataclass(frozen=True)
class HistoryDefinitions:
    """A spec's ``history`` section, compiled: what to read and how far back to look."""

    history: History
    scale: int  # 10 ** amount_decimals: amount units per currency unit
    delay_us: int
    horizon_us: dict[str, int]  # entity → how far back its features look

    @classmethod
    def of(cls, history: History) -> HistoryDefinitions:
        horizon: dict[str, int] = {}
        for feature in history.features:
            lo, _ = _bounds(feature, history.label_delay_days * DAY_US)
            horizon[feature.entity] = max(horizon.get(feature.entity, 0), lo)
        return cls(
            history=history,
            scale=10**history.amount_decimals,
            delay_us=history.label_delay_days * DAY_US,
            horizon_us=horizon,
        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.history.features)

    @property
    def entities(self) -> tuple[str, ...]:
        """The entities some feature is over, in the order ``history.entities`` names them."""
        return tuple(e for e in self.history.entities if e in self.horizon_us)

    def bounds(self, feature: HistoryFeature) -> tuple[int, int]:
        """``(lo, hi)`` in µs: the feature's window at ``t`` is ``[t - lo, t - hi)``."""
        return _bounds(feature, self.delay_us)

    def units(self, amount: float) -> int:
        """An amount in whole units of ``10^-amount_decimals``, rounded half to even (as
        ``numpy.rint`` does offline)."""
        return round(amount * self.scale)

    def compute(self, time_us: int, past: Mapping[str, Sequence[Past]]) -> dict[str, float]:
        """Every feature at ``time_us`` from each entity's past transactions (any order; those
        outside a window are ignored)."""
        values: dict[str, float] = {}
        for feature in self.history.features:
            lo, hi = self.bounds(feature)
            start, end = time_us - lo, time_us - hi
            count = units = frauds = 0
            for when, amount, fraud in past.get(feature.entity, ()):
                if start <= when < end:
                    count += 1
                    units += amount
                    frauds += fraud
            values[feature.name] = finish(feature.aggregate, count, units, frauds, self.scale)
        return values


def _bounds(feature: HistoryFeature, delay_us: int) -> tuple[int, int]:
    window = feature.window_days * DAY_US
    if feature.aggregate == "fraud_rate":
        return delay_us + window, delay_us
    return window, 0


def finish(aggregate: str, count: int, units: int, frauds: int, scale: int) -> float:
    """A feature's value from its window's count, amount sum (units) and frauds. The offline
    path does the same operations on float64 arrays (:func:`riskops.history.offline`), which
    round the same way: integers below 2^53 convert exactly, and each division is IEEE's."""
    if aggregate == "count":
        return float(count)
    if aggregate == "sum":
        return float(units) / scale
    if aggregate == "mean":
        return float(units) / count / scale if count else 0.0
    return float(frauds) / count if count else 0.0


def parse_time(text: str) -> int:
    """Microseconds since 1970-01-01 UTC of an ISO 8601 time (``2018-04-01 00:00:31``,
    ``2018-04-01T00:00:31+02:00``); a time without a zone is UTC. ValueError if not one."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return (moment - _EPOCH) // _MICROSECOND


def format_time(time_us: int) -> str:
    """The UTC time ``time_us`` as ISO 8601 text without a zone."""
    return (_EPOCH + timedelta(microseconds=time_us)).isoformat(sep=" ")
