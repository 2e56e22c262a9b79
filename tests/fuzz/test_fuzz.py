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


def _parameters(document: dict) -> dict[tuple[str, str], dict[str, dict[str, dict]]]:
    """(method, path) -> {"path": {name: schema}, "fields": {name: schema}}: every parameter
    the served document gives that operation, with its schema, so the fuzzer sends what each
    route declares (valid values drawn from the schema as well as hostile ones)."""
    found: dict[tuple[str, str], dict[str, dict[str, dict]]] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where: dict[str, dict[str, dict]] = {"path": {}, "fields": {}}
            for p in operation.get("parameters", []):
                where["path" if p["in"] == "path" else "fields"][p["name"]] = p["schema"]
            for content in operation.get("requestBody", {}).get("content", {}).values():
                where["fields"].update(content.get("schema", {}).get("properties", {}))
            found[(method.upper(), path)] = where
    return found


PARAMETERS = _parameters(document())  # what /openapi.json serves
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
hostile = st.one_of(texts, numbers, blobs)
FUZZ_GROUP = "fuzzgroup"  # made by the fixture, so routes under /v1/groups/{group} get past it


def valid(schema: dict):
    """Values the schema admits (the document's positive data)."""
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema:
        return st.one_of([valid(branch) for branch in schema["anyOf"]])
    kind = schema.get("type")
    if kind == "integer":
        return st.integers(schema.get("minimum", -2**31), schema.get("maximum", 2**31))
    if kind == "number":
        return st.floats(schema.get("exclusiveMinimum", schema.get("minimum", -1e6)),
                         schema.get("exclusiveMaximum", schema.get("maximum", 1e6)),
                         exclude_min="exclusiveMinimum" in schema,
                         exclude_max="exclusiveMaximum" in schema, allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    longest = min(schema.get("maxLength", 64), 300)
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True).filter(
            lambda v: schema.get("minLength", 0) <= len(v) <= longest)
    return st.text(min_size=schema.get("minLength", 0), max_size=longest)


def params_for(method: str, path: str):
    path = re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", path)
    # a route served but documented under another method (CloudWalk's GET twins of its POST
    # operations) takes the documented one's parameters; a dialect's catch-all, none
    fields = (PARAMETERS.get((method, path)) or next(
        (found for (_, other), found in PARAMETERS.items() if other == path),
        {"fields": {}}))["fields"]
    # the operation's own names (valid values or hostile ones), now and then one it does not
    # read
    entries = [st.tuples(st.just(name), st.one_of(valid(schema), hostile))
               for name, schema in fields.items()]
    entries.append(st.tuples(st.text(max_size=12), hostile))
    return st.lists(st.one_of(entries), max_size=8).map(dict)


def path_values(method: str, path: str):
    """Each path parameter: a valid value from its schema (the fuzz group for `group`, so
    routes get past it), or a hostile one."""
    declared = PARAMETERS.get((method, re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", path)),
                              {"path": {}})["path"]
    drawn = {}
    for name in re.findall(r"\{(\w+)(?::\w+)?\}", path):
        schema = declared.get(name, {"type": "string"})
        drawn[name] = st.one_of(st.just(FUZZ_GROUP) if name == "group" else valid(schema),
                                valid(schema), hostile).map(_wire)
    return st.fixed_dictionaries(drawn)


def _wire(value: object) -> str:
    """A value as a form, multipart part, query or path segment carries it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _dialect(path: str) -> str:
    return "native" if path.startswith("/v1") else "cloudwalk" if path.startswith(
        "/face") else "baidu"


def _check(response: httpx.Response, dialect: str, what: str) -> None:
    assert response.status_code != 500, (what, response.text[:300])
    assert not LEAKS.search(response.text), (what, response.text[:300])
    if response.is_redirect:  # an empty path parameter: /v1/jobs/ -> /v1/jobs (Starlette)
        TALLY["clean errors"] += 1
        return
    kind = response.headers.get("content-type", "")
    if kind.startswith(("application/x-ndjson", "image/jpeg")):  # an export, a thumbnail
        assert response.status_code == 200, (what, response.text[:300])
        if kind.startswith("application/x-ndjson"):
            for line in response.text.splitlines():  # one JSON document a line
                json.loads(line)
        TALLY["successes"] += 1
        return
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
    text = {key: _wire(value) for key, value in data.items()}
    if method in ("GET", "DELETE"):
        response = http.request(method, url, params={**query, **text})
    elif encoding == "json":
        response = http.request(method, url, params=query, json=data)
    elif encoding == "multipart":
        files = {k: (k, v.encode(), "application/octet-stream") for k, v in text.items()}
        response = http.request(method, url, params=query, files=files or {"x": b""})
    else:
        response = http.request(method, url, params=query, data=text)
    assert time.monotonic() - started < TIMEOUT_S
    TALLY["inputs"] += 1
    return response


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_answers_cleanly_whatever_it_is_sent(callers, method, path):
    http, token = callers

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=params_for(method, path), encoding=st.sampled_from(["form", "json", "multipart"]),
           junk=nested, in_path=path_values(method, path))
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
