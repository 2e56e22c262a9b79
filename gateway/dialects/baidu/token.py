"""Baidu's OAuth 2.0 token endpoint, /oauth/2.0/token, as Baidu's SDKs call it.

It runs in the one request frame (gateway/frame.py) like every route, so its parameters are
read and bounded as every other's (query, form or JSON; FACEGATE_MAX_BODY_BYTES), and an
outage is told apart from a bug there. It answers in OAuth's own form (RFC 6749, section 5),
which is what Baidu's endpoint answers: this is the `OAuth` dialect below.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.auth import TOKEN_SCOPE
from gateway.frame import Gateway, Handler, client_address
from gateway.outages import RETRY_AFTER_S
from gateway.params import Params
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


def token_handler(gateway: Gateway) -> Handler:
    async def token(ctx: Recognition, request: Request, params: Params) -> dict:
        """client_credentials, GET or POST, in the query, a form or JSON."""
        if params.get("grant_type") != "client_credentials":
            raise FaceError(ERRORS.NOT_SUPPORTED, "grant_type must be client_credentials")
        client_id, secret = params.get("client_id", ""), params.get("client_secret", "")
        if not isinstance(client_id, str) or not isinstance(secret, str):
            raise FaceError(ERRORS.PARAM_INVALID, "client_id and client_secret are text")
        access_token, ttl = await gateway.auth.issue_token(client_id, secret,
                                                           client_address(request))
        return {"access_token": access_token, "expires_in": ttl, "scope": TOKEN_SCOPE,
                "session_key": "", "session_secret": "", "refresh_token": ""}

    return token
