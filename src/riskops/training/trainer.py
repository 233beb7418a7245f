"""Finding the data scientist's training function named by ``trainer.entrypoint``.

``file.py:function`` is a file relative to the spec's folder (kept beside the spec in the
model's repository); ``package.module:function`` is imported from the installed packages.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from riskops.errors import Problem, SpecError
from riskops.spec import LoadedSpec

TrainerFn = Callable[..., Any]


def resolve_trainer(loaded: LoadedSpec) -> tuple[TrainerFn, Path | None]:
    """The trainer function and the file that defines it."""
    entrypoint = loaded.spec.trainer.entrypoint
    target, name = entrypoint.rsplit(":", 1)
    where = "trainer.entrypoint"
    if target.endswith(".py"):
        path = loaded.resolve(target)
        if not path.is_file():
            raise SpecError(
                f"The trainer file {path} does not exist.",
                problems=[Problem(where, f"{entrypoint!r} names a file that is not there")],
                hint="entrypoint is 'file.py:function' relative to the spec file.",
            )
        module_name = "riskops_trainer_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        assert module_spec is not None
        assert module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            raise SpecError(
                f"The trainer file {path} failed to import: {type(exc).__name__}: {exc}",
                problems=[Problem(where, "the trainer's code raised on import")],
                hint="Fix the trainer code; run it with python to see the full traceback.",
            ) from exc
        source: Path | None = path
    else:
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            raise SpecError(
                f"The trainer module {target!r} cannot be imported ({exc}).",
                problems=[Problem(where, f"no module {target!r}")],
                hint="Install the package that holds it, or use 'file.py:function'.",
            ) from exc
        file = getattr(module, "__file__", None)
        source = Path(file) if file else None
    fn = getattr(module, name, None)
    if fn is None or not callable(fn):
        available = sorted(
            n for n, v in vars(module).items() if inspect.isfunction(v) and not n.startswith("_")
        )
        raise SpecError(
            f"The trainer {entrypoint!r} has no function {name!r}.",
            problems=[Problem(where, f"functions there: {', '.join(available) or 'none'}")],
            hint="Name a function fit(X, y, params) -> model.",
        )
    check_signature(fn, entrypoint)
    return fn, source


def check_signature(fn: TrainerFn, entrypoint: str) -> None:
    """Refuse a trainer that cannot be called as ``fn(X, y, params)``.

    Training calls it with three positional arguments; a function that takes fewer, or
    that needs more, would only fail after the data was checked and split.

    >>> def fit(X, y, params): ...
    >>> check_signature(fit, "trainer.py:fit")
    """
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # a builtin or C callable without a signature: it is tried when training
    try:
        signature.bind(None, None, None)
    except TypeError as exc:
        raise SpecError(
            f"The trainer {entrypoint!r} cannot be called as fit(X, y, params): "
            f"its signature is {fn.__name__ if hasattr(fn, '__name__') else 'fn'}{signature} "
            f"({exc}).",
            problems=[Problem("trainer.entrypoint", "the function must take (X, y, params)")],
            hint="Define it as def fit(X: pd.DataFrame, y: np.ndarray, params: dict) -> model; "
            "extra parameters need defaults.",
        ) from None
