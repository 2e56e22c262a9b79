"""A typed Python client for facegate's native API (/v1), with retries and job polling.

    from services.client import Facegate

    with Facegate("http://127.0.0.1:8000", app_id, app_secret) as fg:
        fg.create_group("staff", exist_ok=True)
        fg.enrol("staff", Path("alice.jpg"), tag="alice")
        best = fg.identify("staff", Path("door-camera.jpg"))["matches"][0]
        job = fg.wait_for_job(fg.bulk_items("staff", items)["job_id"])

The benchmarks (bench/ingest.py, bench/lfw_api.py) and `facegate ingest` use it.
"""

from services.client.client import ApiError, Facegate, ImageInput, JobFailed
from shared import answers  # the answers' types: shared/answers.py

__all__ = ["ApiError", "Facegate", "ImageInput", "JobFailed", "answers"]
