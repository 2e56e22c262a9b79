"""`facegate ingest DIR|FILE --group G`: a photo archive or a list of URLs into a group, over
the REST API (POST /v1/groups/{group}/faces/bulk), with progress bars.

- a directory: its photos (*.jpg, *.png, ...; recursively, sorted), sent as tar archives of at
  most --batch photos and --max-body bytes each (under the server's ingestion body limit); a
  photo's tag is its path under the directory, its key the SHA-256 of its bytes (the server's
  default). A local state file (ingest_state.py) records which photos each accepted job
  carries, so running the command again after an interruption uploads only the rest; and
  since keys are content hashes, a photo sent twice is reported `enrolled` once
- a .csv file: a header with `url` (and optionally `tag`, `key`), sent --batch rows at a time
- a .jsonl file: one item object per line ({"image" | "image_url", "tag", "key"})

--quality strict|lenient|none: the quality gate's level for every photo sent (each job keeps the
level it was sent with); left out, the group's default decides, else the server's setting.

Credentials: --app-id / --app-secret, or FACEGATE_APP_ID / FACEGATE_APP_SECRET.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from tqdm import tqdm

from services.cli.ingest_state import IngestState, default_state_path, item_id
from services.client import ApiError, Facegate
from shared.answers import JobStatus
from shared.images import PHOTO_SUFFIXES
from shared.settings import GATE_LEVELS, GateLevel


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


def submit_photos(client: Facegate, group: str, photos: list[Photo],
                  quality: GateLevel | None = None) -> dict:
    """One job of these photos at the gate's level `quality` (None: the group's default, else
    the server's): 202 {job_id, total, poll}."""
    archive, manifest = tar_of(photos)
    return client.bulk_archive(group, archive, manifest, quality=quality)


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


RESEND = ("failed", "cancelled")  # item outcomes a later run sends again
# a terminal redraws the bars often; a log file (stderr redirected) gets a line every 10 s
BAR_SECONDS = 0.2 if sys.stderr.isatty() else 10.0


class IngestError(Exception):
    """One line for the user: what went wrong and what to do."""


def run(path: Path, group: str, base_url: str | None, app_id: str, app_secret: str,
        batch: int, create: bool, wait: bool, max_body: int = BODY_BYTES,
        state_path: Path | None = None, fresh: bool = False,
        quality: GateLevel | None = None) -> int:
    """The command; every failure is one line on stderr (exit 1), never a traceback."""
    base_url = (base_url or os.environ.get("FACEGATE_URL") or default_url()).rstrip("/")
    state = None
    try:
        if not app_id or not app_secret:
            raise IngestError("no credentials: give --app-id and --app-secret, or set "
                              "FACEGATE_APP_ID and FACEGATE_APP_SECRET (`facegate app create`)")
        if not path.exists():
            raise IngestError(f"{path} does not exist")
        _reachable(base_url)
        state = IngestState(state_path or default_state_path(base_url, group, path))
        if not fresh:
            state = IngestState.load(state.path)
        with Facegate(base_url, app_id, app_secret) as client:
            return _ingest(client, path, group, batch, max_body, create, wait, state,
                           quality)
    except KeyboardInterrupt:
        where = f" (state in {state.path})" if state and state.jobs else ""
        raise SystemExit(f"facegate ingest: interrupted; run the same command again to resume"
                         f"{where}") from None
    except IngestError as exc:
        raise SystemExit(f"facegate ingest: {exc}") from None
    except ApiError as exc:
        raise SystemExit(f"facegate ingest: the server refused: {exc}") from None
    except httpx.HTTPError as exc:
        raise SystemExit(f"facegate ingest: {base_url}: {type(exc).__name__}: {exc}; run the "
                         "same command again to resume") from None
    except OSError as exc:
        raise SystemExit(f"facegate ingest: {exc}") from None


def default_url() -> str:
    """Where `make run` / `facegate run` listens: FACEGATE_PORT on this machine."""
    from shared.settings import get_settings

    return f"http://127.0.0.1:{get_settings().port}"


