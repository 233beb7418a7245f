"""Group outcomes need fairlearn, the ``validate`` extra; without it the gate says so."""

from __future__ import annotations

import sys

import pytest

from riskops.errors import MissingExtraError
from riskops.statistics.fairness import approval_rate_ratio, group_outcomes


def test_group_outcomes_compare_approval_rates() -> None:
    outcomes = group_outcomes(
        ["a", "a", "b", "b"],
        [0, 1, 0, 1],
        [0.1, 0.3, 0.1, 0.1],
        approve_below=0.2,
        min_group_size=1,
    )
    assert approval_rate_ratio(outcomes) == 0.5


def test_without_fairlearn_the_fairness_check_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [m for m in sys.modules if m == "fairlearn" or m.startswith("fairlearn.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "fairlearn", None)  # as if the extra were not installed
    with pytest.raises(
        MissingExtraError, match=r"^The fairness gate needs fairlearn, which is not installed\.$"
    ) as raised:
        group_outcomes(["a", "b"], [0, 1], [0.1, 0.3], approve_below=0.2, min_group_size=1)
    assert raised.value.hint == "Install it with: pip install 'riskops[validate]'"
