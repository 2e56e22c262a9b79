"""What erasing a deleted face's traces costs (services/gallery/erasure.py): one face deleted
through GroupFaces.delete_face in a group of --faces faces, clustered into --faces/2 clusters,
all enrolled by one ingestion job (so every face has an item holding its key), on a fresh
embedded PostgreSQL + pgvector.

    .venv/bin/python -m bench.erasure                    # 100,000 faces, 200 deletions each
    .venv/bin/python -m bench.erasure --faces 20000 --deletes 100

Prints the median and p95 of one delete_face call, three ways, side by side in one run:
- erased: the service as it is (migration 009's indexes);
- erased, no 009 indexes: the same calls with ingest_items_face and clusters_representative
  dropped (why the migration adds them);
- bare delete, no 009 indexes: the row deleted and the group's count kept, nothing erased (what
  delete_face did before erasure, on the schema it had).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from services.cli.embedded import EmbeddedPostgres
from services.gallery import sql
from services.gallery.database import DEFAULT_APP, Gallery
from services.gallery.faces import lock_group
from services.gallery.migrate import migrate
from shared.models import FACENET

GROUP = "erasure_bench"


def load(url: str, faces: int, rng: np.random.Generator) -> list[int]:
    """The group, its faces, one finished clustering and one ingestion job; the face ids."""
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        [group_id] = conn.execute(
            "INSERT INTO groups (app_id, name, model, face_count) VALUES (%s, %s, %s, %s) "
            "RETURNING id", (DEFAULT_APP, GROUP, FACENET.code, faces)).fetchone()
        vectors = rng.standard_normal((faces, 512)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        with conn.cursor().copy("COPY faces (app_id, group_id, model, embedding, request_key) "
                                "FROM STDIN") as copy:
            for i, vector in enumerate(vectors):
                copy.write_row((DEFAULT_APP, group_id, FACENET.code,
                                "[" + ",".join(f"{v:.6f}" for v in vector) + "]", f"key-{i}"))
        ids = [row[0] for row in conn.execute(
            "SELECT id FROM faces WHERE group_id = %s ORDER BY id", (group_id,))]
        run, job = uuid.uuid4(), uuid.uuid4()
        conn.execute("INSERT INTO cluster_runs (id, app_id, group_id, score, state, total, "
                     "clusters, finished_at) VALUES (%s, %s, %s, 0.85, 'done', %s, %s, now())",
                     (run, DEFAULT_APP, group_id, faces, faces // 2))
        conn.execute("INSERT INTO face_clusters (run_id, face_id, cluster) "
                     "SELECT %s, f, i / 2 FROM unnest(%s::bigint[]) WITH ORDINALITY AS a(f, i)",
                     (run, ids))
        conn.execute("INSERT INTO clusters (run_id, cluster, representative, name) "
                     "SELECT %s, i / 2, f, 'person ' || (i / 2) FROM unnest(%s::bigint[]) "
                     "WITH ORDINALITY AS a(f, i) WHERE i %% 2 = 0", (run, ids))
        conn.execute("INSERT INTO ingest_jobs (id, app_id, group_name, total, chunk_size, "
                     "state, done, enrolled, created) VALUES (%s, %s, %s, %s, 32, 'done', %s, "
                     "%s, %s)", (job, DEFAULT_APP, GROUP, faces, faces, faces, faces))
        conn.execute("INSERT INTO ingest_items (job_id, idx, key, tag, status, face_id, created) "
                     "SELECT %s, i - 1, 'key-' || (i - 1), 'tag', 'enrolled', f, true "
                     "FROM unnest(%s::bigint[]) WITH ORDINALITY AS a(f, i)", (job, ids))
        conn.execute("VACUUM ANALYZE")
    return ids


async def bare_delete(gallery: Gallery, face_id: int) -> None:
    async with gallery.pool.connection() as conn, conn.transaction():
        group = await lock_group(conn, DEFAULT_APP, GROUP)
        await conn.execute("DELETE FROM faces WHERE id = %s AND group_id = %s",
                           (face_id, group.id))
        await conn.execute(sql.COUNT_UP, (-1, group.id))


async def timed(gallery: Gallery, face_ids: list[int], bare: bool) -> list[float]:
    times = []
    for face_id in face_ids:
        start = time.perf_counter()
        if bare:
            await bare_delete(gallery, face_id)
        else:
            await gallery.groups.delete_face(DEFAULT_APP, GROUP, face_id)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--deletes", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        server = EmbeddedPostgres(Path(folder))
        try:
            migrate(server.url)
            started = time.perf_counter()
            ids = load(server.url, args.faces, rng)
            print(f"{args.faces} faces, {args.faces // 2} clusters, {args.faces} ingestion "
                  f"items loaded in {time.perf_counter() - started:.1f} s")
            picks = rng.choice(ids, 3 * args.deletes, replace=False).tolist()
            rounds = [("erased", False, picks[:args.deletes]),
                      ("erased, no 009 indexes", False, picks[args.deletes:2 * args.deletes]),
                      ("bare delete, no 009 indexes", True, picks[2 * args.deletes:])]

            async def run() -> None:
                gallery = await Gallery.open(server.url, max_size=2)
                try:
                    for name, bare, face_ids in rounds:
                        if name != "erased":
                            async with gallery.pool.connection() as conn:
                                await conn.execute("DROP INDEX IF EXISTS ingest_items_face")
                                await conn.execute("DROP INDEX IF EXISTS clusters_representative")
                        await timed(gallery, face_ids[:10], bare)  # warm
                        ms = np.array(await timed(gallery, face_ids[10:], bare)) * 1000
                        print(f"{name:30s} delete_face p50 {np.percentile(ms, 50):7.2f} ms  "
                              f"p95 {np.percentile(ms, 95):7.2f} ms  ({len(ms)} calls)")
                finally:
                    await gallery.close()

            asyncio.run(run())
        finally:
            server.stop()


if __name__ == "__main__":
    main()
