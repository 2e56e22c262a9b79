"""/v1/webhooks: what an app needs to check the webhooks it receives (docs/api.md,
"Webhooks"); the deliveries themselves are services/recognition/webhooks.py."""

from __future__ import annotations

from starlette.requests import Request

from gateway.contract import NoFields, declare
from services.recognition import webhooks
from services.recognition.context import Recognition
from shared.answers import WebhookSecret


@declare(NoFields)
async def webhook_secret(ctx: Recognition, request: Request, params: NoFields
                         ) -> tuple[WebhookSecret, int]:
    """The app's webhook secret: the key of the HMAC-SHA256 in X-Facegate-Signature over
    "{X-Facegate-Timestamp}.{body}". Rotating the app's API secret rotates it too."""
    secret = await webhooks.app_secret(ctx, request.state.app_id)
    return {"secret": secret, "signature_header": "X-Facegate-Signature",
            "timestamp_header": "X-Facegate-Timestamp"}, 200


ROUTES = [("/webhooks/secret", webhook_secret, "GET")]
