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
one each) is matched when any of them scores at or above the threshold t. p(t), the chance that
one person does, is a single face's impostor tail measured on LFW DevTrain (every pair of
different people, about 5.9 million), times the model's `factor`: a template of m faces matches
a stranger more often than one face (p_m / p_1 measured up to about 2 for m = 2..5), and the
factor is the geometric middle, so a group of one-face people and one of many-face people sit
on either side of the target. Beyond the measured tail (a false-match rate of 1e-5) t is
extrapolated linearly in the normal quantile of p (the slope fitted between 1e-3 and 1e-5),
checked on DevTest down to about 1e-6.

Treating a stranger's scores against different people as independent gives
FPIR = 1 - (1 - p(t))^N, but strangers differ: a few resemble many people, most resemble none,
so the share matched grows more slowly with N (measured on DevTrain: 0.78% at 1,000 people
where independence says 1%). The stranger model (STRANGERS) keeps the tail and splits it: past
1e-3 it is close to a normal tail (the straight line above, sd = slope), whose variance is
divided between each stranger's own location, normal with sd `spread`, and the rest per
comparison; FPIR(N, t) = mean over strangers of 1 - (1 - p_s(t))^N. `spread` is the one number
fitted, on DevTrain (FPIR measured over random groups of 30 to 2,000 people); spread 0 is the
independence formula. The model's thresholds are solved offline on a fine grid of cosines
at half-decade group sizes and FPIRs, and read here by interpolation in log N and log fpir, so
the verdict costs microseconds. A model without a STRANGERS grid keeps the independence formula.
The constants below are literals printed by `bench/person_fusion.py --calibrate` (TAILS) and
`--strangers` (STRANGERS); docs/performance.md has the FPIR they keep on DevTest.
"""

from __future__ import annotations

import math
from bisect import bisect_left
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


@dataclass(frozen=True)
class StrangerGrid:
    """One model's verdict cosines under the stranger model, at `fpirs` (rows, falling) x
    `people` (columns, rising); between them linear in log people and log fpir, outside them
    the nearest edge (a stricter cosine past the largest fpir, a looser one below the smallest:
    both beyond what the model can be checked on)."""

    spread: float  # sd of a stranger's own location (the model's one fitted number)
    people: tuple[int, ...]
    fpirs: tuple[float, ...]
    cosines: tuple[tuple[float, ...], ...]

    def cosine_at(self, people: int, fpir: float) -> float:
        x = _position([math.log(n) for n in self.people], math.log(max(1, people)))
        y = _position([-math.log(f) for f in self.fpirs], -math.log(fpir))
        (i, u), (j, v) = y, x
        row = [a * (1 - v) + b * v for a, b in
               ((self.cosines[r][j], self.cosines[r][j + 1]) for r in (i, i + 1))]
        return min(1.0, row[0] * (1 - u) + row[1] * u)


def _position(knots: list[float], value: float) -> tuple[int, float]:
    """(k, w): value lies w of the way from knots[k] to knots[k + 1], clamped to the ends."""
    k = min(max(bisect_left(knots, value) - 1, 0), len(knots) - 2)
    w = (value - knots[k]) / (knots[k + 1] - knots[k])
    return k, min(max(w, 0.0), 1.0)


# The grid's axes, the same for every model: group sizes 10^0, 10^0.5, ... 10^8, and the FPIRs
# a verdict may be asked for (FACEGATE_IDENTIFY_FPIR).
GRID_PEOPLE: tuple[int, ...] = tuple(round(10 ** (e / 2)) for e in range(17))
GRID_FPIRS: tuple[float, ...] = (0.3, 0.1, 0.03, 0.01, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5)

# Printed by `.venv/bin/python -m bench.person_fusion --strangers --embedder NAME`. ArcFace has
# none: its fitted spread is 0 (DevTrain's FPIR does not fall with N), the independence formula.
STRANGERS: dict[str, StrangerGrid] = {
    "facenet-vggface2-m32": StrangerGrid(
        spread=0.075,
        people=GRID_PEOPLE,
        fpirs=GRID_FPIRS,
        cosines=(
            (
                0.194, 0.2627, 0.3275, 0.3808, 0.4264, 0.4675, 0.5049, 0.5394, 0.5715,
                0.6017, 0.6302, 0.6574, 0.6833, 0.7082, 0.7321, 0.7552, 0.7775,
            ),
            (
                0.2844, 0.3456, 0.4036, 0.4524, 0.4951, 0.5342, 0.5702, 0.6035, 0.6348,
                0.6643, 0.6923, 0.719, 0.7445, 0.769, 0.7927, 0.8155, 0.8376,
            ),
            (
                0.3596, 0.4137, 0.466, 0.5112, 0.5513, 0.5886, 0.6232, 0.6555, 0.6859,
                0.7147, 0.7422, 0.7684, 0.7936, 0.8178, 0.8412, 0.8637, 0.8856,
            ),
            (
                0.4168, 0.4656, 0.5137, 0.5559, 0.594, 0.6298, 0.6633, 0.6948, 0.7246,
                0.7529, 0.7799, 0.8058, 0.8306, 0.8546, 0.8777, 0.9, 0.9217,
            ),
            (
                0.4714, 0.5155, 0.5597, 0.599, 0.6348, 0.6688, 0.7009, 0.7313, 0.7602,
                0.7878, 0.8143, 0.8398, 0.8643, 0.888, 0.911, 0.9332, 0.9548,
            ),
            (
                0.516, 0.5566, 0.5977, 0.6346, 0.6685, 0.7008, 0.7315, 0.7607, 0.7886,
                0.8153, 0.841, 0.8657, 0.8896, 0.9128, 0.9352, 0.957, 0.9781,
            ),
            (
                0.5606, 0.598, 0.6362, 0.6708, 0.7028, 0.7334, 0.7626, 0.7905, 0.8172,
                0.8429, 0.8677, 0.8916, 0.9147, 0.9372, 0.959, 0.9801, 1.0007,
            ),
            (
                0.5981, 0.6331, 0.669, 0.7018, 0.7322, 0.7614, 0.7894, 0.8162, 0.842,
                0.8668, 0.8908, 0.914, 0.9364, 0.9583, 0.9795, 1.0001, 1.0202,
            ),
            (
                0.6364, 0.6691, 0.703, 0.7339, 0.7628, 0.7907, 0.8175, 0.8432, 0.868,
                0.8919, 0.9151, 0.9375, 0.9593, 0.9805, 1.0012, 1.0213, 1.0409,
            ),
            (
                0.6691, 0.7001, 0.7323, 0.7618, 0.7895, 0.8163, 0.8421, 0.8669, 0.8909,
                0.9141, 0.9366, 0.9584, 0.9796, 1.0002, 1.0204, 1.04, 1.0592,
            ),
        ),
    ),
    "facenet-vggface2": StrangerGrid(
        spread=0.075,
        people=GRID_PEOPLE,
        fpirs=GRID_FPIRS,
        cosines=(
            (
                0.2271, 0.289, 0.3487, 0.3981, 0.4406, 0.4789, 0.5138, 0.5461, 0.5761,
                0.6044, 0.6311, 0.6565, 0.6808, 0.7041, 0.7265, 0.7482, 0.7691,
            ),
            (
                0.3119, 0.3682, 0.4222, 0.4679, 0.5078, 0.5444, 0.578, 0.6093, 0.6386,
                0.6662, 0.6925, 0.7175, 0.7415, 0.7645, 0.7867, 0.8081, 0.8288,
            ),
            (
                0.3827, 0.4332, 0.4823, 0.5248, 0.5625, 0.5975, 0.63, 0.6603, 0.6889,
                0.716, 0.7417, 0.7664, 0.79, 0.8127, 0.8347, 0.8559, 0.8764,
            ),
            (
                0.4367, 0.4826, 0.5281, 0.5679, 0.6039, 0.6376, 0.6692, 0.6988, 0.7269,
                0.7535, 0.7789, 0.8032, 0.8265, 0.849, 0.8707, 0.8917, 0.9121,
            ),
            (
                0.4885, 0.5302, 0.572, 0.6092, 0.6431, 0.6753, 0.7056, 0.7343, 0.7616,
                0.7877, 0.8127, 0.8367, 0.8599, 0.8822, 0.9038, 0.9247, 0.9451,
            ),
            (
                0.5308, 0.5692, 0.6082, 0.6431, 0.6753, 0.7058, 0.7348, 0.7624, 0.7888,
                0.814, 0.8383, 0.8616, 0.8842, 0.906, 0.9271, 0.9477, 0.9676,
            ),
            (
                0.5731, 0.6085, 0.6447, 0.6775, 0.7078, 0.7368, 0.7644, 0.7907, 0.816,
                0.8402, 0.8636, 0.8862, 0.908, 0.9292, 0.9497, 0.9696, 0.9891,
            ),
            (
                0.6086, 0.6418, 0.6759, 0.7069, 0.7357, 0.7633, 0.7898, 0.8151, 0.8394,
                0.8628, 0.8854, 0.9073, 0.9285, 0.9491, 0.969, 0.9885, 1.0074,
            ),
            (
                0.6449, 0.6759, 0.708, 0.7373, 0.7646, 0.791, 0.8163, 0.8406, 0.864,
                0.8866, 0.9084, 0.9296, 0.9501, 0.9701, 0.9895, 1.0084, 1.0269,
            ),
            (
                0.6759, 0.7053, 0.7357, 0.7637, 0.7899, 0.8152, 0.8395, 0.8629, 0.8856,
                0.9074, 0.9286, 0.9492, 0.9692, 0.9886, 1.0076, 1.0261, 1.0441,
            ),
        ),
    ),
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
    if not 0.0 < fpir < 1.0:
        raise ValueError(f"fpir must be between 0 and 1, not {fpir}")
    grid = STRANGERS.get(model.key)
    if grid is not None:
        return grid.cosine_at(people, fpir)
    tail = TAILS[model.key]
    return tail.cosine_at(stranger_rate(people, fpir) / tail.factor)


def verdict_score(model: ModelSpec, people: int, fpir: float) -> float:
    """verdict_cosine as the calibrated score clients see (model.score)."""
    return model.score(verdict_cosine(model, people, fpir))
