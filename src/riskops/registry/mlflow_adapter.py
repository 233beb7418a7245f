"""The one place that talks to MLflow's tracking server and model registry.

Everything goes through an explicit ``MlflowClient`` built from the workspace settings: no
global tracking URI, no active run, so two workspaces can live in one process.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskops.errors import BackendError, NotFoundError

if TYPE_CHECKING:
    from mlflow import MlflowClient

CHAMPION_ALIAS = "champion"
OOT_FINGERPRINT_TAG = "riskops.oot_fingerprint"  # the out-of-time snapshot's, on the run
# On an MLflow version whose training failed after registering it: riskops has no record of it.
ABANDONED_TAG = "riskops.abandoned"


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: int
    source: str
    run_id: str


def alias_for(environment: str) -> str:
    """The MLflow alias that marks the version serving in ``environment``."""
    return CHAMPION_ALIAS if environment == "production" else environment


class MlflowRegistry:
    """MLflow tracking and registry for one workspace."""

    def __init__(self, tracking_uri: str, registry_uri: str, artifact_root: str) -> None:
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri
        self.artifact_root = artifact_root.rstrip("/")
        self._client: MlflowClient | None = None

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            from mlflow import MlflowClient

            with _backend_errors("connect to MLflow"):
                self._client = MlflowClient(
                    tracking_uri=self.tracking_uri, registry_uri=self.registry_uri
                )
        return self._client

    def ping(self) -> str:
        """A one-line description of the tracking store, or a BackendError."""
        with _backend_errors("reach the MLflow tracking store"):
            experiments = self.client.search_experiments(max_results=100)
        return f"{len(experiments)} experiment(s)"

    def ping_artifacts(self) -> str:
        """List the artifact root through MLflow's own artifact client (local, S3, …)."""
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        with _backend_errors(f"reach the artifact store {self.artifact_root}"):
            entries = get_artifact_repository(self.artifact_root).list_artifacts()
        return f"reachable, {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"

    def experiment_id(self, name: str) -> str:
        with _backend_errors(f"open the MLflow experiment {name!r}"):
            existing = self.client.get_experiment_by_name(name)
            if existing is not None:
                return str(existing.experiment_id)
            return str(
                self.client.create_experiment(
                    name, artifact_location=f"{self.artifact_root}/{name}"
                )
            )

    def log_run(
        self,
        experiment: str,
        *,
        run_name: str,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        tags: Mapping[str, str],
        artifacts: Mapping[str, Path],
    ) -> tuple[str, str]:
        """Log one finished run; ``artifacts`` maps an artifact folder to a local file or
        folder. Returns ``(run_id, artifact_uri)``."""
        from mlflow.entities import Metric, Param, RunTag

        experiment_id = self.experiment_id(experiment)
        with _backend_errors("log the training run to MLflow"):
            run = self.client.create_run(experiment_id, run_name=run_name)
            run_id = run.info.run_id
            try:
                self.client.log_batch(
                    run_id,
                    metrics=[Metric(k, float(v), 0, 0) for k, v in metrics.items()],
                    params=[Param(k, str(v)) for k, v in params.items()],
                    tags=[RunTag(k, v) for k, v in tags.items()],
                )
                for folder, local in artifacts.items():
                    if local.is_dir():
                        self.client.log_artifacts(run_id, str(local), folder)
                    else:
                        self.client.log_artifact(run_id, str(local), folder)
            except Exception:
                self.client.set_terminated(run_id, status="FAILED")
                raise
            self.client.set_terminated(run_id)
        return run_id, run.info.artifact_uri

    def register(
        self, name: str, *, run_id: str, source: str, tags: Mapping[str, str]
    ) -> RegisteredVersion:
        from mlflow.exceptions import MlflowException

        with _backend_errors(f"register a version of {name!r} in MLflow"):
            try:
                self.client.create_registered_model(name)
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            mv = self.client.create_model_version(name, source, run_id=run_id, tags=dict(tags))
        return RegisteredVersion(name=name, version=int(mv.version), source=source, run_id=run_id)

    def tag_version(self, name: str, version: int, tags: Mapping[str, str]) -> None:
        """Set ``tags`` on the registered version ``name@version``."""
        with _backend_errors(f"tag {name}@{version} in MLflow"):
            for key, value in tags.items():
                self.client.set_model_version_tag(name, str(version), key, value)

    def next_version(self, name: str) -> int:
        """The number MLflow is expected to give the next version of ``name`` (versions count
        up from 1). What is written before registering (the reference profile) names it, and
        the pipeline checks after registering that MLflow agreed."""
        with _backend_errors(f"read the versions of {name!r} from MLflow"):
            found = self.client.search_model_versions(f"name = '{name}'")
        return max((int(v.version) for v in found), default=0) + 1

    def set_alias(self, name: str, alias: str, version: int) -> None:
        with _backend_errors(f"set the MLflow alias {alias!r} on {name}@{version}"):
            self.client.set_registered_model_alias(name, alias, str(version))

    def alias_version(self, name: str, alias: str) -> int | None:
        from mlflow.exceptions import MlflowException

        try:
            return int(self.client.get_model_version_by_alias(name, alias).version)
        except MlflowException:
            return None

    def download_version(self, name: str, version: int, destination: Path) -> Path:
        """Copy the registered version's model folder to ``destination`` and return it."""
        import mlflow.artifacts

        with _backend_errors(f"download {name}@{version} from MLflow"):
            source = self.client.get_model_version_download_uri(name, str(version))
            return Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=source,
                    dst_path=str(destination),
                    tracking_uri=self.tracking_uri,
                )
            )

    def run_tag(self, run_id: str, key: str) -> str | None:
        """The value of tag ``key`` on run ``run_id``, or None when the run has no such tag."""
        with _backend_errors(f"read run {run_id} from MLflow"):
            value = self.client.get_run(run_id).data.tags.get(key)
        return None if value is None else str(value)

    def download_run_file(self, run_id: str, path: str, destination: Path) -> Path:
        with _backend_errors(f"download {path} of run {run_id} from MLflow"):
            return Path(self.client.download_artifacts(run_id, path, str(destination)))

    @contextmanager
    def downloaded_version(self, name: str, version: int) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="riskops-model-") as tmp:
            yield self.download_version(name, version, Path(tmp))


@contextmanager
def _backend_errors(doing: str) -> Iterator[None]:
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise NotFoundError(f"Could not {doing}: {exc.message}") from exc
        raise BackendError(
            f"Could not {doing}: {exc.message}",
            hint="Check MLFLOW_TRACKING_URI and the artifact store: riskops doctor",
        ) from exc
    except OSError as exc:
        raise BackendError(
            f"Could not {doing}: {exc}",
            hint="Check MLFLOW_TRACKING_URI and the artifact store: riskops doctor",
        ) from exc
    except Exception as exc:
        # The S3 client's errors (botocore) are not OSErrors; name them without importing boto.
        if type(exc).__module__.split(".")[0] in {"botocore", "boto3", "requests", "urllib3"}:
            raise BackendError(
                f"Could not {doing}: {exc}",
                hint="Check the artifact store (MLFLOW_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, "
                "AWS_SECRET_ACCESS_KEY): riskops doctor",
            ) from exc
        raise
