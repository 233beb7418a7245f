"""The documented request of a model with history features: the transaction's fields, not the
features the server computes."""

from __future__ import annotations

from riskops.serving.openapi import features_schema
from riskops.spec import load_spec
from tests.conftest import REPO


def test_a_history_model_documents_the_transaction_not_the_computed_features() -> None:
    spec = load_spec(REPO / "models" / "transaction_risk" / "model.yaml").spec
    schema = features_schema(spec, "reject")
    assert set(schema["required"]) == {
        "TX_AMOUNT",
        "TRANSACTION_ID",
        "TX_DATETIME",
        "CUSTOMER_ID",
        "TERMINAL_ID",
    }
    assert set(schema["properties"]) == set(schema["required"])
    assert schema["properties"]["TX_AMOUNT"]["type"] == "number"
    assert schema["properties"]["TX_DATETIME"]["type"] == "string"
    assert "customer_tx_count_1d" in schema["description"]
    assert schema["additionalProperties"] is False
