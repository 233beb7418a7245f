"""Prefect's test harness (a temporary Prefect server on SQLite, started once per session),
its home in a temporary folder (Prefect writes ``$PREFECT_HOME`` on import, never ``~/.prefect``
here), and a workspace per test.

The settings below are environment variables because Prefect reads them when it is first
imported, which happens when the test modules (and riskops.flows) are collected.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from riskops.config import Settings
from riskops.workspace import init_workspace
from tests.conftest import PEOPLE

SERVER_COMPAT = Path(__file__).parent / "prefect_server"
_PREFECT_HOME = tempfile.mkdtemp(prefix="riskops-test-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(SERVER_COMPAT), os.environ.get("PYTHONPATH")) if p
)
sys.path.insert(0, str(SERVER_COMPAT))
import sitecustomize  # noqa: E402  # the server's FastAPI shim, in this process too

sitecustomize.patch_fastapi_body()
sys.path.remove(str(SERVER_COMPAT))


@pytest.fixture(scope="session", autouse=True)
def prefect_server() -> Iterator[None]:
    """One temporary Prefect server for the whole session (it takes seconds to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield
    shutil.rmtree(_PREFECT_HOME, ignore_errors=True)


@pytest.fixture
def workspace(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> Settings:
    """A new workspace with people in every role; flows are given its folder."""
    return init_workspace(tmp_path / "ws", people=PEOPLE)
