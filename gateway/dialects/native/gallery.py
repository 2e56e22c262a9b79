"""/v1 gallery calls: the identity registry behind Baidu's person/verify (bulk enrolment is
ingest.py)."""

from __future__ import annotations

from starlette.requests import Request

from gateway.contract import Fields, IdNumber, PersonName, declare, quality_level
from gateway.dialects.native.operations import OneImage, images
from services.recognition import catalogue, enrolment
from services.recognition.context import Recognition
from shared.answers import IdentityDeleted, IdentityRecord
from shared.quality_gate import GateLevel


class Identity(OneImage):
    id_card_number: IdNumber
    name: PersonName
    quality: GateLevel | None = quality_level("the service's setting (FACEGATE_QUALITY_GATE)")


class IdentityPath(Fields):
    number: IdNumber


@declare(Identity, statuses=(201, 200))
async def put_identity(ctx: Recognition, request: Request, params: Identity
                       ) -> tuple[IdentityRecord, int]:
    """An operator registers the photo of each ID number (GB 11643 checked) and name, through
    the quality gate at the `quality` level; person/verify compares against it."""
    number, name = params.id_card_number, params.name
    [image] = await images(ctx, params, 1)
    created, model = await enrolment.register_identity(ctx, request.state.app_id, number, name,
                                                       image, params.quality)
    return {"id_card_number": number, "name": name, "created": created,
            "model": model.key}, 201 if created else 200


@declare(IdentityPath)
async def delete_identity(ctx: Recognition, request: Request, params: IdentityPath
                          ) -> tuple[IdentityDeleted, int]:
    """Removes the identity photo registered for an ID number."""
    number = params.number
    await catalogue.delete_identity(ctx, request.state.app_id, number)
    return {"id_card_number": number, "deleted": True}, 200


ROUTES = [
    ("/identities", put_identity, "POST"),
    ("/identities/{number}", delete_identity, "DELETE"),
]
