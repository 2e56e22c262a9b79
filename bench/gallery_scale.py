"""The gallery at scale: synthetic 512-d unit embeddings in groups of mixed sizes, searched the
way the service searches (services.gallery.faces.GroupFaces.search).

    .venv/bin/python -m bench.gallery_scale                  # 1,000,000 faces
    .venv/bin/python -m bench.gallery_scale --total 200000   # same mix, scaled down

Embeddings are clustered like real galleries: each identity has a centre and each of its 1-5
faces is that centre plus noise (face-to-face cosine of one identity about 0.6). Centres
(--centres):
- lfw (default): drawn from a Gaussian fitted to real FaceNet embeddings of LFW View 1 (one image
  per person, computed in-process on first use and cached under .cache/bench), so strangers are
  spread the way real faces are;
- uniform: uniform on the sphere, every pair of strangers orthogonal: the worst case for a
  graph index (no direction leads towards the right face), kept to show that limit.
Queries are fresh samples of enrolled identities; each group's queries run once untimed first
(warm cache), then timed. Prints load rate, index build time, database
size, identify latency p50/p95 and queries/s with 1 and 8 concurrent clients per group-size
class, and recall@1 against exact (numpy) search in the same group.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from services.cli.embedded import EmbeddedPostgres
from services.gallery.database import DEFAULT_APP, Gallery
from services.gallery.migrate import pgvector_version
from services.gallery.records import Group
from shared.tasks import image_spec

DIM = 512
# The mix for 1,000,000 faces: one very large group, several large, many small.
SIZES_1M = [500_000, 200_000, 100_000, 100_000, 50_000, 20_000, 10_000, 10_000, 5_000, 2_000,
            1_000, 1_000, 500, 500] + [100] * 10


def group_sizes(total: int) -> list[int]:
    scale = total / sum(SIZES_1M)
    sizes = [max(100, int(s * scale)) for s in SIZES_1M]
    sizes[0] += total - sum(sizes)
    return sizes


CACHE = Path(__file__).resolve().parents[1] / ".cache" / "bench"


def lfw_gaussian() -> tuple[np.ndarray, np.ndarray]:
    """Mean and Cholesky factor of real FaceNet embeddings (first LFW image of each person)."""
    cached = CACHE / "lfw_facenet_gaussian.npz"
    if cached.is_file():
        data = np.load(cached)
        return data["mean"], data["chol"]
    import torch

    from bench.lfw import DEFAULT_ROOT
    from services.vision.embedders import load_embedder
    from services.vision.mtcnn import MTCNN
    from services.vision.pipeline import FacePipeline
    from shared import canonical
    from shared.results import ImageResult
    from shared.settings import get_settings

    device = torch.device("cpu")
    pipeline = FacePipeline(MTCNN(device, 24).detect,
                            load_embedder("facenet", device, get_settings().model_dir))
    files = [sorted(person.glob("*.jpg"))[0] for person in sorted(DEFAULT_ROOT.iterdir())
             if person.is_dir()]
    vectors = []
    for start in range(0, len(files), 16):
        result = pipeline.run({"images": [image_spec(
            f.read_bytes(), canonical.LARGEST, embed=True) for f in files[start:start + 16]]})
        vectors += [r.faces[0].embedding
                    for r in result.images if isinstance(r, ImageResult) and r.faces]
    x = np.stack(vectors).astype(np.float64)
    mean = x.mean(0)
    chol = np.linalg.cholesky(np.cov(x, rowvar=False) + 1e-6 * np.eye(DIM))
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(cached, mean=mean, chol=chol)
    print(f"fitted the centre distribution on {len(vectors)} real FaceNet embeddings of LFW")
    return mean, chol


def identities(rng: np.random.Generator, size: int, centres_from: str
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vectors size x DIM, identity index per vector, centres)."""
    counts = rng.integers(1, 6, size=size)  # faces per identity
    counts = counts[np.cumsum(counts) <= size]
    counts = np.append(counts, size - counts.sum()) if counts.sum() < size else counts
    owners = np.repeat(np.arange(len(counts)), counts)[:size]
    if centres_from == "lfw":
        mean, chol = lfw_gaussian()
        z = rng.standard_normal((len(counts), DIM))
        centres = _unit((mean + z @ chol.T).astype(np.float32))
    else:
        centres = _unit(rng.standard_normal((len(counts), DIM), dtype=np.float32))
    vectors = _unit(centres[owners] + rng.standard_normal((size, DIM), dtype=np.float32) * 0.035)
    return vectors, owners, centres


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def load(url: str, group_pk: int, vectors: np.ndarray, model: int = 1) -> float:
    """Rows for `vectors` in the group (model code `model`), by COPY; the seconds it took."""
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        register_vector(conn)
        with conn.cursor() as cur, cur.copy(
                "COPY faces (app_id, group_id, model, embedding) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "int8", "int2", "vector"])
            for vector in vectors:
                copy.write_row((DEFAULT_APP, group_pk, model, vector))
        conn.execute("UPDATE groups SET face_count = face_count + %s WHERE id = %s",
                     (len(vectors), group_pk))
    return time.perf_counter() - started


async def measure(gallery: Gallery, group: Group, queries: np.ndarray, clients: int
                  ) -> tuple[list[float], float, list[int]]:
    latencies: list[float] = []
    top: list[int] = [0] * len(queries)
    cursor = iter(range(len(queries)))

    async def client() -> None:
        for k in cursor:
            t0 = time.perf_counter()
            matches = await gallery.groups.search(group, queries[k], 1)
            latencies.append(time.perf_counter() - t0)
            top[k] = matches[0].face_id

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, len(queries) / (time.perf_counter() - started), top


async def run(args: argparse.Namespace, url: str) -> None:
    rng = np.random.default_rng(0)
    sizes = group_sizes(args.total)
    gallery = await Gallery.open(url, hnsw_min_faces=args.hnsw_min_faces, max_size=10)
    if args.centres == "lfw":
        lfw_gaussian()  # fit (or load) before anything is timed
    with psycopg.connect(url) as conn:
        print(f"centres: {args.centres}; "
              f"pgvector {'.'.join(map(str, pgvector_version(conn)))}, {args.total:,} faces in "
              f"{len(sizes)} groups of {min(sizes):,} to {max(sizes):,}; HNSW from "
              f"{args.hnsw_min_faces:,} faces per group")
    data = {}
    load_s, loaded = 0.0, 0
    for k, size in enumerate(sizes):
        group = await gallery.groups.create_group(DEFAULT_APP, f"bench{k}", "", 1)
        vectors, owners, centres = identities(rng, size, args.centres)
        load_s += load(url, group.id, vectors)
        loaded += size
        data[k] = (vectors, owners, centres)
    print(f"load: {loaded:,} faces in {load_s:.1f} s = {loaded / load_s:,.0f} faces/s (COPY)")
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        # Server-wide: the index builds run on their own connections. An HNSW build is fast
        # only while its graph fits in maintenance_work_mem.
        conn.execute(f"ALTER SYSTEM SET maintenance_work_mem = '{args.maintenance_work_mem}'")
        conn.execute("ALTER SYSTEM SET max_parallel_maintenance_workers = 2")
        conn.execute("SELECT pg_reload_conf()")
        conn.execute("ANALYZE faces")
    built = []
    for k in range(len(sizes)):
        group = await gallery.groups.group(DEFAULT_APP, f"bench{k}")
        t0 = time.perf_counter()
        if await gallery.indexes.ensure_index(group):
            built.append((group.face_count, time.perf_counter() - t0))
    print(f"index build: {time.perf_counter() - started:.1f} s in all; "
          + ", ".join(f"{n:,} faces {s:.0f} s" for n, s in built))
    with psycopg.connect(url) as conn:
        size_bytes = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    print(f"database size: {size_bytes / 2**30:.2f} GiB")
    print(f"{'group':>9} {'path':>6} {'clients':>7} {'p50 ms':>7} {'p95 ms':>7} {'q/s':>7} "
          f"{'recall@1':>8}")
    for k, size in enumerate(sizes):
        if k > 0 and size == sizes[k - 1]:
            continue  # one group per size is enough
        group = await gallery.groups.group(DEFAULT_APP, f"bench{k}")
        vectors, owners, centres = data[k]
        picks = rng.integers(0, len(centres), size=args.queries)
        queries = _unit(centres[picks] + rng.standard_normal(
            (args.queries, DIM), dtype=np.float32) * 0.035)
        exact = np.argmax(queries @ vectors.T, axis=1)
        async with gallery.pool.connection() as conn:
            first_id = (await (await conn.execute(
                "SELECT min(id) FROM faces WHERE group_id = %s", (group.id,))).fetchone())[0]
        await measure(gallery, group, queries, 8)  # warm: the group's pages into the cache
        for clients in (1, 8):
            lat, qps, top = await measure(gallery, group, queries, clients)
            recall = float(np.mean(np.asarray(top) - first_id == exact))
            print(f"{size:>9,} {'hnsw' if group.indexed else 'exact':>6} {clients:>7} "
                  f"{np.percentile(lat, 50) * 1000:>7.1f} {np.percentile(lat, 95) * 1000:>7.1f} "
                  f"{qps:>7.0f} {recall:>8.3f}")
    await gallery.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--total", type=int, default=1_000_000)
    parser.add_argument("--centres", choices=["lfw", "uniform"], default="lfw")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--hnsw-min-faces", type=int, default=2_000)
    parser.add_argument("--maintenance-work-mem", default="2GB")
    parser.add_argument("--database-url", help="an empty database; default: embedded")
    args = parser.parse_args()
    if args.database_url:
        asyncio.run(run(args, args.database_url))
        return
    with tempfile.TemporaryDirectory(prefix="facegate-scale-") as folder:
        postgres = EmbeddedPostgres(Path(folder) / "pg")
        try:
            asyncio.run(run(args, postgres.url))
        finally:
            postgres.stop()


if __name__ == "__main__":
    main()
