"""A load generator light enough to drive a GPU-backed service past 1,000 requests/s.

httpx costs about a millisecond of Python per request, and one process of it tops out far
below what a GPU worker serves. This one runs several processes, each an asyncio loop writing
prepared HTTP/1.1 requests over keep-alive connections and reading the replies by
Content-Length. Only 127.0.0.1 / ::1 targets are allowed (testing.md).

Two modes:
- closed loop (`clients`): each client keeps one request in flight, for a throughput figure;
- open loop (`rate`): requests are sent on a fixed schedule whatever the replies do, and each
  latency counts from its scheduled time, so queueing shows up in the percentiles (a closed
  loop would slow down with the service and hide it).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclass
class Target:
    urls: list[str]  # http://127.0.0.1:PORT/path, one per gateway; clients take them in turn
    bodies: list[bytes]  # sent in turn
    content_type: str = "application/x-www-form-urlencoded"
    headers: dict[str, str] = field(default_factory=dict)
    ok: bytes = b""  # the status line + body of a reply must contain this to count as success

    def endpoints(self) -> list[tuple[str, int, list[bytes]]]:
        """(host, port, prepared requests) per URL."""
        out = []
        for url in self.urls:
            parts = urlsplit(url)
            if parts.hostname not in LOOPBACK:
                raise ValueError(f"load tests target loopback only, not {parts.hostname}")
            extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
            head = (f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                    f"Content-Type: {self.content_type}\r\n{extra}")
            out.append((parts.hostname, parts.port,
                        [f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
                         for body in self.bodies]))
        return out


@dataclass
class Result:
    seconds: float
    latencies: np.ndarray  # seconds, successful requests only
    errors: int
    sample_error: str = ""

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        """Latency percentile in ms."""
        return float(np.percentile(self.latencies, q)) * 1000 if len(self.latencies) else 0.0


class _Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, request: bytes) -> bytes:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length)
        if b"connection: close" in head.lower():
            self.close()
        return head[:12] + body  # status line start + body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _closed(target: Target, clients: int, seconds: float, offset: int):
    endpoints = target.endpoints()
    stop = time.perf_counter() + seconds
    latencies: list[float] = []
    errors = [0, ""]

    async def client(k: int) -> None:
        host, port, requests = endpoints[k % len(endpoints)]
        conn = _Connection(host, port)
        i = k
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            try:
                reply = await conn.send(requests[i % len(requests)])
            except (OSError, asyncio.IncompleteReadError) as exc:
                conn.close()
                _failed(errors, repr(exc))
                await asyncio.sleep(0.05)
                continue
            if target.ok in reply:
                latencies.append(time.perf_counter() - t0)
            else:
                _failed(errors, reply[:300].decode(errors="replace"))
            i += clients
        conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(offset + k) for k in range(clients)))
    return time.perf_counter() - started, latencies, errors[0], errors[1]


def _failed(errors: list, detail: str) -> None:
    """Count a failed request; keep the first failure's detail for the report."""
    errors[0] += 1
    errors[1] = errors[1] or detail


async def _open(target: Target, rate: float, seconds: float, offset: int, max_conns: int):
    """Send at `rate` requests/s on a fixed schedule; latency from the scheduled time."""
    endpoints = target.endpoints()
    idle: list[list[_Connection]] = [[] for _ in endpoints]
    latencies: list[float] = []
    errors = [0, ""]
    slots = asyncio.Semaphore(max_conns)

    async def one(k: int, due: float) -> None:
        e = k % len(endpoints)
        host, port, requests = endpoints[e]
        async with slots:
            conn = idle[e].pop() if idle[e] else _Connection(host, port)
            try:
                reply = await conn.send(requests[k % len(requests)])
            except (OSError, asyncio.IncompleteReadError) as exc:
                conn.close()
                _failed(errors, repr(exc))
                return
            idle[e].append(conn)
        if target.ok in reply:
            latencies.append(time.perf_counter() - due)
        else:
            _failed(errors, reply[:300].decode(errors="replace"))

    count = int(rate * seconds)
    started = time.perf_counter()
    tasks = []
    for k in range(count):
        due = started + k / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(offset + k, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    for conns in idle:
        for conn in conns:
            conn.close()
    return elapsed, latencies, errors[0], errors[1]


def _process(mode: str, target: Target, amount: float, seconds: float, offset: int,
             max_conns: int, out: mp.Queue) -> None:
    with contextlib.suppress(ImportError):  # uvloop where installed: less client overhead
        import uvloop

        uvloop.install()
    try:
        if mode == "closed":
            result = asyncio.run(_closed(target, int(amount), seconds, offset))
        else:
            result = asyncio.run(_open(target, amount, seconds, offset, max_conns))
    except BaseException as exc:  # the parent must hear of it, or it waits forever
        result = (0.0, [], 0, f"load process failed: {exc!r}")
    out.put(result)


def run(target: Target, seconds: float, clients: int = 0, rate: float = 0.0,
        processes: int = 4, max_conns: int = 256) -> Result:
    """Closed loop with `clients` clients, or open loop at `rate` requests/s."""
    if bool(clients) == bool(rate):
        raise ValueError("give clients or rate")
    target.endpoints()  # refuse a non-loopback target before starting anything
    ctx = mp.get_context("spawn")  # fork copies locks other threads hold: children hung
    out: mp.Queue = ctx.Queue()
    if clients:
        processes = max(1, min(processes, clients))
        shares = [clients // processes + (1 if k < clients % processes else 0)
                  for k in range(processes)]
        mode = "closed"
    else:
        shares = [rate / processes] * processes
        mode = "open"
    workers = [ctx.Process(target=_process, args=(mode, target, share, seconds, k * 7919,
                                                  max(1, max_conns // processes), out))
               for k, share in enumerate(shares)]
    for w in workers:
        w.start()
    results = [out.get() for _ in workers]
    for w in workers:
        w.join()
    elapsed = max(r[0] for r in results)
    latencies = np.concatenate([np.asarray(r[1], float) for r in results])
    errors = sum(r[2] for r in results)
    sample = next((r[3] for r in results if r[3]), "")
    return Result(elapsed, latencies, errors, sample)
