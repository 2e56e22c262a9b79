"""The facegate-client distribution installs and works alone: its wheel, built from
services/client, installed into a fresh virtual environment that holds nothing but the
distributions its metadata requires (and theirs), imports without anything of the server and
makes calls, sync and async. No network: those distributions are linked in from this
environment instead of downloaded."""

from __future__ import annotations

import importlib.metadata as metadata
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

SOURCE = Path(__file__).resolve().parents[2] / "services" / "client"
SERVER_SIDE = ("torch", "numpy", "PIL", "pydantic", "shared", "services", "gateway",
               "workers", "celery", "psycopg")

PROBE = """
import asyncio, sys
import httpx
import facegate_client
from facegate_client import AsyncFacegate, Facegate

loaded = sorted(name for name in sys.modules if name.split(".")[0] in {server_side!r})
assert not loaded, loaded
assert facegate_client.__file__.startswith(sys.prefix), facegate_client.__file__
try:
    import torch
except ModuleNotFoundError:
    pass
else:
    raise AssertionError("the environment is not bare: torch imports")

def handle(request):
    return httpx.Response(200, json={{"total": 1, "page": 1,
                                      "groups": [{{"name": "g", "tag": "", "faces": 0}}]}})

with Facegate("http://facegate.test", "k", "s", transport=httpx.MockTransport(handle)) as fg:
    assert fg.groups()[0]["name"] == "g"

async def main():
    async with AsyncFacegate("http://facegate.test", "k", "s",
                             transport=httpx.MockTransport(handle)) as fg:
        return await fg.groups()

assert asyncio.run(main())[0]["name"] == "g"
print("alone", facegate_client.__version__)
"""


def _build_wheel(tmp_path: Path) -> Path:
    """The wheel, built from a copy (so no build/ or egg-info lands in the checkout)."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(SOURCE / name, source / name)
    shutil.copytree(SOURCE / "facegate_client", source / "facegate_client",
                    ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)],
                   check=True, timeout=120)
    [wheel] = (tmp_path / "dist").glob("facegate_client-*.whl")
    return wheel


def _requires(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(name).decode()
    return [Requirement(line.split(":", 1)[1].strip()) for line in text.splitlines()
            if line.startswith("Requires-Dist:")]


def _closure(requirements: list[Requirement]) -> set[str]:
    """The distributions the requirements pull in, as this Python would install them."""
    found: set[str] = set()
    todo = list(requirements)
    while todo:
        requirement = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = metadata.distribution(requirement.name).metadata["Name"]
        if name not in found:
            found.add(name)
            todo += [Requirement(text) for text in metadata.requires(name) or []]
    return found


def _link_distributions(names: set[str], into: Path) -> None:
    """Each distribution's top-level packages and modules, linked into one folder."""
    into.mkdir()
    for name in names:
        dist = metadata.distribution(name)
        for file in dist.files or []:
            top = file.parts[0]
            if top.endswith((".dist-info", ".pth")) or top in ("..", "__pycache__"):
                continue
            target = into / top
            if not target.exists():
                target.symlink_to(Path(dist.locate_file(top)))


def test_the_client_installs_and_imports_alone(tmp_path):
    wheel = _build_wheel(tmp_path)
    requires = _requires(wheel)
    assert {r.name.lower().replace("_", "-") for r in requires} == {"httpx",
                                                                   "typing-extensions"}
    deps = tmp_path / "deps"
    _link_distributions(_closure(requires), deps)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=60)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; "
                                "print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "deps.pth").write_text(f"{deps}\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, timeout=120)
    probe = PROBE.format(server_side=set(SERVER_SIDE))
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PYTHONHOME")}
    ran = subprocess.run([python, "-c", probe], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("alone ")
