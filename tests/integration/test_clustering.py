"""Clustering a group through the real stack (gateway, Redis, a Celery worker running the job,
PostgreSQL): real faces, the typed client, the error answers."""

from __future__ import annotations

import uuid

import httpx
import pytest

from services.client import ApiError, Facegate
from tests.conftest import app_headers, make_app


def _cluster_of(clusters: list[dict], face_id: int) -> dict:
    [found] = [c for c in clusters if face_id in c["faces"]]
    return found


def test_a_group_clustered_by_person_new_faces_joined_and_a_cluster_named(facegate, face_paths):
    group = f"people_{uuid.uuid4().hex[:8]}"
    facegate.create_group(group)
    with pytest.raises(ApiError) as never:
        facegate.clusters(group)
    assert never.value.status == 404 and never.value.code == "CLUSTER_NOT_FOUND"
    ids = {name: facegate.enrol(group, face_paths[name])["face_id"]
           for name in ("obama.jpg", "obama2.jpg", "biden.jpg", "yaoming.jpg")}

    accepted = facegate.cluster(group)
    assert accepted["status"] == "queued" and accepted["poll"] == f"/v1/jobs/{accepted['job_id']}"
    job = facegate.wait_for_job(accepted["job_id"], poll_s=0.25, timeout_s=300)
    assert job["op"] == "cluster" and job["status"] == "done"
    assert job["progress"]["done"] == job["progress"]["total"] == 4
    assert job["result"]["faces"] == 4

    page = facegate.clusters(group)
    assert page["job_id"] == accepted["job_id"] and page["threshold"] == 0.85
    clusters = page["clusters"]
    # every face in exactly one cluster, largest first
    assert sorted(f for c in clusters for f in c["faces"]) == sorted(ids.values())
    assert page["faces"] == 4 and page["total"] == len(clusters) == job["result"]["clusters"]
    assert [c["size"] for c in clusters] == sorted((c["size"] for c in clusters), reverse=True)
    obama = _cluster_of(clusters, ids["obama.jpg"])
    assert ids["obama2.jpg"] in obama["faces"]  # two photos of one person share a cluster
    assert ids["biden.jpg"] not in obama["faces"] and ids["yaoming.jpg"] not in obama["faces"]
    assert obama["representative"] in obama["faces"] and obama["name"] is None

    # faces enrolled after the clustering: one joins Obama's cluster, a stranger starts one
    ids["obama3.jpg"] = facegate.enrol(group, face_paths["obama3.jpg"])["face_id"]
    job = facegate.wait_for_job(_bulk(facegate, group, face_paths["Tom_Hanks_54745.png"]),
                                poll_s=0.25, timeout_s=300)
    [hanks] = facegate.all_job_items(job["job_id"])
    ids["hanks"] = hanks["face_id"]
    after = facegate.clusters(group)
    assert after["job_id"] == accepted["job_id"]  # no new clustering ran
    clusters = after["clusters"]
    assert sorted(f for c in clusters for f in c["faces"]) == sorted(ids.values())
    obama = _cluster_of(clusters, ids["obama.jpg"])
    assert ids["obama3.jpg"] in obama["faces"] and ids["obama2.jpg"] in obama["faces"]
    assert _cluster_of(clusters, ids["hanks"])["faces"] == [ids["hanks"]]
    assert after["total"] == page["total"] + 1

    # naming a cluster tags its faces: identify answers with the name
    named = facegate.name_cluster(group, obama["cluster_id"], "Barack Obama")
    assert named == {"group": group, "cluster_id": obama["cluster_id"], "tag": "Barack Obama",
                     "faces": 3}
    assert {f["tag"] for f in facegate.faces(group, tag="Barack")} == {"Barack Obama"}
    assert len(facegate.faces(group, tag="Barack")) == 3
    best = facegate.identify(group, face_paths["obama.jpg"], top_n=1)["matches"][0]
    assert best["tag"] == "Barack Obama"
    assert _cluster_of(facegate.clusters(group)["clusters"], ids["obama.jpg"])["name"] == \
        "Barack Obama"

    # a face enrolled later without a tag takes the name of the cluster it joins; one with a
    # tag of its own keeps it
    ids["untagged"] = facegate.enrol(group, face_paths["obama2.jpg"])["face_id"]
    ids["tagged"] = facegate.enrol(group, face_paths["obama3.jpg"], tag="potus")["face_id"]
    obama = _cluster_of(facegate.all_clusters(group), ids["obama.jpg"])
    assert {ids["untagged"], ids["tagged"]} <= set(obama["faces"])
    tags = {f["face_id"]: f["tag"] for f in facegate.faces(group)}
    assert tags[ids["untagged"]] == "Barack Obama" and tags[ids["tagged"]] == "potus"

    # a deleted face leaves its cluster; a cluster left empty is no longer listed
    facegate.delete_face(group, ids["hanks"])
    left = facegate.all_clusters(group)
    assert sorted(f for c in left for f in c["faces"]) == sorted(
        v for k, v in ids.items() if k != "hanks")

    # a second clustering replaces the first
    again = facegate.wait_for_job(facegate.cluster(group, threshold=0.9)["job_id"],
                                  poll_s=0.25, timeout_s=300)
    latest = facegate.clusters(group)
    assert latest["job_id"] == again["job_id"] and latest["threshold"] == 0.9
    assert latest["faces"] == 7


def _bulk(facegate: Facegate, group: str, path) -> str:
    """One photo through bulk ingestion (a worker writes it: its chunk joins the clusters)."""
    import base64

    data = base64.b64encode(path.read_bytes()).decode()
    return facegate.bulk_items(group, [{"image": data, "tag": ""}])["job_id"]


def test_clustering_errors_in_the_native_form(stack, facegate, faces):
    group = f"people_{uuid.uuid4().hex[:8]}"
    facegate.create_group(group)
    facegate.enrol(group, faces["biden.jpg"])
    for threshold in (0, 1, 2, -0.5, "high", "nan", 5e-324, 0.9999999):  # 0 and 1 in 6 decimals
        with pytest.raises(ApiError) as bad:
            facegate.call("POST", f"/v1/groups/{group}/clusters", json={"threshold": threshold})
        assert bad.value.status == 400 and bad.value.code == "PARAM_INVALID", threshold
        assert "threshold" in bad.value.error["message"]
    with pytest.raises(ApiError) as missing:
        facegate.cluster(f"missing_{uuid.uuid4().hex[:8]}")
    assert missing.value.status == 404 and missing.value.code == "GROUP_NOT_FOUND"

    job = facegate.wait_for_job(facegate.cluster(group)["job_id"], poll_s=0.25, timeout_s=300)
    with pytest.raises(ApiError) as no_cluster:
        facegate.name_cluster(group, 999, "nobody")
    assert no_cluster.value.status == 404 and no_cluster.value.code == "CLUSTER_NOT_FOUND"
    with pytest.raises(ApiError) as no_tag:
        facegate.call("POST", f"/v1/groups/{group}/clusters/0/name", json={})
    assert no_tag.value.status == 400 and no_tag.value.code == "PARAM_MISSING"
    with pytest.raises(ApiError) as bad_page:
        facegate.clusters(group, limit=0)
    assert bad_page.value.status == 400

    # another app sees neither the job nor the group
    other = make_app(stack, f"other{uuid.uuid4().hex[:6]}")
    with httpx.Client(base_url=stack.base_url, headers=app_headers(other), timeout=60) as http:
        assert http.get(f"/v1/jobs/{job['job_id']}").status_code == 404
        assert http.get(f"/v1/groups/{group}/clusters").status_code == 404
