"""/v1/admin: app management for an operator (the console's Apps page), behind the admin
credential (header `admin_secret` = FACEGATE_ADMIN_SECRET; off while that is empty). The same
operations as `facegate app`, through the core (services/recognition/catalogue.py).

GET    /v1/admin/apps
POST   /v1/admin/apps                  {"name", "qps"}: the secret is shown once
POST   /v1/admin/apps/{app}/rotate     a new secret; the old one stops working
PATCH  /v1/admin/apps/{app}            {"qps"}: 0 or empty = the service's default
DELETE /v1/admin/apps/{app}            revoked: its credentials and tokens stop working
"""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request

from gateway.contract import Fields, NoFields, declare
from gateway.dialects.native.dialect import Native
from gateway.frame import Gateway, client_address
from services.recognition import catalogue
from services.recognition.catalogue import App, NewApp
from services.recognition.context import Recognition
from shared.answers import AppRecord, AppsPage, NewAppRecord

_MAX_QPS = 1_000_000


class NativeAdmin(Native):
    """The native frame with the admin credential instead of an app's."""

    name = "native-admin"

    async def authenticate(self, gateway: Gateway, request: Request) -> int:
        await gateway.auth.admin(request.headers, client_address(request))
        return 0


def _app_json(app: App) -> AppRecord:
    return {"id": app.id, "name": app.name, "api_key": app.api_key, "qps": app.qps,
            "active": app.active, "created": app.created_at.timestamp(),
            "revoked": app.revoked_at.timestamp() if app.revoked_at else None}


def _new_app_json(made: NewApp) -> NewAppRecord:
    return {**_app_json(made.app), "secret": made.secret}


class Qps(Fields):
    qps: int = Field(0, ge=0, le=_MAX_QPS, description="requests per second; 0: the "
                     "service's default")


class AppCreate(Qps):
    name: str = Field(max_length=200)


class AppPath(Fields):
    app: str = Field(max_length=200, description="the app's name or API key")


class AppQps(AppPath, Qps):
    pass


@declare(NoFields)
async def list_apps(ctx: Recognition, request: Request, params: NoFields
                    ) -> tuple[AppsPage, int]:
    """Every app: name, API key, QPS limit, active or revoked."""
    return {"apps": [_app_json(app) for app in await catalogue.apps(ctx)]}, 200


@declare(AppCreate, statuses=(201,))
async def create_app(ctx: Recognition, request: Request, params: AppCreate
                    ) -> tuple[NewAppRecord, int]:
    """A new app; its secret is in this answer only."""
    made = await catalogue.create_app(ctx, params.name, params.qps or None)
    return _new_app_json(made), 201


@declare(AppPath)
async def rotate_app(ctx: Recognition, request: Request, params: AppPath
                    ) -> tuple[NewAppRecord, int]:
    """A new secret for an app; the old one stops working."""
    return _new_app_json(await catalogue.rotate_app(ctx, params.app)), 200


@declare(AppQps)
async def update_app(ctx: Recognition, request: Request, params: AppQps
                     ) -> tuple[AppRecord, int]:
    """Sets an app's own QPS limit (0: the service's default)."""
    app = await catalogue.set_app_qps(ctx, params.app, params.qps or None)
    return _app_json(app), 200


@declare(AppPath)
async def revoke_app(ctx: Recognition, request: Request, params: AppPath
                     ) -> tuple[AppRecord, int]:
    """Revokes an app: its credentials and tokens stop working."""
    return _app_json(await catalogue.revoke_app(ctx, params.app)), 200


ROUTES = [
    ("/admin/apps", list_apps, "GET"),
    ("/admin/apps", create_app, "POST"),
    ("/admin/apps/{app}/rotate", rotate_app, "POST"),
    ("/admin/apps/{app}", update_app, "PATCH"),
    ("/admin/apps/{app}", revoke_app, "DELETE"),
]
