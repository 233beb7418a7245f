from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from riskops.errors import ConfigError
from riskops.store import open_store
from riskops.store.tables import Base


def test_migrations_build_exactly_the_declared_tables(store_url: str) -> None:
    store = open_store(store_url)
    try:
        with store.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []
        assert store.is_initialised()
    finally:
        store.dispose()


def test_migrating_twice_changes_nothing(store_url: str) -> None:
    open_store(store_url).dispose()
    store = open_store(store_url)
    assert store.is_initialised()
    store.dispose()


def test_a_new_sqlite_store_creates_its_folder(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'deep' / 'er' / 'riskops.db'}")
    assert (tmp_path / "deep" / "er" / "riskops.db").is_file()
    store.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "is not a database URL"),
        ("mysql+pymysql://u@h/db", "Valid schemes are: sqlite, postgresql"),
    ],
)
def test_a_bad_url_says_what_to_use(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_store(url)