def _reachable(base_url: str) -> None:
    """Fails at once, not after the client's retries, when nothing listens there."""
    try:
        httpx.get(f"{base_url}/healthz", timeout=10.0)
    except httpx.HTTPError as exc:
        raise IngestError(f"cannot reach facegate at {base_url} ({type(exc).__name__}); is the "
                          "stack running (`make run`)? --url or FACEGATE_URL names another "
                          "address") from None


def _ingest(client: Facegate, path: Path, group: str, batch: int, max_body: int,
            create: bool, wait: bool, state: IngestState, quality: GateLevel | None = None
            ) -> int:
    client.jobs(limit=1)  # the credentials, checked before anything is read or sent
    if create:
        client.create_group(group, exist_ok=True)
    _forget_lost_jobs(client, state)
    if path.is_dir():
        _send_photos(client, path, group, batch, max_body, state, quality)
    elif path.suffix.lower() in (".csv", ".jsonl", ".ndjson"):
        _send_lines(client, path, group, batch, state, quality)
    else:
        raise IngestError("give a directory of photos, a .csv of URLs or a .jsonl of items")
    job_ids = list(state.jobs)
    if not wait:
        print("\n".join(job_ids))
        return 0
    jobs = _wait(client, job_ids)
    for job_id in job_ids:
        print(f"job {job_id}: GET /v1/jobs/{job_id}/items for each photo's outcome")
    counts = _counts(jobs)
    summary = " ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing sent"
    print(f"facegate ingest: {summary} ({len(job_ids)} jobs; state in {state.path})",
          file=sys.stderr)
    return 0 if counts.get("enrolled", 0) else 1


def _forget_lost_jobs(client: Facegate, state: IngestState) -> None:
    """A recorded job that failed, was cancelled or is gone: its photos are sent again; so are
    a finished job's items that failed (the service broke on them) or were cancelled."""
    for job_id in list(state.jobs):
        try:
            job = client.job(job_id)
        except ApiError as exc:
            if exc.status != 404:
                raise
            job = {"status": "gone"}
        if job["status"] in ("failed", "cancelled", "gone"):
            state.forget(job_id)
        elif job["status"] == "done" and any(job["counts"].get(s) for s in RESEND):
            again = {item["index"] for status in RESEND
                     for item in client.all_job_items(job_id, status)}
            state.record(job_id, [item for index, item in enumerate(state.jobs[job_id])
                                  if index not in again])


def _send_photos(client: Facegate, root: Path, group: str, batch: int, max_body: int,
                 state: IngestState, quality: GateLevel | None = None) -> None:
    files = list(_photos(root))
    seen = state.submitted()
    todo = []
    for file in files:
        stat = file.stat()
        if item_id(str(file.relative_to(root)), stat.st_size, stat.st_mtime_ns) not in seen:
            todo.append(file)
    if len(todo) < len(files):
        print(f"facegate ingest: resuming: {len(files) - len(todo)} of {len(files)} photos were "
              f"sent before (state in {state.path})", file=sys.stderr)
    with tqdm(total=sum(f.stat().st_size for f in todo), unit="B", unit_scale=True,
              desc="upload", file=sys.stderr, disable=not todo,
              mininterval=BAR_SECONDS) as bar:
        for chunk in _photo_batches(todo, batch, max_body):
            photos, items = [], []
            for file in chunk:
                # the version read is the one recorded: a photo still being copied in is
                # recorded as what was sent, so the next run sends the finished file again
                with file.open("rb") as source:
                    modified = os.fstat(source.fileno()).st_mtime_ns
                    data = source.read()
                name = str(file.relative_to(root))
                photos.append(Photo(name, data))
                items.append(item_id(name, len(data), modified))
            state.record(submit_photos(client, group, photos, quality)["job_id"], items)
            bar.update(sum(len(photo.data) for photo in photos))


