"""Baidu's OAuth 2.0 token endpoint, /oauth/2.0/token, as Baidu's SDKs call it.

It runs in the one request frame (gateway/frame.py) like every route, so its parameters are
read and bounded as every other's (query, form or JSON; FACEGATE_MAX_BODY_BYTES), and an
outage is told apart from a bug there. It answers in OAuth's own form (RFC 6749, section 5),
which is what Baidu's endpoint answers: this is the `OAuth` dialect below.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from typing_extensions import TypedDict

from gateway.auth import TOKEN_SCOPE
from gateway.contract import Declared, Fields, declare
from gateway.dialects.baidu.answers import Token
from gateway.frame import Gateway, client_address
from gateway.outages import RETRY_AFTER_S
from services.recognition.context import Recognition
from shared.errors import ERRORS, ErrorKind, FaceError

# error kind -> (HTTP status, OAuth error); anything else is a wrong client id or secret
_OAUTH_ERRORS = {
    ERRORS.NOT_SUPPORTED.name: (400, "unsupported_grant_type"),
    ERRORS.PARAM_INVALID.name: (400, "invalid_request"),
    ERRORS.PARAM_MISSING.name: (400, "invalid_request"),
    ERRORS.RATE_LIMIT.name: (429, "slow_down"),
    ERRORS.SYSTEM_BUSY.name: (503, "temporarily_unavailable"),
    ERRORS.SYSTEM.name: (500, "server_error"),
}


class OAuthError(TypedDict):
    error: str  # unsupported_grant_type, invalid_request, invalid_client, slow_down, ...
    error_description: str



class OAuth:
    """The token endpoint's frame answers: no credentials to present (they are what it checks),
    the token on success, an OAuth error object on failure."""

    name = "oauth"

    async def authenticate(self, gateway: Gateway, request: Request) -> int:
        return 0

    def success(self, request: Request, answer: dict) -> JSONResponse:
        return JSONResponse(answer)

    def failure(self, request: Request, exc: FaceError) -> JSONResponse:
        status, error = _OAUTH_ERRORS.get(exc.kind.name, (401, "invalid_client"))
        description = {
            "unsupported_grant_type": "The authorization grant type is not supported",
            "invalid_client": "unknown client id or wrong secret",
            "server_error": "internal error",
        }.get(error, exc.detail or exc.kind.message)
        headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
        return JSONResponse({"error": error, "error_description": description},
                            status_code=status, headers=headers)

    def code(self, kind: ErrorKind) -> str:
        return _OAUTH_ERRORS.get(kind.name, (401, "invalid_client"))[1]


def _grant(value: object) -> object:
    """OAuth's own answer to another grant: unsupported_grant_type, not invalid_request."""
    if value != "client_credentials":
        raise FaceError(ERRORS.NOT_SUPPORTED, "grant_type must be client_credentials")
    return value


class TokenRequest(Fields):
    grant_type: Annotated[Literal["client_credentials"], BeforeValidator(_grant)]
    # a wrong or missing credential is invalid_client (401), as Baidu answers it
    client_id: str = Field("", max_length=256, description="the app's API key")
    client_secret: str = Field("", max_length=256, description="the app's secret")


def token_handler(gateway: Gateway) -> Declared:
    @declare(TokenRequest)
    async def token(ctx: Recognition, request: Request, params: TokenRequest) -> Token:
        """An access token for an app (client_credentials, GET or POST, in the query, a form
        or JSON), as Baidu's SDKs ask."""
        access_token, ttl = await gateway.auth.issue_token(
            params.client_id, params.client_secret, client_address(request))
        return {"access_token": access_token, "expires_in": ttl, "scope": TOKEN_SCOPE,
                "session_key": "", "session_secret": "", "refresh_token": ""}

    return token
