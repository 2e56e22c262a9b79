"""The eye probe (services/vision/analysis/eye_probe.py): fit it, and measure it against eyes
judged by eye.

    .venv/bin/python -m bench.eye_probe [--fit] [--cache PATH]

Photos: LFW View 1 (../shared/datasets/lfw-view1, central 150 px as bench/gate.py sends them).
Each goes through the product's path: MTCNN's largest face, the landmark chip, the 68 points,
the colour reading of each eye (quality.occlusion without the probe) and the probe's features.
Truth: bench/eye_labels.tsv, the eyes of every photo the colour reading refused, judged by eye;
every other eye of pairsDevTrain counts as visible (a few sunglasses the colour reading let
through are then wrong labels; they make the probe more careful, not less).

Printed:
1. out-of-fold on pairsDevTrain: the probe refitted without 1/8 of the judged photos (and 1/8
   of the rest) and read on them; for each judged photo its label, the colour reading, the
   probe, and the gate's eye verdict with both (an eye counts as covered as far as both say so);
2. held out, pairsDevTest (never fitted on; judged before the probe was run on them): the same
   with the shipped weights, and how often the probe reads > 0.5 on its other photos;
with `--fit`, the weights are refitted on all of pairsDevTrain and written to eye_probe.json
first, so part 2 measures what is written.
"""

from __future__ import annotations

import argparse
import csv
import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from bench.gate import Reader, _lfw_names
from bench.lfw import DEFAULT_ROOT as LFW_ROOT
from bench.lfw import central_jpeg
from services.vision.analysis import quality
from services.vision.analysis.eye_probe import WEIGHTS, EyeProbe, covered, eye_centres
from services.vision.analysis.landmarks import chip_transform, chip_valid, to_chip, warp_chip
from shared import canonical
from shared.images import decode
from shared.results import ImageResult
from shared.settings import Settings
from shared.tasks import image_spec

LABELS = Path(__file__).with_name("eye_labels.tsv")
L2 = 0.1  # chosen out-of-fold on pairsDevTrain among 0.001, 0.01, 0.1
FOLDS = 8
GATE_EYE = 0.6  # the gate's default eye limit (FACEGATE_GATE_OCCLUSION)


@dataclass
class Eyes:
    name: str
    colour: np.ndarray  # (2,) the colour reading, image-left eye first
    features: np.ndarray  # (2, 896)


def read(names: list[str], reader: Reader, probe: EyeProbe) -> list[Eyes]:
    out = []
    for start in range(0, len(names), 16):
        chunk = names[start:start + 16]
        images = [central_jpeg(LFW_ROOT, name) for name in chunk]
        result = reader.pipeline.run({"images": [image_spec(data, canonical.LARGEST, rotate=True)
                                                 for data in images]})
        chips, centres, found = [], [], []
        for name, data, image in zip(chunk, images, result.images, strict=True):
            if not isinstance(image, ImageResult) or not image.faces:
                continue
            rgb = decode(data).rgb
            matrix = chip_transform(np.asarray(image.faces[0].points, np.float64))
            chip = warp_chip(rgb, matrix)
            on_chip = to_chip(reader.analyser.landmarker.on_chip(chip, matrix), matrix)
            valid = chip_valid(matrix, rgb.shape[1], rgb.shape[0])
            colour = quality.occlusion(cv2.cvtColor(chip, cv2.COLOR_RGB2YCrCb), on_chip, valid)
            chips.append(chip)
            centres.append(eye_centres(on_chip))
            found.append((name, np.array([colour["left_eye"], colour["right_eye"]])))
        features = probe.features(chips, np.array(centres)) if chips else []
        out += [Eyes(name, colour, f) for (name, colour), f in zip(found, features, strict=True)]
    return out


