"""Declared contracts: each route's parameters as a pydantic model (their constraints included)
and its answer as a type. The frame validates a request with the one (gateway/frame.py), the
OpenAPI document is generated from both (gateway/openapi/), and the handler receives the model
instance, typed.

A request's parameters arrive from the query string, the path, and a form, multipart or JSON
body (gateway/params.py); JSON keeps its types, a form's text is read in pydantic's lax mode
("5" is 5, "true" is True). Rules every model shares (Fields): a blank value is an absent one
(unless the model keeps it: KEEP_BLANK, or reads it as "clear": CLEARABLE), text holds no NUL
character (PostgreSQL refuses them), integers stay inside PostgreSQL's bigint.
A failure becomes the dialect's own error through FaceError: PARAM_MISSING or PARAM_INVALID
naming the field and what is wrong with it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, get_args, get_origin, get_type_hints

import annotated_types
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from starlette.responses import Response

from services.recognition import catalogue, persons
from shared.errors import ERRORS, FaceError
from shared.resident_id import validate_id_number, validate_name

MAX_INT = 2**62  # ids, offsets and pages stay inside PostgreSQL's bigint


class Fields(BaseModel):
    """The base of every route's parameters."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True,
                              coerce_numbers_to_str=True)
    # fields where an empty value means something (a tag set to ""), not "absent"
    KEEP_BLANK: ClassVar[frozenset[str]] = frozenset()
    # fields where null or an empty value clears a stored setting (a PATCH's), so they arrive
    # as None and in model_fields_set, told apart from a field left out (unchanged)
    CLEARABLE: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise FaceError(ERRORS.PARAM_INVALID, "parameters must be an object")
        kept = {}
        for key, value in data.items():
            blank = value is None or (isinstance(value, str | bytes) and not value.strip())
            if key in cls.CLEARABLE:
                kept[key] = None if blank else value
            elif not blank or (value is not None and key in cls.KEEP_BLANK):
                kept[key] = value
        return kept

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise FaceError(ERRORS.PARAM_INVALID, f"{info.field_name} holds a NUL character")
        return value


