"""Clustering faces by person with nobody labelled (services/recognition/clustering.py),
measured on LFW View 1 against truth the clustering never sees, and at scale.

    .venv/bin/python -m bench.clustering                 # quality, both embedders
    .venv/bin/python -m bench.clustering --scale 10000,30000,100000
    .venv/bin/python -m bench.clustering --scale 10000,30000,100000 --through-index
    .venv/bin/python -m bench.clustering --scale 10000,30000,100000 --service

Quality: LFW View 1's 4,992 images (central crops, the product's pipeline; embeddings cached
by bench/lfw_calibrate.py), people split in two by the parity of their sorted position: the
threshold (a calibrated score) and k are chosen on the even half, and every figure is then
reported on the odd half, which nothing was tuned on. BCubed and pairwise precision, recall
and F against LFW's names; the baseline is dlib's `chinese_whispers_clustering` on the same
embeddings, its distance threshold chosen on the same half the same way.

Scale: synthetic 512-d embeddings like bench/gallery_scale.py's (identities of 1-5 faces, the
centres from a Gaussian fitted to the FaceNet embeddings of LFW View 1), the k-nearest-neighbour
graph exact in numpy, or (--through-index) through the group's HNSW index in an embedded
PostgreSQL + pgvector, one search per face with the gallery's own search (8 at once), and
Chinese whispers timed separately; the growth from the largest two sizes extrapolated to
1,000,000. --service times the clustering job itself (services/recognition/people.run, as a
worker runs it, saving its clusters), new faces joining afterwards, and a page read back.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.lfw import DEFAULT_ROOT, view1_names
from bench.lfw_calibrate import product_embeddings
from services.recognition.clustering import K_NEIGHBOURS, cluster, exact_neighbours
from shared.models import model_for

SCORES = [round(s, 2) for s in np.arange(0.30, 0.96, 0.05)]


def bcubed(labels: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(precision, recall) averaged over items."""
    pair = labels.astype(np.int64) * (truth.max() + 1) + truth
    _, pair_inverse, pair_counts = np.unique(pair, return_inverse=True, return_counts=True)
    _, cluster_inverse, cluster_counts = np.unique(labels, return_inverse=True,
                                                   return_counts=True)
    _, truth_inverse, truth_counts = np.unique(truth, return_inverse=True, return_counts=True)
    both = pair_counts[pair_inverse]
    return (float(np.mean(both / cluster_counts[cluster_inverse])),
            float(np.mean(both / truth_counts[truth_inverse])))


