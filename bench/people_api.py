"""Identification by person through the API, on LFW View 1: the fused `people` answer and its
`verdict` against the best face (`matches`), as a client sees them.

    LFW_VIEW1=/work/shared/datasets/lfw-view1 .venv/bin/python -m bench.people_api [--photos 3]
    ... -m bench.people_api --photos 1 --in-process --draws 20   # the same split, many draws

A private stack (embedded Redis and PostgreSQL, one Celery worker, the gateway; FaceNet, the
group's quality level `none`, as bench/person_fusion.py enrols every image with a face). Of View
1's people, split by a seeded draw:
- mated: each person with at least `photos` + 1 images is created (POST .../people) and enrols
  its first `photos` images under its person_id (bulk items); its other images probe;
- distractors: half of the other people, each enrolled the same way with up to `photos` images
  and never probed;
- strangers: the other half; every image of theirs probes a gallery they are not in.
Each probe is POST /v1/groups/{group}/identify (top_n 5). Printed: how many people the verdict
was calibrated to and its threshold; rank-1 of the fused answer (people[0]) and of the best
face (matches[0]'s tag); FNIR at FPIR 1% for both, the threshold set on the strangers' best
scores (bench/open_set.py's definitions); and the verdict as shipped: the share of strangers
with any person judged `same_person` (its FPIR, target FACEGATE_IDENTIFY_FPIR) and the share of
mated probes whose own person is not first and `same_person` (its FNIR).

`--in-process` draws the same split `--draws` times (seeds `--seed` onwards) from the cached
embeddings of bench/lfw_calibrate.py (the same pipeline) and prints only the verdict's FPIR:
one draw's ~1,000 strangers give a handful of matches, too few to read a 1% target from, and
the stack takes minutes a draw. For a seed both modes match the same strangers (each gallery
person's template against each stranger's image, the verdict at the gallery's
effective_people).
"""

from __future__ import annotations

import argparse
import base64
import random
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bench.lfw import DEFAULT_ROOT, central_jpeg, view1_names
from bench.lfw_calibrate import product_embeddings
from bench.open_set import fnir, threshold_at_fpir
from bench.person_fusion import interval
from bench.stack import bench_stack, client_for
from services.client import Facegate
from services.recognition import person_fusion
from shared.models import model_for

BULK_ITEMS = 400  # items per bulk job: a JSON body of a few MB
FPIR = 0.01  # FACEGATE_IDENTIFY_FPIR's default, what the stack's verdict keeps


def split(root: Path, photos: int, seed: int
          ) -> tuple[dict[str, list[str]], dict[str, list[str]], list[tuple[str, str]]]:
    """(gallery: person -> images to enrol, probes of mated people: person -> images,
    strangers' images as (person, image))."""
    by_person: dict[str, list[str]] = defaultdict(list)
    for name in view1_names(root):
        by_person[name.split("/")[0]].append(name)
    people = sorted(by_person)
    random.Random(seed).shuffle(people)
    gallery, mated, strangers = {}, {}, []
    others = [p for p in people if len(by_person[p]) <= photos]
    for person in people:
        images = by_person[person]
        if len(images) > photos:
            gallery[person], mated[person] = images[:photos], images[photos:]
    for k, person in enumerate(others):
        if k % 2 == 0:
            gallery[person] = by_person[person][:photos]
        else:
            strangers += [(person, image) for image in by_person[person]]
    return gallery, mated, strangers


def enrol(fg: Facegate, root: Path, group: str, gallery: dict[str, list[str]]) -> dict[str, str]:
    """Each gallery person created and its images enrolled under it; person -> person_id."""
    ids = {person: f"p{k}" for k, person in enumerate(sorted(gallery))}
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda p: fg.create_person(group, p, key=ids[p]), gallery))
    items = [{"image": base64.b64encode(central_jpeg(root, image)).decode(), "tag": person,
              "key": image, "person_id": ids[person]}
             for person, images in gallery.items() for image in images]
    counts: dict[str, int] = defaultdict(int)
    for at in range(0, len(items), BULK_ITEMS):
        job = fg.bulk_items(group, items[at:at + BULK_ITEMS])
        done = fg.wait_for_job(job["job_id"], poll_s=1.0, timeout_s=3600)
        for outcome, n in done["counts"].items():
            counts[outcome] += n
    print(f"  enrolled {counts['enrolled']} of {len(items)} images of {len(gallery)} people "
          f"(outcomes {dict(counts)})")
    return ids


