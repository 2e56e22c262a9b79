"""The enrolment quality gate as two numbers: how many ordinary photos it enrols, and how many
truly unusable faces it refuses, with each check's share.

    .venv/bin/python -m bench.gate [--lfw-limit 0] [--pose-dev PATH] [--cache PATH]
                                   [--sweep] [--compare-baidu] [--level strict|lenient|none]
                                   [--levels] [--held-out]

Ordinary photos (should enrol):
- every LFW View 1 image (press photos), sent as its central 150 x 150 region (bench/lfw.py),
  in two lists of different people: the images of pairsDevTrain (3,443; the occlusion
  heuristics' constants were set looking at these) and of pairsDevTest (1,549; not looked at);
- the project's test portraits (obama x3, biden, astronaut, Tom Hanks, Yao Ming).
Unusable faces (should be refused; made from LFW faces where the truth is obvious):
- turned: pose-dev photos labelled |yaw| of 45-60 and beyond 60 degrees (AFLW2000-3D);
- eyes covered: an opaque bar over both eyes (grey, black and a skin-like tone in turn), and
  sunglasses (two dark lenses and a bridge);
- one eye covered; nose and mouth covered (a surgical-mask-like patch);
- very blurred: Gaussian blur, sigma 3 and 5 px on the 150 px image;
- too small: the image shrunk to 40%, so the face is about 45 px;
- cut off: the photo cropped just below the nose tip (the mouth and chin outside it).
Each photo goes through the product's path: MTCNN (largest face), the analysis fields the gate
reads, then shared/quality_gate.enforce with the settings in force (FACEGATE_GATE_*) at an
enrolment level (`--level`, strict by default), so the printout is what enrolment would answer.
The first failing check is the reason counted. `--cache` keeps what the models read of each
photo (a pickle) so that other thresholds and levels can be tried without running the models
again; `--sweep` prints the angle limit's trade-off; `--levels` prints every level side by side
from the same readings (a Markdown table); `--held-out` reads only pairsDevTest's people, for
the ordinary photos and for the faces the unusable sets are made from, so that every figure
comes from photos no threshold was chosen on.
"""

from __future__ import annotations

import argparse
import csv
import io
import pickle
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from bench.lfw import DEFAULT_ROOT as LFW_ROOT
from bench.lfw import central_jpeg, read_pairs
from bench.pose import POSE_DEV
from bench.sheet import save_sheet
from services.vision.analysis.analyser import Analyser, AnalysisJob
from services.vision.embedders import load_embedder
from services.vision.mtcnn import MTCNN, detect_below
from services.vision.pipeline import FacePipeline
from shared import canonical, quality_gate
from shared.errors import FaceError
from shared.images import decode
from shared.results import FaceAnalysis, ImageResult
from shared.settings import GATE_LEVELS, GateLevel, Settings
from shared.tasks import image_spec
from tests.support.faces import fetch

PORTRAITS = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.png",
             "Tom_Hanks_54745.png", "yaoming.jpg"]


@dataclass
class Record:
    """What the gate reads of one photo's largest face (None: no face found)."""

    source: str
    box: tuple[int, int, int, int] | None
    analysis: FaceAnalysis | None
    rotation: int
    name: str = ""  # which photo (LFW's relative path, a portrait's file name)