def pairwise(labels: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    def same_pairs(x: np.ndarray) -> int:
        counts = np.unique(x, return_counts=True)[1].astype(np.int64)
        return int(np.sum(counts * (counts - 1) // 2))

    pair = labels.astype(np.int64) * (truth.max() + 1) + truth
    both, in_cluster, in_truth = same_pairs(pair), same_pairs(labels), same_pairs(truth)
    return (both / in_cluster if in_cluster else 1.0, both / in_truth if in_truth else 1.0)


def f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def ours(vectors: np.ndarray, score: float, embedder: str, k: int) -> np.ndarray:
    indices, cosines = exact_neighbours(vectors, k)
    return cluster(indices, cosines, model_for(embedder).cosine_for_score(score),
                   vectors=vectors).labels


def dlib_baseline(vectors: np.ndarray, distance: float) -> np.ndarray:
    import dlib

    return np.array(dlib.chinese_whispers_clustering(
        [dlib.vector(v.astype(float).tolist()) for v in vectors], distance))


def report(name: str, labels: np.ndarray, truth: np.ndarray) -> None:
    bp, br = bcubed(labels, truth)
    pp, pr = pairwise(labels, truth)
    print(f"  {name:<44} BCubed P {bp:.3f} R {br:.3f} F {f1(bp, br):.3f}   pairwise P {pp:.3f} "
          f"R {pr:.3f} F {f1(pp, pr):.3f}   clusters {len(np.unique(labels))}")


def quality(embedder: str) -> None:
    names = view1_names(DEFAULT_ROOT)
    vectors, found = product_embeddings(DEFAULT_ROOT, embedder)
    people = np.array([n.split("/")[0] for n in names])
    vectors, people = vectors[found], people[found]
    order = {p: i for i, p in enumerate(sorted(set(people)))}
    truth = np.array([order[p] for p in people])
    tune, held = truth % 2 == 0, truth % 2 == 1
    print(f"{model_for(embedder).key}: {found.sum()} of {len(names)} images with a face, "
          f"{len(order)} people; tuned on {tune.sum()} images, reported on {held.sum()}")
    best = max((f1(*bcubed(ours(vectors[tune], s, embedder, k), truth[tune])), s, k)
                for s in SCORES for k in (10, K_NEIGHBOURS, 40))
    _, score, k = best
    cos = model_for(embedder).cosine_for_score(score)
    distance = float(np.sqrt(2 - 2 * cos))
    base = max((f1(*bcubed(dlib_baseline(vectors[tune], d), truth[tune])), d)
               for d in np.arange(0.5, 1.31, 0.05))
    print(f"  chosen on the even half: score {score} (cosine {cos:.3f}), k {k}; dlib distance "
          f"{base[1]:.2f}")
    started = time.perf_counter()
    labels = ours(vectors[held], score, embedder, k)
    seconds = time.perf_counter() - started
    report(f"facegate (k-NN Chinese whispers), {seconds:.1f} s", labels, truth[held])
    started = time.perf_counter()
    labels = dlib_baseline(vectors[held], base[1])
    seconds = time.perf_counter() - started
    report(f"dlib chinese_whispers_clustering, {seconds:.1f} s", labels, truth[held])
    report("dlib at facegate's threshold", dlib_baseline(vectors[held], distance), truth[held])


def synthetic(size: int, rng: np.random.Generator) -> np.ndarray:
    """Identities of 1-5 faces around centres drawn like real FaceNet embeddings."""
    names = view1_names(DEFAULT_ROOT)
    vectors, found = product_embeddings(DEFAULT_ROOT, "facenet")
    people = np.array([n.split("/")[0] for n in names])[found]
    _, first = np.unique(people, return_index=True)
    real = vectors[found][first].astype(np.float64)
    mean = real.mean(0)
    chol = np.linalg.cholesky(np.cov(real, rowvar=False) + 1e-4 * np.eye(real.shape[1]))
    counts = rng.integers(1, 6, size=size)
    counts = counts[np.cumsum(counts) <= size]
    owners = np.repeat(np.arange(len(counts) + 1), np.append(counts, size - counts.sum()))
    centres = mean + rng.standard_normal((len(counts) + 1, real.shape[1])) @ chol.T
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = centres[owners] + rng.standard_normal((size, real.shape[1])) * 0.035
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _in_embedded_gallery(body):
    """body(gallery, url) run against a fresh embedded PostgreSQL + pgvector, its result."""
    import asyncio
    import tempfile
    from pathlib import Path

    from services.cli.embedded import EmbeddedPostgres
    from services.gallery.database import Gallery
    from services.gallery.migrate import migrate

    async def run(url: str):
        gallery = await Gallery.open(url, hnsw_min_faces=1000, max_size=10)
        try:
            return await body(gallery, url)
        finally:
            await gallery.close()

    with tempfile.TemporaryDirectory() as folder:
        server = EmbeddedPostgres(Path(folder))
        try:
            migrate(server.url)
            return asyncio.run(run(server.url))
        finally:
            server.stop()


def index_neighbours(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The k-NN graph through a group's HNSW index (the service's path): the vectors loaded
    into a fresh embedded PostgreSQL, the index built as the service builds it (its time
    returned apart), then every face's neighbours found as a clustering job finds them."""
    from bench.gallery_scale import load
    from services.gallery.database import DEFAULT_APP
    from services.recognition import people

    async def body(gallery, url: str) -> tuple[np.ndarray, np.ndarray, float]:
        group = await gallery.groups.create_group(DEFAULT_APP, "clusters", "", 1)
        load(url, group.id, vectors)
        group = await gallery.groups.group(DEFAULT_APP, "clusters")
        started = time.perf_counter()
        await gallery.indexes.ensure_index(group)
        build_s = time.perf_counter() - started
        group = await gallery.groups.group(DEFAULT_APP, "clusters")
        async with gallery.pool.connection() as conn:
            face_ids = np.array([row[0] for row in await (await conn.execute(
                "SELECT id FROM faces WHERE group_id = %s ORDER BY id", (group.id,))
            ).fetchall()], np.int64)
        indices, cosines = await people.index_graph(gallery, group, face_ids, vectors, k)
        return indices, cosines, build_s

    return _in_embedded_gallery(body)


def service(sizes: list[int], score: float, new_faces: int = 200) -> None:
    """The clustering job as a worker runs it (services/recognition/people.run: the snapshot,
    the graph through the group's index, Chinese whispers, the save), then `new_faces` faces
    joined one by one as they are after an enrolment, then the first page read back."""
    from bench.gallery_scale import load
    from services.gallery.database import DEFAULT_APP
    from services.recognition import people
    from shared.models import FACENET
    from shared.tasks import ClusterRequest

    rng = np.random.default_rng(0)
    for size in sizes:
        vectors = synthetic(size + new_faces, rng)

        async def body(gallery, url: str, size: int = size, vectors: np.ndarray = vectors):
            group = await gallery.groups.create_group(DEFAULT_APP, "people", "", FACENET.code)
            load(url, group.id, vectors[:size], FACENET.code)
            group = await gallery.groups.group(DEFAULT_APP, "people")
            started = time.perf_counter()
            await gallery.indexes.ensure_index(group)  # a group this large has it already
            build_s = time.perf_counter() - started
            group = await gallery.groups.group(DEFAULT_APP, "people")
            run = await gallery.clusters.create(DEFAULT_APP, group, score)
            started = time.perf_counter()
            done = await people.run(gallery, ClusterRequest(run_id=run.id))
            run_s = time.perf_counter() - started
            load(url, group.id, vectors[size:], FACENET.code)
            started = time.perf_counter()
            joined = await people.join_new_faces(gallery, group)
            join_s = time.perf_counter() - started
            started = time.perf_counter()
            clusters, faces, _ = await gallery.clusters.page(done, 0, 100)
            page_s = time.perf_counter() - started
            print(f"  {size:>8,} faces: index build {build_s:.0f} s (apart); the job "
                  f"{run_s:.1f} s, {done.clusters:,} clusters; {joined} new faces joined in "
                  f"{join_s:.1f} s ({1000 * join_s / max(joined, 1):.0f} ms each); first page "
                  f"of {clusters:,} clusters / {faces:,} faces read in {1000 * page_s:.0f} ms",
                  flush=True)

        _in_embedded_gallery(body)


def scale(sizes: list[int], score: float, through_index: bool) -> None:
    rng = np.random.default_rng(0)
    cos = model_for("facenet").cosine_for_score(score)
    rows = []
    for size in sizes:
        vectors = synthetic(size, rng)
        started = time.perf_counter()
        if through_index:
            indices, cosines, build_s = index_neighbours(vectors, K_NEIGHBOURS)
            knn_s = time.perf_counter() - started
            sample = rng.choice(size, 500, replace=False)
            sims = vectors[sample] @ vectors.T
            sims[np.arange(500), sample] = -np.inf
            exact = np.argpartition(-sims, K_NEIGHBOURS - 1, axis=1)[:, :K_NEIGHBOURS]
            recall = np.mean([len(set(exact[j]) & set(indices[i])) / K_NEIGHBOURS
                              for j, i in enumerate(sample)])
            print(f"  ({size:,} faces: HNSW build {build_s:.0f} s of the graph's time; the "
                  f"graph's recall of the exact {K_NEIGHBOURS} neighbours {recall:.3f} on 500 "
                  f"faces)")
        else:
            indices, cosines = exact_neighbours(vectors, K_NEIGHBOURS)
            knn_s = time.perf_counter() - started
        started = time.perf_counter()
        found = cluster(indices, cosines, cos, vectors=vectors)
        cw_s = time.perf_counter() - started
        rows.append((size, knn_s, cw_s))
        how = "through the HNSW index" if through_index else "exact, numpy"
        print(f"  {size:>8,} faces: k-NN graph ({how}) {knn_s:7.1f} s, Chinese whispers "
              f"{cw_s:6.1f} s, {found.count:,} clusters", flush=True)
    if len(rows) >= 2:
        (n1, k1, c1), (n2, k2, c2) = rows[-2], rows[-1]
        for label, a, b in (("Chinese whispers", c1, c2), ("the k-NN graph", k1, k2),
                            ("both", k1 + c1, k2 + c2)):
            growth = np.log(b / a) / np.log(n2 / n1)
            at_1m = b * (1_000_000 / n2) ** growth
            print(f"  {label}: time grows as n^{growth:.2f}; at 1,000,000 faces about "
                  f"{at_1m / 60:.0f} min")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--embedders", default="facenet,arcface")
    parser.add_argument("--scale", default="", help="comma-separated group sizes to time")
    parser.add_argument("--through-index", action="store_true",
                        help="--scale: the graph through the group's HNSW index (PostgreSQL)")
    parser.add_argument("--service", action="store_true",
                        help="--scale: the clustering job as the service runs it, then joins")
    parser.add_argument("--score", type=float, default=0.0,
                        help="the score for --scale (default: services' DEFAULT_SCORE)")
    args = parser.parse_args()
    if args.scale:
        from services.recognition.clustering import DEFAULT_SCORE

        sizes = [int(s) for s in args.scale.split(",")]
        if args.service:
            service(sizes, args.score or DEFAULT_SCORE)
        else:
            scale(sizes, args.score or DEFAULT_SCORE, args.through_index)
        return
    for embedder in args.embedders.split(","):
        quality(embedder)


if __name__ == "__main__":
    main()
