"""Creating a workspace (``riskops init``) and checking that each part answers (``riskops doctor``)."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from riskops.config import CONFIG_FILE_NAME, Role, Settings, load_settings
from riskops.errors import ConflictError, RiskopsError
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


def doctor(settings: Settings) -> list[Check]:
    """Check the configuration, the store, MLflow and the people; never raises."""
    checks = [
        Check(
            "configuration",
            True,
            f"home {settings.home}; config file "
            + (str(settings.config_file) if settings.config_file else "none (defaults)"),
        )
    ]
    try:
        store = open_store(settings.database_url, migrate=False)
        try:
            with store.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            schema = schema_state(store)
        finally:
            store.dispose()
        state = schema.describe()
        if schema.current is None:
            state = "reachable, not initialised (run riskops init)"
        elif not schema.up_to_date and schema.known:
            state += f" (run {UPGRADE})"
        checks.append(
            Check("metadata store", schema.up_to_date, f"{_redact(settings.database_url)}: {state}")
        )
    except RiskopsError as exc:
        checks.append(Check("metadata store", False, f"{_redact(settings.database_url)}: {exc}"))
    except Exception as exc:  # any driver error is a failed check, not a crash
        checks.append(Check("metadata store", False, f"{_redact(settings.database_url)}: {exc}"))
    registry = MlflowRegistry(
        settings.mlflow_tracking_uri, settings.mlflow_registry_uri, settings.artifact_root
    )
    try:
        detail = registry.ping()
        checks.append(
            Check("mlflow tracking", True, f"{_redact(settings.mlflow_tracking_uri)}: {detail}")
        )
    except Exception as exc:  # reported, not raised: doctor shows every part
        checks.append(
            Check("mlflow tracking", False, f"{_redact(settings.mlflow_tracking_uri)}: {exc}")
        )
    checks.append(_artifact_check(registry))
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


def _artifact_check(registry: MlflowRegistry) -> Check:
    try:
        return Check(
            "artifact store", True, f"{registry.artifact_root}: {registry.ping_artifacts()}"
        )
    except Exception as exc:  # reported, not raised: doctor shows every part
        return Check("artifact store", False, f"{registry.artifact_root}: {exc}")