class Reader:
    def __init__(self, settings: Settings, second_look: bool = True) -> None:
        device = torch.device("cpu")
        self.analyser = Analyser(settings.model_dir, device, 2, settings.liveness_threshold)
        # the analyser passed in too: the pipeline's second look below the detector's floor
        # reads the eye probe, as in the worker
        self.pipeline = FacePipeline(MTCNN(device, detect_below(settings.min_face_px)).detect,
                                     load_embedder("facenet", device, settings.model_dir),
                                     min_face=settings.min_face_px,
                                     analyse=self.analyser if second_look else None)

    def records(self, source: str, images: list[bytes], names: list[str] | None = None
                ) -> list[Record]:
        names = names or [""] * len(images)
        out = []
        for start in range(0, len(images), 16):
            chunk = images[start:start + 16]
            result = self.pipeline.run({"images": [image_spec(
                data, canonical.LARGEST, rotate=True) for data in chunk]})
            jobs, owners = [], []
            for k, (data, image) in enumerate(zip(chunk, result.images, strict=True)):
                if isinstance(image, ImageResult) and image.faces:
                    jobs.append(AnalysisJob(decode(data).rgb, image.faces[:1],
                                            frozenset(quality_gate.GATE_FIELDS)))
                    owners.append(k)
            analysed = dict(zip(owners, self.analyser(jobs), strict=True)) if jobs else {}
            for k, image in enumerate(result.images):
                name = names[start + k]
                if k in analysed:
                    out.append(Record(source, image.faces[0].box, analysed[k][0],
                                      image.rotation, name))
                else:
                    out.append(Record(source, None, None, 0, name))
        return out


def verdict(record: Record, settings: Settings, level: GateLevel = "strict") -> str:
    """'enrolled', 'no face', or the refusal's reason (the failing check) at `level`."""
    if record.box is None:
        return "no face"
    gate = quality_gate.level_limits(settings, level)
    if gate is None:
        return "enrolled"
    try:
        quality_gate.enforce(record.box, record.analysis, record.rotation, gate)
    except FaceError as exc:
        detail = exc.detail
        return detail.split(" ")[0] if not detail.startswith("face is") else detail[:12]
    return "enrolled"


