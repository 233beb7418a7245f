"""Settings of a riskops workspace, read from the environment and an optional ``riskops.toml``.

Precedence, highest first: environment variables, ``$RISKOPS_HOME/riskops.toml``, defaults.

environment variable       riskops.toml key (``[riskops]``)        default
=========================  ======================================  =============================
``RISKOPS_HOME``           —                                       ``./.riskops``
``RISKOPS_DATABASE_URL``   ``database_url``                        ``sqlite:///$HOME/riskops.db``
``MLFLOW_TRACKING_URI``    ``mlflow_tracking_uri``                 ``sqlite:///$HOME/mlflow.db``
``MLFLOW_REGISTRY_URI``    ``mlflow_registry_uri``                 the tracking URI
``RISKOPS_ARTIFACT_ROOT``  ``artifact_root``                       ``$HOME/mlartifacts``
``RISKOPS_ACTOR``          —                                       none (``--as`` names the actor)
``RISKOPS_SECRET_KEY``     ``secret_key_file`` (a path)            ``$HOME/secret.key``
``RISKOPS_WAL_DIR``        ``wal_dir``                             ``$HOME/decision-wal``
=========================  ======================================  =============================
=======
================================  ======================================  ==========================
environment variable              riskops.toml key (``[riskops]``)        default
================================  ======================================  ==========================
``RISKOPS_HOME``                  —                                       ``./.riskops``
``RISKOPS_DATABASE_URL``          ``database_url``                        ``sqlite:///$HOME/riskops.db``
``MLFLOW_TRACKING_URI``           ``mlflow_tracking_uri``                 ``sqlite:///$HOME/mlflow.db``
``MLFLOW_REGISTRY_URI``           ``mlflow_registry_uri``                 the tracking URI
``RISKOPS_ARTIFACT_ROOT``         ``artifact_root``                       ``$HOME/mlartifacts``
``RISKOPS_ACTOR``                 —                                       none (``--as`` names the actor)
``RISKOPS_SECRET_KEY``            ``secret_key_file`` (a path)            ``$HOME/secret.key``
``RISKOPS_WAL_DIR``               ``wal_dir``                             ``$HOME/decision-wal``
``RISKOPS_HISTORY_URL``           ``history_url``                         ``sqlite:///$HOME/history.sqlite``
``RISKOPS_DB_CONNECT_TIMEOUT``    ``db_connect_timeout`` (seconds)        ``5``
``RISKOPS_DB_STATEMENT_TIMEOUT``  ``db_statement_timeout`` (seconds)      ``10``
``RISKOPS_DB_READ_TIMEOUT``       ``db_read_timeout`` (seconds)           ``2``
================================  ======================================  ==========================

The three timeouts bound every database connection (opening one; one SQL statement, and the
wait for a pooled connection; see :func:`riskops.store.open_store`) and, for a scoring
server, its read of a decision before it answers 503 with ``Retry-After`` (and, on
PostgreSQL, the statement timeout of the server's reads). Each is a number of
seconds above 0 and at most 3600.

``RISKOPS_WAL_DIR`` is where a scoring server keeps its decision write-ahead logs; it need not
be under the home (a persistent volume per pod, while the home may be a read-only image path).
A server started by ``uvicorn --factory riskops.serving.app:app_from_env`` also reads its own
options from the environment (:func:`load_serving_options`): ``RISKOPS_ENV``,
``RISKOPS_REFRESH_SECONDS``, ``RISKOPS_MAX_BATCH``, ``RISKOPS_MAX_BODY_BYTES``,
``RISKOPS_UNKNOWN_CATEGORY``, ``RISKOPS_FLUSH_INTERVAL``, ``RISKOPS_FLUSHER``,
``RISKOPS_MODEL_TIMEOUT_MS``, ``RISKOPS_MAX_READS``, ``RISKOPS_METRICS_PORT``,
``RISKOPS_METRICS_HOST`` and ``RISKOPS_DOCS`` (true or false) (``riskops serve`` sets them from
its options).

People and their roles are listed in the ``[people]`` table, e.g. ``alice = ["developer"]``.
How often each risk tier's models are reviewed is the ``[review_months]`` table, in months
after the last validation (defaults ``high = 12``, ``medium = 24``, ``low = 36``; SR 11-7 asks
for at least an annual review of high-risk models).
``RISKOPS_SECRET_KEY`` is the workspace secret itself (64 hex digits); without it the secret is
read from ``secret_key_file``, which :func:`riskops.privacy.secrets.load_secrets` creates on first
use. Settings carry only the value or the path and never read or create the file.
Settings are read only when :func:`load_settings` is called; importing this module does no I/O.

Example::

    settings = load_settings({"RISKOPS_HOME": "/tmp/ws"})
    settings.database_url  # 'sqlite:////tmp/ws/riskops.db'
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from riskops.errors import ConfigError

CONFIG_FILE_NAME = "riskops.toml"

# Months between a model's last validation and its next review, per risk tier.
DEFAULT_REVIEW_MONTHS: Mapping[str, int] = MappingProxyType({"high": 12, "medium": 24, "low": 36})


# -- the [audit] table ---------------------------------------------------------------------

DEFAULT_EVERY_EVENTS = 1000
DEFAULT_EVERY_SECONDS = 300.0
DEFAULT_MAX_AGE_SECONDS = 86400.0
SIGNING_KEY_VARIABLE = "RISKOPS_AUDIT_SIGNING_KEY"
_KEYS = {
    "origin",
    "signing_key_file",
    "verifier_keys",
    "quorum",
    "checkpoint_every_events",
    "checkpoint_every_seconds",
    "max_checkpoint_age_seconds",
    "anchors",
    "also_sign_with",
}


@dataclass(frozen=True)
class AuditSettings:
    """What the checkpointer and the verifier need to know; see the module docstring."""

    base: Path
    origin: str | None = None
    signing_key_file: Path | None = None
    verifier_keys: tuple[str, ...] = ()
    anchors: tuple[dict[str, Any], ...] = ()
    quorum: int = 1
    every_events: int = DEFAULT_EVERY_EVENTS
    every_seconds: float = DEFAULT_EVERY_SECONDS
    max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS
    # Further key files every checkpoint is also signed with: a key being rotated in or out.
    also_sign_with: tuple[Path, ...] = ()
    # The private key text from RISKOPS_AUDIT_SIGNING_KEY; wins over signing_key_file.
    signing_key: str | None = field(default=None, repr=False)

    @property
    def anchored(self) -> bool:
        """True when checkpoints can be verified: an origin, pinned keys and an anchor."""
        return bool(self.origin and self.verifier_keys and self.anchors)


def audit_settings(
    table: Mapping[str, Any] | None, *, base: Path, source: str, environ: Mapping[str, str]
) -> AuditSettings:
    """Read and check the ``[audit]`` table (``source`` names it in errors)."""
    if not table:
        return AuditSettings(base=base, signing_key=environ.get(SIGNING_KEY_VARIABLE) or None)
    unknown = set(table) - _KEYS
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {sorted(unknown)} in [audit]; allowed: "
            f"{', '.join(sorted(_KEYS))}.",
            hint="Check the spelling against docs/anchors.md.",
        )
    origin = table.get("origin")
    if origin is not None and (
        not isinstance(origin, str) or not origin.strip() or "\n" in origin or "+" in origin
    ):
        raise ConfigError(
            f"{source}: [audit] origin must be one line of text without '+', got {origin!r}.",
            hint='For example: origin = "bank.example/riskops/production"',
        )
    keys = table.get("verifier_keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ConfigError(
            f"{source}: [audit] verifier_keys must be a list of verifier key strings.",
            hint='Write it as: verifier_keys = ["<name>+<key id>+<key>"]  '
            "(riskops audit keygen prints it)",
        )
    anchors = table.get("anchors", [])
    if not isinstance(anchors, list) or not all(isinstance(a, dict) for a in anchors):
        raise ConfigError(
            f"{source}: [audit] anchors must be a list of tables ([[audit.anchors]]).",
            hint='Write it as:\n[[audit.anchors]]\ntype = "file"\npath = "anchors/checkpoints.jsonl"',
        )
    key_file = table.get("signing_key_file")
    if key_file is not None and not isinstance(key_file, str):
        raise ConfigError(
            f"{source}: [audit] signing_key_file must be a path, got {key_file!r}.",
            hint='For example: signing_key_file = "audit-signing.key"',
        )
    also = table.get("also_sign_with", [])
    if not isinstance(also, list) or not all(isinstance(a, str) and a for a in also):
        raise ConfigError(
            f"{source}: [audit] also_sign_with must be a list of key file paths.",
            hint='While rotating: also_sign_with = ["audit-signing-2027.key"]',
        )
    key_path = None
    if key_file:
        key_path = Path(key_file).expanduser()
        if not key_path.is_absolute():
            key_path = base / key_path
    return AuditSettings(
        base=base,
        origin=origin,
        signing_key_file=key_path,
        also_sign_with=tuple(
            p if p.is_absolute() else base / p for p in (Path(a).expanduser() for a in also)
        ),
        verifier_keys=tuple(keys),
        anchors=tuple(dict(a) for a in anchors),
        quorum=_number(table, "quorum", 1, int, source, minimum=1),
        every_events=_number(
            table, "checkpoint_every_events", DEFAULT_EVERY_EVENTS, int, source, minimum=1
        ),
        every_seconds=_number(
            table, "checkpoint_every_seconds", DEFAULT_EVERY_SECONDS, float, source, minimum=0.01
        ),
        max_age_seconds=_number(
            table, "max_checkpoint_age_seconds", DEFAULT_MAX_AGE_SECONDS, float, source, minimum=1
        ),
        signing_key=environ.get(SIGNING_KEY_VARIABLE) or None,
    )


def _number(
    table: Mapping[str, Any],
    key: str,
    default: float,
    kind: type,
    source: str,
    *,
    minimum: float,
) -> Any:
    value = table.get(key, default)
    valid = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        valid = valid and isinstance(value, int)
    if not valid or value < minimum:
        raise ConfigError(
            f"{source}: [audit] {key} must be a {'whole ' if kind is int else ''}number of at "
            f"least {minimum:g}, got {value!r}.",
            hint=f"For example: {key} = {default:g}",
        )
    return kind(value)


class Role(StrEnum):
    """What a person may do; a person can hold several roles."""

    DEVELOPER = "developer"
    VALIDATOR = "validator"
    RISK_OFFICER = "risk_officer"
    OPERATOR = "operator"
    AUDITOR = "auditor"


@dataclass(frozen=True)
class Settings:
    """Where a workspace keeps its stores and who works in it."""

    home: Path
    database_url: str
    mlflow_tracking_uri: str
    mlflow_registry_uri: str
    artifact_root: str
    people: Mapping[str, frozenset[Role]] = field(default_factory=dict)
    environments: tuple[str, ...] = ("staging", "production")
    actor: str | None = None
    config_file: Path | None = None
    review_months: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_REVIEW_MONTHS))
    # The workspace secret (hex) from RISKOPS_SECRET_KEY, or None to use secret_key_file.
    secret_key: str | None = field(default=None, repr=False)
    secret_key_file: Path | None = None
    # Where scoring servers keep their decision write-ahead logs (RISKOPS_WAL_DIR).
    wal_dir: Path | None = None
    # Seconds: opening a database connection; one SQL statement (and waiting for a pooled
    # connection); a scoring server's read of a decision before it answers 503.
    db_connect_timeout: float = 5.0
    db_statement_timeout: float = 10.0
    db_read_timeout: float = 2.0
    # Monitoring alerts: an Alertmanager-compatible webhook (RISKOPS_ALERT_WEBHOOK), and the
    # prefix of the runbook links they carry (RISKOPS_RUNBOOK_BASE).
    alert_webhook: str | None = None
    runbook_base: str = ""
    # The [audit] table: signing, anchoring and pinned keys of the checkpoints.
    audit: AuditSettings | None = None
    # The online store of history features (RISKOPS_HISTORY_URL): sqlite:///…, memory://,
    # redis://…; None: the SQLite file $RISKOPS_HOME/history.sqlite.
    history_store_url: str | None = None

    @property
    def history_url(self) -> str:
        """Where scoring servers and ``riskops history`` keep transaction histories."""
        return self.history_store_url or f"sqlite:///{self.home / 'history.sqlite'}"

    @property
    def is_embedded(self) -> bool:
        """True when both stores are local SQLite files under the home directory."""
        return self.database_url.startswith("sqlite") and self.mlflow_tracking_uri.startswith(
            "sqlite"
        )


_KNOWN_KEYS = {
    "database_url",
    "mlflow_tracking_uri",
    "mlflow_registry_uri",
    "artifact_root",
    "environments",
    "secret_key_file",
    "wal_dir",
    "db_connect_timeout",
    "db_statement_timeout",
    "db_read_timeout",
    "alert_webhook",
    "runbook_base",
    "history_url",
}

_TIMEOUTS = {
    "db_connect_timeout": ("RISKOPS_DB_CONNECT_TIMEOUT", 5.0),
    "db_statement_timeout": ("RISKOPS_DB_STATEMENT_TIMEOUT", 10.0),
    "db_read_timeout": ("RISKOPS_DB_READ_TIMEOUT", 2.0),
}

# Environment variable → (ServerSettings field, type) for a server built from the environment.
SERVING_VARIABLES: Mapping[str, tuple[str, type]] = MappingProxyType(
    {
        "RISKOPS_ENV": ("environment", str),
        "RISKOPS_REFRESH_SECONDS": ("refresh_seconds", float),
        "RISKOPS_MAX_BATCH": ("max_batch", int),
        "RISKOPS_MAX_BODY_BYTES": ("max_body_bytes", int),
        "RISKOPS_UNKNOWN_CATEGORY": ("unknown_category", str),
        "RISKOPS_FLUSH_INTERVAL": ("flush_interval", float),
        "RISKOPS_FLUSHER": ("flusher", str),
        "RISKOPS_MODEL_TIMEOUT_MS": ("model_timeout_ms", float),
        "RISKOPS_MAX_READS": ("max_concurrent_reads", int),
        "RISKOPS_METRICS_PORT": ("metrics_port", int),
        "RISKOPS_METRICS_HOST": ("metrics_host", str),
        "RISKOPS_DOCS": ("docs", bool),
    }
)


def load_settings(
    environ: Mapping[str, str] | None = None, *, home: Path | str | None = None
) -> Settings:
    """Read settings from ``environ`` (default: ``os.environ``) and the workspace's toml file."""
    env = os.environ if environ is None else environ
    home_path = Path(home or env.get("RISKOPS_HOME") or ".riskops").expanduser().absolute()
    config_file = home_path / CONFIG_FILE_NAME
    file_values: dict[str, object] = {}
    people: dict[str, frozenset[Role]] = {}
    review_months = dict(DEFAULT_REVIEW_MONTHS)
    audit_table: dict[str, Any] | None = None
    if config_file.is_file():
        file_values, people, review_months, audit_table = _read_config_file(config_file)

    def pick(env_name: str, key: str, default: str) -> str:
        value = env.get(env_name) or file_values.get(key) or default
        return str(value)

    database_url = pick(
        "RISKOPS_DATABASE_URL", "database_url", f"sqlite:///{home_path / 'riskops.db'}"
    )
    tracking = pick(
        "MLFLOW_TRACKING_URI", "mlflow_tracking_uri", f"sqlite:///{home_path / 'mlflow.db'}"
    )
    registry = pick("MLFLOW_REGISTRY_URI", "mlflow_registry_uri", tracking)
    artifact_root = pick(
        "RISKOPS_ARTIFACT_ROOT", "artifact_root", (home_path / "mlartifacts").as_uri()
    )
    environments = file_values.get("environments", ("staging", "production"))
    if not isinstance(environments, list | tuple) or not all(
        isinstance(e, str) and e for e in environments
    ):
        raise ConfigError(
            f"{config_file}: 'environments' must be a list of names, got {environments!r}.",
            hint='Write it as: environments = ["staging", "production"]',
        )
    _check_url(database_url, "RISKOPS_DATABASE_URL", ("sqlite", "postgresql"))
    secret_key_file = Path(
        str(file_values.get("secret_key_file") or home_path / "secret.key")
    ).expanduser()
    if not secret_key_file.is_absolute():
        secret_key_file = home_path / secret_key_file
    wal_dir = Path(pick("RISKOPS_WAL_DIR", "wal_dir", str(home_path / "decision-wal"))).expanduser()
    if not wal_dir.is_absolute():
        wal_dir = home_path / wal_dir
    return Settings(
        home=home_path,
        database_url=database_url,
        mlflow_tracking_uri=tracking,
        mlflow_registry_uri=registry,
        artifact_root=artifact_root,
        people=people,
        environments=tuple(environments),
        actor=env.get("RISKOPS_ACTOR") or None,
        config_file=config_file if config_file.is_file() else None,
        review_months=review_months,
        secret_key=env.get("RISKOPS_SECRET_KEY") or None,
        secret_key_file=secret_key_file,
        wal_dir=wal_dir,
        db_connect_timeout=_seconds(env, file_values, "db_connect_timeout"),
        db_statement_timeout=_seconds(env, file_values, "db_statement_timeout"),
        db_read_timeout=_seconds(env, file_values, "db_read_timeout"),
        alert_webhook=pick("RISKOPS_ALERT_WEBHOOK", "alert_webhook", "") or None,
        runbook_base=pick("RISKOPS_RUNBOOK_BASE", "runbook_base", ""),
        audit=audit_settings(audit_table, base=home_path, source=str(config_file), environ=env),
        history_store_url=pick("RISKOPS_HISTORY_URL", "history_url", "") or None,
    )


