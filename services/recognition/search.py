"""1:1 against stored faces and 1:N identification over the gallery. Each function takes the
probe, searches, and returns calibrated scores (scoring.py); the gallery refuses a group of
another model (12356) or with no face (12358)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from services.gallery.records import PersonFace
from services.gallery.users import FACES_PER_USER_SEARCH
from services.recognition import catalogue, person_fusion, vision
from services.recognition.context import ImageSource, Recognition
from services.recognition.scoring import ScoredMatch, scored_matches, scores, stored_score
from shared.models import ModelSpec
from shared.results import FaceResult

# how many nearest faces per answer are read to find the candidate people: a person has
# several faces, and the nearest faces may all be one person's (as Baidu's identify reads)
FACES_PER_PERSON = FACES_PER_USER_SEARCH


@dataclass
class FaceIdentified:
    face: FaceResult
    best: ScoredMatch


@dataclass
class UserScores:
    group: str
    uid: str
    user_info: str
    scores: list[float]  # the user's faces, best first


@dataclass
class PersonIdentified:
    """A candidate person: its score fused over all its faces in the group (person_fusion),
    and its best face. A face with no person is a person of its own (person_id None, its tag
    for a name)."""

    person_id: str | None
    name: str
    score: float
    same_person: bool
    face_id: int  # its face nearest the probe
    faces: int  # how many of its faces the score fuses


@dataclass
class Identified:
    """identify's answer: the nearest faces, and the nearest people with the verdict
    calibrated to the group's size (`threshold`: the score `same_person` needs among
    `people` people to keep the false-positive identification rate `fpir`)."""

    faces: list[ScoredMatch]
    people: list[PersonIdentified]
    threshold: float
    people_in_group: int
    fpir: float


async def identify(ctx: Recognition, app: int, group: str, image: ImageSource, top_n: int
                   ) -> list[ScoredMatch]:
    """The image's largest face against a group: the top_n closest faces, best first
    (CloudWalk's faces-only identify)."""
    gallery = ctx.gallery
    probe = await _probe(ctx, app, group, image, vision.EMBED_LARGEST_FACE)
    searchable = await gallery.groups.searchable_group(app, group, probe.model.code)
    return scored_matches(probe.model, await gallery.groups.search(
        searchable, probe.face.embedding, top_n))


async def _probe(ctx: Recognition, app: int, group: str, image: ImageSource,
                 op: vision.Operation, model: int | None = None):
    """The image run by `op` with the group's own model (a re-embedded group's may not be
    the workers' default), the group checked first (12357 before reading the image);
    `model`: the stored model when the caller has it already."""
    if model is None:
        model = (await ctx.gallery.groups.group(app, group)).model
    return await vision.run(ctx.queue, op, [await image()],
                            vision.model_options(model, ctx.settings.embedder))


async def probe_for_groups(ctx: Recognition, app: int, groups: list[str], image: bytes,
                           op: vision.Operation, options: dict) -> Any:
    """The image run by `op` with the one model the named groups hold (Baidu's calls search
    several at once; catalogue.shared_model), the workers' own when none of them exists (the
    search then answers that): what `op` finishes with."""
    code = catalogue.shared_model(await catalogue.existing_groups(ctx, app, groups))
    model = vision.model_options(code, ctx.settings.embedder) if code is not None else {}
    return await vision.run(ctx.queue, op, [image], {**options, **model})


async def identify_people(ctx: Recognition, app: int, group: str, image: ImageSource,
                          top_n: int) -> Identified:
    """The image's largest face against a group: the top_n closest faces and the top_n
    closest people, best first. People are found among the persons of the nearest
    FACES_PER_PERSON faces per answer, then scored over every face they have."""
    gallery = ctx.gallery
    probe = await _probe(ctx, app, group, image, vision.EMBED_LARGEST_FACE)
    searchable = await gallery.groups.searchable_group(app, group, probe.model.code)
    vector = probe.face.embedding
    nearest = await gallery.groups.search(searchable, vector, top_n * FACES_PER_PERSON)
    persons = list(dict.fromkeys(m.user_id for m in nearest if m.user_id is not None))
    by_person: dict[int, list[PersonFace]] = defaultdict(list)
    for face in await gallery.groups.people_faces(searchable, vector, persons):
        by_person[face.user_id].append(face)
    sizes = await gallery.groups.people_sizes(searchable)
    people_in_group = max(1, sum(sizes.values()))
    fpir = ctx.settings.identify_fpir
    verdict = person_fusion.verdict_cosine(
        probe.model, person_fusion.effective_people(probe.model, sizes), fpir)
    candidates = [_fused(faces, verdict, probe.model) for faces in by_person.values()]
    candidates += [PersonIdentified(None, m.tag, probe.model.score(fused), fused >= verdict,
                                    m.face_id, 1)
                   for m in nearest if m.user_id is None
                   for fused in [person_fusion.fused_cosine([m.cosine])]]
    candidates.sort(key=lambda p: -p.score)
    return Identified(scored_matches(probe.model, nearest[:top_n]), candidates[:top_n],
                      probe.model.score(verdict), people_in_group, fpir)


def _fused(faces: list[PersonFace], verdict: float, model: ModelSpec) -> PersonIdentified:
    fused = person_fusion.fused_cosine([f.cosine for f in faces],
                                       template_norm=min(1.0, faces[0].template_norm))
    best = max(faces, key=lambda f: f.cosine)
    return PersonIdentified(best.person_id, best.name, model.score(fused), fused >= verdict,
                            best.face_id, len(faces))


async def identify_every_face(ctx: Recognition, app: int, group: str, image: ImageSource
                              ) -> list[FaceIdentified]:
    """Every face of the image against a group: each one's closest face (M:N)."""
    gallery = ctx.gallery
    model, found = await _probe(ctx, app, group, image, vision.EMBED_EVERY_FACE)
    searchable = await gallery.groups.searchable_group(app, group, model.code)
    out = []
    for face in found.faces:
        best = scored_matches(model, await gallery.groups.search(searchable, face.embedding, 1))
        out.append(FaceIdentified(face, best[0]))
    return out


async def compare_with_face(ctx: Recognition, app: int, group: str, face_id: int,
                            image: ImageSource) -> float:
    """The image's largest face against one enrolled face."""
    held, stored = await ctx.gallery.groups.face_vector(app, group, face_id)  # 12357 / 12292
    probe = await _probe(ctx, app, group, image, vision.EMBED_LARGEST_FACE, held)
    return stored_score(probe.model, held, stored, probe.face.embedding,
                        f"stored face {face_id}")


async def identify_users(ctx: Recognition, app: int, groups: list[str], model: ModelSpec,
                         vector: np.ndarray, top: int) -> list[UserScores]:
    """Baidu's identify: the best users over the groups, each with its faces' scores."""
    matches = await ctx.gallery.users.identify_users(app, groups, vector, model.code, top)
    return [UserScores(m.group, m.uid, m.user_info, scores(model, m.cosines))
            for m in matches]


async def verify_user(ctx: Recognition, app: int, uid: str, groups: list[str],
                      model: ModelSpec, vector: np.ndarray, top: int) -> list[float]:
    """Baidu's verify: the probe against the user's own faces in those groups, best first."""
    cosines = await ctx.gallery.users.verify_user(app, uid, groups, vector, model.code, top)
    return scores(model, cosines)
