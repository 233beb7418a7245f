"""Prefect's test harness (a temporary Prefect server on SQLite, started once per session),
its home in a temporary folder (Prefect writes ``$PREFECT_HOME`` on import, never ``~/.prefect``
here), and a workspace per test.

The settings below are environment variables because Prefect reads them when it is first
imported, which happens when the test modules (and riskops.flows) are collected. The server
needs a shim for this project's FastAPI: see prefect_server/sitecustomize.py.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from riskops.config import Settings
from riskops.workspace import init_workspace
from tests.conftest import PEOPLE

SERVER_COMPAT = Path(__file__).parent / "prefect_server"
_PREFECT_HOME = tempfile.mkdtemp(prefix="riskops-test-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"


def _server_compat() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "riskops_test_prefect_compat", SERVER_COMPAT / "sitecustomize.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session", autouse=True)
def prefect_server() -> Iterator[None]:
    """One temporary Prefect server for the whole session (it takes seconds to start)."""
    compat = _server_compat()
    with compat.accepting_v1_names():
        from prefect.testing.utilities import prefect_test_harness
    harness = prefect_test_harness(server_startup_timeout=120)
    with pytest.MonkeyPatch.context() as env:  # only the server subprocess loads the shim
        env.setenv(
            "PYTHONPATH",
            os.pathsep.join(p for p in (str(SERVER_COMPAT), os.environ.get("PYTHONPATH")) if p),
        )
        harness.__enter__()
    try:
        yield
    finally:
        harness.__exit__(None, None, None)
        shutil.rmtree(_PREFECT_HOME, ignore_errors=True)


@pytest.fixture
def workspace(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> Settings:
    """A new workspace with people in every role; flows are given its folder."""
    return init_workspace(tmp_path / "ws", people=PEOPLE)
