"""Model versions: MLflow holds runs, artifacts and registered versions; riskops adds lineage
(data fingerprint, code commit, spec digest), the artifact digest and the lifecycle state."""