# shared field types -------------------------------------------------------------------------
def _text(value: Any, info: ValidationInfo) -> str:
    """Text, or a JSON number written as text (a client's numeric name)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise FaceError(ERRORS.PARAM_INVALID, f"{_name(info)} must be text")
    return value


def _group(value: Any, info: ValidationInfo) -> str:
    return catalogue.group_name(_text(value, info), _name(info))


def _tag(value: Any, info: ValidationInfo) -> str:
    return catalogue.tag_text(_text(value, info), _name(info))


def _name(info: ValidationInfo) -> str:
    return info.field_name or "value"


GROUP_SCHEMA = {"type": "string", "minLength": 1, "maxLength": catalogue.GROUP_NAME_LONGEST,
                "pattern": catalogue.GROUP_NAME.pattern,
                "description": "a group name (letters, digits, _), every dialect's rule"}
# the core's rule, checked by the core's function (its own message)
GroupName = Annotated[str, BeforeValidator(_group), WithJsonSchema(GROUP_SCHEMA)]
Tag = Annotated[str, BeforeValidator(_tag), WithJsonSchema({
    "type": "string", "maxLength": catalogue.MAX_TAG_BYTES,
    "description": f"any text, at most {catalogue.MAX_TAG_BYTES} bytes (UTF-8)"})]
# an image as base64 text, or (multipart) the file itself
ImageData = Annotated[str | bytes, WithJsonSchema({
    "type": "string", "contentEncoding": "base64",
    "description": "the image (JPEG, PNG, WEBP, HEIC, ...) as base64, or the file in a "
                   "multipart upload"})]
ImageUrl = Annotated[str, Field(max_length=4096), WithJsonSchema({
    "type": "string", "format": "uri", "maxLength": 4096,
    "description": "an http(s) URL of the image, fetched by the gateway"})]
CallbackUrl = Annotated[str, Field(max_length=2048), WithJsonSchema({
    "type": "string", "format": "uri", "maxLength": 2048,
    "description": "an http(s) URL POSTed once when the job ends, signed with the app's "
                   "webhook secret (docs/api.md, \"Webhooks\")"})]
# a resident ID number (GB 11643: its birth date and check digit checked) and the name on it
IdNumber = Annotated[str, BeforeValidator(lambda v, info: validate_id_number(_text(v, info))),
                     WithJsonSchema({"type": "string", "pattern": r"^\s*[0-9]{17}[0-9Xx]\s*$",
                                     "description": "an 18-character resident ID number "
                                                    "(GB 11643; its check digit checked)"})]
PersonName = Annotated[str, BeforeValidator(lambda v, info: validate_name(_text(v, info))),
                       WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 64,
                                       "description": "the name on the ID card: Chinese or "
                                                      "Latin letters"})]
# a person's id (Baidu's uid rule, so Baidu's API can name every person) and name
PersonId = Annotated[str, BeforeValidator(lambda v, info: persons.person_id(_text(v, info),
                                                                            _name(info))),
                     WithJsonSchema({"type": "string", "pattern": persons.PERSON_ID.pattern,
                                     "description": "a person's id: 1-128 letters, digits "
                                                    "or _ (a Baidu uid)"})]
PersonLabel = Annotated[str, BeforeValidator(lambda v, info: persons.person_name(
    _text(v, info), _name(info))), WithJsonSchema({
        "type": "string", "minLength": 1, "maxLength": persons.NAME_LONGEST_BYTES,
        "description": f"the person's name: any text of at most {persons.NAME_LONGEST_BYTES} "
                       "bytes (Baidu's user_info)"})]
Id = Annotated[int, Field(ge=1, le=MAX_INT)]
Offset = Annotated[int, Field(ge=0, le=MAX_INT)]
LEVELS_MEANING = ("strict: the full quality gate; lenient: sunglasses and turns up to "
                  "FACEGATE_GATE_LENIENT_MAX_ANGLE (60 degrees) allowed, tiny, dark, blurred, "
                  "masked and cut-off faces still refused; none: any detected face")


def quality_level(unset: str, what: str = "the enrolment's quality level") -> Any:
    """An enrolment quality level (shared/quality_gate.py), optional: `what` it is, and what
    applies when it is `unset`."""
    return Field(None, description=f"{what} ({LEVELS_MEANING}); unset: {unset}")


def _comma_list(allowed: frozenset[str]) -> Callable[[Any, ValidationInfo], list[str]]:

    def split(value: Any, info: ValidationInfo) -> list[str]:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            names = [v.strip() for v in value if v.strip()]
        elif isinstance(value, str) and value.strip().startswith("["):  # a JSON list as text
            try:
                return split(json.loads(value), info)
            except ValueError:
                raise FaceError(ERRORS.PARAM_INVALID, f"{_name(info)} is not a JSON list") from None
        elif isinstance(value, str):
            names = [v.strip() for v in value.split(",") if v.strip()]
        else:
            raise FaceError(ERRORS.PARAM_INVALID, f"{_name(info)}: comma-separated names")
        if not names:
            raise FaceError(ERRORS.PARAM_INVALID, f"{_name(info)}: one name or more")
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise FaceError(ERRORS.PARAM_INVALID, f"{_name(info)} must be among "
                            f"{', '.join(sorted(allowed))}; unknown: {', '.join(unknown)}")
        return list(dict.fromkeys(names))

    return split


def names_pattern(names: Iterable[str]) -> str:
    """A regular expression for a comma-separated list of `names`."""
    one = "|".join(sorted(names))
    return rf"^\s*({one})?\s*(,\s*({one})?\s*)*$"


def comma_list(allowed: Iterable[str], description: str = "") -> Any:
    """A comma-separated list of names from `allowed` (or a JSON list), read as a list."""
    allowed = sorted(allowed)
    return Annotated[list[str], BeforeValidator(_comma_list(frozenset(allowed))), WithJsonSchema({
        "type": "string", "pattern": names_pattern(allowed),
        "description": description or f"comma-separated, among {', '.join(allowed)}"})]


def json_object(value: Any, info: ValidationInfo) -> dict:
    """A JSON object, sent as one (JSON body) or as its text (a form)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise FaceError(ERRORS.PARAM_INVALID, f"{_name(info)} is not JSON") from None
    if not isinstance(value, dict):
        raise FaceError(ERRORS.PARAM_INVALID, f"{_name(info)} must be a JSON object")
    return value


