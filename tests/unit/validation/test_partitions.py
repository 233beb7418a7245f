"""Which sample gives the reported figures, and the key that identifies its rows."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from riskops.spec import Split
from riskops.validation.gates.champion import ChampionGate
from riskops.validation.gates.performance import PerformanceGate
from riskops.validation.partitions import partition_key, reuse_result
from tests.unit.validation.toys import scored, toy_input, toy_spec

Y = np.array([0, 1] * 20)
GOOD = np.where(Y == 1, 0.8, 0.2) + np.linspace(0, 0.1, len(Y))
POOR = np.linspace(0.1, 0.9, len(Y))


def test_the_test_partition_gives_the_reported_figures_and_validation_the_choice() -> None:
    validation = scored("validation", Y, POOR, champion=POOR)
    test = scored("test", Y, GOOD, champion=GOOD)
    out_of_time = scored("out_of_time", Y, POOR)
    data = replace(toy_input(toy_spec("performance"), validation, out_of_time), test=test)
    assert data.held_out is test
    auc = next(r for r in PerformanceGate().evaluate(data) if r.gate == "performance.auc")
    assert auc.evidence["sample"] == "test"
    assert auc.value == 1.0
    [champion] = ChampionGate().evaluate(data)
    assert champion.evidence["rows"] == len(validation.y)
    without = toy_input(toy_spec("performance"), validation, out_of_time)
    assert without.held_out is out_of_time


def test_the_key_changes_with_the_split_and_the_note_says_where_figures_come_from() -> None:
    validation = scored("validation", Y, POOR)
    spec = toy_spec("performance")
    data = toy_input(spec, validation)
    key = partition_key(data, data_fingerprint="sha256:aa", oot_fingerprint=None)
    assert key == partition_key(data, data_fingerprint="sha256:aa", oot_fingerprint=None)
    assert key != partition_key(data, data_fingerprint="sha256:bb", oot_fingerprint=None)
    reseeded = spec.model_copy(
        update={"data": spec.data.model_copy(update={"split": Split(seed=1)})}
    )
    other = partition_key(
        toy_input(reseeded, validation), data_fingerprint="sha256:aa", oot_fingerprint=None
    )
    assert other != key
    result = reuse_result(data, key=key, earlier=["toy-model@1"])
    assert result.value == 1.0
    assert "not a held-out test partition" in result.evidence["figures_from"]
