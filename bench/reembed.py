"""Re-embedding a group from its stored face regions: what it costs and what it keeps.

    .venv/bin/python -m bench.reembed [--from facenet] [--to arcface] [--limit 300]
                                      [--timing-faces 400] [--skip-timing]

Accuracy, in process, through the product's pipeline (services/vision/pipeline.py, the
enrolment spec of services/recognition/vision.py, the region spec the workers re-embed with,
workers/reembed.py), on LFW View 1 people split as bench/open_set.py splits them (each image its
central 150 x 150 region; `--limit` of each of mated people, distractors and strangers):
- the enrolment images enrolled with model A, keeping their regions (what the gallery stores);
- those regions re-embedded with model B (detected again, aligned as B wants, embedded);
- the same images enrolled afresh with model B;
- every probe (the mated people's second image, the strangers') embedded with B and searched
  exactly in each of the two B galleries: rank-1 (a person whose enrolment or re-embedding found
  no face counts as a miss) and FNIR at FPIR 1% (the threshold set on the strangers' best
  scores), printed for both, with their difference;
- the regions' size in bytes and pixels, for these crops (mostly grey: a 150 px crop holds
  little of a square twice the face's size) and for the same people's whole 250 x 250 LFW
  photos (the region all photo: what a real enrolment stores).

Time, through a private stack (embedded PostgreSQL and Redis, one Celery worker on this
machine's CPU, as `facegate run` starts it): `--timing-faces` LFW images bulk-enrolled with A,
then POST /v1/groups/{group}/reembed to B (drop_faces) timed from the 202 to the job's end
(the swap and the new index included), scaled to 10,000 faces (the work is per face: one
detection on a region of at most 256 px and one embedding).
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import statistics
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import torch
from PIL import Image

from bench.lfw import DEFAULT_ROOT, central_jpeg
from bench.open_set import fnir, split, threshold_at_fpir
from bench.stack import auth_headers, bench_stack, client_for
from services.recognition.vision import enrol_spec
from services.vision.embedders import load_embedder
from services.vision.mtcnn import MTCNN, detect_below
from services.vision.pipeline import FacePipeline
from shared import canonical
from shared.models import MODELS, ModelSpec
from shared.settings import get_settings
from shared.tasks import image_spec
from workers.reembed import region_spec

BATCH = 8  # images per pipeline pass, as a CPU worker's bulk pass (workers/engine.py)


def pipelines(names: list[str]) -> dict[str, FacePipeline]:
    settings = get_settings()
    device = torch.device("cpu")
    detect = MTCNN(device, min_face=detect_below(settings.min_face_px)).detect
    return {name: FacePipeline(detect, load_embedder(name, device, settings.model_dir),
                               min_face=settings.min_face_px,
                               min_score=settings.detect_min_score)
            for name in names}


def run_all(pipeline: FacePipeline, specs: list[dict]) -> list:
    out = []
    for at in range(0, len(specs), BATCH):
        out += pipeline.run({"images": specs[at:at + BATCH]}).images
    return out


def first_face(image) -> object | None:
    faces = getattr(image, "faces", None)
    return faces[0] if faces else None


def print_sizes(label: str, regions: list[bytes]) -> None:
    sizes = [len(r) for r in regions]
    sides = [Image.open(io.BytesIO(r)).width for r in regions]
    print(f"regions {label} ({len(regions)} faces): {statistics.mean(sizes) / 1024:.1f} KiB "
          f"mean, {statistics.median(sizes) / 1024:.1f} median, "
          f"{np.percentile(sizes, 95) / 1024:.1f} p95, {max(sizes) / 1024:.1f} max; "
          f"{statistics.median(sides):.0f} px median side ({min(sides)}-{max(sides)})")


def open_set(spec: ModelSpec, gallery: list[tuple[str, np.ndarray | None]],
             mated: list[tuple[str, np.ndarray | None]],
             strangers: list[np.ndarray | None]) -> tuple[float, float, float]:
    """(rank-1, FNIR at FPIR 1%, its score threshold) of exact 1:N search in `gallery`."""
    kept = [(person, v) for person, v in gallery if v is not None]
    people = [person for person, _ in kept]
    matrix = np.stack([v for _, v in kept])

    def best(vector: np.ndarray | None) -> tuple[str | None, float]:
        if vector is None:
            return None, 0.0
        cosines = matrix @ vector
        k = int(np.argmax(cosines))
        return people[k], spec.score(float(cosines[k]))

    found = [best(v) for _, v in mated]
    hit = np.array([tag == person for (person, _), (tag, _) in zip(mated, found, strict=True)])
    score = np.array([s for _, s in found])
    stranger_best = np.array([best(v)[1] for v in strangers])
    threshold = threshold_at_fpir(stranger_best, 0.01)
    return float(hit.mean()), fnir(hit, score, threshold), threshold


def accuracy(root: Path, source: str, target: str, limit: int) -> None:
    mated, distractors, strangers = split(root, limit)
    enrol_images = [(p, e) for p, e, _ in mated] + distractors
    print(f"LFW View 1 open set: {len(mated)} mated people, {len(distractors)} distractors, "
          f"{len(strangers)} strangers (central 150 x 150 of each image)")
    models = pipelines([source, target])
    a, b = models[source], models[target]
    photos = [central_jpeg(root, image) for _, image in enrol_images]
    enrolment = [enrol_spec(data, False, 0) for data in photos]

    enrolled_a = [first_face(image) for image in run_all(a, enrolment)]
    regions = [face.region if face is not None else None for face in enrolled_a]
    kept = [r for r in regions if r is not None]
    print_sizes("of the central crops", kept)
    whole = [first_face(image) for image in run_all(a, [
        enrol_spec((root / image).read_bytes(), False, 0) for _, image in enrol_images])]
    print_sizes("of the whole photos", [f.region for f in whole if f is not None])

    started = time.perf_counter()
    again = run_all(b, [region_spec(r) for r in kept])
    spent = time.perf_counter() - started
    redone = iter(first_face(image) for image in again)
    reembedded = [next(redone) if r is not None else None for r in regions]
    lost = sum(1 for r, f in zip(regions, reembedded, strict=True)
               if r is not None and f is None)
    print(f"re-embedded {len(kept)} regions with {target} in {spent:.1f} s "
          f"({1000 * spent / len(kept):.0f} ms a face in process, one thread per model pass); "
          f"{lost} showed no face")

    fresh = [first_face(image) for image in run_all(b, enrolment)]
    probes = [image_spec(central_jpeg(root, image), canonical.LARGEST, rotate=True, embed=True)
              for image in [p for _, _, p in mated] + [s for _, s in strangers]]
    probed = [first_face(image) for image in run_all(b, probes)]
    vectors = [f.embedding if f is not None else None for f in probed]
    mated_probes = [(person, v) for (person, _, _), v
                    in zip(mated, vectors[:len(mated)], strict=True)]
    stranger_probes = vectors[len(mated):]
    people = [person for person, _ in enrol_images]
    print(f"enrolment found no face: {source} {sum(f is None for f in enrolled_a)}, "
          f"{target} fresh {sum(f is None for f in fresh)} of {len(enrol_images)}")
    spec = MODELS[target]
    results = {}
    for label, faces in ((f"{target} enrolled afresh", fresh),
                         (f"{source} regions re-embedded with {target}", reembedded)):
        gallery = [(p, f.embedding if f is not None else None)
                   for p, f in zip(people, faces, strict=True)]
        results[label] = open_set(spec, gallery, mated_probes, stranger_probes)
        rank1, miss, threshold = results[label]
        print(f"  {label}: rank-1 {rank1:.1%}, FNIR at FPIR 1% {miss:.1%} "
              f"(score threshold {threshold:.3f})")
    (r_fresh, f_fresh, _), (r_again, f_again, _) = results.values()
    print(f"  difference (re-embedded - fresh): rank-1 {100 * (r_again - r_fresh):+.1f} points, "
          f"FNIR at FPIR 1% {100 * (f_again - f_fresh):+.1f} points")


def timing(root: Path, source: str, target: str, faces: int) -> None:
    mated, distractors, _ = split(root, 0)
    images = ([e for _, e, _ in mated] + [e for _, e in distractors])
    images = images[::max(1, len(images) // faces)][:faces]
    env = {"FACEGATE_EMBEDDER": source, "FACEGATE_QUALITY_GATE": "none"}
    with bench_stack(None, **env) as (base_url, _), client_for(base_url) as facegate, \
            httpx.Client(base_url=base_url, timeout=300, headers=auth_headers()) as client:
        group = "reembed" + uuid.uuid4().hex[:8]
        facegate.create_group(group)
        items = [{"image": base64.b64encode(central_jpeg(root, image)).decode(), "tag": image}
                 for image in images]
        started = time.perf_counter()
        job = facegate.bulk_items(group, items)["job_id"]
        facegate.wait_for_job(job, poll_s=1.0, timeout_s=3600)
        [enrolled] = [g["faces"] for g in facegate.groups() if g["name"] == group]
        print(f"bulk-enrolled {enrolled} of {len(images)} faces with {source} in "
              f"{time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        # drop_faces: a region the detector no longer finds a face in (a faint face that
        # enrolled with no quality gate) would otherwise refuse the swap
        answer = client.post(f"/v1/groups/{group}/reembed",
                             json={"model": target, "drop_faces": True})
        answer.raise_for_status()
        job_id = answer.json()["job_id"]
        while (status := client.get(f"/v1/jobs/{job_id}").json())["status"] not in (
                "done", "failed"):
            time.sleep(0.5)
        spent = time.perf_counter() - started
        print(f"re-embedding job {status['status']}: {status['progress']['total']} faces "
              f"({status['skipped']}) in {spent:.1f} s through the stack: "
              f"{spent / status['progress']['total'] * 10_000 / 60:.1f} min per 10,000 faces "
              f"on this machine ({os.cpu_count()} CPUs seen, FACEGATE_EMBEDDER={source}, "
              f"{target} loaded on first use)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--from", dest="source", default="facenet", choices=sorted(MODELS))
    parser.add_argument("--to", dest="target", default="arcface", choices=sorted(MODELS))
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--limit", type=int, default=300,
                        help="at most this many of each: mated, distractors, strangers")
    parser.add_argument("--timing-faces", type=int, default=400)
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    if not args.skip_accuracy:
        accuracy(args.root, args.source, args.target, args.limit)
    if not args.skip_timing:
        timing(args.root, args.source, args.target, args.timing_faces)


if __name__ == "__main__":
    main()
