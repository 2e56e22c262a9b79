"""Head pose against truth: fit, out-of-fold error on labelled photos, and the mirror residual.

    .venv/bin/python -m bench.pose                 # measure the shipped weights
    .venv/bin/python -m bench.pose --fit           # refit services/vision/analysis/head_pose.json
    .venv/bin/python -m bench.pose --tight 0.9     # also faces cut by the photo's edge

Labelled photos: ../shared/datasets/pose-dev (655 AFLW2000-3D photos; yaw, pitch, roll from a
fitted 3-D face model; research use only, never copied into this repository). Each photo goes
through the product's path: MTCNN (the face whose box holds the labelled nose tip, faces.tsv),
the canonical box and 5 points, the 68 landmarks as the analyser computes them, then the pose
head's features (services/vision/analysis/pose.py). Label signs are mapped to facegate's (the
data's README: AFLW yaw > 0 when the nose points image-left, pitch > 0 chin up, roll > 0
clockwise; facegate = (-yaw, -pitch, roll)).

Printed:
1. out-of-fold error: the model refitted on 4/5 of the photos and scored on the other 1/5, five
   times (seeded split): mean absolute error per angle for |yaw| <= 60 and beyond, and how
   often faces turned more than 45 degrees read >= 35 (what a gate needs to refuse them) and
   frontal ones (|yaw| <= 20) do;
2. the shipped weights on the same photos (in-sample: they were fitted on them);
3. the mirror check on LFW View 1 (no labels, never fitted on): each photo (central 150 x 150
   region) and its mirror image must give opposite yaw and roll and the same pitch; LFW's
   press photos are mostly frontal, so their median |yaw| is printed too.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.lfw import DEFAULT_ROOT as LFW_ROOT
from bench.lfw import central_jpeg, read_pairs
from services.vision.analysis import pose
from services.vision.analysis.landmarks import Landmarker, chip_transform, warp_chip
from services.vision.embedders import load_embedder
from services.vision.mtcnn import MTCNN
from services.vision.packages import package_file
from services.vision.pipeline import FacePipeline
from shared.images import decode
from shared.results import ImageResult
from shared.settings import Settings
from shared.tasks import image_spec

POSE_DEV = Path(os.environ.get("POSE_DEV", Path(__file__).resolve().parents[2] / "shared"
                               / "datasets" / "pose-dev"))
# iBUG 68 and MTCNN 5 point order under a left-right mirror
MIRROR68 = [*range(16, -1, -1), *range(26, 16, -1), 27, 28, 29, 30, 35, 34, 33, 32, 31,
            45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
            54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65]
MIRROR5 = [1, 0, 2, 4, 3]
RIDGE, HUBER_DEG, FOLDS = 3.0, 8.0, 5


class FaceReader:
    """Faces as the product sees them: canonical box and 5 points, then the 68 landmarks."""

    def __init__(self) -> None:
        settings = Settings()
        self.pipeline = FacePipeline(MTCNN(torch.device("cpu"), 24).detect,
                                     load_embedder("facenet", torch.device("cpu"),
                                                   settings.model_dir), min_face=24)
        self.landmarker = Landmarker(package_file(
            "face_recognition_models", "models/shape_predictor_68_face_landmarks.dat"))

    def face(self, data: bytes, near: tuple[float, float] | None = None):
        """(points68, points5, box x y w h, image) of the face holding `near`, else the
        largest; None when there is no such face."""
        result = self.pipeline.run({"images": [image_spec(data)]}).images[0]
        faces = result.faces if isinstance(result, ImageResult) else []
        if near is not None:
            x, y = near
            faces = [f for f in faces if f.box[0] <= x <= f.box[0] + f.box[2]
                     and f.box[1] <= y <= f.box[1] + f.box[3]]
        if not faces:
            return None
        face = faces[0]  # largest first
        image = decode(data).rgb
        points5 = np.asarray(face.points, np.float64)
        matrix = chip_transform(points5)
        p68 = self.landmarker.on_chip(warp_chip(image, matrix), matrix)
        return p68, points5, face.box, image


def mirrored(p68: np.ndarray, p5: np.ndarray, box) -> tuple[np.ndarray, np.ndarray, list]:
    """The same face in a mirror (about x = 0: the features ignore where the face is)."""
    m68, m5 = p68[MIRROR68].copy(), p5[MIRROR5].copy()
    m68[:, 0], m5[:, 0] = -m68[:, 0], -m5[:, 0]
    x, y, w, h = box
    return m68, m5, [-x - w, y, w, h]


def read_pose_dev(root: Path, reader: FaceReader):
    """Labels (facegate's signs) and the features of each labelled face found."""
    with open(root / "labels.tsv") as f:
        labels = list(csv.DictReader(f, delimiter="\t"))
    with open(root / "faces.tsv") as f:
        noses = {r["file"]: r for r in csv.DictReader(f, delimiter="\t")}
    truth, feats, mirror_feats, eye_lines, missing = [], [], [], [], []
    for row in labels:
        nose = noses[row["file"]]
        t = (-float(row["yaw_deg"]), -float(row["pitch_deg"]), float(row["roll_deg"]))
        found = reader.face((root / row["file"]).read_bytes(),
                            (float(nose["nose_x"]) - 1, float(nose["nose_y"]) - 1))
        if found is None:
            missing.append(t)
            continue
        p68, p5, box, _ = found
        truth.append(t)
        feats.append(pose.features(p68, p5, box))
        mirror_feats.append(pose.features(*mirrored(p68, p5, box)))
        eye_lines.append(pose.eye_line_angle(p68))
    return (np.array(truth), np.array(feats), np.array(mirror_feats), np.array(eye_lines),
            np.array(missing).reshape(-1, 3))


def fit(features: np.ndarray, mirror_features: np.ndarray, truth: np.ndarray,
        eye_lines: np.ndarray) -> dict:
    """Ridge regression with a Huber loss (iteratively reweighted) on the faces and their
    mirror images; targets yaw, pitch and roll minus the eye line's angle."""
    target = np.stack([truth[:, 0], truth[:, 1], truth[:, 2] - eye_lines], 1)
    x = np.concatenate([features, mirror_features])
    y = np.concatenate([target, target * [-1, 1, -1]])
    weight = np.ones(len(x))
    for _ in range(8):
        mean = (x * weight[:, None]).sum(0) / weight.sum()
        intercept = (y * weight[:, None]).sum(0) / weight.sum()
        a = (x - mean) * np.sqrt(weight)[:, None]
        w = np.linalg.solve(a.T @ a + RIDGE * np.eye(x.shape[1]),
                            a.T @ ((y - intercept) * np.sqrt(weight)[:, None]))
        residual = np.abs((x - mean) @ w + intercept - y).max(1)
        weight = np.where(residual <= HUBER_DEG, 1.0, HUBER_DEG / np.maximum(residual, 1e-9))
    return {"mean": mean.tolist(), "weights": w.tolist(), "intercept": intercept.tolist()}


def predict(model: dict, features: np.ndarray, eye_lines: np.ndarray) -> np.ndarray:
    out = (features - np.asarray(model["mean"])) @ np.asarray(model["weights"]) + \
        np.asarray(model["intercept"])
    out[:, 2] += eye_lines
    return out


def report(label: str, pred: np.ndarray, truth: np.ndarray) -> None:
    err = np.abs(pred - truth)
    yaw = np.abs(truth[:, 0])
    for name, mask in (("|yaw| <= 60", yaw <= 60), ("|yaw| > 60", yaw > 60)):
        e = err[mask].mean(0)
        print(f"  {label:<34} {name:<12} n={int(mask.sum()):<4} MAE yaw {e[0]:5.2f}  pitch "
              f"{e[1]:5.2f}  roll {e[2]:5.2f}")
    turned, frontal = yaw > 45, yaw <= 20
    print(f"  {label:<34} faces turned > 45 that read |yaw| >= 35: "
          f"{np.mean(np.abs(pred[turned, 0]) >= 35):.1%} of {int(turned.sum())}; frontal "
          f"(<= 20) that do: {np.mean(np.abs(pred[frontal, 0]) >= 35):.1%} of "
          f"{int(frontal.sum())}")


def out_of_fold(feats, mirror_feats, truth, eye_lines) -> np.ndarray:
    folds = np.random.default_rng(0).permutation(len(truth)) % FOLDS
    pred = np.zeros_like(truth)
    for k in range(FOLDS):
        train, test = folds != k, folds == k
        model = fit(feats[train], mirror_feats[train], truth[train], eye_lines[train])
        pred[test] = predict(model, feats[test], eye_lines[test])
    return pred


def tight_check(reader: FaceReader, root: Path, fraction: float) -> None:
    """Faces cut by the photo's edge, as in a tightly framed photo: each labelled face with
    |yaw| <= 45 cropped to a square `fraction` of its box's longer side about the box's centre,
    and its pose read as the product reads it (the box clipped to the photo)."""
    with open(root / "labels.tsv") as f:
        labels = list(csv.DictReader(f, delimiter="\t"))
    with open(root / "faces.tsv") as f:
        noses = {r["file"]: r for r in csv.DictReader(f, delimiter="\t")}
    truth, read = [], []
    for row in labels:
        yaw = -float(row["yaw_deg"])
        if abs(yaw) > 45:
            continue
        nose = noses[row["file"]]
        found = reader.face((root / row["file"]).read_bytes(),
                            (float(nose["nose_x"]) - 1, float(nose["nose_y"]) - 1))
        if found is None:
            continue
        x, y, w, h = found[2]
        side = fraction * max(w, h)
        cx, cy = x + w / 2, y + h / 2
        top, left = int(max(cy - side / 2, 0)), int(max(cx - side / 2, 0))
        crop = found[3][top:int(cy + side / 2), left:int(cx + side / 2)]
        buffer = __import__("io").BytesIO()
        Image.fromarray(np.ascontiguousarray(crop)).save(buffer, "PNG")
        cut = reader.face(buffer.getvalue())
        if cut is None:
            continue
        truth.append(yaw)
        read.append(pose.head_pose(*cut[:3])["yaw"])
    err = np.array(read) - np.array(truth)
    print(f"  cut to {fraction:.0%} of the box (|yaw| <= 45)  n={len(truth)} yaw MAE "
          f"{np.abs(err).mean():5.2f}, read |yaw| > 45: {np.mean(np.abs(read) > 45):.1%}, "
          f"|error| > 15: {np.mean(np.abs(err) > 15):.1%}")


def mirror_check(reader: FaceReader, lfw: Path, count: int) -> None:
    pairs = read_pairs(lfw, "pairsDevTest.txt")
    names = sorted({p.a for p in pairs} | {p.b for p in pairs})[:count]
    yaw_sum, pitch_diff, roll_sum, yaws = [], [], [], []
    for name in names:
        data = central_jpeg(lfw, name)
        found = reader.face(data)
        if found is None:
            continue
        buffer = __import__("io").BytesIO()
        Image.fromarray(np.ascontiguousarray(found[3][:, ::-1])).save(buffer, "PNG")
        flipped = reader.face(buffer.getvalue())
        if flipped is None:
            continue
        a, b = pose.head_pose(*found[:3]), pose.head_pose(*flipped[:3])
        yaw_sum.append(abs(a["yaw"] + b["yaw"]))
        pitch_diff.append(abs(a["pitch"] - b["pitch"]))
        roll_sum.append(abs(a["roll"] + b["roll"]))
        yaws.append(a["yaw"])
    print(f"mirror check, {len(yaws)} LFW View 1 faces and their mirror images (shipped "
          f"weights): mean |yaw + yaw'| {np.mean(yaw_sum):.2f}, |pitch - pitch'| "
          f"{np.mean(pitch_diff):.2f}, |roll + roll'| {np.mean(roll_sum):.2f} degrees; LFW "
          f"median yaw {np.median(yaws):+.2f}, median |yaw| {np.median(np.abs(yaws)):.2f}, "
          f"|yaw| > 20 in {np.mean(np.abs(yaws) > 20):.1%}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pose-dev", type=Path, default=POSE_DEV)
    parser.add_argument("--lfw", type=Path, default=LFW_ROOT)
    parser.add_argument("--lfw-images", type=int, default=300)
    parser.add_argument("--tight", type=float, nargs="*", default=[],
                        help="also read faces cut to these fractions of their box (0.8 ...)")
    parser.add_argument("--fit", action="store_true",
                        help=f"refit on all of pose-dev and write {pose.WEIGHTS.name}")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    reader = FaceReader()
    truth, feats, mirror_feats, eye_lines, missing = read_pose_dev(args.pose_dev, reader)
    print(f"pose-dev: {len(truth) + len(missing)} labelled photos; no face found for "
          f"{len(missing)} ({int(np.sum(np.abs(missing[:, 0]) <= 60))} of them with |yaw| <= "
          f"60); mean absolute error in degrees, facegate's signs")
    report("out-of-fold (5 folds)", out_of_fold(feats, mirror_feats, truth, eye_lines), truth)
    if args.fit:
        model = fit(feats, mirror_feats, truth, eye_lines)
        model["fitted_on"] = (f"pose-dev (AFLW2000-3D, {len(truth)} faces found of "
                              f"{len(truth) + len(missing)}), bench/pose.py --fit")
        pose.WEIGHTS.write_text(json.dumps(model, separators=(",", ":")) + "\n")
        pose._model.cache_clear()
        print(f"wrote {pose.WEIGHTS}")
    for fraction in args.tight:
        tight_check(reader, args.pose_dev, fraction)
    if pose.WEIGHTS.is_file():
        shipped = json.loads(pose.WEIGHTS.read_text())
        report("shipped weights (in-sample)", predict(shipped, feats, eye_lines), truth)
        mirror_check(reader, args.lfw, args.lfw_images)


if __name__ == "__main__":
    main()
