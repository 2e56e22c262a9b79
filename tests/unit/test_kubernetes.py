"""The Kubernetes manifests, CPU (deploy/k8s) and GPU (deploy/k8s-gpu, a kustomize overlay),
and the Prometheus Operator's objects (deploy/k8s/monitoring), rendered as `kubectl apply -k`
would and validated offline against the API schemas of a current Kubernetes release
(kubernetes-validate, strict: unknown fields are errors too). Where kubectl is installed, its
own kustomize renders the same objects as render() here.

Custom resources (KEDA's ScaledObject and TriggerAuthentication, the Prometheus Operator's
ServiceMonitor, PodMonitor and PrometheusRule) are not described by the Kubernetes schemas:
their shape is checked here and in tests/unit/test_deploy.py, KEDA's PostgreSQL query runs
against a real database in tests/integration/test_ingestion.py, and the rules are checked by
promtool in tests/unit/test_dashboards.py.
"""

import shutil
import subprocess
from pathlib import Path

import jsonpatch
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = "1.37.0"  # the newest release kubernetes-validate carries schemas for
CUSTOM_GROUPS = ("keda.sh/", "monitoring.coreos.com/")
KUBECTL = shutil.which("kubectl")


def _set_images(doc: dict, images: list[dict]) -> dict:
    """kustomize's images: a container image named `name` (any tag) gets newName:newTag."""
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        name = container["image"].split("@")[0]
        if ":" in name.rsplit("/", 1)[-1]:
            name = name.rsplit(":", 1)[0]
        for image in images:
            if image["name"] == name:
                container["image"] = f"{image.get('newName', name)}:{image['newTag']}"
    return doc


