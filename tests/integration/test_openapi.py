"""The OpenAPI 3.1 document (gateway/openapi.py): served by the real gateway, valid, the same
routes the app serves, parameters read off the code; and a property-based fuzz run of every
operation from it (schemathesis) against the real stack with zero server errors."""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance
from starlette.routing import Mount, Route

from gateway.app import create_app
from gateway.dialects.baidu import PREFIX as BAIDU_PREFIX
from gateway.openapi import document
from tests.conftest import TEST_ENV, app_headers, b64, make_app

# examples per operation (~70 operations); FACEGATE_FUZZ_EXAMPLES=100 for a longer run
FUZZ_EXAMPLES = int(os.environ.get("FACEGATE_FUZZ_EXAMPLES", "12"))
SKIPPED_MOUNTS = ("/console",)  # static files, not an API


def _served_routes() -> set[tuple[str, str]]:
    """(path, method) of every route the app serves, mounts followed; a dialect's catch-all
    (its own "not supported" answer) and static files left out."""
    found: set[tuple[str, str]] = set()

    def walk(routes, prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                if prefix + route.path not in SKIPPED_MOUNTS:
                    walk(route.routes, prefix + route.path)
            elif isinstance(route, Route) and "{rest:path}" not in route.path:
                for method in route.methods or ():
                    if method != "HEAD":
                        found.add((prefix + route.path, method))

    walk(create_app().routes, "")
    return found


def test_the_served_document_is_valid_openapi_3_1(client):
    served = client.get("/openapi.json")
    assert served.status_code == 200
    body = served.json()
    assert body["openapi"] == "3.1.0"
    validate(body)  # raises on any violation of the 3.1 schema
    assert body == document()  # the gateway serves what the code generates
    assert client.get("/docs", follow_redirects=False).headers["location"] == "/console/#/api"


def test_the_document_describes_exactly_the_routes_the_app_serves():
    documented = {(path, method.upper()) for path, methods in document()["paths"].items()
                  for method in methods}
    served = _served_routes()
    # every documented operation is served with its method
    assert documented - served == set()
    # every served path is documented; native routes method by method (CloudWalk's and
    # the token endpoint's GET twins of POST are left undocumented on purpose)
    assert {path for path, _ in served} == {path for path, _ in documented}
    native = {route for route in served if route[0].startswith("/v1/")}
    assert native <= documented


def test_parameters_and_answers_come_from_the_declared_contracts():
    paths = document()["paths"]
    identify = paths["/face/recog/group/identify"]["post"]["requestBody"]["content"]
    schema = identify["application/json"]["schema"]
    assert "groupId" in schema["required"]
    assert schema["properties"]["topN"] == {"type": "integer", "minimum": 1,
                                            "maximum": 1000, "default": 1}
    assert "img" in schema["properties"] and "url" in schema["properties"]
    faces = {p["name"]: p for p in paths["/v1/groups/{group}/faces"]["get"]["parameters"]}
    assert faces["group"]["in"] == "path" and faces["tag"]["in"] == "query"
    compare = paths["/v1/compare"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert {"image_a", "image_b_url"} <= set(compare["schema"]["properties"])
    baidu = paths["/rest/2.0/face/v2/faceset/user/add"]["post"]["requestBody"]["content"]
    assert set(baidu) == {"application/x-www-form-urlencoded"}  # Baidu's SDK sends forms
    assert {"uid", "user_info", "group_id"} <= set(
        baidu["application/x-www-form-urlencoded"]["schema"]["required"])
    # read on every path: required; read only for some `op`: not
    def required(path: str) -> list[str]:
        body = paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        return body.get("required", [])

    assert required("/v1/analyse") == ["fields"] and required("/v1/jobs") == ["op"]
    thumb = paths["/v1/groups/{group}/faces/{face_id}/thumbnail"]["get"]["responses"]["200"]
    assert "image/jpeg" in thumb["content"]
    # answers declared with shared/answers.py types are described field by field
    found = paths["/v1/groups/{group}/identify"]["post"]["responses"]["200"]["content"]
    match = found["application/json"]["schema"]["properties"]["matches"]["items"]
    assert match["properties"]["score"] == {"type": "number"}
    assert set(match["required"]) == {"face_id", "tag", "score", "same_person"}
    # constraints: the core's group-name rule, enums, lengths; vendor answers field by field
    assert schema["properties"]["groupId"]["pattern"] == "^[A-Za-z0-9_]+$"
    query = paths["/face/clustering/group/query"]["post"]["requestBody"]["content"]
    assert query["application/json"]["schema"]["properties"]["type"]["enum"] == [
        "queryByPage", "queryByGroupId"]
    user = baidu["application/x-www-form-urlencoded"]["schema"]["properties"]
    assert user["user_info"]["maxLength"] == 256 and "pattern" in user["uid"]
    answer = paths["/face/recog/group/identify"]["post"]["responses"]["200"]["content"]
    success, failure = answer["application/json"]["schema"]["anyOf"]
    assert set(success["required"]) == {"result", "info", "faces"}
    assert success["properties"]["faces"]["items"]["properties"]["faceId"] == {
        "type": "integer"}
    assert set(failure["required"]) == {"result", "info"}
    detect = paths["/rest/2.0/face/v2/detect"]["post"]["responses"]["200"]["content"]
    success, failure = detect["application/json"]["schema"]["anyOf"]
    assert {"log_id", "result_num", "result"} <= set(success["required"])
    assert set(failure["required"]) == {"error_code", "error_msg", "log_id"}
    # the token endpoint is documented from its contract too
    token = paths["/oauth/2.0/token"]["post"]
    form = token["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form["properties"]["grant_type"]["const"] == "client_credentials"
    assert "access_token" in token["responses"]["200"]["content"]["application/json"][
        "schema"]["required"]


TALLY: Counter = Counter()  # answers by status class, printed at the end (-s shows it)


@pytest.fixture(scope="module")
def fuzz_target(stack) -> Iterator[dict]:
    """A gateway of its own (tokens that outlive the run), and an app of its own (whatever
    the fuzz makes or deletes stays in its tenancy)."""
    url = stack.start_extra_gateway({"FACEGATE_TOKEN_TTL": "3600"})
    app = make_app(stack, "fuzz")
    token = httpx.post(f"{url}/oauth/2.0/token", data={
        "grant_type": "client_credentials", "client_id": app.app.api_key,
        "client_secret": app.secret}).json()["access_token"]
    yield {"url": url, "token": token,
           "headers": {**app_headers(app), "admin_secret": TEST_ENV["FACEGATE_ADMIN_SECRET"]}}
    print(f"\nschemathesis: {sum(TALLY.values())} requests, by status "
          f"{dict(sorted(TALLY.items()))}")


schema = schemathesis.openapi.from_dict(document())
# positive data (what the document admits) and negative data (what it refuses): either way no
# server error, and every answer matches the schema of its status
schema.config.generation.update(with_security_parameters=False,
                                modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@schema.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_no_operation_answers_a_server_error(case, fuzz_target):
    if case.path.startswith(BAIDU_PREFIX):
        case.query = {**(case.query or {}), "access_token": fuzz_target["token"]}
    response = case.call(base_url=fuzz_target["url"], headers=fuzz_target["headers"],
                         timeout=120)
    TALLY[f"{case.meta.generation.mode.value if case.meta else '?'} "
          f"{response.status_code // 100}xx"] += 1
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


def test_real_answers_of_the_image_operations_match_the_document(facegate, face_paths):
    """The fuzz run rarely sends a real photo, so the image operations' answers are checked
    here: each real answer against the schema the document gives it for that status."""
    from jsonschema import Draft202012Validator

    paths = document()["paths"]

    def check(path: str, method: str, status: int, body: dict) -> None:
        schema = paths[path][method]["responses"][str(status)]["content"]["application/json"]
        Draft202012Validator(schema["schema"]).validate(body)

    obama, players = face_paths["obama.jpg"], face_paths["players.jpg"]
    detected = facegate.call("POST", "/v1/detect", data={"crops": "true", "features": "true"},
                             files={"image": obama.read_bytes()})
    check("/v1/detect", "post", 200, detected)
    feature = facegate.feature(obama)
    check("/v1/feature", "post", 200, feature)
    check("/v1/compare", "post", 200, facegate.compare(obama, face_paths["obama2.jpg"]))
    many = facegate.call("POST", "/v1/compare/many", files={
        "image_a": obama.read_bytes(), "image_b": players.read_bytes()})
    check("/v1/compare/many", "post", 200, many)
    check("/v1/analyse", "post", 200, facegate.analyse(players, ["age", "landmarks", "pose"]))
    check("/v1/similarity", "post", 200, facegate.similarity(feature["feature"],
                                                            feature["feature"]))
    check("/v1/models", "get", 200, facegate.models())
    queued = facegate.call("POST", "/v1/detect", data={"async": "true"},
                           files={"image": obama.read_bytes()})
    check("/v1/detect", "post", 202, queued)
    done = facegate.wait_for_job(queued["job_id"], poll_s=0.25, timeout_s=120)
    check("/v1/jobs/{job_id}", "get", 200, done)
    check("/v1/detect", "post", 200, done["result"])


def _checker(path: str):
    from jsonschema import Draft202012Validator

    schema = document()["paths"][path]["post"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    success = schema["anyOf"][0]  # the answer inside its envelope; [1] is the failure alone
    return Draft202012Validator(success).validate


def test_real_vendor_answers_match_their_declared_fields(client, sdk, faces):
    """CloudWalk's and Baidu's answers on real photos, each against the success schema the
    document declares for it (field by field, as the vendor documents define them)."""
    group = f"vendor_{uuid.uuid4().hex[:8]}"
    obama, players = b64(faces["obama.jpg"]), b64(faces["players.jpg"])

    def cloudwalk(path: str, **fields) -> dict:
        body = client.post(path, data=fields).json()
        assert body["result"] == 0, (path, body)
        _checker(path)(body)
        return body

    cloudwalk("/face/tool/detect", img=players, mode="1")
    cloudwalk("/face/tool/attribute", img=players)
    cloudwalk("/face/tool/keypt", img=obama)
    cloudwalk("/face/tool/compare/ext1", imgA=obama, imgB=players)
    cloudwalk("/face/clustering/group/create", groupId=group, tag="people")
    face = cloudwalk("/face/clustering/face/create", groupId=group, img=obama, tag="Barack")
    cloudwalk("/face/clustering/group/query", type="queryByPage", faceCount="true")
    cloudwalk("/face/clustering/face/query", groupId=group, faceId=str(face["faceId"]))
    cloudwalk("/face/recog/group/identify", groupId=group, img=b64(faces["obama2.jpg"]),
              topN="3")
    cloudwalk("/face/recog/group/identify/ext1", groupId=group, img=players)

    def baidu(path: str, answer: dict) -> None:
        assert "error_code" not in answer, (path, answer)
        _checker(BAIDU_PREFIX + path)(answer)

    baidu("/detect", sdk.detect(faces["players.jpg"], {
        "max_face_num": 5, "face_fields": "age,beauty,expression,faceshape,gender,glasses,"
                                          "landmark,qualities"}))
    baidu("/match", sdk.match([faces["obama.jpg"], faces["obama2.jpg"]],
                              {"ext_fields": "qualities"}))
    baidu("/faceset/user/add", sdk.addUser("obama", "Barack", group, faces["obama.jpg"]))
    baidu("/identify", sdk.identifyUser(group, faces["obama2.jpg"],
                                        {"ext_fields": "faceliveness"}))
    baidu("/verify", sdk.verifyUser("obama", group, faces["obama2.jpg"]))
    baidu("/multi-identify", sdk.multiIdentify(group, faces["players.jpg"],
                                               {"detect_top_num": 3}))
    baidu("/faceset/user/get", sdk.getUser("obama"))
    baidu("/faceset/group/getlist", sdk.getGroupList())
