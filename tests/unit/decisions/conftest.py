"""The decision log's fixtures (a SQLite store, the workspace secrets, a log factory) for
every test module of the package."""

from tests.unit.decisions.test_decision_log import make_log, secrets, store

__all__ = ["make_log", "secrets", "store"]