def load_serving_options(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """A scoring server's options that are set in the environment (``SERVING_VARIABLES``),
    typed; the server's own checks (limits, policies) come after."""
    env = os.environ if environ is None else environ
    options: dict[str, object] = {}
    for name, (field_name, kind) in SERVING_VARIABLES.items():
        raw = env.get(name)
        if raw is None or raw == "":
            continue
        if kind is bool:
            flag = raw.strip().lower()
            if flag not in ("true", "false", "1", "0"):
                raise ConfigError(
                    f"{name}={raw!r} is not true or false.",
                    hint=f"Unset {name}, or set it to true or false.",
                )
            options[field_name] = flag in ("true", "1")
            continue
        try:
            options[field_name] = kind(raw)
        except ValueError:
            raise ConfigError(
                f"{name}={raw!r} is not a {'whole number' if kind is int else 'number'}.",
                hint=f"Unset {name}, or give it a value such as "
                f"{'1000' if kind is int else '0.2'}.",
            ) from None
    return options


def _seconds(env: Mapping[str, str], file_values: Mapping[str, object], key: str) -> float:
    """A timeout in seconds from its environment variable, the toml key, or its default."""
    name, default = _TIMEOUTS[key]
    raw = env.get(name) or file_values.get(key)
    if raw is None:
        return default
    value = float("nan")
    # bool is an int in Python; "db_read_timeout = true" is a mistake, not one second.
    if isinstance(raw, str | int | float) and not isinstance(raw, bool):
        with contextlib.suppress(ValueError):  # "soon": stays NaN and is refused below
            value = float(raw)
    if not 0 < value <= 3600:  # NaN fails this too
        raise ConfigError(
            f"{name}={raw!r} (or {key} in riskops.toml) must be a number of seconds above 0 "
            "and at most 3600.",
            hint=f"For example {name}={default:g}",
        )
    return value


def _check_url(url: str, name: str, schemes: tuple[str, ...]) -> None:
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    if scheme not in schemes:
        raise ConfigError(
            f"{name}={url!r} has the scheme {scheme!r}. Valid schemes are: {', '.join(schemes)}.",
            hint="For example sqlite:///.riskops/riskops.db or "
            "postgresql+psycopg://user@host:5432/riskops",
        )


def _read_config_file(
    path: Path,
) -> tuple[dict[str, object], dict[str, frozenset[Role]], dict[str, int], dict[str, Any] | None]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid TOML: {exc}.", hint="Fix the file, or run: riskops init --force"
        ) from exc
    unknown_tables = set(data) - {"riskops", "people", "review_months", "audit"}
    if unknown_tables:
        raise ConfigError(
            f"{path}: unknown table(s) {sorted(unknown_tables)}; "
            "allowed: [riskops], [people], [review_months], [audit].",
            hint="Remove or rename the table.",
        )
    section = data.get("riskops", {})
    unknown = set(section) - _KNOWN_KEYS
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {sorted(unknown)} in [riskops]; "
            f"allowed: {', '.join(sorted(_KNOWN_KEYS))}.",
            hint="Check the spelling against docs/configuration.md.",
        )
    people: dict[str, frozenset[Role]] = {}
    allowed_roles = ", ".join(r.value for r in Role)
    for person, roles in data.get("people", {}).items():
        if isinstance(roles, str):
            roles = [roles]
        if not isinstance(roles, list) or not roles:
            raise ConfigError(
                f"{path}: [people] {person} must list one or more roles, got {roles!r}.",
                hint=f'Write it as: {person} = ["validator"]  (roles: {allowed_roles})',
            )
        parsed = set()
        for role in roles:
            try:
                parsed.add(Role(role))
            except ValueError:
                raise ConfigError(
                    f"{path}: [people] {person} has the unknown role {role!r}.",
                    hint=f"Roles are: {allowed_roles}",
                ) from None
        people[person] = frozenset(parsed)
    audit = data.get("audit")
    if audit is not None and not isinstance(audit, dict):
        raise ConfigError(f"{path}: [audit] must be a table.", hint="Write it as: [audit]")
    return dict(section), people, _review_months(path, data.get("review_months", {})), audit


def _review_months(path: Path, table: object) -> dict[str, int]:
    """The ``[review_months]`` table over the defaults: whole months per known risk tier."""
    tiers = ", ".join(DEFAULT_REVIEW_MONTHS)
    if not isinstance(table, dict):
        raise ConfigError(
            f"{path}: review_months must be a table of months per risk tier, got {table!r}.",
            hint="Write it as:\n[review_months]\nhigh = 12\nmedium = 24\nlow = 36",
        )
    unknown = set(table) - set(DEFAULT_REVIEW_MONTHS)
    if unknown:
        raise ConfigError(
            f"{path}: unknown risk tier(s) {sorted(unknown)} in [review_months]; allowed: {tiers}.",
            hint="Risk tiers are the values of risk_tier in the model specs.",
        )
    months = dict(DEFAULT_REVIEW_MONTHS)
    for tier, value in table.items():
        # bool is an int in Python; "high = true" is a mistake, not one month.
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 600:
            raise ConfigError(
                f"{path}: [review_months] {tier} must be a whole number of months from 1 to "
                f"600, got {value!r}.",
                hint=f"For example: {tier} = {DEFAULT_REVIEW_MONTHS[tier]}",
            )
        months[tier] = value
    return months