def in_process(root: Path, photos: int, seeds: range) -> None:
    """The verdict's FPIR on `seeds` draws of split(), FaceNet in process (see the docstring)."""
    model = model_for("facenet")
    vectors, found = product_embeddings(root, "facenet")
    row = {name: k for k, name in enumerate(view1_names(root)) if found[k]}
    unit = vectors / np.linalg.norm(np.where(found[:, None], vectors, 1.0), axis=1, keepdims=True)
    matched = probed = 0
    shares = []
    for seed in seeds:
        gallery, _, strangers = split(root, photos, seed)
        faces = [[row[i] for i in images if i in row] for images in gallery.values()]
        faces = [f for f in faces if f]
        templates = np.array([unit[f].mean(axis=0) for f in faces])
        templates /= np.linalg.norm(templates, axis=1, keepdims=True)
        probes = unit[[row[i] for _, i in strangers if i in row]]
        sizes = Counter(len(f) for f in faces)
        cosine = person_fusion.verdict_cosine(
            model, person_fusion.effective_people(model, sizes), FPIR)
        hits = int(np.sum((probes @ templates.T).max(axis=1) >= cosine))
        matched, probed = matched + hits, probed + len(probes)
        shares.append(hits / len(probes))
        print(f"  seed {seed}: {len(faces):,} people, verdict score {model.score(cosine):.3f}, "
              f"{hits} of {len(probes)} strangers matched ({hits / len(probes):.2%})")
    print(f"  {len(shares)} draws, {photos} photo(s): the verdict's FPIR {matched / probed:.2%} "
          f"({matched} of {probed} stranger probes; draws {min(shares):.2%} to "
          f"{max(shares):.2%}; target {FPIR:.0%})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--photos", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--url", help="a running facegate (FACEGATE_APP_ID/SECRET set)")
    parser.add_argument("--in-process", action="store_true")
    parser.add_argument("--draws", type=int, default=20, help="with --in-process")
    args = parser.parse_args()
    if args.in_process:
        in_process(args.root, args.photos, range(args.seed, args.seed + args.draws))
        return
    gallery, mated, strangers = split(args.root, args.photos, args.seed)
    probes = [(p, image) for p, images in mated.items() for image in images]
    print(f"LFW View 1 through the API, {args.photos} photos per person: {len(gallery)} people "
          f"in the gallery ({len(mated)} mated), {len(probes)} mated probes, {len(strangers)} "
          "stranger probes")
    with bench_stack(args.url) as (url, _), client_for(url) as fg:
        group = f"people_api_{args.seed}_{int(time.time())}"
        fg.create_group(group, quality="none")
        started = time.perf_counter()
        ids = enrol(fg, args.root, group, gallery)
        print(f"  enrolment took {time.perf_counter() - started:.0f} s")

        def ask(image: str) -> dict | None:
            try:
                return fg.identify(group, central_jpeg(args.root, image), top_n=5)
            except Exception as exc:  # no face found in the probe: nothing matched
                if "NO_FACE" in str(exc) or "no face" in str(exc).lower():
                    return None
                raise

        started = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            mated_answers = list(pool.map(lambda pi: ask(pi[1]), probes))
            stranger_answers = list(pool.map(lambda pi: ask(pi[1]), strangers))
        print(f"  {len(probes) + len(strangers)} identifications in "
              f"{time.perf_counter() - started:.0f} s")
    verdict = next(a["verdict"] for a in mated_answers + stranger_answers if a)
    print(f"  verdict: {verdict['people']:,} people, target FPIR {verdict['fpir']:.1%}, "
          f"threshold score {verdict['threshold']:.3f}")

    def best(answer: dict | None, fused: bool) -> tuple[str | None, float, bool]:
        if not answer:
            return None, 0.0, False
        if fused:
            top = answer["people"][0] if answer["people"] else None
            return (top["person_id"], top["score"], top["same_person"]) if top else (
                None, 0.0, False)
        top = answer["matches"][0] if answer["matches"] else None
        return (ids.get(top["tag"]), top["score"], top["same_person"]) if top else (
            None, 0.0, False)

    missing = sum(a is None for a in mated_answers + stranger_answers)
    print(f"  probes with no face found: {missing}")
    for label, fused in (("best face (matches)", False), ("fused (people)", True)):
        mine = [best(a, fused) for a in mated_answers]
        found = np.array([who == ids[p] for (p, _), (who, _, _) in zip(probes, mine,
                                                                        strict=True)])
        score = np.array([s for _, s, _ in mine])
        theirs = np.array([best(a, fused)[1] for a in stranger_answers])
        t = threshold_at_fpir(theirs, 0.01)
        print(f"  {label:<20} rank-1 {found.mean():.1%}; FNIR at FPIR 1% "
              f"{fnir(found, score, t):.1%} (score {t:.3f})")
        if fused:
            judged = np.array([best(a, True)[2] for a in stranger_answers])
            mates = found & np.array([same for _, _, same in mine])
            hits = int(judged.sum())
            print(f"  the verdict: FPIR {judged.mean():.2%} ({interval(hits, len(judged))}, "
                  f"{hits} of {len(judged)} strangers), FNIR {1 - mates.mean():.1%} of "
                  f"{len(mates)} mated probes")


if __name__ == "__main__":
    main()
