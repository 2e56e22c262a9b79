"""The declared parameter models (gateway/contract.py) as the frame reads a request with them:
form text and JSON values alike, each failure the dialects' error naming the field."""

from __future__ import annotations

import pytest

from gateway.contract import Declared
from gateway.dialects.baidu.faceset import Registration
from gateway.dialects.baidu.images import PersonVerify
from gateway.dialects.cloudwalk.gallery import FaceEdit, GroupQuery
from gateway.dialects.native.groups import GroupChange
from gateway.dialects.native.ingest import ItemsQuery
from gateway.dialects.native.operations import AnalyseParams
from shared.errors import ERRORS, FaceError


def read(model, raw: dict):
    return Declared(None, model).read(raw)


def refused(model, raw: dict) -> FaceError:
    with pytest.raises(FaceError) as caught:
        read(model, raw)
    return caught.value


def test_form_text_and_json_values_read_alike():
    form = read(GroupQuery, {"type": "queryByPage", "pageSize": "5", "faceCount": "1"})
    typed = read(GroupQuery, {"type": "queryByPage", "pageSize": 5, "faceCount": True})
    assert form == typed and form.pageSize == 5 and form.faceCount is True
    assert form.pageNumber == 1  # declared default
    # a comma-separated list, its JSON text, or a JSON list
    for fields in ("age, gender,age", '["age", "gender"]', ["age", "gender"]):
        assert read(AnalyseParams, {"fields": fields}).fields == ["age", "gender"]
    conf = {"quality_conf": '{"blur": 0.5}'}
    person = {"id_card_number": "11010519491231002X", "name": "王小明", "image": "aGk="}
    assert read(PersonVerify, {**person, **conf}).quality_conf == {"blur": 0.5}
    assert read(PersonVerify, {**person, "quality_conf": {"blur": 0.5}}).quality_conf == {
        "blur": 0.5}


@pytest.mark.parametrize(("model", "raw", "kind", "message"), [
    (GroupQuery, {}, ERRORS.PARAM_MISSING, "type is required"),
    (GroupQuery, {"type": "   "}, ERRORS.PARAM_MISSING, "type is required"),  # blank: absent
    (GroupQuery, {"type": "all"}, ERRORS.PARAM_INVALID, "type must be one of"),
    (GroupQuery, {"type": "queryByPage", "pageSize": "0"}, ERRORS.PARAM_INVALID,
     "pageSize must be in [1, 1000]"),
    (GroupQuery, {"type": "queryByPage", "pageNumber": "x"}, ERRORS.PARAM_INVALID,
     "pageNumber must be an integer"),
    (GroupQuery, {"type": "queryByPage", "faceCount": "maybe"}, ERRORS.PARAM_INVALID,
     "faceCount must be true or false"),
    (GroupQuery, {"type": "queryByGroupId", "groupId": "a-b"}, ERRORS.PARAM_INVALID,
     "groupId must be 1-64 letters, digits or _"),  # the core's group rule, its own words
    (FaceEdit, {"groupId": "g", "faceId": "1", "tag": "a\x00b"}, ERRORS.PARAM_INVALID,
     "tag holds a NUL character"),
    (FaceEdit, {"groupId": "g", "faceId": str(2**63)}, ERRORS.PARAM_INVALID, "faceId must be in"),
    (AnalyseParams, {"fields": "age,mood"}, ERRORS.PARAM_INVALID, "unknown: mood"),
    (AnalyseParams, {"fields": "[1, 2"}, ERRORS.PARAM_INVALID, "not a JSON list"),
    (ItemsQuery, {"job_id": "j", "status": "lost"}, ERRORS.PARAM_INVALID,
     "status must be one of"),
    (Registration, {"group_id": "g", "uid": "a b", "user_info": "i", "image": "aGk="},
     ERRORS.PARAM_INVALID, "uid: letters, digits and _ only"),
    (Registration, {"group_id": "g," * 600, "uid": "u", "user_info": "i", "image": "aGk="},
     ERRORS.PARAM_TOO_LONG, "group_id"),
    (PersonVerify, {"id_card_number": "110105194912310021", "name": "王小明", "image": "aGk="},
     ERRORS.PARAM_INVALID, "check digit"),
    (PersonVerify, {"id_card_number": "11010519491231002X", "name": "王小明", "image": "aGk=",
                    "quality_conf": "[1]"}, ERRORS.PARAM_INVALID, "must be a JSON object"),
])
def test_each_failure_names_the_field_and_what_is_wrong(model, raw, kind, message):
    error = refused(model, raw)
    assert error.kind is kind and message in error.detail, error.detail


def test_an_empty_tag_is_kept_where_it_means_something():
    # CloudWalk face/edit: tag="" clears the tag; absent leaves it
    assert read(FaceEdit, {"groupId": "g", "faceId": "3", "tag": ""}).tag == ""
    assert read(FaceEdit, {"groupId": "g", "faceId": "3"}).tag is None


def test_a_clearable_field_tells_null_and_blank_from_left_out():
    # PATCH /v1/groups/{group}: quality null or "" clears the group's level, left out keeps it
    for cleared in (None, "", "  "):
        change = read(GroupChange, {"group": "g", "quality": cleared})
        assert change.quality is None and "quality" in change.model_fields_set
    kept = read(GroupChange, {"group": "g", "tag": "t"})
    assert "quality" not in kept.model_fields_set and kept.tag == "t"
    assert read(GroupChange, {"group": "g", "quality": "lenient"}).quality == "lenient"
    assert read(GroupChange, {"group": "g", "tag": ""}).tag == ""  # "" clears the tag
    assert read(GroupChange, {"group": "g", "tag": None}).tag is None  # null: left as it is
    error = refused(GroupChange, {"group": "g", "quality": "loose"})
    assert error.kind is ERRORS.PARAM_INVALID and "quality" in error.detail, error.detail
