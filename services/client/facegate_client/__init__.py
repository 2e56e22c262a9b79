"""facegate-client: a typed Python client of facegate's native API (/v1), sync and async,
with retries where they are safe and helpers that poll jobs to the end.

    from facegate_client import AsyncFacegate, Facegate

    with Facegate("http://127.0.0.1:8000", app_id, app_secret) as fg:
        fg.create_group("staff", exist_ok=True)
        fg.enrol("staff", Path("alice.jpg"), tag="alice")
        best = fg.identify("staff", Path("door-camera.jpg"))["matches"][0]
        job = fg.wait_for_job(fg.bulk_items("staff", items)["job_id"])

    async with AsyncFacegate("http://127.0.0.1:8000", app_id, app_secret) as fg:
        found = await fg.identify("staff", Path("door-camera.jpg"))

Its only dependency is httpx (and typing_extensions): it installs without the server.
Inside this package imports are relative, so the server's own tools run the same code as
`services.client` (services/client/__init__.py).
"""

from . import answers
from ._version import __version__
from .aio import AsyncFacegate
from .call import ImageInput
from .errors import ApiError, JobFailed
from .sync import Facegate

__all__ = ["ApiError", "AsyncFacegate", "Facegate", "ImageInput", "JobFailed", "__version__",
           "answers"]
