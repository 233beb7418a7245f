from __future__ import annotations

from pathlib import Path

import pytest

from riskops.config import Role, load_serving_options, load_settings
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


def test_review_months_default_per_risk_tier(tmp_path: Path) -> None:
    assert load_settings({}, home=tmp_path).review_months == {"high": 12, "medium": 24, "low": 36}


def test_review_months_come_from_the_file_over_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "riskops.toml").write_text(
        "[review_months]\nhigh = 6\nlow = 48\n", encoding="utf-8"
    )
    settings = load_settings({}, home=tmp_path)
    assert settings.review_months == {"high": 6, "medium": 24, "low": 48}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[review_months]\nextreme = 3\n", r"unknown risk tier\(s\) \['extreme'\]"),
        ("[review_months]\nhigh = 0\n", "high must be a whole number of months from 1 to 600"),
        ("[review_months]\nmedium = 1.5\n", "medium must be a whole number of months"),
        ("[review_months]\nlow = true\n", "low must be a whole number of months"),
        ('[review_months]\nhigh = "12"\n', "high must be a whole number of months"),
        ("review_months = 12\n", "review_months must be a table of months per risk tier"),
    ],
)
def test_bad_review_months_name_the_problem(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "riskops.toml").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        load_settings({}, home=tmp_path)
    assert info.value.hint


def test_the_wal_folder_is_independent_of_the_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert load_settings({"RISKOPS_HOME": str(home)}).wal_dir == home / "decision-wal"
    elsewhere = tmp_path / "volume" / "wal"
    settings = load_settings({"RISKOPS_HOME": str(home), "RISKOPS_WAL_DIR": str(elsewhere)})
    assert settings.wal_dir == elsewhere
    home.mkdir()
    (home / "riskops.toml").write_text('[riskops]\nwal_dir = "wal-here"\n', encoding="utf-8")
    assert load_settings({"RISKOPS_HOME": str(home)}).wal_dir == home / "wal-here"


def test_serving_options_from_the_environment_are_typed_and_checked() -> None:
    options = load_serving_options(
        {"RISKOPS_ENV": "staging", "RISKOPS_MAX_BATCH": "10", "RISKOPS_FLUSH_INTERVAL": "0.5"}
    )
    assert options == {"environment": "staging", "max_batch": 10, "flush_interval": 0.5}
    assert load_serving_options({"RISKOPS_MAX_BATCH": ""}) == {}
    with pytest.raises(ConfigError, match="RISKOPS_REFRESH_SECONDS='soon' is not a number"):
        load_serving_options({"RISKOPS_REFRESH_SECONDS": "soon"})


def test_database_timeouts_come_from_the_environment_or_the_file(tmp_path: Path) -> None:
    (tmp_path / "riskops.toml").write_text("[riskops]\ndb_statement_timeout = 30\n")
    settings = load_settings({"RISKOPS_DB_CONNECT_TIMEOUT": "2.5"}, home=tmp_path)
    assert (
        settings.db_connect_timeout,
        settings.db_statement_timeout,
        settings.db_read_timeout,
    ) == (2.5, 30.0, 2.0)


@pytest.mark.parametrize("value", ["soon", "0", "-1", "nan", "7200"])
def test_a_bad_database_timeout_says_what_is_allowed(tmp_path: Path, value: str) -> None:
    with pytest.raises(
        ConfigError, match=r"RISKOPS_DB_READ_TIMEOUT=.* must be a number of seconds above 0"
    ) as failed:
        load_settings({"RISKOPS_DB_READ_TIMEOUT": value}, home=tmp_path)
    assert failed.value.hint == "For example RISKOPS_DB_READ_TIMEOUT=2"


def test_read_limit_metrics_listener_and_docs_come_from_the_environment_too() -> None:
    options = load_serving_options(
        {
            "RISKOPS_MAX_READS": "3",
            "RISKOPS_METRICS_PORT": "9100",
            "RISKOPS_METRICS_HOST": "127.0.0.2",
            "RISKOPS_DOCS": "false",
        }
    )
    assert options == {
        "max_concurrent_reads": 3,
        "metrics_port": 9100,
        "metrics_host": "127.0.0.2",
        "docs": False,
    }
    with pytest.raises(ConfigError, match="RISKOPS_DOCS='maybe' is not true or false"):
        load_serving_options({"RISKOPS_DOCS": "maybe"})


def test_the_alert_webhook_and_runbook_links_come_from_the_file_or_the_environment(
    tmp_path: Path,
) -> None:
    assert load_settings({}, home=tmp_path).alert_webhook is None
    (tmp_path / "riskops.toml").write_text(
        '[riskops]\nalert_webhook = "http://receiver:9095/hook"\n'
        'runbook_base = "https://git.example/riskops/blob/main/"\n',
        encoding="utf-8",
    )
    settings = load_settings({}, home=tmp_path)
    assert settings.alert_webhook == "http://receiver:9095/hook"
    assert settings.runbook_base == "https://git.example/riskops/blob/main/"
    overridden = load_settings({"RISKOPS_ALERT_WEBHOOK": "http://other/hook"}, home=tmp_path)
    assert overridden.alert_webhook == "http://other/hook"
