"""Creating a workspace (``riskops init``) and checking that each part answers (``riskops doctor``)."""

from __future__ import annotations

import math
import re
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from riskops.config import CONFIG_FILE_NAME, Role, Settings, load_settings
from riskops.errors import ConflictError
from riskops.registry.mlflow_adapter import MlflowRegistry
from riskops.store import open_store
from riskops.store.schema import UPGRADE, schema_state

MARKER = ".riskops-workspace"

TEMPLATE = """\
# riskops workspace configuration. Environment variables override these values.
# Every key is described in docs/configuration.md.

[riskops]
# database_url = "postgresql+psycopg://riskops@127.0.0.1:5432/riskops"
# mlflow_tracking_uri = "postgresql+psycopg://mlflow@127.0.0.1:5432/mlflow"
# artifact_root = "s3://riskops-artifacts/mlflow"
environments = ["staging", "production"]

# Months from a model's last validation to its next review, per risk tier (riskops inventory).
# [review_months]
# high = 12
# medium = 24
# low = 36

# Who works here, and in which roles: developer, validator, risk_officer, operator, auditor.
# Separation of duties is enforced: whoever trains a version cannot validate or approve it,
# and its validator cannot also give the final approval.
[people]
{people}
{audit}"""

AUDIT_TEMPLATE = """
# Signed checkpoints of the audit log (docs/anchors.md). The signing key is a file outside the
# database; verify trusts only the verifier keys pinned here and reads checkpoints back from
# the anchors. In production: a key from RISKOPS_AUDIT_SIGNING_KEY or a secret store, anchors
# that the database administrator cannot write (S3 Object Lock, a witness, a SIEM webhook).
[audit]
origin = "{origin}"
signing_key_file = "{key_file}"
verifier_keys = ["{verifier_key}"]

[[audit.anchors]]
type = "file"
path = "anchors/checkpoints.jsonl"
"""
AUDIT_KEY_FILE = "audit-signing.key"

DEMO_PEOPLE: dict[str, list[str]] = {
    "alice": ["developer"],
    "victor": ["validator"],
    "rita": ["risk_officer"],
    "oscar": ["operator"],
    "audrey": ["auditor"],
}


def config_text(people: dict[str, list[str]] | None = None, audit: str = "") -> str:
    listed = people or {}
    lines = [
        f"{name} = [{', '.join(f'{r!r}'.replace(chr(39), chr(34)) for r in roles)}]"
        for name, roles in listed.items()
    ]
    if not lines:
        lines = ['# alice = ["developer"]', '# victor = ["validator"]', '# rita = ["risk_officer"]']
    return TEMPLATE.format(people="\n".join(lines), audit=audit)


def audit_config(home: Path) -> str:
    """The ``[audit]`` table of a new workspace: a signing key made in ``home`` (0600; an
    existing one is kept), its verifier key pinned, a file anchor."""
    from riskops.audit.note import Signer, write_key_file

    key_path = home / AUDIT_KEY_FILE
    if key_path.exists():
        signer = Signer.parse(key_path.read_text(encoding="utf-8").strip())
    else:
        signer = write_key_file(key_path, f"riskops.local/{uuid.uuid4().hex[:12]}")
    return AUDIT_TEMPLATE.format(
        origin=signer.name, key_file=AUDIT_KEY_FILE, verifier_key=signer.verifier().text()
    )


def init_workspace(
    home: Path, *, force: bool = False, people: dict[str, list[str]] | None = None
) -> Settings:
    """Create ``home`` with a ``riskops.toml`` and migrate the store it names."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / CONFIG_FILE_NAME
    if config.exists() and not force:
        raise ConflictError(
            f"{config} already exists.",
            hint="Keep it, or overwrite it with: riskops init --force",
        )
    config.write_text(config_text(people, audit_config(home)), encoding="utf-8")
    (home / MARKER).write_text("riskops workspace\n", encoding="utf-8")
    settings = load_settings(home=home)
    store = open_store(settings.database_url)
    store.dispose()
    return settings


def reset_workspace(home: Path) -> None:
    """Delete an embedded workspace folder; refuses a folder riskops did not create."""
    if not home.exists():
        return
    if any(home.iterdir()) and not (home / MARKER).exists():
        raise ConflictError(
            f"{home} is not empty and was not created by riskops; refusing to delete it.",
            hint="Point RISKOPS_HOME at an empty or riskops-made folder.",
        )
    shutil.rmtree(home)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # a malformed URL is shown as given; the check below reports it
        return url


DOCTOR_TIMEOUT = 10.0
"""Seconds each ``riskops doctor`` check may take before it is reported as not answering."""


def doctor(settings: Settings, *, timeout: float = DOCTOR_TIMEOUT) -> list[Check]:
    """Check the configuration, the store, MLflow and the people; never raises, and no check
    takes longer than ``timeout`` seconds (a check still waiting then fails, saying so).

    A database that does not exist fails at once with the command that creates it, rather
    than waiting out MLflow's connection retries (about 100 s). Doctor creates nothing: an
    embedded MLflow file not made yet is reported as such (the first training run makes it).
    """
    checks = [
        Check(
            "configuration",
            True,
            f"home {settings.home}; config file "
            + (str(settings.config_file) if settings.config_file else "none (defaults)"),
        )
    ]
    checks.append(
        _bounded(
            "metadata store",
            _redact(settings.database_url),
            lambda: _store_check(settings.database_url, timeout),
            timeout,
        )
    )
    registry = MlflowRegistry(
        settings.mlflow_tracking_uri, settings.mlflow_registry_uri, settings.artifact_root
    )
    checks.append(
        _bounded(
            "mlflow tracking",
            _redact(settings.mlflow_tracking_uri),
            lambda: _mlflow_check(registry, timeout),
            timeout,
        )
    )
    checks.append(
        _bounded("artifact store", registry.artifact_root, registry.ping_artifacts, timeout)
    )
    roles = {r: [p for p, rs in settings.people.items() if r in rs] for r in Role}
    missing = [
        r.value
        for r in (Role.DEVELOPER, Role.VALIDATOR, Role.RISK_OFFICER, Role.OPERATOR)
        if not roles[r]
    ]
    checks.append(
        Check(
            "people",
            not missing,
            ", ".join(f"{r.value}: {', '.join(p) or '-'}" for r, p in roles.items())
            + (f"; nobody holds {', '.join(missing)}" if missing else ""),
        )
    )
    checks.append(
        Check(
            "git",
            shutil.which("git") is not None,
            shutil.which("git") or "not found: code lineage will be a file hash only",
        )
    )
    return checks


class _Failed(Exception):
    """A check's own verdict that the part does not answer (its message is the detail)."""


