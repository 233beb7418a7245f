"""The Grafana dashboards in deploy/grafana: each panel's PromQL parses (promtool checks it as
a recording rule) and uses only metrics riskops exports, recording rules of deploy/prometheus,
or Prometheus' own series; template variables query exported metrics too."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.deploy.promql import DEPLOY, exported, metric_names, recorded, run_promtool

DASHBOARDS = sorted((DEPLOY / "grafana").glob("*.json"))
PROMETHEUS_OWN = {"ALERTS", "ALERTS_FOR_STATE", "up"}
# Grafana's interval variables, replaced by a duration; every other variable ($model, …)
# stands inside a label matcher's string, where any text parses.
_INTERVALS = re.compile(
    r"\$__(rate_interval|interval|range)|\$\{__(rate_interval|interval|range)\}"
)
_VARIABLE = re.compile(r"\$\{?\w+\}?")
_LABEL_VALUES = re.compile(r"label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)")


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def expressions(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query target."""
    return [
        (panel["title"], target["expr"])
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


def as_promql(expr: str) -> str:
    return _VARIABLE.sub("x", _INTERVALS.sub("5m", expr))


def promtool_check(exprs: list[str], folder: Path) -> tuple[int, str]:
    """promtool's verdict on ``exprs``, each a recording rule of one generated rule file."""
    rules = [{"record": f"panel:expr_{i}:check", "expr": as_promql(e)} for i, e in enumerate(exprs)]
    path = folder / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    checked = run_promtool("check", "rules", path)
    return checked.returncode, checked.stdout + checked.stderr


def unknown_metrics(dashboard: dict[str, Any]) -> dict[str, set[str]]:
    known = exported() | recorded() | PROMETHEUS_OWN
    found: dict[str, set[str]] = {}
    for title, expr in expressions(dashboard):
        missing = metric_names(as_promql(expr)) - known
        if missing:
            found[title] = missing
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"]
            missing = set(_LABEL_VALUES.findall(query)) - known
            if missing:
                found[f"${variable['name']}"] = missing
    return found


@pytest.fixture(params=DASHBOARDS, ids=[d.name for d in DASHBOARDS])
def dashboard(request: pytest.FixtureRequest) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(Path(request.param).read_text())
    return loaded


def test_there_are_the_two_dashboards() -> None:
    assert [d.name for d in DASHBOARDS] == ["riskops-model-health.json", "riskops-serving-slo.json"]


def test_each_panel_has_a_query_on_the_datasource_variable(dashboard: dict[str, Any]) -> None:
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"]
    assert any(v["type"] == "datasource" for v in dashboard["templating"]["list"])
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], f"{panel['title']} has no query"
        assert panel["description"], f"{panel['title']} has no description"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))


def test_every_panel_query_parses(dashboard: dict[str, Any], tmp_path: Path) -> None:
    exprs = [expr for _, expr in expressions(dashboard)]
    code, output = promtool_check(exprs, tmp_path)
    assert code == 0, output
    assert f"SUCCESS: {len(exprs)} rules found" in output


def test_every_metric_a_dashboard_uses_is_exported_or_recorded(dashboard: dict[str, Any]) -> None:
    assert unknown_metrics(dashboard) == {}


def test_the_checks_catch_a_broken_query_and_an_unknown_metric(
    dashboard: dict[str, Any], tmp_path: Path
) -> None:
    _, expr = expressions(dashboard)[0]
    code, output = promtool_check([expr + ")"], tmp_path)
    assert code != 0
    assert '"panel:expr_0:check": could not parse expression' in output
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            target["expr"] = target["expr"].replace("riskops_", "riskops_typo_")
    assert unknown_metrics(dashboard), "a renamed metric is reported"
