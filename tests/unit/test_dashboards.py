"""The Grafana dashboard (deploy/grafana) and the Prometheus alerts (deploy/prometheus/rules.yml,
and its copy for the Prometheus Operator in deploy/k8s/monitoring): every metric they read is
one the code defines, the busy codes are the dialects' own, and promtool (Debian's prometheus
package) accepts the rules, the dashboard's queries and the compose config, and fires the
alerts of rules.test.yml on its synthetic series.

Without promtool the promtool tests skip, except in CI (.ci/run sets CI=true), where a skip
would hide that they did not run (as tests/integration/test_console.py does for Chromium).
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy/prometheus"
DASHBOARD = ROOT / "deploy/grafana/dashboards/facegate.json"
PROMTOOL = shutil.which("promtool")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# the job metrics module (issue 38, another change: shared/job_metrics.py, first planned as
# workers/job_metrics.py) defines these; until it exists they are taken as given, and once it
# does they must be found in the code like every other name
EXPECTED_FROM_JOB_METRICS = {"facegate_jobs_finished_total", "facegate_ingest_items_total",
                             "facegate_webhook_deliveries_total"}
METRIC = re.compile(r"\b(?:Counter|Gauge|Histogram|Summary|Info|Enum)\(\s*[\"'](facegate_\w+)")
USED = re.compile(r"\bfacegate_[a-z0-9_]+")


@pytest.fixture
def promtool() -> str:
    if PROMTOOL is None:
        if IN_CI:
            pytest.fail("CI: promtool is needed (Debian's prometheus package)")
        pytest.skip("needs promtool (Debian's prometheus package)")
    return PROMTOOL


def _rules() -> dict:
    return yaml.safe_load((PROMETHEUS / "rules.yml").read_text())


def _rule_exprs() -> list[str]:
    return [rule["expr"] for group in _rules()["groups"] for rule in group["rules"]]


def _dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _dashboard_exprs() -> list[str]:
    return [t["expr"] for p in _dashboard()["panels"] for t in p.get("targets", [])]


def _defined() -> tuple[set[str], set[str]]:
    """Metric names the code defines, and which of them are histograms."""
    names, histograms = set(), set()
    for folder in ("gateway", "workers", "services", "shared"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            for match in METRIC.finditer(text):
                names.add(match.group(1))
                if match.group(0).startswith("Histogram"):
                    histograms.add(match.group(1))
    return names, histograms


def test_every_metric_the_dashboard_and_alerts_read_is_defined():
    names, histograms = _defined()
    if any((ROOT / f"{folder}/job_metrics.py").exists() for folder in ("shared", "workers")):
        assert names >= EXPECTED_FROM_JOB_METRICS, "job_metrics.py lacks some"
    else:
        names |= EXPECTED_FROM_JOB_METRICS
    exposed = names | {f"{h}_{suffix}" for h in histograms for suffix in ("bucket", "count", "sum")}
    assert {"facegate_build_info", "facegate_queue_depth", "facegate_request_seconds"} <= names
    for expr in _rule_exprs() + _dashboard_exprs():
        for used in USED.findall(expr):
            assert used in exposed, (used, expr)


def test_the_busy_codes_are_the_dialects_own():
    from gateway.dialects.baidu.codes import CODES as BAIDU
    from gateway.dialects.baidu.token import _OAUTH_ERRORS
    from gateway.dialects.cloudwalk.codes import CODES as CLOUDWALK
    from shared.errors import ERRORS

    # the native dialect's code is the error's name (gateway/dialects/native/dialect.py)
    busy = {str(CLOUDWALK["SYSTEM_BUSY"][0]), str(BAIDU["SYSTEM_BUSY"][0]),
            ERRORS.SYSTEM_BUSY.name, _OAUTH_ERRORS["SYSTEM_BUSY"][1]}
    selector = re.compile(r'code=~"([^"]+)"')
    texts = [e for e in _rule_exprs() + _dashboard_exprs() if "facegate_errors_total" in e]
    assert texts
    for expr in texts:
        assert set(selector.search(expr).group(1).split("|")) == busy, expr


def test_the_operator_rule_is_rules_yml():
    rule = yaml.safe_load((ROOT / "deploy/k8s/monitoring/prometheusrule.yaml").read_text())
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"]["groups"] == _rules()["groups"]


def test_every_alert_says_how_bad_and_what_to_do():
    alerts = [r for g in _rules()["groups"] for r in g["rules"] if "alert" in r]
    assert len(alerts) >= 8
    for alert in alerts:
        assert alert["labels"]["severity"] in ("critical", "warning", "info"), alert["alert"]
        assert alert["annotations"]["summary"] and len(alert["annotations"]["runbook"]) > 60
        assert alert.get("for"), alert["alert"]  # a blip pages nobody


def test_both_prometheus_configs_load_the_rules():
    for name in ("compose.yml", "kubernetes.yml"):
        config = yaml.safe_load((PROMETHEUS / name).read_text())
        assert config["rule_files"] == ["rules.yml"], name  # beside the config


def test_the_dashboard_is_provisionable_with_any_prometheus():
    dashboard = _dashboard()
    [variable] = dashboard["templating"]["list"]
    assert variable["type"] == "datasource" and variable["query"] == "prometheus"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for topic in ("queue depth", "busy", "p95", "workers up", "jobs", "ingestion", "webhook",
                  "versions"):
        assert topic in titles, topic
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/facegate.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/facegate"


def _promtool(promtool: str, *args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_promtool_accepts_the_rules(promtool):
    out = _promtool(promtool, "check", "rules", "deploy/prometheus/rules.yml")
    assert "SUCCESS" in out


def test_promtool_fires_the_alerts_on_synthetic_series(promtool):
    tests = yaml.safe_load((PROMETHEUS / "rules.test.yml").read_text())
    firing = {case["alertname"] for test in tests["tests"]
              for case in test.get("alert_rule_test", []) if case["exp_alerts"]}
    assert len(firing) >= 2  # the file proves at least two alerts fire
    out = _promtool(promtool, "test", "rules", "rules.test.yml", cwd=PROMETHEUS)
    assert "SUCCESS" in out


def test_promtool_sees_a_broken_alert_fail(promtool, tmp_path):
    """The check above can fail: the same tests against a threshold the series never reach."""
    rules = (PROMETHEUS / "rules.yml").read_text()
    assert "facegate.interactive\"}) > 100" in rules
    (tmp_path / "rules.yml").write_text(rules.replace(
        "facegate.interactive\"}) > 100", "facegate.interactive\"}) > 1000"))
    shutil.copy(PROMETHEUS / "rules.test.yml", tmp_path / "rules.test.yml")
    done = subprocess.run([promtool, "test", "rules", "rules.test.yml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "FacegateInteractiveBacklog" in done.stdout + done.stderr


def test_promtool_parses_every_dashboard_query(promtool, tmp_path):
    # Grafana's $__rate_interval is not PromQL: a fixed window stands in for it
    rules = [{"record": f"facegate:dashboard_panel_{i}",
              "expr": expr.replace("$__rate_interval", "5m")}
             for i, expr in enumerate(_dashboard_exprs())]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert "SUCCESS" in _promtool(promtool, "check", "rules", str(path))


def test_promtool_accepts_the_compose_config(promtool):
    # kubernetes.yml is not checked here: Debian's promtool is built without Kubernetes
    # service discovery and refuses kubernetes_sd_configs
    out = _promtool(promtool, "check", "config", "deploy/prometheus/compose.yml")
    assert "1 rule files found" in out
