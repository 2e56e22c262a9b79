"""A person's score from all of that person's faces, and the `same_person` verdict that keeps a
stated false-positive identification rate (FPIR) as a group grows.

The rule (FUSION_RULE): a person is scored by the cosine between the probe and the person's
template, the normalised mean of the person's unit face vectors. Measured against the best face
(max) and the mean of the top 2 or 3 cosines on LFW View 1 (bench/person_fusion.py;
docs/performance.md), the template gives the lowest FNIR at FPIR 1% with 3 and 5 photos (0.75
and 0.62 times the best face's on DevTrain, where it was chosen; 0.65 and 0.38 on DevTest), and
its impostor tail is the least sensitive to how many faces a person has (about twice a single
face's false-match rate from 3 faces on; the best face's grows with every face). Weighting the
template by each face's stored quality measured within noise of it and is not used: a face
enrolled with the gate off stores the detector's probability instead (quality_gate.
quality_score), so one person's weights need not be comparable. A face without a person counts
as a person of one face: its template is the face, its fused cosine the face's cosine.

The cosine to the template is mean(cosines) / |mean of the faces' vectors|, so a caller holding
only the cosines passes that norm (template_norm); person_cosine does both from the vectors. In
SQL, pgvector's avg(embedding) is the unnormalised template and its cosine distance normalises
it: 1 - (avg(embedding) <=> probe) is the same number.

The verdict (verdict_cosine): a stranger probing a group of N people (faces without a person
one each) is matched when any of them scores at or above the threshold t; with p(t) the chance
that one person does, FPIR = 1 - (1 - p(t))^N, so t is where p(t) = 1 - (1 - fpir)^(1/N).
p(t) is a single face's impostor tail measured on LFW DevTrain (every pair of different people,
about 5.9 million), times the model's `factor`: a template of m faces matches a stranger more
often than one face (p_m / p_1 measured up to about 2 for m = 2..5), and the factor is the
geometric middle, so a group of one-face people and one of many-face people sit on either side
of the target. Beyond the measured tail (a false-match rate of 1e-5) t is extrapolated linearly
in the normal quantile of p (the slope fitted between 1e-3 and 1e-5), checked on DevTest down to
about 1e-6. The formula treats a stranger's scores against different people as independent;
where strangers differ in how much they resemble people at large, the true FPIR is lower (the
formula is concave in p). Measured, the FPIR falls below the target as the group grows
(docs/performance.md): the verdict errs towards fewer false identifications.
The constants below are literals printed by `bench/person_fusion.py --calibrate`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from shared.models import ModelSpec

FUSION_RULE = "template-mean"
_NORMAL = NormalDist()


def template_norm(vectors: np.ndarray) -> float:
    """|mean of a person's unit face vectors| (rows of `vectors`, normalised here): 1 for one
    face, smaller the more the faces differ."""
    unit = np.asarray(vectors, float)
    unit = unit / np.linalg.norm(unit, axis=-1, keepdims=True)
    return float(np.linalg.norm(unit.mean(axis=0)))


def fused_cosine(cosines: Sequence[float], qualities: Sequence[float | None] | None = None,
                 *, template_norm: float | None = None) -> float:
    """A person's score: the probe's cosine to the person's template, from the cosines of ALL of
    the person's faces to the probe (any order). `template_norm` is template_norm(the faces'
    vectors); it may be left out only for one face. `qualities` are not read by this rule (the
    quality-weighted template measured no better: docs/performance.md)."""
    del qualities
    values = np.asarray(cosines, float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError("a person's score needs the cosine of at least one face")
    if template_norm is None:
        if values.size > 1:
            raise ValueError("template_norm is needed for a person with more than one face")
        template_norm = 1.0
    if not 0.0 < template_norm <= 1.0 + 1e-6:
        raise ValueError(f"template_norm must be in (0, 1], not {template_norm}")
    return float(np.clip(values.mean() / template_norm, -1.0, 1.0))


def person_cosine(probe: np.ndarray, vectors: np.ndarray) -> float:
    """fused_cosine from the probe's vector and the person's face vectors (rows)."""
    faces = np.atleast_2d(np.asarray(vectors, float))
    faces = faces / np.linalg.norm(faces, axis=1, keepdims=True)
    unit = np.asarray(probe, float) / np.linalg.norm(probe)
    return fused_cosine(faces @ unit, template_norm=template_norm(faces))


@dataclass(frozen=True)
class ImpostorTail:
    """One model's single-face impostor tail on LFW DevTrain: P(cosine >= t) for two faces of
    different people, as (rate, cosine) knots from 0.5 down to the last measured rate, then a
    straight line in the normal quantile of the rate (`slope` cosine per unit)."""

    knots: tuple[tuple[float, float], ...]  # (rate, cosine), rate falling, cosine rising
    slope: float
    factor: float  # TAIL_FACTOR: a person's rate over a single face's at the same cosine

    def cosine_at(self, rate: float) -> float:
        """The cosine at or above which a share `rate` of impostor pairs lies."""
        rates = [r for r, _ in self.knots]
        cosines = [c for _, c in self.knots]
        if rate >= rates[0]:
            return cosines[0]
        z = _NORMAL.inv_cdf(1.0 - rate)
        if rate <= rates[-1]:
            return min(1.0, cosines[-1] + self.slope * (z - _NORMAL.inv_cdf(1.0 - rates[-1])))
        zs = [_NORMAL.inv_cdf(1.0 - r) for r in rates]
        return float(np.interp(z, zs, cosines))

    def rate_at(self, cosine: float) -> float:
        """Inverse of cosine_at (a single face's false-match rate at `cosine`)."""
        rates = [r for r, _ in self.knots]
        cosines = [c for _, c in self.knots]
        if cosine <= cosines[0]:
            return rates[0]
        zs = [_NORMAL.inv_cdf(1.0 - r) for r in rates]
        if cosine >= cosines[-1]:
            z = zs[-1] + (cosine - cosines[-1]) / self.slope
        else:
            z = float(np.interp(cosine, cosines, zs))
        return 1.0 - _NORMAL.cdf(z)


# Printed by `.venv/bin/python -m bench.person_fusion --calibrate --embedder NAME`.
TAILS: dict[str, ImpostorTail] = {
    "facenet-vggface2-m32": ImpostorTail(
        knots=((0.5, 0.0307), (0.2, 0.1472), (0.1, 0.2136), (0.03, 0.3097), (0.01, 0.3824),
               (0.003, 0.4488), (0.001, 0.5001), (0.0003, 0.5485), (0.0001, 0.5872),
               (3e-05, 0.6258), (1e-05, 0.6611)),
        slope=0.1361, factor=1.49),
    "facenet-vggface2": ImpostorTail(
        knots=((0.5, 0.0457), (0.2, 0.163), (0.1, 0.2297), (0.03, 0.3255), (0.01, 0.3968),
               (0.003, 0.4618), (0.001, 0.5118), (0.0003, 0.5577), (0.0001, 0.5941),
               (3e-05, 0.6326), (1e-05, 0.6663)),
        slope=0.1305, factor=1.65),
    "arcface-mbf-w600k": ImpostorTail(
        knots=((0.5, 0.0055), (0.2, 0.0612), (0.1, 0.0911), (0.03, 0.1335), (0.01, 0.1667),
               (0.003, 0.1997), (0.001, 0.2279), (0.0003, 0.2569), (0.0001, 0.2828),
               (3e-05, 0.3102), (1e-05, 0.3389)),
        slope=0.0941, factor=1.35),
}


def stranger_rate(people: int, fpir: float) -> float:
    """The chance per person that keeps a stranger's chance of matching any of `people`
    persons at `fpir`: 1 - (1 - fpir)^(1/people)."""
    if not 0.0 < fpir < 1.0:
        raise ValueError(f"fpir must be between 0 and 1, not {fpir}")
    return -math.expm1(math.log1p(-fpir) / max(1, people))


def verdict_cosine(model: ModelSpec, people: int, fpir: float) -> float:
    """The fused cosine at or above which a candidate is `same_person` in a group of `people`
    persons (a face without a person counts as one), so that a stranger is matched to anyone
    with probability about `fpir`."""
    tail = TAILS[model.key]
    return tail.cosine_at(stranger_rate(people, fpir) / tail.factor)


def verdict_score(model: ModelSpec, people: int, fpir: float) -> float:
    """verdict_cosine as the calibrated score clients see (model.score)."""
    return model.score(verdict_cosine(model, people, fpir))
