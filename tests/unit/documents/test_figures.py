from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from riskops.cli.app import main
from riskops.documents.evidence import Curve, Histogram
from riskops.documents.figures import (
    PNG_SIGNATURE,
    calibration_figure,
    dependence_figure,
    fairness_figure,
    importance_figure,
    monotonicity_figure,
    precision_recall_figure,
    roc_figure,
    score_distribution_figure,
)
from riskops.errors import MissingExtraError


def test_every_plot_is_a_png() -> None:
    pngs = [
        roc_figure(Curve((0.0, 0.2, 1.0), (0.0, 0.7, 1.0)), auc=0.81),
        precision_recall_figure(Curve((0.0, 0.5, 1.0), (1.0, 0.6, 0.3)), base_rate=0.3),
        calibration_figure([(0.1, 0.08), (0.5, 0.55), (0.9, 1.0)]),
        score_distribution_figure(
            Histogram((0.0, 0.5, 1.0), (2.0, 8.0), (9.0, 1.0)),
            cut_offs={"approve below": 0.25, "decline from": 0.6},
        ),
        importance_figure([("age", 0.2), ("amount", -0.4)], unit="mean |SHAP|"),
        monotonicity_figure(
            Curve((1.0, 2.0), (0.2, 0.3)), feature="duration", direction="increasing"
        ),
        dependence_figure(
            [6.0, 12.0, 24.0],
            [0.2, 0.3, 0.4],
            ([0.1, 0.2, 0.2], [0.3, 0.5, 0.6]),
            feature="duration",
            monotone="increasing",
        ),
        dependence_figure(
            [0.0, 1.0],
            [0.4, 0.2],
            ([0.3, 0.1], [0.6, 0.3]),
            feature="housing",
            labels=["rent", "a category name far longer than a plot's margin allows"],
        ),
    ]
    groups = [
        {"group": "< 25", "count": 43, "approval_rate": 0.37},
        {"group": ">= 25", "count": 257, "approval_rate": 0.53, "excluded": False},
        {"group": "missing", "count": 2, "approval_rate": 1.0, "excluded": True},
    ]
    fairness = fairness_figure(groups, attribute="age_in_years")
    assert fairness is not None
    for png in [*pngs, fairness]:
        assert png.startswith(PNG_SIGNATURE)
        assert len(png) > 2_000
    assert fairness_figure([{"group": "a"}], attribute="x") is None


def test_importing_the_documents_selects_no_global_matplotlib_backend() -> None:
    code = (
        "import sys, riskops.documents.render, riskops.documents.figures as f\n"
        "from riskops.documents.evidence import Curve\n"
        "f.roc_figure(Curve((0.0, 1.0), (0.0, 1.0)))\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "False"


def test_without_matplotlib_documents_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the docs extra were missing
    monkeypatch.delitem(sys.modules, "riskops.documents.figures")
    with pytest.raises(
        MissingExtraError, match=r"^Model documents needs matplotlib, which is not installed\.$"
    ) as raised:
        importlib.import_module("riskops.documents.figures")
    assert raised.value.hint == "Install it with: pip install 'riskops[docs]'"


def test_the_docs_command_without_matplotlib_exits_2_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    for name in ("riskops.documents.figures", "riskops.documents.render"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setenv("MLFLOW_LOGGING_LEVEL", "WARNING")  # main() sets it otherwise
    monkeypatch.setattr(
        sys, "argv", ["riskops", "docs", "credit-scoring@1", "--out", str(tmp_path), "--json"]
    )
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    error = json.loads(capsys.readouterr().err)["error"]
    assert error["code"] == "missing_extra"
    assert error["message"] == "Model documents needs matplotlib, which is not installed."
    assert error["hint"] == "Install it with: pip install 'riskops[docs]'"
