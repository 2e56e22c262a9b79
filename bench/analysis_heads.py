"""What each analysis head costs per face, and the figures its estimators are calibrated on.

    .venv/bin/python -m bench.analysis_heads [--faces 150] [--batch 16] [--lfw PATH]

Part 1, cost: the LFW faces' detections are analysed in batches of --batch faces, one head at
a time (plus the 68 landmarks every head starts from), and each head's time per face is
printed. Part 2, calibration: on the same unoccluded LFW faces, and on copies with one of
insightface's mask textures drawn over the lower face or with a Gaussian blur (sigma 2.5), it
prints the distributions the constants in services/vision/analysis/ were set from (occlusion
shares, Laplacian variance, face-shape ratios, glasses edge ratio, flat share of the faces and
of cartoonised copies, pitch, yaw) and the landmark chip's HOG rectangle. --glasses-sheet
writes the highest glasses scores as one picture, to look at.
LFW is only measured here; it is never a test fixture.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import cv2
import dlib
import numpy as np
import torch

from bench.lfw import DEFAULT_ROOT
from services.vision.analysis import appearance, geometry, pose, quality
from services.vision.analysis.analyser import Analyser, AnalysisJob
from services.vision.analysis.landmarks import chip_transform, to_chip, warp_chip
from services.vision.mtcnn import MTCNN
from shared.images import decode
from shared.results import ANALYSIS_FIELDS, FaceResult
from shared.settings import get_settings
from tests.support.faces import fetch
from tests.support.masks import cartoonise, put_mask

HEADS = ("landmarks", "pose", "quality", "glasses", "face_shape", "beauty", "age", "gender",
         "emotion", "liveness")


def _faces(root: Path, count: int, detector: MTCNN) -> list[tuple[np.ndarray, FaceResult]]:
    random.seed(3)
    paths = random.sample(sorted(root.glob("*/*.jpg")), count)
    out = []
    for path in paths:
        image = decode(path.read_bytes()).rgb
        det = detector.detect([image])[0]
        if not len(det.probs):
            continue
        # LFW's labelled person is the centred face
        k = int(np.argmin(np.linalg.norm(det.points[:, 2] - np.array([125, 125]), axis=1)))
        x1, y1, x2, y2 = det.boxes[k][:4]
        out.append((image, FaceResult(box=(int(x1), int(y1), int(x2 - x1), int(y2 - y1)),
                                      prob=float(det.probs[k]), points=det.points[k].tolist())))
    return out


def costs(analyser: Analyser, faces: list, batch: int) -> None:
    print(f"cost per face, batches of {batch} faces, best of 3 passes (ms; each head includes "
          "the landmarks):")
    timings = {}
    analyser([AnalysisJob(image, [face], frozenset(ANALYSIS_FIELDS))
              for image, face in faces[:batch]])  # warm every head
    def per_face(fields: frozenset[str]) -> float:
        """Best of 3 passes over every face: the machine is shared and heads cost ~1 ms."""
        jobs = [AnalysisJob(image, [face], fields) for image, face in faces]
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for start in range(0, len(jobs), batch):
                analyser(jobs[start:start + batch])
            best = min(best, time.perf_counter() - started)
        return 1000 * best / len(jobs)

    for head in HEADS:
        timings[head] = per_face(frozenset({head}))
    timings["all fields"] = per_face(frozenset(ANALYSIS_FIELDS))
    base = timings["landmarks"]
    for head, ms in timings.items():
        extra = ("" if head in ("landmarks", "all fields")
                 else f"  ({ms - base:+.2f} over landmarks)")
        print(f"  {head:12s} {ms:7.2f}{extra}")


def _chip_stats(analyser: Analyser, image: np.ndarray, face: FaceResult, p68=None) -> dict:
    points5 = np.asarray(face.points)
    p68 = analyser.landmarker(image, points5) if p68 is None else p68
    matrix = chip_transform(points5)
    chip = warp_chip(image, matrix)
    pc = to_chip(p68, matrix)
    ycrcb = cv2.cvtColor(chip, cv2.COLOR_RGB2YCrCb)
    inside = quality.face_mask(pc)
    head = pose.head_pose(p68, points5, face.box)
    yaw, pitch = head["yaw"], head["pitch"]
    return {"p68": p68, "raw": quality.raw_nonskin(ycrcb, pc),
            "occlusion": quality.occlusion(ycrcb, pc),
            "laplacian": quality.blur(ycrcb[..., 0], inside)[1],
            "ratios": geometry.shape_ratios(p68), "asymmetry": geometry.asymmetry(p68),
            "glasses": appearance.glasses_features(ycrcb[..., 0], pc, inside),
            "flat": appearance.flat_share(ycrcb[..., 0], inside), "yaw": yaw, "pitch": pitch}


def _pct(values, qs=(10, 50, 90)) -> str:
    return " ".join(f"p{q} {np.percentile(values, q):.3f}" for q in qs)


def calibration(analyser: Analyser, faces: list) -> None:
    textures = [cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
                for name, path in sorted(fetch().items()) if name.startswith("mask_")]
    clean, masked, blurred, drawn = [], [], [], []
    for i, (image, face) in enumerate(faces):
        stats = _chip_stats(analyser, image, face)
        clean.append(stats)
        drawn.append(_chip_stats(analyser, cartoonise(image), face)["flat"])
        masked.append(_chip_stats(analyser, put_mask(image, stats["p68"],
                                                     textures[i % len(textures)]),
                                  face, stats["p68"]))
        blurred.append(_chip_stats(analyser, cv2.GaussianBlur(image, (0, 0), 2.5), face))
    print(f"\ncalibration on {len(clean)} LFW faces")
    print("occlusion raw non-skin share (clean) and scaled occlusion (clean | masked):")
    for name in quality.REGIONS:
        raw = [s["raw"][name] for s in clean]
        oc = [s["occlusion"][name] for s in clean]
        om = [s["occlusion"][name] for s in masked]
        print(f"  {name:12s} raw {_pct(raw)} | clean {_pct(oc, (50, 90, 97))} | "
              f"masked {_pct(om, (10, 50))}")
    for label, group in (("clean", clean), ("blurred", blurred)):
        lap = [s["laplacian"] for s in group]
        blur = [quality.BLUR_SCALE / (quality.BLUR_SCALE + v) for v in lap]
        print(f"laplacian variance {label}: {_pct(lap)}; blur {_pct(blur)}")
    ratios = np.array([s["ratios"] for s in clean])
    print("face-shape ratios (length, jaw, chin / cheek): mean", np.round(ratios.mean(0), 3),
          "sd", np.round(ratios.std(0), 3))
    print("asymmetry:", _pct([s["asymmetry"] for s in clean]))
    edges = np.array([s["glasses"] for s in clean])
    print("glasses edge ratio:", _pct(edges[:, 0], (10, 50, 75, 90, 97)),
          "| eye/cheek luma:", _pct(edges[:, 1], (3, 10, 50)))
    print("flat share:", _pct([s["flat"] for s in clean], (50, 90, 99)),
          "| cartoonised:", _pct(drawn, (1, 10, 50)))
    print("pitch:", _pct([s["pitch"] for s in clean]), "mean", round(np.mean(
        [s["pitch"] for s in clean]), 2), "| yaw:", _pct([s["yaw"] for s in clean]))


def landmark_rect(analyser: Analyser, faces: list) -> None:
    """Where dlib's HOG detector finds faces in the landmark chip (the rectangle landmarks.py
    hands the predictor), and how far the chip's points lie from the predictor run on HOG
    boxes in the original image (in inter-ocular distances)."""
    hog = dlib.get_frontal_face_detector()
    rects, errors = [], []
    for image, face in faces:
        points5 = np.asarray(face.points)
        found = hog(warp_chip(image, chip_transform(points5)), 0)
        if len(found) == 1:
            r = found[0]
            rects.append([r.left(), r.top(), r.right(), r.bottom()])
        ours = analyser.landmarker(image, points5)
        nose = points5[2]
        for r in hog(image, 1):
            if r.left() < nose[0] < r.right() and r.top() < nose[1] < r.bottom():
                shape = analyser.landmarker.predictor(image, r)
                ref = np.array([[p.x, p.y] for p in shape.parts()], float)
                iod = np.linalg.norm(ref[36:42].mean(0) - ref[42:48].mean(0))
                errors.append(np.linalg.norm(ours - ref, axis=1).mean() / iod)
    rects = np.array(rects)
    print(f"\nHOG rectangle in the chip, {len(rects)} faces: mean {np.round(rects.mean(0), 1)}, "
          f"median {np.median(rects, 0)}; our points vs the HOG-box predictor: "
          f"{_pct(errors, (50, 90))} inter-ocular ({len(errors)} faces)")


def glasses_sheet(analyser: Analyser, faces: list, path: Path) -> None:
    """The 30 faces with the highest glasses edge ratio, for a person to look at."""
    scored = []
    for image, face in faces:
        ratio = _chip_stats(analyser, image, face)["glasses"][0]
        x, y, w, h = face.box
        tile = cv2.resize(image[max(y - 10, 0):y + h + 10, max(x - 10, 0):x + w + 10],
                          (110, 110))
        cv2.putText(tile, f"{ratio:.2f}", (2, 12), 0, 0.4, (255, 255, 0), 1)
        scored.append((ratio, tile))
    scored.sort(key=lambda item: -item[0])
    rows = [np.hstack([t for _, t in scored[i:i + 10]]) for i in range(0, 30, 10)]
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    print(f"\nglasses sheet: {path} (ratios {scored[0][0]:.2f} to {scored[29][0]:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--faces", type=int, default=150)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lfw", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--glasses-sheet", type=Path, default=None,
                        help="also write the 30 highest glasses scores of --glasses-faces "
                             "LFW faces as one image")
    parser.add_argument("--glasses-faces", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(2)
    settings = get_settings()
    detector = MTCNN(torch.device("cpu"))
    analyser = Analyser(settings.model_dir, torch.device("cpu"), torch.get_num_threads(),
                        settings.liveness_threshold)
    faces = _faces(args.lfw, args.faces, detector)
    costs(analyser, faces, args.batch)
    calibration(analyser, faces)
    landmark_rect(analyser, faces)
    if args.glasses_sheet:
        glasses_sheet(analyser, _faces(args.lfw, args.glasses_faces, detector),
                      args.glasses_sheet)


if __name__ == "__main__":
    main()
