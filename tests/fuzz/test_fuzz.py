"""Property-based fuzzing of every route of the three dialects, and a corpus of hostile files
at every endpoint that takes an image, against the real stack: no HTTP 500, no internal-error
code, no answer slower than 30 s, no reply carrying a traceback or a server path, and the
gateway's and the worker's memory bounded.

FACEGATE_FUZZ_EXAMPLES (default 8) sets the examples per route; it prints the counts
docs/operations.md quotes.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Mount, Route

from gateway.app import create_app
from gateway.openapi import document
from tests.conftest import app_headers
from tests.fuzz.hostile import corpus
from tests.support.baidu_sdk import access_token

EXAMPLES = int(os.environ.get("FACEGATE_FUZZ_EXAMPLES", "8"))
TIMEOUT_S = 30.0
ROOT = str(Path(__file__).resolve().parents[2])
LEAKS = re.compile(r"Traceback|File \"|site-packages|" + re.escape(ROOT))
INTERNAL = {"cloudwalk": {4112}, "baidu": set(), "native": {500}}
TALLY: Counter = Counter()


def _routes() -> list[tuple[str, str]]:
    """(method, path) of every dialect route, read from the app itself (not the service's
    own pages: health, metrics, the console and the OpenAPI document, which take no
    parameters; tests/integration/test_openapi.py fuzzes from the document)."""
    found = []

    def walk(routes, prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                walk(route.routes, prefix + route.path)
            elif isinstance(route, Route) and prefix + route.path not in (
                    "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/console"):
                found.extend((m, prefix + route.path) for m in sorted(route.methods - {"HEAD"}))

    walk(create_app().routes, "")
    return found


ROUTES = _routes()


def _parameter_names(document: dict) -> dict[tuple[str, str], list[str]]:
    """(method, path) -> every query and body parameter name the served document gives that
    operation: the fuzzer sends what each route reads, not a hand-kept list."""
    names: dict[tuple[str, str], list[str]] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            found = {p["name"] for p in operation.get("parameters", []) if p["in"] != "path"}
            for content in operation.get("requestBody", {}).get("content", {}).values():
                found |= set(content.get("schema", {}).get("properties", {}))
            names[(method.upper(), path)] = sorted(found)
    return names


NAMES = _parameter_names(document())  # what /openapi.json serves
numbers = st.one_of(st.integers(-2**70, 2**70).map(str), st.sampled_from(
    ["0", "-1", "1e9", "NaN", "0x10", " 7 ", "1" * 400]))
texts = st.one_of(st.text(max_size=300), st.sampled_from(
    ["", " ", "\x00", "a\x00b", "' OR 1=1 --", "../../etc/passwd", "%s%s%n", "\u202e", "😀" * 50,
     "http://127.0.0.1:1/x.jpg", "file:///etc/passwd", "[]", "{}", "null", "true"]))
blobs = st.binary(max_size=2048).map(lambda b: base64.b64encode(b).decode())
nested = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
                      lambda inner: st.one_of(st.lists(inner, max_size=4),
                                              st.dictionaries(st.text(max_size=8), inner,
                                                              max_size=4)), max_leaves=30)
values = st.one_of(texts, numbers, blobs)
FUZZ_GROUP = "fuzzgroup"  # made by the fixture, so routes under /v1/groups/{group} get past it
# Path parameters: values a route accepts (so the fuzzer reaches its body) as well as hostile
# ones; drawn per name, each quoted into the path.
PATH_VALUES = {
    "group": st.one_of(st.just(FUZZ_GROUP), st.from_regex(r"\A[A-Za-z0-9_]{1,64}\Z"), texts),
    "face_id": st.one_of(st.integers(1, 10**6).map(str), numbers),
    "job_id": st.one_of(st.uuids().map(str), texts),
    "app": st.one_of(st.just("fuzz"), texts),
    "uid": st.one_of(st.from_regex(r"\A[A-Za-z0-9_]{1,128}\Z"), texts),
    "number": st.one_of(st.just("11010519491231002X"), texts),
    "cluster_id": st.one_of(st.integers(0, 50).map(str), numbers),
}


def params_for(method: str, path: str):
    path = re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", path)
    # a route served but documented under another method (CloudWalk's GET twins of its POST
    # operations) takes the documented one's names; a dialect's catch-all, none
    names = NAMES.get((method, path)) or next(
        (found for (_, other), found in NAMES.items() if other == path), [])
    # the operation's own names, and now and then one it does not read
    keys = st.one_of(st.sampled_from(names), st.text(max_size=12)) if names else \
        st.text(max_size=12)
    return st.dictionaries(keys, values, max_size=8)


def path_values(path: str):
    return st.fixed_dictionaries({name: PATH_VALUES.get(name, texts)
                                  for name in re.findall(r"\{(\w+)(?::\w+)?\}", path)})


def _dialect(path: str) -> str:
    return "native" if path.startswith("/v1") else "cloudwalk" if path.startswith(
        "/face") else "baidu"


def _check(response: httpx.Response, dialect: str, what: str) -> None:
    assert response.status_code != 500, (what, response.text[:300])
    assert not LEAKS.search(response.text), (what, response.text[:300])
    body = response.json()
    code = (body.get("result") if dialect == "cloudwalk" else body.get("error_code")
            if dialect == "baidu" else response.status_code)
    assert code not in INTERNAL[dialect], (what, body)
    if dialect == "baidu" and code == 216401:  # busy is fine, "internal error" is not
        assert "retry" in body["error_msg"] or "within" in body["error_msg"], (what, body)
    TALLY["clean errors" if code not in (0, 200, 202) else "successes"] += 1


@pytest.fixture(scope="module")
def callers(stack, test_app):
    headers = app_headers(test_app)

    def token() -> str:
        return access_token(stack.base_url, test_app.app.api_key, test_app.secret)

    with httpx.Client(base_url=stack.base_url, timeout=TIMEOUT_S, headers=headers) as http:
        http.post("/v1/groups", json={"name": FUZZ_GROUP})  # 201, or 409 when it exists
        yield http, token


def _send(http: httpx.Client, token, method: str, path: str, data: dict, encoding: str,
          in_path: dict[str, str] | None = None):
    query = {"access_token": token()} if _dialect(path) == "baidu" else {}
    in_path = in_path or {}
    url = re.sub(r"\{(\w+)(:\w+)?\}",
                 lambda m: quote(in_path.get(m.group(1), "x1"), safe="") or "x1", path)
    started = time.monotonic()
    if method in ("GET", "DELETE"):
        response = http.request(method, url, params={**query, **data})
    elif encoding == "json":
        response = http.request(method, url, params=query, json=data)
    elif encoding == "multipart":
        files = {k: (k, v.encode(), "application/octet-stream") for k, v in data.items()}
        response = http.request(method, url, params=query, files=files or {"x": b""})
    else:
        response = http.request(method, url, params=query, data=data)
    assert time.monotonic() - started < TIMEOUT_S
    TALLY["inputs"] += 1
    return response


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_answers_cleanly_whatever_it_is_sent(callers, method, path):
    http, token = callers

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=params_for(method, path), encoding=st.sampled_from(["form", "json", "multipart"]),
           junk=nested, in_path=path_values(path))
    def run(data, encoding, junk, in_path):
        if encoding == "json" and data:
            data = {**data, next(iter(data)): junk}  # a nested value where text belongs
        response = _send(http, token, method, path, data, encoding, in_path)
        _check(response, _dialect(path), f"{method} {path} {encoding} {str(data)[:200]}")

    run()


IMAGE_CALLS = [("/face/tool/detect", "img"), ("/face/tool/feature", "img"),
               ("/face/tool/attribute", "img"), ("/face/tool/removeWater", "img"),
               ("/rest/2.0/face/v2/detect", "image"), ("/rest/2.0/face/v2/faceverify", "image"),
               ("/v1/detect", "image"), ("/v1/analyse", "image")]


def _rss_mb(pid: int) -> float:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines()
                if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_hostile_files_are_refused_cleanly_everywhere(stack, callers, faces):
    http, token = callers
    memory = {"gateway": _rss_mb(stack.gateway.pid), "worker": _rss_mb(stack.workers[0].pid)}
    files = corpus(faces["obama.jpg"])
    for name, blob in files.items():
        encoded = base64.b64encode(blob).decode()
        for path, key in IMAGE_CALLS:
            extra = {"fields": "age"} if path == "/v1/analyse" else {}
            for encoding in ("form", "multipart") if path.startswith("/face") else ("form",):
                if path.startswith("/v1"):
                    response = _send(http, token, "POST", path, {key: encoded, **extra}, "json")
                elif encoding == "multipart":
                    started = time.monotonic()
                    response = http.post(path, files={key: (name, blob)})
                    assert time.monotonic() - started < TIMEOUT_S
                    TALLY["inputs"] += 1
                else:
                    response = _send(http, token, "POST", path, {key: encoded}, "form")
                _check(response, _dialect(path), f"{name} -> {path} {encoding}")
    grown = {k: _rss_mb(p) - memory[k] for k, p in
             (("gateway", stack.gateway.pid), ("worker", stack.workers[0].pid))}
    print(f"fuzz: {dict(TALLY)}; {len(ROUTES)} routes x {EXAMPLES} examples, "
          f"{len(files)} hostile files x {len(IMAGE_CALLS)} calls; memory growth MB "
          f"{json.dumps({k: round(v) for k, v in grown.items()})}")
    assert grown["gateway"] < 300 and grown["worker"] < 1000, grown
