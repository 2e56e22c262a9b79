"""The facegate release this process runs: one lookup for `facegate --version`, the OpenAPI
document's info.version and the facegate_build_info metric of gateways and workers."""

from __future__ import annotations

from importlib import metadata

from prometheus_client import CollectorRegistry, Gauge

NOT_INSTALLED = "0+unknown"


def version(missing: str = NOT_INSTALLED) -> str:
    """pyproject.toml's version as pip recorded it; `missing` in a checkout never installed."""
    try:
        return metadata.version("facegate")
    except metadata.PackageNotFoundError:
        return missing


def build_info(component: str) -> CollectorRegistry:
    """facegate_build_info{version, component} = 1, in a registry of its own that /metrics adds
    to its text: a process that imports both the gateway and the worker (the tests' in-process
    worker) would otherwise register the gauge twice. component: gateways apart from workers,
    and how many of each are up."""
    registry = CollectorRegistry(auto_describe=True)
    Gauge("facegate_build_info", "The facegate release this process runs (always 1)",
          ["version", "component"], registry=registry).labels(version(), component).set(1)
    return registry
