"""deploy/: the Grafana dashboard is well formed and the alert rules parse, and both query
only metrics livecast exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from livecast.api.app import create_app
from livecast.context import AppContext
from livecast.ingest.metrics import IngestCollector

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "livecast.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
PANEL_TYPES = {"timeseries", "stat", "gauge", "table", "bargauge", "text", "row"}
# Collectors registered only when their component runs (transcoding is opt-in).
OPTIONAL = {"livecast_transcode_restarts_total"}
METRIC = re.compile(r"\b((?:livecast|process)_[a-z0-9_]+)\b")


@pytest.fixture
async def exported(ctx: AppContext) -> set[str]:
    """Every sample name a node exports (with its ingest collector, as `serve` wires it)."""
    app = create_app(ctx)
    ctx.metrics.registry.register(IngestCollector(app.state.live, None))
    text = generate_latest(ctx.metrics.registry).decode()
    await app.state.realtime.close()
    await app.state.live.close()
    await app.state.analytics.close()
    names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    # Families with labels and nothing counted yet have no samples: take their declared names.
    declared = re.findall(r"^# TYPE (\S+) (\w+)", text, flags=re.MULTILINE)
    for name, kind in declared:
        names.add(f"{name}_total" if kind == "counter" and not name.endswith("_total") else name)
        if kind == "histogram":
            names.update(f"{name}_{suffix}" for suffix in ("bucket", "sum", "count"))
    return names | OPTIONAL


def _queried(expr: str) -> set[str]:
    return set(METRIC.findall(expr))


def test_the_dashboard_is_a_grafana_dashboard() -> None:
    board: dict[str, Any] = json.loads(DASHBOARD.read_text())
    assert isinstance(board["schemaVersion"], int)
    assert board["schemaVersion"] >= 36
    assert board["uid"]
    assert board["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = board["panels"]
    assert len(panels) >= 10
    assert len({p["id"] for p in panels}) == len(panels)
    occupied: set[tuple[int, int]] = set()
    for panel in panels:
        assert panel["type"] in PANEL_TYPES, panel["title"]
        assert panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) for k in ("h", "w", "x", "y"))
        assert grid["x"] + grid["w"] <= 24
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & occupied, f"{panel['title']} overlaps another panel"
        occupied |= cells
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(set(refs)) == len(refs)
        for target in panel["targets"]:
            assert target["expr"].strip()
            assert target["datasource"]["uid"] == "${datasource}"


def test_the_alert_rules_parse_with_the_expected_groups() -> None:
    rules: dict[str, Any] = yaml.safe_load(ALERTS.read_text())
    groups = {group["name"]: group["rules"] for group in rules["groups"]}
    assert set(groups) == {"livecast-streams", "livecast-service"}
    alerts = {rule["alert"]: rule for group in groups.values() for rule in group}
    assert {
        "LivecastHighPlayerLatency",
        "LivecastLowBufferHealth",
        "LivecastHighErrorRate",
        "LivecastTranscoderRestarts",
    } <= set(alerts)
    for name, rule in alerts.items():
        assert rule["expr"].strip(), name
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, name
        assert rule["annotations"]["summary"], name
        assert re.fullmatch(r"\d+[smh]", str(rule.get("for", "0s"))), name


async def test_dashboards_and_alerts_query_only_exported_metrics(exported: set[str]) -> None:
    board = json.loads(DASHBOARD.read_text())
    rules = yaml.safe_load(ALERTS.read_text())
    wanted = {name for p in board["panels"] for t in p["targets"] for name in _queried(t["expr"])}
    wanted |= {name for g in rules["groups"] for r in g["rules"] for name in _queried(r["expr"])}
    assert wanted, "no metric found in the queries"
    assert wanted - exported == set()
