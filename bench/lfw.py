"""LFW View 1 pairs: loading, the central-region crop, threshold choice and accuracy.

LFW photos often show several people and the labelled one is the centred face, while the API
rule takes the largest face; so each image is sent as its central 150 x 150 region (see
../shared/handbook/models.md). Used by lfw_calibrate.py (in-process) and lfw_api.py (HTTP).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

DEFAULT_ROOT = Path(os.environ.get("LFW_VIEW1", Path(__file__).resolve().parents[2]
                                   / "shared" / "datasets" / "lfw-view1"))


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    same: bool


def read_pairs(root: Path, name: str) -> list[Pair]:
    lines = (root / name).read_text().split("\n")[1:]
    pairs = []
    for line in lines:
        parts = line.split()
        if len(parts) == 3:
            person, i, j = parts
            pairs.append(Pair(_path(person, i), _path(person, j), True))
        elif len(parts) == 4:
            p1, i, p2, j = parts
            pairs.append(Pair(_path(p1, i), _path(p2, j), False))
    return pairs


def view1_names(root: Path) -> list[str]:
    """The 4,992 distinct images of pairsDevTrain + pairsDevTest, sorted."""
    pairs = read_pairs(root, "pairsDevTrain.txt") + read_pairs(root, "pairsDevTest.txt")
    return sorted({p.a for p in pairs} | {p.b for p in pairs})


def _path(person: str, number: str) -> str:
    return f"{person}/{person}_{int(number):04d}.jpg"


def central_jpeg(root: Path, relative: str, side: int = 150) -> bytes:
    image = Image.open(root / relative).convert("RGB")
    w, h = image.size
    left, top = (w - side) // 2, (h - side) // 2
    buffer = io.BytesIO()
    image.crop((left, top, left + side, top + side)).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def embed_all(root: Path, pairs: Iterable[Pair],
              embed_batch: Callable[[list[bytes]], list[np.ndarray | None]],
              batch: int = 16) -> dict[str, np.ndarray | None]:
    names = sorted({p.a for p in pairs} | {p.b for p in pairs})
    vectors: dict[str, np.ndarray | None] = {}
    for start in range(0, len(names), batch):
        chunk = names[start:start + batch]
        for name, vector in zip(chunk, embed_batch([central_jpeg(root, n) for n in chunk]),
                                strict=True):
            vectors[name] = vector
    return vectors


def cosines(pairs: list[Pair], vectors: dict[str, np.ndarray | None]) -> np.ndarray:
    """Cosine per pair; a pair with an image where no face was found gets -1 (a miss)."""
    out = np.empty(len(pairs))
    for k, p in enumerate(pairs):
        a, b = vectors[p.a], vectors[p.b]
        out[k] = -1.0 if a is None or b is None else float(np.dot(a, b))
    return out


def best_threshold(values: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """Threshold maximising accuracy (midpoint between neighbouring values), and the accuracy."""
    order = np.sort(np.unique(values))
    candidates = np.concatenate([[order[0] - 1e-6], (order[:-1] + order[1:]) / 2,
                                 [order[-1] + 1e-6]])
    accs = [(np.mean((values >= t) == same), t) for t in candidates]
    acc, threshold = max(accs)
    return float(threshold), float(acc)


def accuracy(values: np.ndarray, same: np.ndarray, threshold: float) -> float:
    return float(np.mean((values >= threshold) == same))


def ten_fold(values: np.ndarray, same: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """Mean and std of accuracy when each tenth is scored at the threshold chosen on the rest."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(values))
    folds = np.array_split(order, 10)
    accs = []
    for k in range(10):
        test = folds[k]
        train = np.concatenate([folds[j] for j in range(10) if j != k])
        threshold, _ = best_threshold(values[train], same[train])
        accs.append(accuracy(values[test], same[test], threshold))
    return float(np.mean(accs)), float(np.std(accs))


def all_pairs(vectors: np.ndarray, people: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(impostor cosines, genuine cosines) over every pair of distinct images: on View 1's
    4,992 images about 12.4 million pairs of different people and 3,192 of the same person."""
    sims = vectors @ vectors.T
    upper = np.triu_indices(len(vectors), k=1)
    same = people[upper[0]] == people[upper[1]]
    values = sims[upper]
    return values[~same], values[same]


def cosine_at_fmr(impostor: np.ndarray, fmr: float) -> float:
    """The cosine at or above which a share `fmr` of impostor pairs lies."""
    return float(np.quantile(impostor, 1.0 - fmr, method="higher"))


def report(label: str, train: list[Pair], test: list[Pair],
           vectors: dict[str, np.ndarray | None], score: Callable[[float], float] | None = None,
           recommended: float | None = None) -> dict:
    tr_v, te_v = cosines(train, vectors), cosines(test, vectors)
    tr_s = np.array([p.same for p in train])
    te_s = np.array([p.same for p in test])
    threshold, train_acc = best_threshold(tr_v, tr_s)
    all_v, all_s = np.concatenate([tr_v, te_v]), np.concatenate([tr_s, te_s])
    mean10, std10 = ten_fold(all_v, all_s)
    missing = sum(v is None for v in vectors.values())
    out = {
        "label": label, "images": len(vectors), "no_face_images": missing,
        "cos_threshold_train": threshold, "train_acc": train_acc,
        "test_acc_at_train_threshold": accuracy(te_v, te_s, threshold),
        "tenfold_acc_mean": mean10, "tenfold_acc_std": std10,
    }
    if score is not None and recommended is not None:
        scores = np.array([score(v) if v > -1 else 0.0 for v in all_v])
        out["acc_at_recommended_score"] = accuracy(scores, all_s, recommended)
        out["test_acc_at_recommended_score"] = accuracy(scores[len(tr_v):], te_s, recommended)
    return out


def print_report(out: dict) -> None:
    print(f"== {out['label']}")
    for key, value in out.items():
        if key != "label":
            print(f"  {key:32s} {value:.4f}" if isinstance(value, float) and not math.isnan(value)
                  else f"  {key:32s} {value}")