def _jpeg(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def _eye_bar(rgb: np.ndarray, box: tuple[int, int, int, int], points: np.ndarray, which: str,
             colour: tuple[int, int, int]) -> np.ndarray:
    out = rgb.copy()
    left, right = points[0], points[1]
    iod = float(np.linalg.norm(right - left))
    half_h = int(0.28 * iod)
    centres = {"both": [(left + right) / 2], "left": [left]}[which]
    for centre in centres:
        half_w = int(0.85 * iod) if which == "both" else int(0.45 * iod)
        x, y = int(centre[0]), int(centre[1])
        cv2.rectangle(out, (x - half_w, y - half_h), (x + half_w, y + half_h), colour, -1)
    return out


def _sunglasses(rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Two dark lenses over the eyes and a bridge between them (as
    tests/integration/test_gate_portraits.py draws them, from the five points)."""
    out = rgb.copy()
    left, right = points[0], points[1]
    iod = float(np.linalg.norm(right - left))
    for eye in (left, right):
        cv2.ellipse(out, (int(eye[0]), int(eye[1])), (int(0.42 * iod), int(0.3 * iod)), 0, 0,
                    360, (20, 20, 25), -1)
    cv2.line(out, (int(left[0] + 0.4 * iod), int(left[1])),
             (int(right[0] - 0.4 * iod), int(right[1])), (20, 20, 25), max(2, int(0.05 * iod)))
    return out


def _mask_patch(rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
    out = rgb.copy()
    left, right = points[0], points[1]
    iod = float(np.linalg.norm(right - left))
    nose_y = int(points[2][1] - 0.15 * iod)
    cx = int((left[0] + right[0]) / 2)
    cv2.rectangle(out, (cx - int(1.1 * iod), nose_y), (cx + int(1.1 * iod),
                  int(points[3:5, 1].mean() + 0.9 * iod)), (200, 215, 230), -1)
    return out


def unusable(reader: Reader, lfw_images: list[bytes]) -> dict[str, list[bytes]]:
    """Altered copies of LFW faces, each made so the truth is obvious."""
    sets: dict[str, list[bytes]] = {k: [] for k in (
        "eyes covered (grey bar)", "eyes covered (black bar)", "eyes covered (skin-tone bar)",
        "sunglasses", "one eye covered", "nose and mouth covered", "blurred sigma 3",
        "blurred sigma 5", "too small (40%)", "cut off below the nose")}
    for data in lfw_images:
        result = reader.pipeline.run({"images": [image_spec(data, canonical.LARGEST)]})
        image = result.images[0]
        if not isinstance(image, ImageResult) or not image.faces:
            continue
        rgb = decode(data).rgb
        box, points = image.faces[0].box, np.asarray(image.faces[0].points)
        for name, colour in (("grey", (128, 128, 128)), ("black", (0, 0, 0)),
                             ("skin-tone", (205, 160, 135))):
            sets[f"eyes covered ({name} bar)"].append(_jpeg(_eye_bar(rgb, box, points, "both",
                                                                     colour)))
        sets["sunglasses"].append(_jpeg(_sunglasses(rgb, points)))
        sets["one eye covered"].append(_jpeg(_eye_bar(rgb, box, points, "left", (30, 30, 30))))
        sets["nose and mouth covered"].append(_jpeg(_mask_patch(rgb, points)))
        for sigma in (3, 5):
            sets[f"blurred sigma {sigma}"].append(_jpeg(cv2.GaussianBlur(rgb, (0, 0), sigma)))
        small = cv2.resize(rgb, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA)
        sets["too small (40%)"].append(_jpeg(small))
        nose_y = int(points[2][1] + 0.1 * np.linalg.norm(points[1] - points[0]))
        sets["cut off below the nose"].append(_jpeg(np.ascontiguousarray(rgb[:nose_y])))
    return sets


def turned(root: Path, min_yaw: float = 45.0, max_yaw: float = 180.0) -> list[bytes]:
    """pose-dev photos labelled min_yaw < |yaw| <= max_yaw degrees."""
    with open(root / "labels.tsv") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t")
                if min_yaw < abs(float(r["yaw_deg"])) <= max_yaw]
    return [(root / r["file"]).read_bytes() for r in rows]


TURNED = ("turned 45-60 (pose-dev, labelled)", "turned > 60 (pose-dev, labelled)")


def summary(name: str, records: list[Record], settings: Settings, expect: str,
            level: GateLevel = "strict") -> float:
    verdicts = Counter(verdict(r, settings, level) for r in records)
    total = len(records)
    enrolled = verdicts.pop("enrolled", 0)
    share = enrolled / total if expect == "enrol" else (total - enrolled) / total
    reasons = ", ".join(f"{k} {v}" for k, v in verdicts.most_common(6))
    word = "enrolled" if expect == "enrol" else "refused or no face"
    print(f"  {name:<34} {total:>5}  {word} {share:6.1%}   ({reasons})")
    return share


ORDINARY = ("LFW DevTrain people, central 150 px", "LFW DevTest people, central 150 px",
            "test portraits")


def _lfw_names(root: Path, pairs_file: str, limit: int) -> list[str]:
    pairs = read_pairs(root, pairs_file)
    names = sorted({p.a for p in pairs} | {p.b for p in pairs})
    return names[::max(1, len(names) // limit)][:limit] if limit else names


def collect(reader: Reader, args: argparse.Namespace) -> dict[str, list[Record]]:
    """The models' readings of every set; with --held-out only pairsDevTest's people (the
    ordinary photos and the faces altered into the unusable sets)."""
    test_names = _lfw_names(args.lfw, "pairsDevTest.txt", args.lfw_limit)
    test = [central_jpeg(args.lfw, n) for n in test_names]
    data = {ORDINARY[1]: reader.records("lfw", test, test_names)}
    lfw = test
    if not args.held_out:
        train_names = _lfw_names(args.lfw, "pairsDevTrain.txt", args.lfw_limit)
        train = [central_jpeg(args.lfw, n) for n in train_names]
        lfw = train + test
        paths = fetch()
        data = {ORDINARY[0]: reader.records("lfw", train, train_names), **data,
                ORDINARY[2]: reader.records("portraits",
                                            [paths[n].read_bytes() for n in PORTRAITS],
                                            PORTRAITS)}
    altered = unusable(reader, lfw[::max(1, len(lfw) // args.altered)][:args.altered])
    data[TURNED[0]] = reader.records("turned", turned(args.pose_dev, 45.0, 60.0))
    data[TURNED[1]] = reader.records("turned", turned(args.pose_dev, 60.0))
    for name, images in altered.items():
        data[name] = reader.records(name, images)
    return data


def _ordinary(data: dict[str, list[Record]]) -> list[Record]:
    return [r for k in ORDINARY if k in data for r in data[k]]


def report(data: dict[str, list[Record]], settings: Settings, label: str,
           level: GateLevel = "strict") -> None:
    print(f"{label}, level {level}:")
    ordinary = _ordinary(data)
    for name, records in data.items():
        summary(name, records, settings, "enrol" if name in ORDINARY else "refuse", level)
    accepted = sum(verdict(r, settings, level) == "enrolled" for r in ordinary) / len(ordinary)
    print(f"  => ordinary photos enrolled: {accepted:.1%} of {len(ordinary)}")


def _share(records: list[Record], settings: Settings, level: GateLevel, enrol: bool) -> str:
    enrolled = sum(verdict(r, settings, level) == "enrolled" for r in records)
    count = enrolled if enrol else len(records) - enrolled
    return f"{count / len(records):.1%}"


def levels_table(data: dict[str, list[Record]], settings: Settings) -> str:
    """Every level side by side (a Markdown table): ordinary photos enrolled, unusable ones
    refused or not found, from the same readings."""
    rows = ["| photos | n | " + " | ".join(GATE_LEVELS) + " |",
            "| --- | --- | " + " | ".join("---" for _ in GATE_LEVELS) + " |"]
    for name, records in data.items():
        enrol = name in ORDINARY
        what = "enrolled" if enrol else "refused or no face"
        shares = " | ".join(_share(records, settings, level, enrol) for level in GATE_LEVELS)
        rows.append(f"| {name}: {what} | {len(records)} | {shares} |")
    return "\n".join(rows)


def _reading(record: Record) -> str:
    """The readings a refusal turns on, short enough for a tile."""
    occ, p = record.analysis.quality.occlusion, record.analysis.pose
    return (f"L{occ.left_eye:.2f} R{occ.right_eye:.2f} "
            f"M{occ.mouth:.2f} y{p.yaw:.0f} p{p.pitch:.0f}")


def contact_sheet(records: list[Record], settings: Settings, lfw: Path, path: Path) -> int:
    """Every ordinary photo the gate refuses (or finds no face in), as sent, its verdict and
    readings under it: to be judged by eye (fair or wrong)."""
    tiles = []
    portraits = fetch()
    for record in records:
        why = verdict(record, settings)
        if why == "enrolled":
            continue
        photo = decode(central_jpeg(lfw, record.name) if record.source == "lfw"
                       else portraits[record.name].read_bytes()).rgb
        tile = np.full((190, 150, 3), 255, np.uint8)
        tile[:150] = cv2.resize(photo, (150, 150))
        if record.box is not None:
            x, y, w, h = record.box
            scale = 150 / max(photo.shape[:2])
            cv2.rectangle(tile, (int(x * scale), int(y * scale)),
                          (int((x + w) * scale), int((y + h) * scale)), (0, 200, 0), 1)
        lines = [f"{record.name.split('/')[-1][:24]}", f"{why[:24]}"]
        if record.analysis is not None:
            lines.append(_reading(record))
        for k, line in enumerate(lines[:3]):
            cv2.putText(tile, line, (2, 161 + 11 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.3,
                        (0, 0, 0), 1)
        tiles.append(tile)
    if tiles:
        save_sheet(tiles, 10, path)
    return len(tiles)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lfw", type=Path, default=LFW_ROOT)
    parser.add_argument("--pose-dev", type=Path, default=POSE_DEV)
    parser.add_argument("--lfw-limit", type=int, default=0, help="LFW images (0: all 4,992)")
    parser.add_argument("--altered", type=int, default=300, help="LFW faces to alter")
    parser.add_argument("--cache", type=Path, help="pickle of the models' readings")
    parser.add_argument("--sweep", action="store_true", help="ordinary enrolled and turned "
                        "refused for each yaw/pitch/roll limit")
    parser.add_argument("--sheets", type=Path, help="folder for contact sheets of the refused "
                        "ordinary photos (DevTrain and the portraits; DevTest, held out, only "
                        "with --sheet-held-out)")
    parser.add_argument("--sheet-held-out", action="store_true")
    parser.add_argument("--compare-baidu", action="store_true",
                        help="also print the verdicts under Baidu's recommended thresholds")
    parser.add_argument("--level", choices=GATE_LEVELS, default="strict",
                        help="the enrolment quality level the report is at")
    parser.add_argument("--levels", action="store_true",
                        help="also print every level side by side (a Markdown table)")
    parser.add_argument("--held-out", action="store_true",
                        help="pairsDevTest's people only (ordinary and altered photos)")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    settings = Settings().changed(quality_gate=True)
    if args.cache and args.cache.is_file():
        data = pickle.loads(args.cache.read_bytes())
    else:
        data = collect(Reader(settings), args)
        if args.cache:
            args.cache.parent.mkdir(parents=True, exist_ok=True)
            args.cache.write_bytes(pickle.dumps(data))
    report(data, settings, "the gate's defaults (FACEGATE_GATE_* as set)", args.level)
    if args.levels:
        print(levels_table(data, settings))
    if args.sheets:
        looked = [ORDINARY[0], ORDINARY[2]] + ([ORDINARY[1]] if args.sheet_held_out else [])
        for name in [k for k in looked if k in data]:
            path = args.sheets / f"refused-{name.split(',')[0].replace(' ', '_')}.jpg"
            count = contact_sheet(data[name], settings, args.lfw, path)
            print(f"contact sheet of {count} refused: {path}")
    if args.sweep:
        ordinary = _ordinary(data)
        turned_faces = data[TURNED[0]] + data[TURNED[1]]
        print("angle limit: ordinary enrolled / turned > 45 refused or no face")
        for limit in (20, 25, 30, 35, 40, 45, 50):
            trial = settings.changed(gate_max_angle=float(limit))
            enrolled = sum(verdict(r, trial) == "enrolled" for r in ordinary) / len(ordinary)
            refused = sum(verdict(r, trial) != "enrolled" for r in turned_faces) / len(turned_faces)
            print(f"  {limit:>3} degrees  {enrolled:6.1%}  {refused:6.1%}")
        print("lenient angle limit: ordinary enrolled / turned 45-60 enrolled / turned > 60 "
              "refused or no face")
        for limit in (50, 55, 60, 65, 70):
            trial = settings.changed(gate_lenient_max_angle=float(limit))
            print(f"  {limit:>3} degrees  "
                  f"{_share(ordinary, trial, 'lenient', True):>6}  "
                  f"{_share(data[TURNED[0]], trial, 'lenient', True):>6}  "
                  f"{_share(data[TURNED[1]], trial, 'lenient', False):>6}")
        sizes = sorted(min(r.box[2:]) for r in ordinary if r.box is not None)
        print(f"smallest face limit: ordinary enrolled (their median face {sizes[len(sizes) // 2]}"
              f" px)")
        for side in (48, 64, 72, 80):
            trial = settings.changed(gate_min_face=side)
            enrolled = sum(verdict(r, trial) == "enrolled" for r in ordinary) / len(ordinary)
            print(f"  {side:>3} px  {enrolled:6.1%}")
    if args.compare_baidu:
        baidu = settings.changed(gate_max_angle=20.0, gate_min_face=80, gate_max_blur=0.7,
                        gate_occlusion=("left_eye=0.6", "right_eye=0.6", "nose=0.7",
                                        "mouth=0.7", "left_cheek=0.8", "right_cheek=0.8",
                                        "chin=0.6"), gate_completeness=True)
        report(data, baidu, "Baidu's recommended thresholds (the previous defaults)")


if __name__ == "__main__":
    main()
