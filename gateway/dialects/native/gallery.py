"""/v1 gallery calls: the identity registry behind Baidu's person/verify (bulk enrolment is
ingest.py)."""

from __future__ import annotations

from starlette.requests import Request

from gateway.dialects.native.operations import images
from gateway.params import Params, text
from services.recognition import catalogue, enrolment
from services.recognition.context import Recognition
from shared.resident_id import validate_id_number, validate_name


async def put_identity(ctx: Recognition, request: Request, params: Params) -> tuple[dict, int]:
    """An operator registers the photo of each ID number (GB 11643 checked) and name;
    person/verify compares against it."""
    number = validate_id_number(text(params, "id_card_number"))
    name = validate_name(text(params, "name"))
    [image] = await images(ctx, params, 1)
    created, model = await enrolment.register_identity(ctx, request.state.app_id, number, name,
                                                       image)
    return {"id_card_number": number, "name": name, "created": created,
            "model": model.key}, 201 if created else 200


async def delete_identity(ctx: Recognition, request: Request, params: Params
                          ) -> tuple[dict, int]:
    """Removes the identity photo registered for an ID number."""
    number = validate_id_number(request.path_params["number"])
    await catalogue.delete_identity(ctx, request.state.app_id, number)
    return {"id_card_number": number, "deleted": True}, 200


ROUTES = [
    ("/identities", put_identity, "POST"),
    ("/identities/{number}", delete_identity, "DELETE"),
]
