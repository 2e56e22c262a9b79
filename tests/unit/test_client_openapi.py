"""The client's answer types (services/client/facegate_client/answers.py, a copy: the client
installs without the server) against the server's /openapi.json: each call the client makes
is a documented operation with that method, and the type the client declares for its answer
has the very schema the document gives the operation's success answer. A field the server
adds, drops or retypes without the client following fails here.

The document is gateway.openapi.document(), which the gateway serves as /openapi.json
(tests/integration/test_openapi.py checks the two are equal), so no stack is needed."""

from __future__ import annotations

import inspect
import json
import re
import typing
from typing import Any

import pytest
from pydantic import TypeAdapter

from gateway.openapi import document
from services.client.facegate_client import AsyncFacegate, Facegate, answers
from services.client.facegate_client import operations as ops
from services.client.facegate_client.call import Call

NOT_OPERATIONS = {"close", "send", "call", "cloudwalk"}  # any request / CloudWalk's dialect


def _first(steps: Any) -> Call[Any]:
    """The first request of an operation that makes several."""
    return steps if isinstance(steps, Call) else next(steps)


def _client_calls() -> dict[str, Call[Any]]:
    """Each method of the client by name, with the first request it sends."""
    image = b"\xff\xd8 a photo"
    made = {
        "detect": ops.detect(image, True),
        "analyse": ops.analyse("https://photos.test/a.jpg", ["age"]),
        "feature": ops.feature(image),
        "compare": ops.compare(image, "https://photos.test/b.jpg"),
        "similarity": ops.similarity("a", "b"),
        "models": ops.models(),
        "groups": ops.groups(1, 10),
        "create_group": ops.create_group("staff", "", True),
        "update_group": ops.update_group("staff", "lenient"),
        "delete_group": ops.delete_group("staff"),
        "faces": ops.faces("staff", "", 0, 10),
        "enrol": ops.enrol("staff", image, "alice", "auto"),
        "delete_face": ops.delete_face("staff", 7),
        "thumbnail": ops.thumbnail("staff", 7),
        "identify": ops.identify("staff", image, 3),
        "create_person": ops.create_person("staff", "Ann Lee", "ann"),
        "people": ops.people("staff", 0, 10),
        "person": ops.person("staff", "ann"),
        "rename_person": ops.rename_person("staff", "ann", "Ann B. Lee"),
        "delete_person": ops.delete_person("staff", "ann"),
        "person_faces": ops.person_faces("staff", "ann", 0, 10),
        "merge_people": ops.merge_people("staff", "ann", "ann2"),
        "export_group": ops.export_group("staff"),
        "reembed": ops.reembed("staff", "arcface"),
        "import_group": ops.import_group("staff", b"{}\n"),
        "not_person": ops.not_person("staff", "ann", 7),
        "move_face": ops.move_face("staff", 7, "ann"),
        "confirm_cluster": ops.confirm_cluster("staff", 2, name="Ann"),
        "merge_clusters": ops.merge_clusters("staff", 2, 3),
        "move_to_cluster": ops.move_to_cluster("staff", 2, [7]),
        "split_cluster": ops.split_cluster("staff", 2, [7]),
        "cluster": ops.cluster("staff", None),
        "clusters": ops.clusters("staff", 0, 10),
        "all_clusters": ops.all_clusters("staff"),
        "name_cluster": ops.name_cluster("staff", 2, "alice"),
        "bulk_archive": ops.bulk_archive("staff", b"tar", b"csv"),
        "bulk_items": ops.bulk_items("staff", [{"image_url": "https://photos.test/a.jpg"}]),
        "bulk_lines": ops.bulk_lines("staff", b"url\n", "text/csv"),
        "job": ops.job("j1"),
        "jobs": ops.jobs(5),
        "job_items": ops.job_items("j1", 0, 10, None),
        "all_job_items": ops.all_job_items("j1", "failed"),
        "cancel_job": ops.cancel_job("j1"),
        "wait_for_jobs": ops.wait_for_jobs(["j1", "j2"], 1.0, None, None),
        "wait_for_job": ops.wait_for_job("j1", 1.0, None),
    }
    return {name: _first(steps) for name, steps in made.items()}


def _documented(method: str, path: str) -> dict:
    """The document's operation serving this request (the template with most literal parts
    where several match)."""
    found = []
    for template, methods in document()["paths"].items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path) and method.lower() in methods:
            found.append((template.count("{"), template))
    assert found, f"{method} {path}: no such operation in /openapi.json"
    return document()["paths"][min(found)[1]][method.lower()]


# What the server documents beyond a field's shape: prose, and the ranges the worker's result
# declares (shared/results.py), which the client's plain TypedDicts cannot say.
_NOT_SHAPE = {"title", "description", "minimum", "maximum", "additionalProperties"}


