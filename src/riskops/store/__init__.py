"""The riskops metadata store: what MLflow does not hold (lifecycle, gates, approvals,
deployments, the audit chain), on SQLite by default and PostgreSQL in production."""

from riskops.store.database import Store, open_store

__all__ = ["Store", "open_store"]
