"""Baidu's own SDK (baidu-aip 2.2.2.0), pointed at facegate: only its URLs change.

AipFace keeps each endpoint's address in a name-mangled class attribute
(`_AipFace__detectUrl`, ...) and AipBase the token endpoint (`_AipBase__accessTokenUrl`);
a subclass overrides those attributes with facegate's address and nothing else.
"""

from __future__ import annotations

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