# validation errors as the dialects' errors ---------------------------------------------------
_WHAT = {
    "int_parsing": "must be an integer", "int_type": "must be an integer",
    "int_from_float": "must be an integer", "bool_parsing": "must be true or false",
    "bool_type": "must be true or false", "float_parsing": "must be a number",
    "float_type": "must be a number", "finite_number": "must be a number",
    "string_type": "must be text", "bytes_type": "must be text or a file",
    "list_type": "must be a list", "dict_type": "must be an object",
}


def _bounds(model: type[BaseModel], name: str) -> tuple[Any, Any]:
    field = model.model_fields.get(name)
    low = high = None
    for meta in field.metadata if field else ():
        if isinstance(meta, annotated_types.Ge):
            low = meta.ge
        elif isinstance(meta, annotated_types.Le):
            high = meta.le
    return low, high


def refusal(model: type[BaseModel], error: ValidationError) -> FaceError:
    """The first failure of a request's validation, as the dialects' error."""
    first = error.errors(include_url=False)[0]
    loc = [str(part) for part in first["loc"]]
    name = loc[0] if loc else "parameters"
    field = model.model_fields.get(name)
    if field is not None and field.alias:
        name = field.alias
    kind, ctx = first["type"], first.get("ctx") or {}
    if kind == "missing":
        return FaceError(ERRORS.PARAM_MISSING, f"{name} is required")
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        low, high = _bounds(model, loc[0])
        if low is not None and high is not None:
            return FaceError(ERRORS.PARAM_INVALID, f"{name} must be in [{low}, {high}]")
        return FaceError(ERRORS.PARAM_INVALID, f"{name}: {first['msg'].lower()}")
    if kind == "literal_error":
        return FaceError(ERRORS.PARAM_INVALID, f"{name} must be one of {ctx.get('expected')}")
    if kind == "string_too_long":
        return FaceError(ERRORS.PARAM_INVALID,
                         f"{name} is over {ctx.get('max_length')} characters")
    if kind == "string_pattern_mismatch":
        return FaceError(ERRORS.PARAM_INVALID, f"{name} must match {ctx.get('pattern')}")
    if kind in _WHAT:
        return FaceError(ERRORS.PARAM_INVALID, f"{name} {_WHAT[kind]}")
    return FaceError(ERRORS.PARAM_INVALID, f"{name}: {first['msg']}")


# routes ------------------------------------------------------------------------------------
class NoFields(Fields):
    """A route without parameters."""


@dataclass(frozen=True)
class Declared:
    """A handler with its contract: the parameters it takes, the answer it gives (read from
    its return annotation unless given), the HTTP statuses of success, and the setting that
    bounds its request body."""

    handler: Callable[..., Awaitable[Any]]
    params: type[Fields]
    answer: Any = None
    statuses: tuple[int, ...] = (200,)
    max_body_setting: str = "max_body_bytes"

    def read(self, raw: dict[str, Any]) -> Fields:
        try:
            return self.params.model_validate(raw)
        except ValidationError as exc:
            raise refusal(self.params, exc) from None

    @property
    def answer_type(self) -> Any:
        """The success body's type; Response for a route that answers raw bytes."""
        if self.answer is not None:
            return self.answer
        declared = get_type_hints(self.handler).get("return", Any)
        if get_origin(declared) is tuple:  # (body, HTTP status)
            declared = get_args(declared)[0]
        return declared

    @property
    def binary(self) -> bool:
        answer = self.answer_type
        return isinstance(answer, type) and issubclass(answer, Response)


def declare(params: type[Fields] = NoFields, *, answer: Any = None,
            statuses: tuple[int, ...] = (200,), max_body_setting: str = "max_body_bytes"
            ) -> Callable[[Callable[..., Awaitable[Any]]], Declared]:
    def wrap(handler: Callable[..., Awaitable[Any]]) -> Declared:
        return Declared(handler, params, answer, statuses, max_body_setting)

    return wrap
