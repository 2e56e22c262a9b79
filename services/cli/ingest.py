"""`facegate ingest DIR|FILE --group G`: a photo archive or a list of URLs into a group, over
the REST API (POST /v1/groups/{group}/faces/bulk), with a progress bar.

- a directory: its photos (*.jpg, *.png, ...; recursively, sorted), sent as tar archives of
  --batch photos each; a photo's tag is its path under the directory, its key the SHA-256 of
  its bytes (the server's default), so running the command again resumes: photos already
  enrolled are reported `enrolled` without running the model again
- a .csv file: a header with `url` (and optionally `tag`, `key`), sent --batch rows at a time
- a .jsonl file: one item object per line ({"image" | "image_url", "tag", "key"})

Credentials: --app-id / --app-secret, or FACEGATE_APP_ID / FACEGATE_APP_SECRET.
"""

from __future__ import annotations

import csv
import io
import os
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from services.client import ApiError, Facegate
from shared.answers import JobStatus
from shared.images import PHOTO_SUFFIXES

BAR_WIDTH = 30


@dataclass
class Photo:
    name: str  # path inside the archive (the default tag)
    data: bytes
    tag: str | None = None
    key: str | None = None


def tar_of(photos: list[Photo]) -> tuple[bytes, bytes | None]:
    """An uncompressed tar of the photos (JPEGs do not compress) and, when any photo has its
    own tag or key, a manifest CSV naming them."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for photo in photos:
            info = tarfile.TarInfo(photo.name)
            info.size = len(photo.data)
            archive.addfile(info, io.BytesIO(photo.data))
    if not any(photo.tag or photo.key for photo in photos):
        return buffer.getvalue(), None
    manifest = io.StringIO()
    writer = csv.writer(manifest)
    writer.writerow(["file", "tag", "key"])
    for photo in photos:
        writer.writerow([photo.name, photo.tag or photo.name[:128], photo.key or ""])
    return buffer.getvalue(), manifest.getvalue().encode()


def submit_photos(client: Facegate, group: str, photos: list[Photo]) -> dict:
    """One job of these photos: 202 {job_id, total, poll}."""
    archive, manifest = tar_of(photos)
    return client.bulk_archive(group, archive, manifest)


def _photos(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix.lower() in PHOTO_SUFFIXES:
            yield path


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# Under the server's FACEGATE_INGEST_MAX_BODY_BYTES (256 MiB), with room for the tar's headers
BODY_BYTES = 200 * 2**20


def _photo_batches(files: list[Path], size: int, body_bytes: int = BODY_BYTES
                   ) -> Iterator[list[Path]]:
    """At most `size` photos and about `body_bytes` per job (one photo bigger than that goes
    alone, for the server to judge)."""
    batch: list[Path] = []
    held = 0
    for path in files:
        weight = path.stat().st_size + 1024
        if batch and (len(batch) >= size or held + weight > body_bytes):
            yield batch
            batch, held = [], 0
        batch.append(path)
        held += weight
    if batch:
        yield batch


@dataclass
class Progress:
    jobs: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @staticmethod
    def totals(jobs: list[JobStatus]) -> tuple[int, int, dict[str, int]]:
        done = sum(job["progress"]["done"] for job in jobs)
        total = sum(job["progress"]["total"] for job in jobs)
        counts: dict[str, int] = {}
        for job in jobs:
            for status, count in job["counts"].items():
                counts[status] = counts.get(status, 0) + count
        return done, total, counts

    def draw(self, done: int, total: int, counts: dict[str, int]) -> str:
        elapsed = time.monotonic() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = f"{(total - done) / rate:.0f} s" if rate > 0 and done < total else "-"
        filled = int(BAR_WIDTH * done / total) if total else BAR_WIDTH
        summary = " ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        return (f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} "
                f"{rate:.1f}/s ETA {eta}  {summary}")


def run(path: Path, group: str, base_url: str, app_id: str, app_secret: str, batch: int,
        create: bool, wait: bool) -> int:
    with Facegate(base_url, app_id, app_secret) as client:
        try:
            return _ingest(client, path, group, batch, create, wait)
        except ApiError as exc:
            raise SystemExit(f"facegate ingest: {exc}") from None


def _ingest(client: Facegate, path: Path, group: str, batch: int, create: bool,
            wait: bool) -> int:
    if create:
        client.create_group(group, exist_ok=True)
    progress = Progress()
    if path.is_dir():
        files = list(_photos(path))
        submitted = 0
        for chunk in _photo_batches(files, batch):
            photos = [Photo(str(p.relative_to(path)), p.read_bytes()) for p in chunk]
            progress.jobs.append(submit_photos(client, group, photos)["job_id"])
            submitted += len(chunk)
            print(f"\rsubmitted {submitted}/{len(files)}", end="", file=sys.stderr)
    elif path.suffix.lower() in (".csv", ".jsonl", ".ndjson"):
        kind = "text/csv" if path.suffix.lower() == ".csv" else "application/x-ndjson"
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        header, rows = (lines[:1], lines[1:]) if kind == "text/csv" else ([], lines)
        for chunk in _batches([row for row in rows if row.strip()], batch):
            body = "\n".join([*header, *chunk]).encode()
            progress.jobs.append(client.bulk_lines(group, body, kind)["job_id"])
    else:
        raise SystemExit("facegate ingest: give a directory of photos, a .csv of URLs or "
                         "a .jsonl of items")
    print(file=sys.stderr)
    if not wait:
        print("\n".join(progress.jobs))
        return 0

    def draw(jobs: list[JobStatus]) -> None:
        print(progress.draw(*progress.totals(jobs)), end="", file=sys.stderr)

    jobs = client.wait_for_jobs(progress.jobs, on_progress=draw)
    print(file=sys.stderr)
    for job_id in progress.jobs:
        print(f"job {job_id}: GET /v1/jobs/{job_id}/items for each photo's outcome")
    return 0 if progress.totals(jobs)[2].get("enrolled", 0) else 1


def add_arguments(parser) -> None:
    parser.add_argument("path", type=Path, help="a directory of photos, a .csv of URLs or a "
                                                 ".jsonl of items")
    parser.add_argument("--group", required=True)
    parser.add_argument("--url", default=os.environ.get("FACEGATE_URL",
                                                        "http://127.0.0.1:8000"))
    parser.add_argument("--app-id", default=os.environ.get("FACEGATE_APP_ID", ""))
    parser.add_argument("--app-secret", default=os.environ.get("FACEGATE_APP_SECRET", ""))
    parser.add_argument("--batch", type=int, default=1000, help="photos per job")
    parser.add_argument("--create", action="store_true", help="create the group first")
    parser.add_argument("--no-wait", action="store_true",
                        help="print the job ids and return at once")