def _bounded(name: str, where: str, probe: Callable[[], str], timeout: float) -> Check:
    """Run ``probe`` (a detail line, or an exception) for at most ``timeout`` seconds.

    The probe runs in a daemon thread: a driver stuck in its own retries is left behind (it
    ends with the process) and the check fails, naming the limit."""
    outcome: list[Check] = []

    def run() -> None:
        try:
            outcome.append(Check(name, True, f"{where}: {probe()}"))
        except Exception as exc:  # any driver error is a failed check, not a crash
            outcome.append(Check(name, False, f"{where}: {exc}"))

    worker = threading.Thread(target=run, name=f"riskops-doctor {name}", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        return Check(
            name,
            False,
            f"{where}: no answer within {timeout:g} s; check that the server runs and the "
            "URL is right (riskops doctor --timeout SECONDS waits longer)",
        )
    return outcome[0]


def createdb_command(url: str) -> str:
    """The shell command that creates the PostgreSQL database ``url`` names.

    >>> createdb_command("postgresql+psycopg://mlflow@db.internal:5432/mlflow")
    'createdb -h db.internal -p 5432 -U mlflow mlflow'
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    parts = ["createdb"]
    if parsed.host:
        parts += ["-h", parsed.host]
    if parsed.port:
        parts += ["-p", str(parsed.port)]
    if parsed.username:
        parts += ["-U", parsed.username]
    parts.append(parsed.database or "")
    return " ".join(parts)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split("\n")[0].split())
    return text.rpartition("FATAL: ")[2]  # the server's own words, not the driver's preamble


def _missing_database(url: str, exc: BaseException) -> _Failed | None:
    """A failed check naming ``createdb …`` when PostgreSQL says the database does not exist."""
    text = str(getattr(exc, "orig", None) or exc)
    # not 'role "x" does not exist': createdb would not help there
    if not re.search(r'database "[^"]+" does not exist', text) or not url.startswith("postgresql"):
        return None
    return _Failed(f"{_first_line(exc)}. Create it with: {createdb_command(url)}")


def _store_check(url: str, timeout: float) -> str:
    try:
        store = open_store(url, migrate=False, connect_timeout=timeout, statement_timeout=timeout)
        try:
            with store.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            schema = schema_state(store)
        finally:
            store.dispose()
    except Exception as exc:
        missing = _missing_database(url, exc)
        if missing is not None:
            raise missing from exc
        raise
    state = schema.describe()
    if schema.current is None:
        state = "reachable, not initialised (run riskops init)"
    elif not schema.up_to_date and schema.known:
        state += f" (run {UPGRADE})"
    if not schema.up_to_date:
        raise _Failed(state)
    return state


def _mlflow_check(registry: MlflowRegistry, timeout: float) -> str:
    """MLflow's tracking store; a database URL is looked at first without MLflow, whose
    connection retries would wait out a missing database for about 100 s."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    uri = registry.tracking_uri
    try:
        parsed = make_url(uri)
    except Exception:  # not a database URL (an MLflow server, a folder): MLflow's to say
        return registry.ping()
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = Path(parsed.database or "")
        if not path.exists():
            folder = next((p for p in path.parents if p.exists()), None)
            if folder is not None and not folder.is_dir():
                raise _Failed(
                    f"cannot be created: {folder} is a file, not a folder. Point "
                    "MLFLOW_TRACKING_URI at a folder that exists or can be made"
                )
            return "no database yet: the first riskops train creates it"
        return registry.ping()
    if backend == "postgresql":
        engine = create_engine(
            uri,
            poolclass=NullPool,
            connect_args={"connect_timeout": max(2, math.ceil(timeout))},
        )
        try:
            with engine.connect() as connection:
                tables = inspect(connection).has_table("experiments")
        except Exception as exc:
            missing = _missing_database(uri, exc)
            if missing is not None:
                raise missing from exc
            raise _Failed(_first_line(exc)) from exc
        finally:
            engine.dispose()
        if not tables:
            return "database reachable, empty: the first riskops train creates MLflow's tables"
    return registry.ping()
