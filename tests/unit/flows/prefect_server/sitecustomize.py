"""Lets the Prefect test server start beside this project's FastAPI (tests only).

Prefect's server (any 3.x up to 3.9.1) still passes pydantic v1's ``min_items``/``max_items``
to ``fastapi.Body``, which FastAPI 0.151 dropped; Prefect 3.9 caps ``fastapi<0.151`` for it,
and riskops serves on a newer FastAPI. The riskops flows need only Prefect's client, and a
production Prefect server runs from its own environment (docs/flows.md); only
``prefect_test_harness``, which starts the server from this interpreter, needs this: the
conftest imports it in the test process and puts this folder on ``PYTHONPATH`` so that the
harness's server subprocess loads it as ``sitecustomize``. It renames the two arguments to
their pydantic v2 names (``min_length``/``max_length``, the same check) and does nothing on a
FastAPI that still takes them.
"""

from __future__ import annotations

import inspect
from typing import Any


def patch_fastapi_body() -> None:
    try:
        import fastapi
        import fastapi.param_functions
    except ModuleNotFoundError:
        return
    original = fastapi.param_functions.Body
    if "min_items" in inspect.signature(original).parameters or getattr(
        fastapi.Body, "riskops_compat", False
    ):
        return

    def body(*args: Any, min_items: Any = None, max_items: Any = None, **kwargs: Any) -> Any:
        if min_items is not None:
            kwargs.setdefault("min_length", min_items)
        if max_items is not None:
            kwargs.setdefault("max_length", max_items)
        return original(*args, **kwargs)

    body.riskops_compat = True  # type: ignore[attr-defined]
    fastapi.Body = body  # type: ignore[assignment]


patch_fastapi_body()