def fit(x: np.ndarray, y: np.ndarray, l2: float = L2) -> dict:
    """Class-balanced, L2-regularised logistic regression on standardised features."""
    mean, scale = x.mean(0), x.std(0) + 1e-6
    xs = torch.from_numpy((x - mean) / scale).double()
    ys = torch.from_numpy(y).double()
    w = torch.zeros(xs.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    positive = float(ys.sum())
    weight = torch.where(ys > 0, len(ys) / (2 * positive), len(ys) / (2 * (len(ys) - positive)))
    optimiser = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        value = torch.nn.functional.binary_cross_entropy_with_logits(
            xs @ w + b, ys, weight=weight) + l2 * (w * w).sum()
        value.backward()
        return value

    optimiser.step(loss)
    return {"mean": mean.tolist(), "scale": scale.tolist(), "weights": w.detach().tolist(),
            "bias": float(b.detach()[0])}


def labels(list_name: str) -> dict[str, tuple[np.ndarray, str]]:
    with open(LABELS) as f:
        rows = csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t")
        return {r["file"]: (np.array([int(r["left"]), int(r["right"])]), r["what"])
                for r in rows if r["list"] == list_name}


def training_set(faces: list[Eyes], judged: dict) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([f.features for f in faces])
    y = np.concatenate([judged[f.name][0] if f.name in judged else np.zeros(2) for f in faces])
    return x.astype(np.float64), y.astype(np.float64)


def verdicts(rows: list[tuple[Eyes, np.ndarray]], judged: dict) -> None:
    """Per judged photo: label, colour, probe, and the eye verdict before and after."""
    tally = {(before, after, truth): 0 for before in "RA" for after in "RA" for truth in "CV"}
    for face, probe in rows:
        truth, what = judged[face.name]
        before = "R" if face.colour.max() > GATE_EYE else "A"
        after = "R" if np.minimum(face.colour, probe).max() > GATE_EYE else "A"
        kind = "C" if truth.any() else "V"
        tally[(before, after, kind)] += 1
        print(f"  {face.name.split('/')[-1]:34} {what:28} colour {face.colour.round(2)} "
              f"probe {probe.round(2)}  eye check {before} -> {after}")
    for kind, word in (("V", "visible"), ("C", "covered")):
        total = sum(v for k, v in tally.items() if k[2] == kind)
        refused_before = total - tally[("A", "A", kind)]
        print(f"  judged {word}: {total}; refused for an eye before {refused_before}, admitted now "
              f"{tally[('R', 'A', kind)]}, newly refused {tally[('A', 'R', kind)]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fit", action="store_true", help=f"refit {WEIGHTS.name}")
    parser.add_argument("--cache", type=Path, help="pickle of the readings")
    args = parser.parse_args()
    torch.set_grad_enabled(True)
    settings = Settings()
    if args.cache and args.cache.is_file():
        train, test = pickle.loads(args.cache.read_bytes())
    else:
        with torch.no_grad():
            # faces at the detector's floor only: the second look below it reads the probe
            # being fitted
            reader = Reader(settings.changed(quality_gate=True), second_look=False)
            probe = EyeProbe(settings.model_dir, torch.device("cpu"), weights=None)
            train = read(_lfw_names(LFW_ROOT, "pairsDevTrain.txt", 0), reader, probe)
            test = read(_lfw_names(LFW_ROOT, "pairsDevTest.txt", 0), reader, probe)
        if args.cache:
            args.cache.parent.mkdir(parents=True, exist_ok=True)
            args.cache.write_bytes(pickle.dumps((train, test)))
    judged_train, judged_test = labels("pairsDevTrain"), labels("pairsDevTest")
    x, y = training_set(train, judged_train)
    face_of = np.repeat(np.arange(len(train)), 2)
    judged_idx = np.array([k for k, f in enumerate(train) if f.name in judged_train])
    rest_idx = np.array([k for k, f in enumerate(train) if f.name not in judged_train])
    rng = np.random.default_rng(0)
    fold = np.zeros(len(train), int)
    for idx in (judged_idx, rest_idx):
        fold[idx] = rng.permutation(len(idx)) % FOLDS
    oof = np.zeros(len(x))
    for k in range(FOLDS):
        held = fold[face_of] == k
        oof[held] = covered(fit(x[~held], y[~held]), x[held])
    print(f"1. out-of-fold, pairsDevTrain ({len(train)} photos with a face, {int(y.sum())} eyes "
          f"judged covered):")
    verdicts([(train[k], oof.reshape(-1, 2)[k]) for k in judged_idx], judged_train)
    rest = oof.reshape(-1, 2)[rest_idx].max(1)
    print(f"  the other {len(rest_idx)} photos: probe > 0.5 on either eye for "
          f"{(rest > 0.5).sum()}, > {GATE_EYE} for {(rest > GATE_EYE).sum()}")
    if args.fit:
        model = fit(x, y) | {"fitted_on": f"LFW View 1 pairsDevTrain ({len(train)} photos, "
                                          f"bench/eye_labels.tsv), bench/eye_probe.py --fit"}
        WEIGHTS.write_text(json.dumps(model) + "\n")
        print(f"wrote {WEIGHTS}")
    shipped = json.loads(WEIGHTS.read_text())
    print(f"2. held out, pairsDevTest ({len(test)} photos with a face), the shipped weights:")
    probes = [covered(shipped, f.features) for f in test]
    verdicts([(f, p) for f, p in zip(test, probes, strict=True) if f.name in judged_test],
             judged_test)
    others = np.array([p.max() for f, p in zip(test, probes, strict=True)
                       if f.name not in judged_test])
    print(f"  the other {len(others)} photos: probe > 0.5 on either eye for "
          f"{(others > 0.5).sum()}")


if __name__ == "__main__":
    main()
