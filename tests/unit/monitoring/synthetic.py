"""A small model spec and seeded synthetic populations for the drift tests (files, domain
classifier, Spark)."""

from __future__ import annotations

import numpy as np

from riskops.spec import ModelSpec, parse_spec

SPEC_YAML = """
name: drift-check
intended_use: Monitoring tests on a small synthetic population.
risk_tier: low
owner: tests
data:
  source: data.csv
  label: {column: bad, positive: 1, negative: 0}
features:
  - {name: income, type: numeric, min: 0, max: 1000, reason: Low income}
  - {name: age, type: numeric, min: 18, max: 100, allow_missing: true, reason: Age band}
  - {name: utilisation, type: numeric, reason: High utilisation}
  - {name: housing, type: categorical, categories: [own, rent, free], reason: Housing}
trainer: {entrypoint: "trainer.py:fit"}
policy: {approve_below: 0.2, decline_from: 0.5}
"""


def small_spec() -> ModelSpec:
    """The spec of :data:`SPEC_YAML`: three numeric features and one categorical."""
    return parse_spec(SPEC_YAML).spec


def population(n: int, seed: int, *, income_shift: float = 0.0) -> dict[str, np.ndarray]:
    """``n`` seeded rows of the spec's features; ``income_shift`` moves income's mean."""
    rng = np.random.default_rng(seed)
    return {
        "income": rng.gamma(4.0, 60.0, n) + income_shift,
        "age": np.round(rng.normal(45, 12, n)),
        "utilisation": rng.beta(2, 5, n),
        "housing": rng.choice(
            np.array(["own", "rent", "free"], dtype=object), n, p=[0.6, 0.3, 0.1]
        ),
    }
