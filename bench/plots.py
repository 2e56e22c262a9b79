"""The performance document's figures, drawn with matplotlib into docs/performance/.

    .venv/bin/python -m bench.plots det [--images all]  # DET of both embedders on LFW View 1
    .venv/bin/python -m bench.plots load           # from bench/out/load/results.json

`det`: LFW View 1 images through the product's pipeline as bench/lfw_calibrate.py runs it (its
cache of all 4,992 is used when present), every pair of images: false non-match rate against
false match rate, both axes logarithmic, for FaceNet (the default) and ArcFace; the rates near
FMR 1e-2 ... 1e-5 are printed and marked. By default the 1,549 images of pairsDevTest (about
1.2 million impostor pairs, 983 genuine: minutes on a 2-core CPU); --images all for every
View 1 image (12.4 million impostor pairs; bench/lfw_calibrate.py's run).

`load`: the figures of the last `bench.loadtest` sweep (it writes results.json): latency
percentiles against users per dialect, throughput against worker processes, identify p95
against gallery size (exact scan, then HNSW past FACEGATE_HNSW_MIN_FACES).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "performance"
RESULTS = ROOT / "bench" / "out" / "load" / "results.json"
DPI = 90
MARKED_FMR = (1e-2, 1e-3, 1e-4, 1e-5)


def _save(figure: plt.Figure, name: str) -> Path:
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / name
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1024:.0f} KB)")
    return path


def det_curve(impostor: np.ndarray, genuine: np.ndarray, points: int = 400
              ) -> tuple[np.ndarray, np.ndarray]:
    """(FMR, FNMR) at `points` thresholds spread evenly in log FMR, from one impostor pair
    to all of them. A pair matches when its cosine is at or above the threshold."""
    impostor = np.sort(impostor)
    genuine = np.sort(genuine)
    n = len(impostor)
    above = np.unique(np.geomspace(1, n, points).astype(np.int64))  # impostors at or above
    thresholds = impostor[n - above]
    fmr = (n - np.searchsorted(impostor, thresholds, side="left")) / n
    fnmr = np.searchsorted(genuine, thresholds, side="left") / len(genuine)
    return fmr, fnmr


def embeddings(root: Path, names: list[str], embedder: str) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, found) of the images' largest faces through the product's pipeline, as
    bench/lfw_calibrate.py runs it (its embed_names); cached in .cache/bench/plots/ by model
    and image list. bench/lfw_calibrate.py's own cache (every View 1 image) is used when it is
    there."""
    import hashlib

    from bench.lfw import view1_names
    from bench.lfw_calibrate import CACHE as CALIBRATE_CACHE
    from bench.lfw_calibrate import embed_names
    from shared.models import model_for

    spec = model_for(embedder)
    everything = view1_names(root)
    whole = CALIBRATE_CACHE / f"{spec.key}.npz"
    if whole.is_file():
        saved, index = np.load(whole), {n: k for k, n in enumerate(everything)}
        rows = [index[n] for n in names]
        return saved["vectors"][rows], saved["found"][rows]
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:12]
    path = ROOT / ".cache" / "bench" / "plots" / f"{spec.key}-{digest}.npz"
    if path.is_file():
        saved = np.load(path)
        return saved["vectors"], saved["found"]
    vectors, found = embed_names(root, names, embedder)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, vectors=vectors, found=found)
    return vectors, found


def det(root: Path, subset: str, threads: int | None) -> None:
    import torch

    from bench.lfw import all_pairs, read_pairs, view1_names
    from shared.models import model_for

    torch.set_grad_enabled(False)
    if threads:
        torch.set_num_threads(threads)
    if subset == "all":
        names = view1_names(root)
    else:
        pairs = read_pairs(root, "pairsDevTest.txt")
        names = sorted({p.a for p in pairs} | {p.b for p in pairs})
    people = np.array([n.split("/")[0] for n in names])
    figure, axes = plt.subplots(figsize=(6.4, 4.6))
    for embedder, label, colour in (("facenet", "FaceNet VGGFace2 (default)", "tab:blue"),
                                    ("arcface", "ArcFace MobileFaceNet", "tab:orange")):
        started = time.perf_counter()
        vectors, found = embeddings(root, names, embedder)
        impostor, genuine = all_pairs(vectors[found], people[found])
        fmr, fnmr = det_curve(impostor, genuine)
        keep = fnmr > 0
        axes.plot(fmr[keep], fnmr[keep], color=colour, label=label)
        marks = []
        for target in MARKED_FMR:
            k = int(np.argmin(np.abs(np.log(fmr) - np.log(target))))
            marks.append((fmr[k], fnmr[k]))
        axes.scatter(*zip(*marks, strict=True), color=colour, s=14, zorder=3)
        print(f"{model_for(embedder).key}: {found.sum()} of {len(names)} images with a face, "
              f"{len(impostor):,} impostor and {len(genuine):,} genuine pairs "
              f"({time.perf_counter() - started:.0f} s); FNMR at FMR "
              + ", ".join(f"{f:.1e}: {r:.2%}" for f, r in marks), flush=True)
    title = (f"every pair of LFW View 1 ({len(names):,} images)" if subset == "all" else
             f"every pair of LFW View 1 DevTest images ({len(names):,})")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("false match rate (impostor pairs matched)")
    axes.set_ylabel("false non-match rate")
    axes.set_title(f"DET, {title}", fontsize=10)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=9)
    _save(figure, "det_lfw.png")


