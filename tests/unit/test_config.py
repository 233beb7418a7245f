from __future__ import annotations

from pathlib import Path

import pytest

from riskops.config import Role, load_settings
from riskops.errors import ConfigError


def test_defaults_live_in_the_home_folder(tmp_path: Path) -> None:
    settings = load_settings({}, home=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'riskops.db'}"
    assert settings.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert settings.mlflow_registry_uri == settings.mlflow_tracking_uri
    assert settings.artifact_root == (tmp_path / "mlartifacts").as_uri()
    assert settings.is_embedded
    assert settings.people == {}


def test_home_comes_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings({"RISKOPS_HOME": str(tmp_path / "ws")})
    assert settings.home == tmp_path / "ws"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    (tmp_path / "riskops.toml").write_text(
        '[riskops]\ndatabase_url = "sqlite:///from-file.db"\n'
        'mlflow_tracking_uri = "sqlite:///mlflow-file.db"\n'
        '[people]\nalice = ["developer"]\nrita = "risk_officer"\n',
        encoding="utf-8",
    )
    settings = load_settings(
        {"RISKOPS_DATABASE_URL": "postgresql+psycopg://u@h/db", "RISKOPS_ACTOR": "alice"},
        home=tmp_path,
    )
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert settings.mlflow_tracking_uri == "sqlite:///mlflow-file.db"
    assert settings.people == {
        "alice": frozenset({Role.DEVELOPER}),
        "rita": frozenset({Role.RISK_OFFICER}),
    }
    assert settings.actor == "alice"
    assert not settings.is_embedded


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[people]\nbob = ["boss"]\n', "unknown role 'boss'"),
        ("[people]\nbob = []\n", "must list one or more roles"),
        ('[riskops]\ndatbase_url = "x"\n', r"unknown key\(s\) \['datbase_url'\]"),
        ("[server]\nport = 1\n", r"unknown table\(s\) \['server'\]"),
        ("[riskops\n", "is not valid TOML"),
        ('[riskops]\nenvironments = "prod"\n', "must be a list of names"),
    ],
)
def test_a_bad_config_file_names_the_problem(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "riskops.toml").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        load_settings({}, home=tmp_path)
    assert info.value.hint


def test_an_unknown_database_scheme_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Valid schemes are: sqlite, postgresql"):
        load_settings({"RISKOPS_DATABASE_URL": "mysql://x/y"}, home=tmp_path)
