"""Loading what governance plans: a version that cannot be loaded stays in the table, refused,
with the code of why (never read back from the message)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from riskops.context import Context
from riskops.errors import BackendError
from riskops.registry.versions import ModelRef
from riskops.serving import routing
from riskops.serving.routing import Loaded, build_table
from riskops.serving.service import ScoringService, ServerSettings
from riskops.training.pipeline import train
from tests.conftest import SPEC, approve_and_deploy


@pytest.fixture
def deployed(ctx: Context) -> ModelRef:
    ref = train(ctx, SPEC, actor="alice").ref
    approve_and_deploy(ctx, ref)
    return ref


def tamper(ctx: Context) -> None:
    [model_file] = (Path(ctx.settings.home) / "mlartifacts").rglob("model.lgb")
    model_file.write_text(model_file.read_text(encoding="utf-8") + "\n", encoding="utf-8")


def test_the_approved_champion_loads_from_its_verified_artifact(
    ctx: Context, deployed: ModelRef
) -> None:
    table = build_table(ctx, "production", previous=None)
    champion = table.routes["credit-scoring"].champion
    assert champion.available
    assert (champion.refused, champion.refused_code) == (None, None)
    assert table.ready


def test_a_tampered_artifact_is_refused_with_the_integrity_code(
    ctx: Context, deployed: ModelRef
) -> None:
    tamper(ctx)
    told: list[Loaded] = []
    table = build_table(ctx, "production", previous=None, on_refused=told.append)
    champion = table.routes["credit-scoring"].champion
    assert not champion.available
    assert champion.refused_code == "integrity"
    assert (champion.refused or "").startswith("digest mismatch: The artifact of credit-scoring@1")
    assert told == [champion]


@pytest.mark.parametrize(
    ("error", "code"),
    [(OSError("disk gone"), "load_failed"), (BackendError("S3 away"), "backend_unavailable")],
)
def test_a_load_failure_is_refused_with_its_code(
    ctx: Context,
    deployed: ModelRef,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    code: str,
) -> None:
    def failing(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(routing, "load_verified_model", failing)
    champion = build_table(ctx, "production", previous=None).routes["credit-scoring"].champion
    assert (champion.refused_code, champion.refused) == (code, f"load failed: {error}")


def test_the_server_counts_a_digest_mismatch_by_its_code(
    ctx: Context, deployed: ModelRef, tmp_path: Path
) -> None:
    tamper(ctx)
    settings = ServerSettings(workspace=ctx.settings, flusher="thread", wal_dir=tmp_path / "wal")
    service = ScoringService.open(settings)
    try:
        service.refresh_if_changed()
        mismatches = service.metrics.registry.get_sample_value(
            "riskops_artifact_digest_mismatch_total", {"model": "credit-scoring", "version": "1"}
        )
        assert mismatches == 1.0
    finally:
        service.close()


_LOAD_AND_LIST_MODULES = """
import sys
from riskops.config import load_settings
from riskops.context import open_context
from riskops.serving.routing import build_table

context = open_context(load_settings())
table = build_table(context, "production", previous=None)
assert table.ready, table.refused()
print(sorted({m.split(".")[0] for m in sys.modules}))
"""


def test_loading_from_a_local_artifact_store_never_imports_mlflow(
    ctx: Context, deployed: ModelRef
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_AND_LIST_MODULES],
        env={**os.environ, "RISKOPS_HOME": str(ctx.settings.home)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = set(ast.literal_eval(done.stdout.strip().splitlines()[-1]))
    assert "lightgbm" in loaded
    assert "mlflow" not in loaded
