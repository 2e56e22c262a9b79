"""What every dialect needs of the gallery beside its queries: the repository itself (or a
clear error when no database is configured) and background index builds for groups that have
grown past FACEGATE_HNSW_MIN_FACES."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from starlette.requests import Request

from services.gallery.repository import Gallery, Group
from shared.errors import ERRORS, FaceError

_tasks: set[asyncio.Task] = set()


def gallery_of(request: Request) -> Gallery:
    gallery = request.app.state.gallery
    if gallery is None:
        raise FaceError(ERRORS.SERVICE_ACCESS, "no database configured")
    return gallery


def index_soon(gallery: Gallery, groups: Iterable[Group]) -> None:
    """Groups (with their face counts after the write) that reached the threshold get their
    own HNSW index, built in the background; searches stay exact meanwhile."""
    for group in groups:
        if gallery.needs_index(group):
            task = asyncio.create_task(gallery.ensure_index(group))
            _tasks.add(task)  # the loop keeps only weak references to tasks
            task.add_done_callback(_tasks.discard)