def _send_lines(client: Facegate, path: Path, group: str, batch: int,
                state: IngestState, quality: GateLevel | None = None) -> None:
    kind = "text/csv" if path.suffix.lower() == ".csv" else "application/x-ndjson"
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    header, rows = (lines[:1], lines[1:]) if kind == "text/csv" else ([], lines)
    numbered = [(n, row) for n, row in enumerate(rows) if row.strip()]
    seen = state.submitted()
    numbered = [(n, row) for n, row in numbered if _line_id(n, row) not in seen]
    for chunk in tqdm(list(_batches(numbered, batch)), desc="upload", unit="job",
                      file=sys.stderr, disable=not numbered, mininterval=BAR_SECONDS):
        body = "\n".join([*header, *(row for _, row in chunk)]).encode()
        state.record(client.bulk_lines(group, body, kind, quality=quality)["job_id"],
                     [_line_id(n, row) for n, row in chunk])


def _line_id(number: int, row: str) -> str:
    return f"line {number}|{len(row)}|{hash_text(row)}"


def hash_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _wait(client: Facegate, job_ids: list[str]) -> list[JobStatus]:
    with tqdm(total=0, desc="enrol", unit="photo", file=sys.stderr,
              mininterval=BAR_SECONDS) as bar:
        drawn = [0.0]  # when the bar was last drawn

        def draw(jobs: list[JobStatus]) -> None:
            bar.total = sum(job["progress"]["total"] for job in jobs)
            bar.n = sum(job["progress"]["done"] for job in jobs)
            bar.set_postfix_str(" ".join(f"{k} {v}" for k, v in sorted(_counts(jobs).items())),
                                refresh=False)
            if time.monotonic() - drawn[0] >= BAR_SECONDS or bar.n >= bar.total:
                drawn[0] = time.monotonic()
                bar.refresh()

        return client.wait_for_jobs(job_ids, on_progress=draw)


def _counts(jobs: list[JobStatus]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for job in jobs:
        for status, count in job["counts"].items():
            if count:
                counts[status] = counts.get(status, 0) + count
    return counts


def _size(text: str) -> int:
    """`200MB`, `64MiB`, `1048576`: a byte count."""
    match = re.fullmatch(r"\s*(\d+)\s*(|k|kb|kib|m|mb|mib|g|gb|gib)\s*", text.lower())
    if not match:
        raise ValueError(f"not a size: {text!r}")
    unit = {"": 1, "k": 2**10, "kb": 10**3, "kib": 2**10, "m": 2**20, "mb": 10**6,
            "mib": 2**20, "g": 2**30, "gb": 10**9, "gib": 2**30}[match[2]]
    return int(match[1]) * unit


def add_arguments(parser) -> None:
    parser.add_argument("path", type=Path, help="a directory of photos, a .csv of URLs or a "
                                                 ".jsonl of items")
    parser.add_argument("--group", required=True)
    parser.add_argument("--url", default=None,
                        help="the gateway (default: FACEGATE_URL, else where `make run` "
                             "listens: http://127.0.0.1:FACEGATE_PORT, 8080)")
    parser.add_argument("--app-id", default=os.environ.get("FACEGATE_APP_ID", ""))
    parser.add_argument("--app-secret", default=os.environ.get("FACEGATE_APP_SECRET", ""))
    parser.add_argument("--batch", type=int, default=1000, help="at most this many per job")
    parser.add_argument("--max-body", type=_size, default=BODY_BYTES,
                        help="at most this many bytes of photos per request (default 200MiB, "
                             "under the server's FACEGATE_INGEST_MAX_BODY_BYTES)")
    parser.add_argument("--state", type=Path, default=None,
                        help="the resume file (default under ~/.local/state/facegate/)")
    parser.add_argument("--fresh", action="store_true",
                        help="ignore an earlier run's state and send everything again")
    parser.add_argument("--create", action="store_true", help="create the group first")
    parser.add_argument("--quality", choices=GATE_LEVELS, default=None,
                        help="the quality gate's level for every photo: strict (the full "
                             "gate), lenient (sunglasses and turns up to 60 degrees allowed) "
                             "or none (any detected face); default: the group's, else the "
                             "server's setting")
    parser.add_argument("--no-wait", action="store_true",
                        help="print the job ids and return at once")
