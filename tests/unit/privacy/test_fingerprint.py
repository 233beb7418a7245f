"""One workspace secret per store: recorded by the first process, refused when it differs."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskops.config import load_settings
from riskops.errors import ConfigError
from riskops.privacy.fingerprint import bind_secrets, check_fingerprint, recorded_fingerprint
from riskops.privacy.secrets import WorkspaceSecrets, load_secrets
from riskops.store import Store, open_store

SECRET_A = "ab" * 32
SECRET_B = "cd" * 32


@pytest.fixture
def store(store_url: str) -> Store:
    opened = open_store(store_url)
    yield opened  # type: ignore[misc]
    opened.dispose()


def test_the_first_process_records_the_fingerprint_and_the_same_secret_goes_on(
    store: Store, tmp_path: Path
) -> None:
    settings = load_settings({"RISKOPS_HOME": str(tmp_path / "a"), "RISKOPS_SECRET_KEY": SECRET_A})
    assert recorded_fingerprint(store) is None
    first = bind_secrets(settings, store)
    assert recorded_fingerprint(store) == first.fingerprint
    # Another home, the same secret: a replica of the same workspace.
    replica = load_settings({"RISKOPS_HOME": str(tmp_path / "b"), "RISKOPS_SECRET_KEY": SECRET_A})
    assert bind_secrets(replica, store) == first


def test_a_process_with_another_secret_is_refused_naming_the_fix(
    store: Store, tmp_path: Path
) -> None:
    bind_secrets(
        load_settings({"RISKOPS_HOME": str(tmp_path), "RISKOPS_SECRET_KEY": SECRET_A}), store
    )
    other = load_settings({"RISKOPS_HOME": str(tmp_path), "RISKOPS_SECRET_KEY": SECRET_B})
    with pytest.raises(
        ConfigError, match="secret in RISKOPS_SECRET_KEY is not the secret of this store"
    ) as info:
        bind_secrets(other, store)
    assert info.value.hint is not None
    assert "Set RISKOPS_SECRET_KEY to the workspace's secret" in info.value.hint
    assert f"copy the workspace's secret.key to {tmp_path / 'secret.key'}" in info.value.hint


def test_a_process_that_would_generate_a_secret_is_refused_before_it_does(
    store: Store, tmp_path: Path
) -> None:
    bind_secrets(
        load_settings({"RISKOPS_HOME": str(tmp_path / "a"), "RISKOPS_SECRET_KEY": SECRET_A}), store
    )
    fresh = load_settings({"RISKOPS_HOME": str(tmp_path / "fresh")})
    with pytest.raises(ConfigError, match="this process has none") as info:
        bind_secrets(fresh, store)
    assert info.value.hint is not None
    assert "RISKOPS_SECRET_KEY" in info.value.hint
    assert not (tmp_path / "fresh" / "secret.key").exists()


def test_a_generated_secret_is_recorded_on_an_empty_store(store: Store, tmp_path: Path) -> None:
    settings = load_settings({"RISKOPS_HOME": str(tmp_path)})
    secrets = bind_secrets(settings, store)
    assert (tmp_path / "secret.key").is_file()
    assert recorded_fingerprint(store) == secrets.fingerprint
    assert bind_secrets(settings, store) == secrets  # the file is read, not made again


def test_the_fingerprint_reveals_neither_the_secret_nor_a_key() -> None:
    secret = bytes(range(32))
    keys = WorkspaceSecrets.from_secret(secret)
    assert len(keys.fingerprint) == 64
    assert keys.fingerprint not in {
        secret.hex(),
        keys.pseudonym_key.hex(),
        keys.kek.hex(),
        keys.wal_key.hex(),
    }
    assert WorkspaceSecrets.from_secret(bytes(32)).fingerprint != keys.fingerprint


def test_check_fingerprint_refuses_other_secrets(store: Store) -> None:
    check_fingerprint(store, WorkspaceSecrets.from_secret(bytes.fromhex(SECRET_A)))
    with pytest.raises(ConfigError, match="is not the secret of this store"):
        check_fingerprint(store, WorkspaceSecrets.from_secret(bytes.fromhex(SECRET_B)))


def test_loading_without_create_refuses_a_missing_secret(tmp_path: Path) -> None:
    settings = load_settings({"RISKOPS_HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="No workspace secret: RISKOPS_SECRET_KEY is not set"):
        load_secrets(settings, create=False)
    assert not (tmp_path / "secret.key").exists()
