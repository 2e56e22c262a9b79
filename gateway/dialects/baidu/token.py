"""Baidu's OAuth 2.0 token endpoint, /oauth/2.0/token, as Baidu's SDKs call it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.auth import TOKEN_SCOPE
from gateway.frame import Gateway, client_address
from gateway.outages import RETRY_AFTER_S, as_outage
from shared.errors import ERRORS, FaceError


def token_endpoint(gateway: Gateway):
    async def token(request: Request) -> JSONResponse:
        """client_credentials, GET or POST, in the query or a form."""
        params = dict(request.query_params)
        if request.method == "POST":
            params.update({k: v for k, v in (await request.form()).items()
                           if isinstance(v, str)})
        if params.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type",
                                 "error_description": "The authorization grant type is not "
                                                      "supported"}, status_code=400)
        try:
            access_token, ttl = await gateway.auth.issue_token(params.get("client_id", ""),
                                                               params.get("client_secret", ""),
                                                               client_address(request))
        except FaceError as exc:
            if exc.kind is ERRORS.RATE_LIMIT:
                return JSONResponse({"error": "slow_down", "error_description": exc.detail},
                                    status_code=429)
            return JSONResponse({"error": "invalid_client",
                                 "error_description": "unknown client id or wrong secret"},
                                status_code=401)
        except Exception as exc:
            outage = as_outage(exc)
            if outage is None:
                raise
            return JSONResponse({"error": "temporarily_unavailable",
                                 "error_description": outage.detail}, status_code=503,
                                headers={"Retry-After": str(RETRY_AFTER_S)})
        return JSONResponse({"access_token": access_token, "expires_in": ttl,
                             "scope": TOKEN_SCOPE, "session_key": "", "session_secret": "",
                             "refresh_token": ""})

    return token
