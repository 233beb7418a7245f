"""Which models batch scoring refuses whatever their state."""

from __future__ import annotations

import pytest

from riskops.batch.model import check_batchable
from riskops.errors import InputError
from riskops.registry.versions import ModelRef
from riskops.spec import load_spec
from tests.conftest import REPO, SPEC


def test_a_model_with_history_features_is_refused_with_where_to_score_it() -> None:
    spec = load_spec(REPO / "models" / "transaction_risk" / "model.yaml").spec
    assert spec.history is not None
    with pytest.raises(InputError, match="has history features") as caught:
        check_batchable(ModelRef(spec.name, 1), spec)
    assert "decisions:batch" in (caught.value.hint or "")
    check_batchable(ModelRef("credit-scoring", 1), load_spec(SPEC).spec)
