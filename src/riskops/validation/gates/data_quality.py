"""Data-quality gate: is the data the version was trained on fit to train a credit model on?

It looks at the training snapshot (all its rows: training, validation and test partition) and,
for unseen categories, at the held-out rows. Results, thresholds from ``gates.data_quality``:

* ``data_quality.schema`` — columns the spec needs (features, label, protected attributes,
  subject key) that the data lacks; must be 0. Training already refuses such data, so a version
  that reached validation passes; the result records that it was checked.
* ``data_quality.missing_rate`` — the largest share of missing (empty) values over the
  features, ``<= max_missing_rate``; every feature's rate is in the evidence.
* ``data_quality.out_of_range_rate`` — the largest share of a numeric feature's rows outside
  its spec ``min``/``max``, ``<= max_out_of_range_rate``.
* ``data_quality.unseen_category_rate`` — the largest share of held-out rows whose value of a
  categorical feature never occurs in the training rows, ``<= max_unseen_category_rate``: the
  model learnt nothing about that value.
* ``data_quality.duplicate_subjects`` — with ``data.subject_key``, the share of rows whose
  key repeats an earlier row's, ``<= max_duplicate_subject_rate``; without one, a passed
  result that says so. Exact duplicate rows (all columns equal) are counted in its evidence.
* ``data_quality.label_leakage`` — the largest AUC of one feature on its own against the
  label, ``<= max_single_feature_auc``: a single input that nearly predicts the outcome is
  more often the outcome leaking in (a field filled after default) than a real signal.
  Numeric features score by their value, on rows where it is present, as ``max(AUC, 1 − AUC)``
  (either direction counts); categorical ones by their category's event rate (missing as a
  category of its own). The evidence lists the top features.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from riskops.spec import DataQualityGate as DataQualityConfig
from riskops.spec import ModelSpec
from riskops.statistics.discrimination import auc
from riskops.validation.gate import GateInput, GateResult, threshold_check

KIND = "riskops.gate/data_quality@1"
TOP_FEATURES = 10


def _absent(column: pd.Series) -> np.ndarray:
    """Missing or blank, as the schema check reads the raw text."""
    text = column.astype("string").str.strip()
    return np.asarray(
        column.isna().to_numpy(dtype=bool) | text.eq("").fillna(False).to_numpy(dtype=bool)
    )


def _rate(count: int, rows: int) -> float:
    return count / rows if rows else 0.0


def missing_rates(raw: pd.DataFrame, spec: ModelSpec) -> list[dict[str, Any]]:
    rows = len(raw)
    out = []
    for feature in spec.features:
        missing = int(_absent(raw[feature.name]).sum())
        out.append(
            {
                "feature": feature.name,
                "missing": missing,
                "rate": _rate(missing, rows),
                "allow_missing": feature.allow_missing,
            }
        )
    return out


def out_of_range_rates(raw: pd.DataFrame, spec: ModelSpec) -> list[dict[str, Any]]:
    rows = len(raw)
    out = []
    for feature in spec.features:
        if feature.type != "numeric" or (feature.min is None and feature.max is None):
            continue
        values = pd.to_numeric(raw[feature.name].astype("string"), errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        below = int((values < feature.min).sum()) if feature.min is not None else 0
        above = int((values > feature.max).sum()) if feature.max is not None else 0
        out.append(
            {
                "feature": feature.name,
                "min": feature.min,
                "max": feature.max,
                "below": below,
                "above": above,
                "rate": _rate(below + above, rows),
            }
        )
    return out


def unseen_categories(
    train: pd.DataFrame, held_out: pd.DataFrame, spec: ModelSpec
) -> list[dict[str, Any]]:
    rows = len(held_out)
    out = []
    for feature in spec.features:
        if feature.type != "categorical":
            continue
        seen = set(train[feature.name].dropna().astype(str))
        values = held_out[feature.name].dropna().astype(str)
        unseen = values[~values.isin(seen)]
        counts = {str(k): int(v) for k, v in unseen.value_counts().items()}
        out.append(
            {
                "feature": feature.name,
                "unseen": counts,
                "rows": len(unseen),
                "rate": _rate(len(unseen), rows),
            }
        )
    return out


def single_feature_aucs(
    features: pd.DataFrame, y: np.ndarray, spec: ModelSpec
) -> list[dict[str, Any]]:
    """Each feature's AUC on its own against the label, largest first."""
    labels = np.asarray(y, dtype=np.int64)
    out: list[dict[str, Any]] = []
    for feature in spec.features:
        column = features[feature.name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            codes = column.cat.codes.to_numpy().astype(np.int64) + 1  # 0 = missing
            rows = np.bincount(codes)
            events = np.bincount(codes, weights=labels)
            event_rate = np.divide(events, rows, out=np.zeros(len(rows)), where=rows > 0)
            score = event_rate[codes]
            kept = labels
        else:
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
            present = ~np.isnan(values)
            score, kept = values[present], labels[present]
        value: float | None = None
        if len(np.unique(kept)) < 2:
            value = None
        else:
            area = auc(kept, score)
            value = max(area, 1.0 - area)
        out.append({"feature": feature.name, "type": feature.type, "auc": value, "rows": len(kept)})
    out.sort(key=lambda row: -(row["auc"] if row["auc"] is not None else 0.0))
    return out


def _largest(rows: list[dict[str, Any]], key: str) -> tuple[float, str | None]:
    defined = [r for r in rows if r[key] is not None]
    if not defined:
        return 0.0, None
    top = max(defined, key=lambda r: r[key])
    return float(top[key]), str(top["feature"])


class DataQualityGate:
    name = "data_quality"

    def evaluate(self, data: GateInput) -> list[GateResult]:
        config = data.spec.gates.data_quality
        spec = data.spec
        parts = data.snapshot_samples
        raw = pd.concat([p.raw for p in parts], ignore_index=True)
        features = pd.concat([p.features for p in parts], ignore_index=True)
        y = np.concatenate([p.y for p in parts])
        snapshot = {
            "data": f"training snapshot ({', '.join(p.name for p in parts)} rows)",
            "rows": len(raw),
        }

        def check(
            name: str, value: float, threshold: float, evidence: dict[str, Any]
        ) -> GateResult:
            return threshold_check(
                gate=f"data_quality.{name}",
                kind=KIND,
                metric=name,
                value=value,
                threshold=threshold,
                comparison="<=",
                severity=config.severity,
                evidence={**snapshot, **evidence},
            )

        needed = [*spec.feature_names, spec.data.label.column, *spec.data.protected_attributes]
        if spec.data.subject_key:
            needed.append(spec.data.subject_key)
        needed = list(dict.fromkeys(needed))
        absent_columns = [c for c in needed if c not in raw.columns]
        results = [
            check(
                "schema",
                len(absent_columns),
                0.0,
                {
                    "columns_checked": needed,
                    "missing_columns": absent_columns,
                    "note": "training checks the schema before it fits; this records the check",
                },
            )
        ]

        missing = missing_rates(raw, spec) if not absent_columns else []
        value, worst = _largest(missing, "rate")
        results.append(
            check(
                "missing_rate",
                value,
                config.max_missing_rate,
                {"worst": worst, "features": missing},
            )
        )

        ranges = out_of_range_rates(raw, spec) if not absent_columns else []
        value, worst = _largest(ranges, "rate")
        results.append(
            check(
                "out_of_range_rate",
                value,
                config.max_out_of_range_rate,
                {"worst": worst, "features": ranges},
            )
        )

        held_out = data.held_out
        unseen = unseen_categories(data.train.features, held_out.features, spec)
        value, worst = _largest(unseen, "rate")
        results.append(
            check(
                "unseen_category_rate",
                value,
                config.max_unseen_category_rate,
                {
                    "held_out_sample": held_out.name,
                    "held_out_rows": len(held_out.y),
                    "worst": worst,
                    "features": unseen,
                },
            )
        )

        results.append(self._duplicates(raw, spec, config, snapshot))

        leakage = single_feature_aucs(features, y, spec)
        value, worst = _largest(leakage, "auc")
        results.append(
            check(
                "label_leakage",
                value,
                config.max_single_feature_auc,
                {
                    "worst": worst,
                    "method": "single-feature AUC, max(AUC, 1 - AUC); categories scored by "
                    "their event rate",
                    "top_features": leakage[:TOP_FEATURES],
                },
            )
        )
        return results

    @staticmethod
    def _duplicates(
        raw: pd.DataFrame, spec: ModelSpec, config: DataQualityConfig, snapshot: dict[str, Any]
    ) -> GateResult:
        duplicate_rows = int(raw.duplicated(keep="first").sum())
        key = spec.data.subject_key
        if not key or key not in raw.columns:
            return GateResult(
                gate="data_quality.duplicate_subjects",
                kind=KIND,
                metric="duplicate_subject_rate",
                value=None,
                threshold=config.max_duplicate_subject_rate,
                comparison="n/a",
                severity=config.severity,
                passed=True,
                evidence={
                    **snapshot,
                    "subject_key": None,
                    "duplicate_rows": duplicate_rows,
                    "note": "the spec names no data.subject_key, so subjects cannot be told "
                    "apart; only exact duplicate rows are counted",
                },
            )
        keys = raw[key]
        missing_keys = int(_absent(keys).sum())
        repeated = int(keys[~_absent(keys)].duplicated(keep="first").sum())
        return threshold_check(
            gate="data_quality.duplicate_subjects",
            kind=KIND,
            metric="duplicate_subject_rate",
            value=_rate(repeated, len(raw)),
            threshold=config.max_duplicate_subject_rate,
            comparison="<=",
            severity=config.severity,
            evidence={
                **snapshot,
                "subject_key": key,
                "duplicate_subjects": repeated,
                "missing_keys": missing_keys,
                "duplicate_rows": duplicate_rows,
            },
        )
