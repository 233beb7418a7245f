"""Finding the trainer named by ``trainer.entrypoint`` and refusing one training cannot call."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskops.cli.app import app
from riskops.errors import SpecError
from riskops.spec import load_spec
from riskops.training.trainer import check_signature, resolve_trainer


def _with_trainer(spec_copy: Callable[..., Path], entrypoint: str, code: str | None) -> Path:
    path = spec_copy(lambda raw: raw["trainer"].update(entrypoint=entrypoint))
    if code is not None:
        (path.parent / "trainer.py").write_text(code, encoding="utf-8")
    return path


def test_signatures_training_can_call_pass() -> None:
    def plain(X: object, y: object, params: object) -> None: ...
    def with_default(X: object, y: object, params: object, seed: int = 0) -> None: ...
    def variadic(*args: object) -> None: ...

    for fn in (plain, with_default, variadic):
        check_signature(fn, "trainer.py:fit")


@pytest.mark.parametrize(
    "code",
    [
        "def fit(X, y):\n    return None\n",
        "def fit(X, y, params, extra):\n    return None\n",
        "def fit(X, y, *, params):\n    return None\n",
    ],
)
def test_a_trainer_with_the_wrong_signature_is_refused(
    spec_copy: Callable[..., Path], code: str
) -> None:
    path = _with_trainer(spec_copy, "trainer.py:fit", code)
    with pytest.raises(SpecError, match=r"cannot be called as fit\(X, y, params\)") as caught:
        resolve_trainer(load_spec(path))
    assert caught.value.hint is not None
    assert "def fit(X: pd.DataFrame, y: np.ndarray, params: dict)" in caught.value.hint
    assert caught.value.problems[0].location == "trainer.entrypoint"


def test_spec_check_imports_the_trainer(spec_copy: Callable[..., Path]) -> None:
    runner = CliRunner()
    good = spec_copy()
    done = runner.invoke(app, ["spec", "check", "--no-data", str(good)])
    assert done.exit_code == 0, done.output
    assert "trainer trainer.py:fit_lightgbm: imports, takes (X, y, params)" in done.output

    cases = {
        "no_file.py:fit": (None, "does not exist"),
        "trainer.py:nope": ("def fit(X, y, params):\n    return None\n", "has no function 'nope'"),
        "trainer.py:fit": ("import not_a_module_anywhere\n", "failed to import"),
    }
    for entrypoint, (code, said) in cases.items():
        path = _with_trainer(spec_copy, entrypoint, code)
        done = runner.invoke(app, ["spec", "check", "--no-data", str(path)])
        # The console entry point renders a SpecError and exits 2 (riskops.cli.errors).
        assert isinstance(done.exception, SpecError), (entrypoint, done.output)
        assert said in str(done.exception), entrypoint
