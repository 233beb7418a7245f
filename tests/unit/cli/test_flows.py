"""``riskops flows``: the CLI imports and works without Prefect; the flows commands say what to
install, or which Prefect API to set, when either is missing. (The commands running flows are
tested with Prefect's test server in tests/unit/flows/test_cli.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

# Runs the CLI's entry point in a fresh interpreter; BLOCK makes `import prefect` fail as if
# the extra were not installed.
BLOCK = "import sys; sys.modules['prefect'] = None\n"
MAIN = "import sys; from riskops.cli.app import main; sys.argv = ['riskops', *sys.argv[1:]]; main()"


def python(code: str, *args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "RISKOPS_"))}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env={
            **environ,
            "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
            "RISKOPS_HOME": str(home / "ws"),
            "PREFECT_HOME": str(home / "prefect"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_cli_imports_without_prefect_and_never_imports_it(tmp_path: Path) -> None:
    shown = python(
        "import sys; import riskops.cli.app; print('prefect' in sys.modules)", home=tmp_path
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "False"
    blocked = python(BLOCK + MAIN, "--help", home=tmp_path)
    assert blocked.returncode == 0, blocked.stderr
    assert "flows" in blocked.stdout
    version = python(BLOCK + MAIN, "--version", home=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("riskops ")


@pytest.mark.parametrize(
    "args",
    [
        ("flows", "monitor", "credit-scoring"),
        ("flows", "serve", "--monitor", "credit-scoring"),
        ("flows", "train", "spec.yaml", "--trained-by", "alice", "--validated-by", "victor"),
    ],
)
def test_flows_commands_without_prefect_say_which_extra_to_install(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    refused = python(BLOCK + MAIN, *args, home=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert "Running riskops pipelines as Prefect flows needs prefect" in refused.stderr
    assert "pip install 'riskops[prefect]'" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_importing_the_flows_without_prefect_raises_missing_extra(tmp_path: Path) -> None:
    shown = python(
        BLOCK + "from riskops.errors import MissingExtraError\n"
        "try:\n    import riskops.flows.pipelines\n"
        "except MissingExtraError as e:\n    print(e.extra, e.hint)\n",
        home=tmp_path,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "prefect Install it with: pip install 'riskops[prefect]'"


def test_flows_commands_without_a_prefect_api_say_how_to_set_one(tmp_path: Path) -> None:
    refused = python(MAIN, "flows", "monitor", "credit-scoring", home=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert "need a Prefect API to report to, and none is set" in refused.stderr
    assert "PREFECT_API_URL=http://127.0.0.1:4200/api" in refused.stderr


def test_flows_serve_needs_something_to_serve_and_two_people_to_retrain(tmp_path: Path) -> None:
    empty = python(MAIN, "flows", "serve", home=tmp_path)
    assert empty.returncode == 2, empty.stderr
    assert "Nothing to serve: give --monitor MODEL or --retrain SPEC" in empty.stderr
    alone = python(MAIN, "flows", "train", "spec.yaml", "--trained-by", "alice", home=tmp_path)
    assert alone.returncode == 2, alone.stderr
    assert "need two people: --trained-by and --validated-by" in alone.stderr
