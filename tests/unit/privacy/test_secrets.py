from __future__ import annotations

import stat
from pathlib import Path

import pytest

from riskops.config import load_settings
from riskops.errors import ConfigError
from riskops.privacy.secrets import WorkspaceSecrets, load_secrets


def test_secret_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    settings = load_settings({"RISKOPS_HOME": str(tmp_path / "ws")})
    assert not (tmp_path / "ws" / "secret.key").exists()  # loading settings creates nothing
    first = load_secrets(settings)
    path = tmp_path / "ws" / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(bytes.fromhex(path.read_text().strip())) == 32
    assert load_secrets(settings) == first


def test_environment_secret_wins_over_the_file(tmp_path: Path) -> None:
    env = {"RISKOPS_HOME": str(tmp_path), "RISKOPS_SECRET_KEY": "ab" * 32}
    assert load_secrets(load_settings(env)) == WorkspaceSecrets.from_secret(
        bytes.fromhex("ab" * 32)
    )
    assert not (tmp_path / "secret.key").exists()


def test_secret_file_path_from_riskops_toml(tmp_path: Path) -> None:
    (tmp_path / "riskops.toml").write_text('[riskops]\nsecret_key_file = "keys/ws.key"\n')
    settings = load_settings({"RISKOPS_HOME": str(tmp_path)})
    assert settings.secret_key_file == tmp_path / "keys" / "ws.key"
    load_secrets(settings)
    assert (tmp_path / "keys" / "ws.key").is_file()


def test_a_malformed_secret_is_refused_with_a_hint(tmp_path: Path) -> None:
    env = {"RISKOPS_HOME": str(tmp_path), "RISKOPS_SECRET_KEY": "not-hex"}
    with pytest.raises(ConfigError, match="RISKOPS_SECRET_KEY must be 64 hex digits") as info:
        load_secrets(load_settings(env))
    assert info.value.hint is not None
    assert "token_hex" in info.value.hint


def test_derived_keys_are_distinct_and_hidden_from_repr() -> None:
    keys = WorkspaceSecrets.from_secret(bytes(range(32)))
    assert len({keys.pseudonym_key, keys.kek, keys.wal_key}) == 3
    assert keys.kek.hex() not in repr(keys)
