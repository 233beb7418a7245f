"""One-row predictions from a LightGBM Booster through LightGBM's single-row C API.

``Booster.predict`` costs tens of microseconds of Python around each call (a predictor object,
a parameter string, array checks) before the trees run. LightGBM's C API has a path made for
real-time scoring: ``LGBM_BoosterPredictForMatSingleRowFastInit`` prepares a configuration once
(prediction type, number of threads, column count) and
``LGBM_BoosterPredictForMatSingleRowFast`` then scores one float64 row with it. The results are
the same numbers as ``Booster.predict`` (the tests compare them bit for bit), for the score and
for TreeSHAP contributions (``pred_contrib``).

The input and output buffers are allocated once per predictor and their addresses computed
once, so a call is one ctypes call and two copies; a lock makes a predictor safe to share
between threads (LightGBM guards its own cached state with a mutex as well).

Example::

    score = SingleRowPredictor(booster, "normal")   # None if this LightGBM lacks the C API
    score(row)[0]                                   # row: (n,) or (1, n) float64
    contributions = SingleRowPredictor(booster, "contrib")
    contributions(row)                              # (n + 1,): one per feature, then the bias
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any, Literal

import numpy as np

Kind = Literal["normal", "contrib"]
_PREDICT_TYPE = {"normal": 0, "contrib": 3}  # C_API_PREDICT_NORMAL, C_API_PREDICT_CONTRIB
_FLOAT64 = 1  # C_API_DTYPE_FLOAT64


class SingleRowPredictor:
    """A prepared single-row prediction of one kind for one Booster."""

    def __init__(self, booster: Any, kind: Kind, *, num_threads: int = 1) -> None:
        from lightgbm.basic import _LIB, _c_str, _safe_call  # type: ignore[attr-defined]

        self._booster = booster  # keeps the handle alive as long as this predictor
        self._lib = _LIB
        self._call = _safe_call
        self.width = int(booster.num_feature())
        outputs = 1 if kind == "normal" else self.width + 1
        best = int(getattr(booster, "best_iteration", 0) or 0)
        self._config = ctypes.c_void_p()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(_PREDICT_TYPE[kind]),
                ctypes.c_int(0),
                ctypes.c_int(best if best > 0 else -1),  # as Booster.predict: the best, or all
                ctypes.c_int(_FLOAT64),
                ctypes.c_int32(self.width),
                _c_str(f"num_threads={num_threads}"),
                ctypes.byref(self._config),
            )
        )
        self._predict = _LIB.LGBM_BoosterPredictForMatSingleRowFast
        self._row = np.zeros(self.width, dtype=np.float64)
        self._out = np.zeros(outputs, dtype=np.float64)
        self._out_len = ctypes.c_int64()
        self._args = (
            self._config,
            self._row.ctypes.data_as(ctypes.c_void_p),
            ctypes.byref(self._out_len),
            self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        )
        self._lock = threading.Lock()

    @classmethod
    def create(cls, booster: Any, kind: Kind, *, num_threads: int = 1) -> SingleRowPredictor | None:
        """The predictor, or None when this LightGBM has no single-row C API or ``booster``
        overrides ``predict`` (the caller then uses ``booster.predict``)."""
        try:
            import lightgbm
            from lightgbm.basic import _LIB  # type: ignore[attr-defined]

            if not hasattr(_LIB, "LGBM_BoosterPredictForMatSingleRowFast"):
                return None
            if type(booster).predict is not lightgbm.Booster.predict:
                return None  # a Booster whose predict does more (or else) than LightGBM's
            return cls(booster, kind, num_threads=num_threads)
        except Exception:  # an older or different build: the caller keeps the general path
            return None

    def __call__(self, row: np.ndarray) -> np.ndarray:
        """The prediction of one row ((n,) or (1, n)), as a new array."""
        with self._lock:
            self._row[:] = row.reshape(-1)
            self._call(self._predict(*self._args))
            return self._out.copy()

    def __del__(self) -> None:
        config = getattr(self, "_config", None)
        if config is not None and config.value:
            self._lib.LGBM_FastConfigFree(config)
            config.value = None
