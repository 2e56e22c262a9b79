"""What a security review checks in the shipped deployment files: no known password anywhere,
passwords made on first start and kept, Redis bounded and behind a password, the app on a
least-privileged database role, pinned image tags, locked-down containers, network policies,
and the trusted proxies passed on. `make deploy-test` starts the compose stack with all of it.
"""

import re
import stat
import subprocess
from pathlib import Path

import yaml

from services.cli import passwords
from services.cli.stack import gateway_args
from shared.settings import Settings
from tests.unit.test_kubernetes import render

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SHIPPED = [ROOT / "compose.yaml", DEPLOY / "compose.gpu.yaml", DEPLOY / "facegate.env.example",
           *sorted((DEPLOY / "k8s").rglob("*.yaml")), *sorted((DEPLOY / "k8s-gpu").glob("*.yaml")),
           *sorted((DEPLOY / "prometheus").glob("*.yml")),
           *sorted((DEPLOY / "grafana").rglob("*.*"))]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_no_known_password_is_shipped():
    for path in SHIPPED:
        text = "\n".join(line for line in path.read_text().splitlines()
                          if not line.lstrip().startswith("#"))
        assert "change-me" not in text, path
        for key in re.findall(r"(?i)([\w-]*password[\w-]*)(?::\s+|=)['\"]?[A-Za-z0-9]", text):
            assert key.endswith(("_FILE", "FromEnv")), (path, key)  # a file or a reference
        assert not re.search(r"://[^/@\s]*:[^/@\s$]+@", text), path  # no password in a URL


def test_every_image_tag_is_pinned():
    images = [s["image"] for s in _compose()["services"].values()]
    images += [c["image"] for d in render(DEPLOY / "k8s") + render(DEPLOY / "k8s-gpu")
               if d["kind"] in ("Deployment", "StatefulSet")
               for c in d["spec"]["template"]["spec"]["containers"]]
    for image in images:
        tag = image.rsplit(":", 1)[1] if ":" in image else "latest"
        assert tag != "latest" and re.search(r"\d+\.\d+", tag), image


def test_compose_makes_its_passwords_and_locks_its_containers_down():
    services = _compose()["services"]
    assert services["secrets"]["command"][-2:] == ["secrets", "/run/facegate"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"].startswith(
        "/run/facegate/")
    assert services["redis"]["command"] == ["redis-server", "/run/facegate/redis.conf"]
    for name in ("postgres", "redis"):
        assert services[name]["depends_on"]["secrets"]["condition"] == (
            "service_completed_successfully")
    role = services["postgres"]["volumes"][2].split(":")
    assert (ROOT / role[0]).is_file() and role[1].startswith("/docker-entrypoint-initdb.d/")
    gpu = yaml.safe_load((DEPLOY / "compose.gpu.yaml").read_text())["services"]
    gpu_workers = [(n, s) for n, s in gpu.items() if n.startswith("worker-gpu")]
    for name, service in [(n, services[n]) for n in ("gateway", "worker")] + gpu_workers:
        environment = service["environment"]
        assert environment["FACEGATE_DATABASE_URL"].startswith("postgresql://facegate@")
        assert environment["FACEGATE_REDIS_PASSWORD_FILE"].startswith("/run/facegate/")
        assert "FACEGATE_TRUSTED_PROXIES" in environment
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name


def test_the_passwords_are_made_once_and_kept(tmp_path):
    made = passwords.ensure(tmp_path, "256mb")
    assert made == ["database_password", "postgres_password", "redis.conf", "redis_password"]
    first = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert passwords.ensure(tmp_path) == []  # a restart keeps them
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == first
    assert len(first["database_password"]) == 48 and first["database_password"] != first[
        "redis_password"]
    assert stat.S_IMODE((tmp_path / "postgres_password").stat().st_mode) == 0o400
    conf = first["redis.conf"]
    assert f"requirepass {first['redis_password']}" in conf
    assert "maxmemory 256mb" in conf and "maxmemory-policy noeviction" in conf


def test_kubernetes_pods_are_locked_down_and_fenced():
    docs = render(DEPLOY / "k8s")
    pods = {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in docs
            if d["kind"] in ("Deployment", "StatefulSet")}
    assert set(pods) == {"facegate-gateway", "facegate-worker", "postgres", "redis"}
    for name, pod in pods.items():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"]["drop"] == ["ALL"], name
    policies = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "NetworkPolicy"}
    assert policies["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    # the gateway: from the Ingress controller's namespace and Prometheus's only
    gateway = [s["namespaceSelector"]["matchLabels"] for rule in policies["gateway"]["ingress"]
               for s in rule["from"]]
    assert gateway == [{"kubernetes.io/metadata.name": "ingress-nginx"},
                       {"facegate.io/scrape": "true"}]
    datastores = policies["datastores"]["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "facegate"}}} in datastores
    config = next(d for d in docs if d["metadata"]["name"] == "facegate-config")["data"]
    assert config["FACEGATE_DATABASE_URL"].startswith("postgresql://facegate@")
    assert config["FACEGATE_TRUSTED_PROXIES"]
    redis = pods["redis"]["containers"][0]["args"]
    assert "--requirepass" in redis and redis[redis.index("--maxmemory-policy") + 1] == (
        "noeviction")


def test_kubernetes_creates_the_same_database_role_as_compose():
    init = next(d for d in render(DEPLOY / "k8s")
                if d["metadata"]["name"] == "facegate-postgres-init")
    script = (DEPLOY / "postgres/facegate-role.sh").read_text()
    assert init["data"]["10-facegate-role.sh"] == script
    assert "NOSUPERUSER" in script and "OWNER TO facegate" in script
    assert subprocess.run(["bash", "-n", str(DEPLOY / "postgres/facegate-role.sh")]
                          ).returncode == 0


def test_the_gateway_keeps_query_strings_out_of_logs_and_trusts_the_set_proxies():
    args = gateway_args(Settings(FACEGATE_TRUSTED_PROXIES="10.1.2.3,fd00::/8"), 8080)
    assert "--no-access-log" in args
    assert args[args.index("--forwarded-allow-ips") + 1] == "10.1.2.3/32,fd00::/8"
