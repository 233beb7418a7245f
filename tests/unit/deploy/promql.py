"""What the deploy tests need to read Prometheus rules and PromQL: the rule files, the metric
names riskops exports, the metric names an expression uses, and promtool."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from riskops.serving.metrics import ServingMetrics
from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
RULE_FILES = (PROMETHEUS / "recording.yml", PROMETHEUS / "alerts.yml")
RUNBOOKS = ROOT / "docs" / "runbooks"

# The sample names each metric type adds to its family's name (prometheus_client).
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}
_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
    "atan2",
}


def promtool() -> str:
    """The promtool binary (Debian package ``prometheus``): skip locally, fail under CI."""
    found = shutil.which("promtool")
    if found is None:
        unavailable("promtool is not installed (apt-get install prometheus)")
    return found


def run_promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def rules() -> Iterator[dict[str, Any]]:
    """Every rule of every rule file (recording and alerting)."""
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            yield from group["rules"]


def alerts() -> dict[str, list[dict[str, Any]]]:
    """Alerting rules by alert name (an alert may have several rules: its windows)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for rule in rules():
        if "alert" in rule:
            found.setdefault(rule["alert"], []).append(rule)
    return found


def recorded() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def exported() -> set[str]:
    """Every series name a :class:`ServingMetrics` registry can expose, children or not."""
    names: set[str] = set()
    for family in ServingMetrics().registry.collect():
        for suffix in _SUFFIXES[family.type]:
            names.add(family.name + suffix)
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` selects: identifiers that are not functions, keywords, label
    names (in ``{…}`` or in a ``by (…)``-like list) or durations."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text
    )  # label lists
    names = set()
    for match in re.finditer(r"(?<![\w.:$])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names
