"""The typed Python client of the native API, as the server's own tools use it (`facegate
ingest`, bench/, tests): the facegate-client distribution's package (facegate_client/ here,
which installs alone: README.md, pyproject.toml) re-exported, so the server's install and
images carry it with the rest of services/ and nothing else needs installing.
"""

from services.client.facegate_client import (
    ApiError,
    AsyncFacegate,
    Facegate,
    ImageInput,
    JobFailed,
    answers,
)

__all__ = ["ApiError", "AsyncFacegate", "Facegate", "ImageInput", "JobFailed", "answers"]
