"""Lets Prefect's test server start beside this project's FastAPI (tests only).

Prefect's server (every 3.x up to 3.9.1) still passes pydantic v1's ``min_items``/``max_items``
to ``fastapi.Body``, which FastAPI 0.151 dropped; Prefect 3.9 caps ``fastapi<0.151`` for it,
and riskops serves on a newer FastAPI. The riskops flows need only Prefect's client, and a
production Prefect server runs from its own environment (docs/flows.md); only
``prefect_test_harness``, which starts the server from this interpreter, needs this shim. It
renames the two arguments to their pydantic v2 names (``min_length``/``max_length``, the same
check):

- in the harness's server subprocess, which loads this file as ``sitecustomize`` (the conftest
  puts this folder on its ``PYTHONPATH``) and which alone has ``PREFECT__SERVER_EPHEMERAL=1``;
- in the test process only while Prefect's server modules are imported
  (:func:`accepting_v1_names`), so that no other test sees a patched FastAPI.

On a FastAPI that still takes the v1 names it does nothing.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def _patch() -> Callable[[], None]:
    """Patch ``fastapi.Body``; return what undoes it."""
    import fastapi
    import fastapi.param_functions

    original = fastapi.param_functions.Body
    if "min_items" in inspect.signature(original).parameters:
        return lambda: None

    def body(*args: Any, min_items: Any = None, max_items: Any = None, **kwargs: Any) -> Any:
        if min_items is not None:
            kwargs.setdefault("min_length", min_items)
        if max_items is not None:
            kwargs.setdefault("max_length", max_items)
        return original(*args, **kwargs)

    exported = fastapi.Body
    fastapi.Body = body  # type: ignore[assignment]

    def undo() -> None:
        fastapi.Body = exported  # type: ignore[assignment]

    return undo


@contextmanager
def accepting_v1_names() -> Iterator[None]:
    """``fastapi.Body`` takes ``min_items``/``max_items`` inside the block."""
    undo = _patch()
    try:
        yield
    finally:
        undo()


if os.environ.get("PREFECT__SERVER_EPHEMERAL") == "1":
    _patch()