def _normalised(node: Any, defs: dict[str, Any], names: bool = False) -> Any:
    """A schema with $refs inlined, prose and value ranges left out (_NOT_SHAPE), and the
    order of unions and of required names made irrelevant. `names`: node maps property names,
    kept whatever they are (an answer may have a field called `title`)."""
    if isinstance(node, dict):
        if "$ref" in node:
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return _normalised({**defs[node["$ref"].rsplit("/", 1)[-1]], **rest}, defs)
        fixed_tuple = "prefixItems" in node  # a tuple's length is its shape
        out = {key: _normalised(value, defs, key == "properties" and not names)
               for key, value in node.items()
               if key != "$defs" and (names or (key not in _NOT_SHAPE and (
                   fixed_tuple or key not in ("minItems", "maxItems"))))}
        if not names and isinstance(out.get("anyOf"), list):
            out["anyOf"] = sorted(out["anyOf"], key=lambda branch: json.dumps(branch,
                                                                              sort_keys=True))
        if not names and isinstance(out.get("required"), list):
            out["required"] = sorted(out["required"])
        return out
    if isinstance(node, list):
        return [_normalised(item, defs) for item in node]
    return node


def _schema_of(answer: Any) -> Any:
    schema = TypeAdapter(answer).json_schema(mode="serialization")
    return _normalised(schema, schema.get("$defs", {}))


def _differences(documented: Any, client: Any, where: str = "") -> list[str]:
    """Where two schemas differ, as paths: what a failure has to say to be fixed quickly."""
    if isinstance(documented, dict) and isinstance(client, dict):
        found = [f"{where}/{key}: only in {'/openapi.json' if key in documented else 'client'}"
                 for key in documented.keys() ^ client.keys()]
        for key in documented.keys() & client.keys():
            found += _differences(documented[key], client[key], f"{where}/{key}")
        return found
    if isinstance(documented, list) and isinstance(client, list) and len(documented) == len(
            client):
        return [line for i, (a, b) in enumerate(zip(documented, client, strict=True))
                for line in _differences(a, b, f"{where}/{i}")]
    return [] if documented == client else [f"{where}: {documented!r} != client {client!r}"]


def _success_schemas(operation: dict) -> list[Any]:
    return [_normalised(response["content"]["application/json"]["schema"], {})
            for status, response in operation["responses"].items()
            if status.startswith("2") and "application/json" in response.get("content", {})]


def test_every_method_of_the_client_is_checked_here():
    methods = {name for name, _ in inspect.getmembers(Facegate, inspect.isfunction)
               if not name.startswith("_")}
    assert methods - NOT_OPERATIONS == set(_client_calls())


@pytest.mark.parametrize("name", sorted(_client_calls()))
def test_each_call_is_a_documented_operation_answered_as_the_client_declares(name):
    call = _client_calls()[name]
    operation = _documented(call.method, call.path)
    if call.answer is None:  # a binary answer
        [success] = [response for status, response in operation["responses"].items()
                     if status.startswith("2")]
        assert "application/json" not in success["content"]
        return
    expected = _schema_of(call.answer)
    schemas = _success_schemas(operation)
    assert schemas, f"{name}: the document declares no JSON answer"
    for documented in schemas:
        assert documented == expected, (
            f"{name}: {call.method} {call.path}: the client's {call.answer} differs from "
            "/openapi.json (update services/client/facegate_client/answers.py):\n"
            + "\n".join(_differences(documented, expected)))


def test_error_answers_are_the_problem_the_client_reads():
    native = [operation for path, methods in document()["paths"].items()
              if path.startswith("/v1/") for operation in methods.values()]
    problems = {json.dumps(_normalised(operation["responses"]["default"]["content"][
        "application/problem+json"]["schema"], {}), sort_keys=True) for operation in native}
    assert problems == {json.dumps(_schema_of(answers.Problem), sort_keys=True)}


def _types_in(tp: Any, seen: set[type]) -> None:
    if typing.is_typeddict(tp) and tp not in seen:
        seen.add(tp)
        for hint in typing.get_type_hints(tp).values():
            _types_in(hint, seen)
    for arg in typing.get_args(tp):
        _types_in(arg, seen)


def test_every_answer_type_of_the_client_is_compared():
    declared = {value for value in vars(answers).values()
                if typing.is_typeddict(value) and value.__module__ == answers.__name__}
    compared: set[type] = set()
    for call in _client_calls().values():
        _types_in(call.answer, compared)
    _types_in(answers.Problem, compared)
    assert declared - compared == set()


def test_the_sync_and_async_clients_have_the_same_methods():
    def public(cls: type) -> dict[str, inspect.Signature]:
        return {name: inspect.signature(member).replace(return_annotation=None)
                for name, member in inspect.getmembers(cls, inspect.isfunction)
                if not name.startswith("_")}

    sync, asynchronous = public(Facegate), public(AsyncFacegate)
    assert sync.keys() == asynchronous.keys()
    different = {name for name in sync
                 if str(sync[name]) != str(asynchronous[name]) and name != "__init__"}
    assert different == set()