def _latency_vs_users(results: dict) -> None:
    rows = results.get("users", [])
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    if not scenarios:
        return
    figure, panes = plt.subplots(1, len(scenarios), figsize=(3.2 * len(scenarios), 3.4),
                                 sharey=True, squeeze=False)
    for pane, scenario in zip(panes[0], scenarios, strict=True):
        mine = sorted((r for r in rows if r["scenario"] == scenario), key=lambda r: r["users"])
        users = [r["users"] for r in mine]
        for key, style in (("p50", "o-"), ("p95", "s-"), ("p99", "^-")):
            pane.plot(users, [r[f"all_{key}"] for r in mine], style, markersize=4, label=key)
        pane.set_title(f"{scenario} mix, all requests", fontsize=9)
        pane.set_xlabel("users")
        pane.set_xticks(users)
        pane.grid(True, alpha=0.3)
    panes[0][0].set_ylabel("latency, ms")
    panes[0][0].legend(fontsize=8)
    _save(figure, "latency_vs_users.png")


def _throughput_vs_workers(results: dict) -> None:
    rows = sorted(results.get("workers", []), key=lambda r: r["workers"])
    if not rows:
        return
    bars = [(f"{r['workers']}", r["rps"], "tab:blue") for r in rows]
    # the same scenario and users with one worker, earlier in the sweep: how far two runs of
    # one setting differ on this shared machine
    same = [r for r in results.get("users", [])
            if r["scenario"] == rows[0]["scenario"] and r["users"] == rows[0]["users"]]
    if same:
        bars.insert(0, ("1\n(users sweep)", same[0]["rps"], "tab:gray"))
    figure, axes = plt.subplots(figsize=(4.6, 3.4))
    axes.bar([b[0] for b in bars], [b[1] for b in bars], color=[b[2] for b in bars], width=0.5)
    for k, (_, rps, _) in enumerate(bars):
        axes.annotate(f"{rps:.2f}/s", (k, rps), ha="center", va="bottom", fontsize=9)
    axes.set_ylim(0, max(b[1] for b in bars) * 1.2)
    axes.set_xlabel("worker processes (2 CPU cores in all)")
    axes.set_ylabel("requests/s, 0 failures")
    axes.set_title(f"throughput, {rows[0]['scenario']} mix, {rows[0]['users']} users",
                   fontsize=9)
    axes.grid(True, axis="y", alpha=0.3)
    _save(figure, "throughput_vs_workers.png")


def _identify_vs_gallery(results: dict) -> None:
    rows = sorted(results.get("gallery", []), key=lambda r: r["faces"])
    if not rows:
        return
    panes = [("p", f"identify through the service ({rows[0]['users']} users)")]
    if all("search_p95" in r for r in rows):
        panes.append(("search_p", "the database search alone (1 client)"))
    figure, axes_list = plt.subplots(1, len(panes), figsize=(4.6 * len(panes), 3.6),
                                     squeeze=False)
    threshold = results.get("hnsw_min_faces")
    for axes, (key, title) in zip(axes_list[0], panes, strict=True):
        faces = [r["faces"] for r in rows]
        axes.plot(faces, [r[f"{key}95"] for r in rows], "-", color="grey", lw=0.8)
        axes.plot(faces, [r[f"{key}50"] for r in rows], "x--", color="grey", lw=0.8,
                  label="p50")
        for path, colour in (("exact", "tab:green"), ("hnsw", "tab:purple")):
            mine = [r for r in rows if r["path"] == path]
            if mine:
                axes.plot([r["faces"] for r in mine], [r[f"{key}95"] for r in mine], "o",
                          color=colour, label=f"p95, {path}")
        axes.set_xscale("log")
        axes.set_ylim(bottom=0, top=max(r[f"{key}95"] for r in rows) * 1.25)
        if threshold:
            axes.axvline(threshold, color="grey", ls=":", lw=1)
            axes.annotate(f"HNSW from {threshold:,}", (threshold * 1.08, 0), fontsize=8,
                          ha="left", va="bottom", rotation=90)
        axes.set_xlabel("faces in the group")
        axes.set_ylabel("latency, ms")
        axes.set_title(title, fontsize=9)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8)
    _save(figure, "identify_vs_gallery.png")


def load(path: Path) -> None:
    results = json.loads(path.read_text())
    _latency_vs_users(results)
    _throughput_vs_workers(results)
    _identify_vs_gallery(results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("figures", choices=["det", "load"])
    parser.add_argument("--root", type=Path, default=None, help="LFW View 1 (det)")
    parser.add_argument("--images", choices=["devtest", "all"], default="devtest",
                        help="det: the 1,549 DevTest images, or all 4,992 of View 1")
    parser.add_argument("--threads", type=int, default=None,
                        help="det: torch threads (1 is faster on a busy shared machine)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="load: the sweep's JSON")
    args = parser.parse_args()
    if args.figures == "det":
        from bench.lfw import DEFAULT_ROOT

        det(args.root or DEFAULT_ROOT, args.images, args.threads)
    else:
        load(args.results)


if __name__ == "__main__":
    main()
