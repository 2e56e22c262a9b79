"""The core's collaborators, built once by the app factory (gateway/app.py) and handed down."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.recognition.gallery_port import GalleryPort
from services.recognition.ports import VisionQueue, WebhookOutbox
from shared.errors import ERRORS, FaceError
from shared.models import ModelSpec, model_for
from shared.settings import Settings

# An image the core reads when it needs it: after the cheap checks (the group exists, the face
# exists), so a request that will be refused anyway fetches no URL and decodes nothing.
ImageSource = Callable[[], Awaitable[bytes]]


@dataclass
class Recognition:
    settings: Settings
    queue: VisionQueue
    database: GalleryPort | None = None  # None: no FACEGATE_DATABASE_URL, image-only operations
    webhooks: WebhookOutbox | None = None  # None: no Redis (the in-process queue): no webhooks
    webhook_key: bytes = b""  # the server key apps' webhook secrets derive from

    @property
    def gallery(self) -> GalleryPort:
        if self.database is None:
            raise FaceError(ERRORS.SERVICE_ACCESS, "no database configured")
        return self.database

    @property
    def embedder(self) -> ModelSpec:
        """The model the workers embed with (new groups hold it)."""
        return model_for(self.settings.embedder)
