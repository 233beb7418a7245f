"""A rate read off a group of rows: its Wilson interval, and the smallest difference between
two groups' rates that a comparison of their sizes can detect.

**Wilson score interval** of ``x`` events in ``n`` rows at confidence ``c``, ``z = Φ⁻¹(1 − α/2)``
(Wilson 1927, *JASA* 22:209–212; recommended over the Wald interval by Brown, Cai and DasGupta
2001, *Statistical Science* 16:101–133)::

    centre = (x + z²/2) / (n + z²)
    half   = z / (n + z²) · √(x (n − x) / n + z²/4)

It stays inside [0, 1], holds the observed rate ``x / n``, and narrows as ``n`` grows.

**Minimum detectable difference** of two rates at significance ``α`` (two-sided) and power
``1 − β``, for groups of ``n₁`` and ``n₂`` rows around a common rate ``p`` (the normal
approximation of the two-proportion z-test; Fleiss, Levin and Paik 2003, *Statistical Methods
for Rates and Proportions*, §4.2)::

    δ = (z_{1−α/2} + z_{1−β}) · √(p (1 − p) (1/n₁ + 1/n₂))

At α = 0.05 and 80% power the factor is 1.960 + 0.842 = 2.802. A difference smaller than δ is
likely to go unseen; a group's comparison is only as good as its δ. Solved for ``n₁`` (the rows
a group needs against a reference of ``n₂``, or of unlimited size)::

    n₁ = 1 / (δ² / ((z_{1−α/2} + z_{1−β})² p (1 − p)) − 1/n₂)

Example::

    >>> [round(v, 3) for v in wilson_interval(3, 10)]
    [0.108, 0.603]
    >>> round(minimum_detectable_difference(30, 270, rate=0.5), 3)
    0.27
    >>> group_size_to_detect(0.1, rate=0.5)
    197
"""

from __future__ import annotations

import math

from scipy.stats import norm

ALPHA = 0.05
POWER = 0.8


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, not {confidence}")
    return float(norm.ppf(1.0 - (1.0 - confidence) / 2.0))


def wilson_interval(
    events: int, rows: int, confidence: float = 0.95
) -> tuple[float, float] | tuple[None, None]:
    """The Wilson score interval of ``events / rows``; (None, None) for no rows."""
    if rows < 0 or not 0 <= events <= rows:
        raise ValueError(f"need 0 <= events <= rows, not {events} of {rows}")
    if rows == 0:
        return None, None
    z = _z(confidence)
    z2 = z * z
    centre = (events + z2 / 2.0) / (rows + z2)
    half = z / (rows + z2) * math.sqrt(events * (rows - events) / rows + z2 / 4.0)
    # Exactly 0 (or 1) when no (or every) row is an event, not a rounding error away from it.
    low = 0.0 if events == 0 else max(0.0, centre - half)
    high = 1.0 if events == rows else min(1.0, centre + half)
    return low, high


def _factor(alpha: float, power: float) -> float:
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must lie strictly between 0 and 1, not {power}")
    return _z(1.0 - alpha) + float(norm.ppf(power))


def minimum_detectable_difference(
    rows: int,
    other_rows: int | None,
    *,
    rate: float,
    alpha: float = ALPHA,
    power: float = POWER,
) -> float | None:
    """δ for groups of ``rows`` and ``other_rows`` (None: a reference of unlimited size)
    around ``rate``; None when a group has no rows."""
    if rows < 1 or (other_rows is not None and other_rows < 1):
        return None
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must lie in [0, 1], not {rate}")
    inverse = 1.0 / rows + (0.0 if other_rows is None else 1.0 / other_rows)
    return _factor(alpha, power) * math.sqrt(rate * (1.0 - rate) * inverse)


def group_size_to_detect(
    difference: float,
    *,
    rate: float,
    other_rows: int | None = None,
    alpha: float = ALPHA,
    power: float = POWER,
) -> int | None:
    """The rows a group needs so that ``difference`` is detectable against a reference of
    ``other_rows`` (None: unlimited); None when no group size is enough (the reference
    alone is too small)."""
    if not 0.0 < difference <= 1.0:
        raise ValueError(f"difference must lie in (0, 1], not {difference}")
    spread = _factor(alpha, power) ** 2 * rate * (1.0 - rate)
    if spread == 0.0:
        return 1
    slack = difference**2 / spread - (0.0 if other_rows is None else 1.0 / other_rows)
    return math.ceil(1.0 / slack) if slack > 0 else None
