"""The dialects: CloudWalk (/face), Baidu face API v2 (/oauth/2.0/token, /rest/2.0/face/v2) and
the native API (/v1), each a package with its own frame, code table and routes.

A dialect lists each of its routes once, as an ApiRoute (its package's `routes`);
gateway/routes.py gathers them into the one list that the app mounts and the OpenAPI document
describes, so a route cannot be served undocumented or documented unserved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: importing the frame here would load the gateway
    from gateway.contract import Declared
    from gateway.frame import Dialect


@dataclass(frozen=True)
class ApiRoute:
    """One route of a dialect: served at mount + path, documented as `method`."""

    mount: str  # the dialect's mount ("": a route of the app itself, outside any mount)
    path: str  # under the mount
    method: str  # the method served and documented
    declared: Declared  # the handler and its contract
    frame: Dialect  # authenticates and answers in the dialect's form; its name tags the docs
    # methods served besides `method` and left out of the document: the vendors' GET twins
    # of their POST calls
    twins: tuple[str, ...] = ()

    @property
    def full_path(self) -> str:
        return self.mount + self.path

    @property
    def methods(self) -> list[str]:
        return [*self.twins, self.method]
