"""The Prometheus rules in deploy/prometheus: promtool accepts them and its unit tests pass,
every alert has a runbook and is tested firing and not firing, every metric a rule uses is one
riskops exports (or a recording rule)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.unit.deploy.promql import (
    PROMETHEUS,
    ROOT,
    RULE_FILES,
    RUNBOOKS,
    alerts,
    exported,
    metric_names,
    recorded,
    rules,
    run_promtool,
)

TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
SECTIONS = ("## What it means", "## Confirm", "## What to do", "## When to roll back")


def test_promtool_checks_the_rule_files() -> None:
    checked = run_promtool("check", "rules", *RULE_FILES)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("SUCCESS") == len(RULE_FILES)


def test_promtool_unit_tests_pass() -> None:
    assert TESTS, "deploy/prometheus/tests holds the promtool unit tests"
    tested = run_promtool("test", "rules", *TESTS)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_promtool_unit_tests_fail_when_a_rule_does_not_hold(tmp_path: Path) -> None:
    """The unit tests can fail: the same tests against alerts whose thresholds are ten times
    higher (so none fires) are refused."""
    for path in RULE_FILES:
        text = path.read_text()
        if path.name == "alerts.yml":
            text = text.replace("> (14.4 * 0.001)", "> (144 * 0.001)")
            text = text.replace("riskops_ready == 0", "riskops_ready == 2")
        (tmp_path / path.name).write_text(text)
    (tmp_path / "tests").mkdir()
    for test in TESTS:
        (tmp_path / "tests" / test.name).write_text(test.read_text())
    tested = run_promtool("test", "rules", *sorted((tmp_path / "tests").glob("*.yml")))
    assert tested.returncode != 0
    assert "RiskopsAvailabilityBudgetBurn" in tested.stdout + tested.stderr
    assert "RiskopsModelNotReady" in tested.stdout + tested.stderr


@pytest.mark.parametrize("alert", sorted(alerts()))
def test_each_alert_has_its_runbook(alert: str) -> None:
    for rule in alerts()[alert]:
        assert rule["annotations"]["runbook_url"] == f"docs/runbooks/{alert}.md"
        assert rule["labels"]["severity"] in {"warning", "critical", "{{ $labels.severity }}"}
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]
    runbook = RUNBOOKS / f"{alert}.md"
    assert runbook.is_file(), f"docs/runbooks/{alert}.md is missing"
    text = runbook.read_text()
    assert text.startswith(f"# {alert}\n")
    for section in SECTIONS:
        assert section in text, f"{runbook.name} has no '{section}'"
    for link in re.findall(r"\]\(([^)#]+\.md)\)", text):
        assert (runbook.parent / link).is_file(), f"{runbook.name} links to missing {link}"


def test_each_alert_is_tested_firing_and_not_firing() -> None:
    fired: set[str] = set()
    silent: set[str] = set()
    for path in TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    assert set(alerts()) - fired == set(), "alerts no test sees firing"
    assert set(alerts()) - silent == set(), "alerts no test sees staying silent"


def test_every_metric_a_rule_uses_is_exported_or_recorded() -> None:
    known = exported() | recorded()
    for rule in rules():
        used = metric_names(rule["expr"])
        assert used, f"no metric found in {rule['expr']!r}"
        assert used <= known, f"{rule.get('record') or rule.get('alert')}: {used - known}"


def test_ci_installs_prometheus() -> None:
    assert "prometheus" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (job) (rate(riskops_requests_total{code=~"5.."}[5m]))',
            {"riskops_requests_total"},
        ),
        (
            "riskops:a:rate5m > (14.4 * 0.001) and on (model) b_c >= 1e3",
            {"riskops:a:rate5m", "b_c"},
        ),
        (
            "histogram_quantile(0.99, sum by (le) (rate(x_bucket[$__rate_interval])))",
            {"x_bucket"},
        ),
        ("x / ignoring (outcome) group_left y offset 5m", {"x", "y"}),
        ("vector(1)", set()),
    ],
)
def test_metric_names_of_an_expression(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
