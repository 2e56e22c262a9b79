"""Baidu's own SDK (baidu-aip 2.2.2.0), pointed at facegate: only its URLs change.

AipFace keeps each endpoint's address in a name-mangled class attribute
(`_AipFace__detectUrl`, ...) and AipBase the token endpoint (`_AipBase__accessTokenUrl`);
a subclass overrides those attributes with facegate's address and nothing else.
"""

from __future__ import annotations

import httpx
from aip import AipFace
from aip.base import AipBase

BAIDU_HOST = "https://aip.baidubce.com"


def facegate_client(base_url: str, app_id: str, api_key: str, secret: str) -> AipFace:
    overrides = {name: value.replace(BAIDU_HOST, base_url)
                 for name, value in vars(AipFace).items()
                 if isinstance(value, str) and value.startswith(BAIDU_HOST)}
    overrides["_AipBase__accessTokenUrl"] = vars(AipBase)["_AipBase__accessTokenUrl"].replace(
        BAIDU_HOST, base_url)
    client_class = type("FacegateAipFace", (AipFace,), overrides)
    return client_class(app_id, api_key, secret)


def access_token(base_url: str, api_key: str, secret: str) -> str:
    """A token from facegate's /oauth/2.0/token, fetched the way the SDK fetches one."""
    response = httpx.get(f"{base_url}/oauth/2.0/token", params={
        "grant_type": "client_credentials", "client_id": api_key, "client_secret": secret})
    response.raise_for_status()
    return response.json()["access_token"]
