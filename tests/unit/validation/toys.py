"""Small gate inputs built from numpy arrays, for testing one gate's arithmetic directly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from riskops.registry.versions import ModelRef
from riskops.spec import ModelSpec
from riskops.validation.gate import GateInput, Sample, VersionInfo


def toy_spec(gate: str, **config: Any) -> ModelSpec:
    """A one-feature spec whose ``gates.<gate>`` section is ``config``."""
    return ModelSpec.model_validate(
        {
            "name": "toy-model",
            "intended_use": f"Checking the {gate} gate.",
            "risk_tier": "low",
            "owner": "tests",
            "data": {"source": "toy.csv", "label": {"column": "y", "positive": 1, "negative": 0}},
            "features": [{"name": "x", "type": "numeric", "reason": "The only input"}],
            "trainer": {"entrypoint": "trainer.py:fit"},
            "policy": {"approve_below": 0.3, "decline_from": 0.6},
            "gates": {gate: config},
        }
    )


def scored(
    name: str, y: np.ndarray, scores: np.ndarray, champion: np.ndarray | None = None
) -> Sample:
    """A sample whose only feature is the score itself."""
    frame = pd.DataFrame({"x": scores})
    return Sample(name, frame, frame, scores[:, np.newaxis], y, scores, champion)


def toy_input(spec: ModelSpec, validation: Sample, out_of_time: Sample | None = None) -> GateInput:
    """Candidate v2 (and champion v1 when the samples carry champion scores)."""
    has_champion = validation.champion_scores is not None
    return GateInput(
        spec=spec,
        candidate=VersionInfo(ModelRef("toy-model", 2), "sha256:two"),
        champion=VersionInfo(ModelRef("toy-model", 1), "sha256:one") if has_champion else None,
        train=validation,
        validation=validation,
        out_of_time=out_of_time,
        model=None,
        flavor="sklearn",
        score=lambda matrix: matrix[:, 0],
    )
