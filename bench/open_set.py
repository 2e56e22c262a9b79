"""1:N open-set identification through the CloudWalk gallery API, on LFW View 1 people.

    .venv/bin/python -m bench.open_set [--embedders facenet,arcface] [--gate on|off] [--limit N]

Of View 1's 3,095 people (4,992 images, each sent as its central 150 x 150 region):
- mated: each person with two or more images (1,165) enrols the first and probes with the
  second;
- distractors: half of the people with one image enrol it and are never probed;
- strangers: the other half probe the gallery without being in it.
Enrolment is POST /face/clustering/face/create (tag = the person), probing POST
/face/recog/group/identify with topN=1, against a private stack per embedder (embedded Redis and
PostgreSQL, one Celery worker, the gateway), with the quality gate as the run says (`on`: the
shipped defaults). Printed per embedder:
- failure to enrol: the share of enrolments refused (by code), and no face found;
- rank-1: the share of mated probes whose best match is their own person (a person who failed
  to enrol counts as a miss, as a user would see it);
- FNIR at FPIR 1% and 0.1%: the threshold is set on the strangers' best scores so that that
  share of them match anyone; FNIR is the share of mated probes not found at rank 1 at or above
  it (with as many strangers as here, FPIR 0.1% rests on one or two of them: read it as rough);
- FPIR and FNIR at the recommended score 0.80.
"""

from __future__ import annotations

import argparse
import base64
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from bench.lfw import DEFAULT_ROOT, central_jpeg, view1_names
from bench.stack import auth_headers, bench_stack
from shared.models import RECOMMENDED_SCORE


def split(root: Path, limit: int = 0) -> tuple[list[tuple[str, str, str]],
                                               list[tuple[str, str]], list[tuple[str, str]]]:
    """(mated (person, enrol image, probe image), distractors, strangers (person, image))."""
    by_person: dict[str, list[str]] = defaultdict(list)
    for name in view1_names(root):
        by_person[name.split("/")[0]].append(name)
    mated = [(p, imgs[0], imgs[1]) for p, imgs in sorted(by_person.items()) if len(imgs) >= 2]
    singles = [(p, imgs[0]) for p, imgs in sorted(by_person.items()) if len(imgs) == 1]
    distractors, strangers = singles[0::2], singles[1::2]
    if limit:  # spread over the alphabet, not its first letters
        mated, distractors, strangers = (
            group[::max(1, len(group) // limit)][:limit]
            for group in (mated, distractors, strangers))
    return mated, distractors, strangers


def threshold_at_fpir(stranger_best: np.ndarray, fpir: float) -> float:
    """The lowest score at which at most `fpir` of the strangers match anyone."""
    allowed = int(np.floor(fpir * len(stranger_best)))
    ordered = np.sort(stranger_best)[::-1]
    return float(np.nextafter(ordered[allowed], 2.0)) if allowed < len(ordered) else 0.0


def fnir(mated_found: np.ndarray, mated_score: np.ndarray, threshold: float) -> float:
    return float(np.mean(~(mated_found & (mated_score >= threshold))))


def run(client: httpx.Client, pool: ThreadPoolExecutor, root: Path, limit: int) -> None:
    mated, distractors, strangers = split(root, limit)
    group = "openset" + uuid.uuid4().hex[:8]
    assert client.post("/face/clustering/group/create",
                       data={"groupId": group}).json()["result"] == 0

    def post(path: str, image: str, **fields: str) -> dict:
        img = base64.b64encode(central_jpeg(root, image)).decode()
        return client.post(path, data={"groupId": group, "img": img, **fields}).json()

    started = time.perf_counter()
    enrolments = [(p, e) for p, e, _ in mated] + distractors
    results = list(pool.map(lambda pe: post("/face/clustering/face/create", pe[1], tag=pe[0]),
                            enrolments))
    refused = Counter(r["result"] for r in results if r["result"] != 0)
    enrolled = {p for (p, _), r in zip(enrolments, results, strict=True) if r["result"] == 0}
    print(f"  enrolled {len(enrolled)} of {len(enrolments)} ({len(mated)} mated people + "
          f"{len(distractors)} distractors) in {time.perf_counter() - started:.0f} s; failure "
          f"to enrol {sum(refused.values()) / len(enrolments):.1%} (by code: "
          f"{dict(refused.most_common()) or 'none'})")

    def best(image: str) -> tuple[str | None, float]:
        body = post("/face/recog/group/identify", image, topN="1")
        if body["result"] == 8464 or not body.get("faces"):
            return None, 0.0  # no face found: nothing matched
        if body["result"] != 0:
            raise RuntimeError(body)
        return body["faces"][0]["tag"], float(body["faces"][0]["score"])

    started = time.perf_counter()
    mated_best = list(pool.map(lambda m: best(m[2]), mated))
    stranger_best = np.array([s for _, s in pool.map(lambda s: best(s[1]), strangers)])
    print(f"  probed {len(mated)} mated + {len(strangers)} strangers in "
          f"{time.perf_counter() - started:.0f} s")
    found = np.array([tag == p for (p, _, _), (tag, _) in zip(mated, mated_best, strict=True)])
    score = np.array([s for _, s in mated_best])
    print(f"  rank-1 {found.mean():.1%}")
    for fpir in (0.01, 0.001):
        t = threshold_at_fpir(stranger_best, fpir)
        print(f"  FNIR at FPIR {fpir:.1%}: {fnir(found, score, t):.1%} (score threshold {t:.3f})")
    print(f"  at the recommended score {RECOMMENDED_SCORE}: FPIR "
          f"{np.mean(stranger_best >= RECOMMENDED_SCORE):.1%}, FNIR "
          f"{fnir(found, score, RECOMMENDED_SCORE):.1%}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", help="an existing facegate (its embedder and gate as set)")
    parser.add_argument("--embedders", default="facenet,arcface")
    parser.add_argument("--gate", choices=("on", "off"), default="on")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--limit", type=int, default=0,
                        help="at most this many of each: mated, distractors, strangers")
    args = parser.parse_args()
    mated, distractors, strangers = split(args.root, args.limit)
    print(f"LFW View 1 open set: {len(mated)} mated people, {len(distractors)} distractors, "
          f"{len(strangers)} strangers; quality gate {args.gate}")
    for name in args.embedders.split(","):
        env = {"FACEGATE_EMBEDDER": name,
               "FACEGATE_QUALITY_GATE": "true" if args.gate == "on" else "false"}
        with bench_stack(args.url, **env) as (base_url, _), \
                httpx.Client(base_url=base_url, timeout=300, headers=auth_headers()) as client, \
                ThreadPoolExecutor(args.clients) as pool:
            print(f"{name}:")
            run(client, pool, args.root, args.limit)


if __name__ == "__main__":
    main()