def render(folder: Path) -> list[dict]:
    """A kustomization's resources (files or other kustomizations) with its JSON patches
    (RFC 6902, with a target) and its images: applied: the subset of kustomize these
    manifests use."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert set(kustomization) <= {"resources", "patches", "images"}, "render() knows only these"
    docs: list[dict] = []
    for resource in kustomization["resources"]:
        path = (folder / resource).resolve()
        docs += render(path) if path.is_dir() else [
            d for d in yaml.safe_load_all(path.read_text()) if d]
    for patch in kustomization.get("patches", []):
        target = patch["target"]
        ops = yaml.safe_load((folder / patch["path"]).read_text())
        matches = [i for i, d in enumerate(docs) if d["kind"] == target["kind"]
                   and d["metadata"]["name"] == target["name"]
                   and d["apiVersion"] == f"{target['group']}/{target['version']}"]
        assert len(matches) == 1, f"patch {patch['path']} matches {len(matches)} resources"
        docs[matches[0]] = jsonpatch.apply_patch(docs[matches[0]], ops)
    return [_set_images(d, kustomization.get("images", [])) for d in docs]


def _built_in(docs: list[dict]) -> list[dict]:
    return [d for d in docs if not d["apiVersion"].startswith(CUSTOM_GROUPS)]


@pytest.mark.parametrize("overlay", ["k8s", "k8s-gpu"])
def test_manifests_validate_against_the_kubernetes_api(overlay):
    docs = render(ROOT / "deploy" / overlay)
    assert {d["kind"] for d in docs} >= {"Namespace", "ConfigMap", "Deployment", "Service",
                                         "StatefulSet", "HorizontalPodAutoscaler",
                                         "ScaledObject", "TriggerAuthentication",
                                         "NetworkPolicy", "PodDisruptionBudget", "Ingress"}
    # the Prometheus Operator's CRDs are not needed to apply the stack (deploy/k8s/monitoring)
    assert not [d for d in docs if d["apiVersion"].startswith("monitoring.coreos.com/")]
    assert "Secret" not in {d["kind"] for d in docs}  # the operator makes it: no password here
    for doc in _built_in(docs):
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def _worker(docs: list[dict]) -> dict:
    [worker] = [d for d in docs if d["kind"] == "Deployment"
                and d["metadata"]["name"] == "facegate-worker"]
    return worker["spec"]["template"]["spec"]


def test_cpu_and_gpu_workers_differ_only_where_a_gpu_needs_it():
    cpu, gpu = _worker(render(ROOT / "deploy/k8s")), _worker(render(ROOT / "deploy/k8s-gpu"))
    assert "nvidia.com/gpu" not in cpu["containers"][0]["resources"]["limits"]
    assert "tolerations" not in cpu
    assert gpu["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    # a CPU limit on both: the cgroup quota the workers size their threads on (shared/cpus.py)
    for pod in (cpu, gpu):
        resources = pod["containers"][0]["resources"]
        assert resources["limits"]["cpu"] == resources["requests"]["cpu"]
    assert gpu["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert gpu["containers"][0]["image"].startswith("facegate-worker-cuda:")
    assert {"name": "FACEGATE_DEVICE", "value": "cuda"} in gpu["containers"][0]["env"]
    # probes, grace period, non-root and configuration are the CPU worker's
    for key in ("terminationGracePeriodSeconds", "securityContext"):
        assert gpu[key] == cpu[key]
    assert gpu["containers"][0]["env"][:-1] == cpu["containers"][0]["env"]
    for key in ("startupProbe", "livenessProbe", "envFrom", "ports", "securityContext",
                "volumeMounts"):
        assert gpu["containers"][0][key] == cpu["containers"][0][key]


def test_the_validator_refuses_a_broken_manifest():
    """The check above can fail: a wrong type and an unknown field are both refused."""
    worker = next(d for d in render(ROOT / "deploy/k8s") if d["kind"] == "Deployment")
    broken = jsonpatch.apply_patch(worker, [{"op": "replace", "path": "/spec/replicas",
                                             "value": "two"}])
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)
    typo = jsonpatch.apply_patch(worker, [{"op": "add", "path": "/spec/template/spec/nodeSelektor",
                                           "value": {}}])
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBERNETES, strict=True)


def _key(doc: dict) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


@pytest.mark.skipif(KUBECTL is None, reason="needs kubectl (its built-in kustomize)")
@pytest.mark.parametrize("overlay", ["k8s", "k8s-gpu", "k8s/monitoring"])
def test_render_is_what_kubectl_kustomize_builds(overlay):
    built = subprocess.run([KUBECTL, "kustomize", str(ROOT / "deploy" / overlay)],
                           capture_output=True, text=True, timeout=60, check=True).stdout
    theirs = sorted((d for d in yaml.safe_load_all(built) if d), key=_key)
    assert theirs == sorted(render(ROOT / "deploy" / overlay), key=_key)


def test_images_are_set_in_one_place():
    base = yaml.safe_load((ROOT / "deploy/k8s/kustomization.yaml").read_text())["images"]
    gpu = yaml.safe_load((ROOT / "deploy/k8s-gpu/kustomization.yaml").read_text())["images"]
    assert {i["name"] for i in base} == {"facegate-gateway", "facegate-worker"}
    assert {i["name"] for i in gpu} == {"facegate-worker-cuda"}
    assert {i["newTag"] for i in base + gpu} == {base[0]["newTag"]}  # one release
    # an operator's registry and tag reach every facegate container
    moved = [{"name": i["name"], "newName": f"registry.example.com/{i['name']}",
              "newTag": "9.9.9"} for i in base + gpu]
    for overlay in ("k8s", "k8s-gpu"):
        for doc in render(ROOT / "deploy" / overlay):
            if doc["kind"] != "Deployment" or doc["metadata"]["name"] == "redis":
                continue
            [container] = _set_images(doc, moved)["spec"]["template"]["spec"]["containers"]
            assert container["image"].startswith("registry.example.com/facegate-")
            assert container["image"].endswith(":9.9.9")


def _by(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_disruption_budgets_cover_gateway_and_workers():
    docs = render(ROOT / "deploy/k8s")
    budgets = _by(docs, "PodDisruptionBudget")
    deployments = _by(docs, "Deployment")
    hpa = _by(docs, "HorizontalPodAutoscaler")["facegate-gateway"]["spec"]
    for name in ("facegate-gateway", "facegate-worker"):
        selector = budgets[name]["spec"]["selector"]["matchLabels"]
        assert selector == deployments[name]["spec"]["template"]["metadata"]["labels"]
    # a gateway always stays, yet a drain never waits forever
    assert budgets["facegate-gateway"]["spec"]["minAvailable"] < hpa["minReplicas"]
    assert budgets["facegate-worker"]["spec"]["maxUnavailable"] == 1


def test_the_ingress_publishes_the_api_only_within_the_gateway_limits():
    from shared.settings import Settings

    docs = render(ROOT / "deploy/k8s")
    ingress = _by(docs, "Ingress")["facegate"]
    notes = ingress["metadata"]["annotations"]
    size = notes["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert size.endswith("m")
    # the shipped defaults (a test stack's environment may be set while this runs)
    settings = Settings.model_construct(**{name: field.default for name, field
                                           in Settings.model_fields.items()})
    # nginx lets through the largest body the gateway takes, so the gateway answers in the
    # dialect's error form past its own limits
    assert int(size[:-1]) * 2**20 >= max(settings.max_body_bytes,
                                         settings.ingest_max_body_bytes)
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) > settings.sync_timeout_s
    paths = {p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}
    assert {"/face", "/rest/2.0/face", "/oauth/2.0/token", "/v1"} <= paths
    assert not {"/", "/metrics", "/healthz", "/readyz"} & paths  # inside the cluster only
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            assert path["backend"]["service"]["name"] == "facegate"
    # the underscore headers setting is the controller's: the file says how to set it
    assert "enable-underscores-in-headers" in (ROOT / "deploy/k8s/ingress.yaml").read_text()
    # only the controller's namespace (and Prometheus) reaches the gateway
    policy = _by(docs, "NetworkPolicy")["gateway"]["spec"]["ingress"]
    sources = [s["namespaceSelector"]["matchLabels"] for rule in policy for s in rule["from"]]
    assert {"kubernetes.io/metadata.name": "ingress-nginx"} in sources


def test_monitoring_objects_select_the_gateway_and_the_workers():
    docs = render(ROOT / "deploy/k8s")
    monitoring = render(ROOT / "deploy/k8s/monitoring")
    for doc in monitoring:
        assert doc["apiVersion"] == "monitoring.coreos.com/v1"
        assert doc["metadata"]["namespace"] == "facegate"
    service = _by(docs, "Service")["facegate"]
    monitor = _by(monitoring, "ServiceMonitor")["facegate-gateway"]["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    worker = _by(docs, "Deployment")["facegate-worker"]["spec"]["template"]
    pods = _by(monitoring, "PodMonitor")["facegate-worker"]["spec"]
    assert pods["selector"]["matchLabels"].items() <= worker["metadata"]["labels"].items()
    ports = {p["name"]: p["containerPort"] for p in worker["spec"]["containers"][0]["ports"]}
    assert ports[pods["podMetricsEndpoints"][0]["port"]] == 9101
    # and the NetworkPolicy lets a labelled Prometheus namespace reach both ports
    scrape = {"facegate.io/scrape": "true"}
    for name, port in (("gateway", 8080), ("worker-metrics", 9101)):
        rules = _by(docs, "NetworkPolicy")[name]["spec"]["ingress"]
        assert any(scrape in [s.get("namespaceSelector", {}).get("matchLabels") for s in r["from"]]
                   and {"port": port, "protocol": "TCP"} in r["ports"] for r in rules), name
    assert {d["kind"] for d in monitoring} == {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
