"""AsyncFacegate (services/client/facegate_client/aio.py) against the real stack with real
photos: a group made, faces enrolled concurrently, a bulk load polled to its end, a photo
identified. The sync client runs the same operations in test_native_gallery.py and others."""

from __future__ import annotations

import asyncio
import base64
import uuid

from pydantic import TypeAdapter

from services.client import AsyncFacegate
from services.client.facegate_client import answers


def test_async_client_enrols_and_identifies_real_faces(stack, test_app, faces, face_paths):
    group = f"async{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        async with AsyncFacegate(stack.base_url, test_app.app.api_key, test_app.secret,
                                 timeout=180) as fg:
            assert await fg.create_group(group, "async") is True
            assert await fg.create_group(group, exist_ok=True) is False
            # two enrolments in flight on one client at once
            obama, biden = await asyncio.gather(
                fg.enrol(group, face_paths["obama.jpg"], tag="Barack Obama", key="auto"),
                fg.enrol(group, faces["biden.jpg"], tag="Joe Biden"))
            assert obama["created"] is True and biden["created"] is True
            again = await fg.enrol(group, faces["obama.jpg"], tag="Barack Obama", key="auto")
            assert again == {**obama, "created": False}  # the same key: the same face
            accepted = await fg.bulk_items(group, [
                {"image": base64.b64encode(faces["obama3.jpg"]).decode(), "tag": "bulk"}])
            job = await fg.wait_for_job(accepted["job_id"], poll_s=0.25, timeout_s=300)
            assert job["status"] == "done" and job["counts"] == {"enrolled": 1}
            TypeAdapter(answers.JobStatus).validate_python(job)

            found = await fg.identify(group, face_paths["obama2.jpg"], top_n=3)
            TypeAdapter(answers.IdentifyResult).validate_python(found)
            best = found["matches"][0]
            assert best["tag"] in ("Barack Obama", "bulk") and best["same_person"] is True
            [joe] = [m for m in found["matches"] if m["face_id"] == biden["face_id"]]
            assert joe["same_person"] is False and best["score"] > joe["score"]
            assert {f["tag"] for f in await fg.faces(group)} == {"Barack Obama", "Joe Biden",
                                                                "bulk"}
            assert (await fg.delete_group(group))["deleted"] is True

    asyncio.run(scenario())
