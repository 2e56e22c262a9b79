"""The photos the load scenarios send (bench/locustfile.py, bench/loadtest.py), kept apart from
locust so that a benchmark process can read them without importing locust (which patches the
standard library for gevent).

- the portrait test faces (tests/support/faces.py fetches them from PyPI packages);
- LFW View 1 (FACEGATE_LOAD_LFW, default bench/lfw.py's folder; `none` for the portraits
  alone): the first people with two photos, as central 150 x 150 crops (bench/lfw.py): one
  photo to enrol, the other as the probe; whole photos for bulk ingestion.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.lfw import DEFAULT_ROOT, central_jpeg, view1_names
from tests.support.faces import fetch


def portraits() -> dict[str, bytes]:
    files = fetch()
    return {name: files[name].read_bytes() for name in (
        "obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.png", "t1.jpg")}


def lfw_root() -> Path | None:
    setting = os.environ.get("FACEGATE_LOAD_LFW", str(DEFAULT_ROOT))
    root = Path(setting)
    return root if setting.lower() not in ("", "none") and root.is_dir() else None


def lfw_pairs(root: Path, people: int) -> list[tuple[bytes, bytes]]:
    """(enrol, probe) central crops of the first `people` View 1 people with two photos."""
    by_person: dict[str, list[str]] = {}
    for name in view1_names(root):
        by_person.setdefault(name.split("/")[0], []).append(name)
    chosen = [names for names in by_person.values() if len(names) >= 2][:people]
    return [(central_jpeg(root, names[0]), central_jpeg(root, names[1])) for names in chosen]


def lfw_whole(root: Path, count: int = 400) -> list[tuple[str, bytes]]:
    """(path under the root, bytes) of the first `count` photos, whole (250 x 250)."""
    files = sorted(root.rglob("*.jpg"))[:count]
    return [(str(f.relative_to(root)), f.read_bytes()) for f in files]


def enrol_photos(people: int = 40) -> list[bytes]:
    """What the scenarios enrol: two portraits, then an LFW photo of each person."""
    faces = portraits()
    root = lfw_root()
    return [faces["obama.jpg"], faces["astronaut.png"]] + (
        [enrol for enrol, _ in lfw_pairs(root, people)] if root else [])
