"""The Kubernetes manifests, CPU (deploy/k8s) and GPU (deploy/k8s-gpu, a kustomize overlay),
rendered as `kubectl apply -k` would and validated offline against the API schemas of a
current Kubernetes release (kubernetes-validate, strict: unknown fields are errors too).

KEDA's ScaledObject is a custom resource the Kubernetes schemas do not describe: its shape is
checked in tests/unit/test_deploy.py, and its PostgreSQL query runs against a real database
in tests/integration/test_ingestion.py.
"""

from pathlib import Path

import jsonpatch
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = "1.37.0"  # the newest release kubernetes-validate carries schemas for
CUSTOM_GROUPS = ("keda.sh/",)


def render(folder: Path) -> list[dict]:
    """A kustomization's resources (files or other kustomizations) with its JSON patches
    (RFC 6902, with a target) applied: the subset of kustomize these manifests use."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert set(kustomization) <= {"resources", "patches"}, "render() knows only these"
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
    return docs


def _built_in(docs: list[dict]) -> list[dict]:
    return [d for d in docs if not d["apiVersion"].startswith(CUSTOM_GROUPS)]


@pytest.mark.parametrize("overlay", ["k8s", "k8s-gpu"])
def test_manifests_validate_against_the_kubernetes_api(overlay):
    docs = render(ROOT / "deploy" / overlay)
    assert {d["kind"] for d in docs} >= {"Namespace", "ConfigMap", "Deployment", "Service",
                                         "StatefulSet", "HorizontalPodAutoscaler",
                                         "ScaledObject", "NetworkPolicy"}
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
