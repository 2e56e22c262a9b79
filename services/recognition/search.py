"""1:1 against stored faces and 1:N identification over the gallery. Each function takes the
probe, searches, and returns calibrated scores (scoring.py); the gallery refuses a group of
another model (12356) or with no face (12358)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.recognition import vision
from services.recognition.context import ImageSource, Recognition
from services.recognition.scoring import ScoredMatch, scored_matches, scores, stored_score
from shared.models import ModelSpec
from shared.results import FaceResult


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


async def identify(ctx: Recognition, app: int, group: str, image: ImageSource, top_n: int
                   ) -> list[ScoredMatch]:
    """The image's largest face against a group: the top_n closest faces, best first."""
    gallery = ctx.gallery
    held = await gallery.groups.group(app, group)  # 12357 before reading the image
    # embedded with the group's own model (a re-embedded group's may not be the workers')
    probe = await vision.run(ctx.queue, vision.EMBED_LARGEST_FACE, [await image()],
                             vision.model_options(held.model, ctx.settings.embedder))
    searchable = await gallery.groups.searchable_group(app, group, probe.model.code)
    return scored_matches(probe.model, await gallery.groups.search(
        searchable, probe.face.embedding, top_n))


async def identify_every_face(ctx: Recognition, app: int, group: str, image: ImageSource
                              ) -> list[FaceIdentified]:
    """Every face of the image against a group: each one's closest face (M:N)."""
    gallery = ctx.gallery
    await gallery.groups.group(app, group)  # 12357 before reading the image
    model, found = await vision.run(ctx.queue, vision.EMBED_EVERY_FACE, [await image()])
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
    probe = await vision.run(ctx.queue, vision.EMBED_LARGEST_FACE, [await image()])
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
