"""/v1 export and import of a group (services/recognition/transfer.py: the file's format).

GET  /v1/groups/{group}/export   ?after=0&limit=0 -> application/x-ndjson, streamed: the
                                 group, its persons and faces with their embeddings (all,
                                 or a part: `limit` faces after face id `after`)
POST /v1/groups/{group}/import   the file as the body (application/x-ndjson) or as the
                                 `file` part of a multipart form -> the group made or
                                 added to; a file of another model 409 MODEL_MISMATCH, or
                                 with ?reembed=true imported and re-embedded as a job
"""

from __future__ import annotations

import threading

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.contract import MAX_INT, Offset, declare
from gateway.dialects.native.paths import GroupPath
from services.recognition import transfer
from services.recognition.context import Recognition
from shared.answers import ImportResult
from shared.errors import ERRORS, FaceError

# Imports one gateway process parses at once: a file's parsed faces take a few times its bytes
# (each line decoded, each embedding an array), beyond the body the frame's budget holds; more
# are answered busy, and the client retries.
IMPORTS_AT_ONCE = 2
IMPORTS = threading.BoundedSemaphore(IMPORTS_AT_ONCE)


class ExportQuery(GroupPath):
    after: Offset = Field(0, description="only faces with a greater id (a part's start)")
    limit: int = Field(0, ge=0, le=MAX_INT, description="at most this many faces; 0: all")


@declare(ExportQuery)
async def export_group(ctx: Recognition, request: Request, params: ExportQuery) -> Response:
    """The group as one JSON-lines file, streamed: a header (group, model), one line per face
    (tag, key, person, box, quality, embedding, thumbnail) and an end line counting them;
    `after` / `limit` export a part (the next part's `after` is the end line's `last_id`)."""
    lines = await transfer.export(ctx, request.state.app_id, params.group, params.after,
                                  params.limit)
    return StreamingResponse(lines, media_type="application/x-ndjson", headers={
        "Content-Disposition": f'attachment; filename="{params.group}.jsonl"'})


class ImportFile(GroupPath):
    body: bytes | None = Field(None, exclude=True)  # the file as the request body
    file: bytes | None = Field(None, description="multipart: the exported file")
    reembed: bool = Field(False, description=(
        "a file of another model than the service's is imported with its model and the group "
        "re-embedded from its stored face regions (a job: reembed_job); without it, 409"))


@declare(ImportFile, max_body_setting="ingest_max_body_bytes")
async def import_group(ctx: Recognition, request: Request, params: ImportFile
                       ) -> tuple[ImportResult, int]:
    """A group's exported file into this group (made if missing): its persons and faces,
    each face once per key, so a part sent twice writes nothing twice. The whole file is
    checked before anything is written; a file of another model than the service's: 409."""
    data = params.body or params.file
    if not data:
        raise FaceError(ERRORS.PARAM_MISSING, "the exported file is required (as the body)")
    if not IMPORTS.acquire(blocking=False):
        raise FaceError(ERRORS.SYSTEM_BUSY, f"this gateway is importing {IMPORTS_AT_ONCE} files "
                        "already; retry in a few seconds")
    try:
        done = await transfer.import_group(ctx, request.state.app_id, params.group, data,
                                           params.reembed)
    finally:
        IMPORTS.release()
    return {"group": done.group, "model": done.model.key,
            "persons_created": done.persons_created, "faces_created": done.faces_created,
            "faces_existing": done.faces_existing, "reembed_job": done.reembed_job}, 200


ROUTES = [
    ("/groups/{group}/export", export_group, "GET"),
    ("/groups/{group}/import", import_group, "POST"),
]
