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
one face does, is a single face's impostor tail measured on LFW DevTrain (every pair of
different people, about 5.9 million). A template of m faces matches a stranger more often than
one face: its rate is p_m = r(m) * p(t), r measured on DevTrain for m = 2, 3 and 5 (about 1.6,
1.9 and 2.2 for FaceNet, `ImpostorTail.templates`). So a group counts as its effective people,
the sum of r(m) over its people (effective_people: a group of one-face people is its head
count, one of five-face people about twice it), and the verdict is solved for one-face people
at that count. Beyond the measured tail (a false-match rate of 1e-5) t is extrapolated
linearly in the normal quantile of p (the slope fitted between 1e-3 and 1e-5), checked on
DevTest down to about 1e-6.

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
from collections.abc import Mapping, Sequence
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
    # (m, r): a template of m faces matches a stranger r times as often as one face at the
    # same cosine (measured at a single face's false-match rate 1e-4), m rising
    templates: tuple[tuple[int, float], ...]

    def template_factor(self, faces: int) -> float:
        """r(m) for a person of `faces` faces: 1 for one, linear in m between the measured
        sizes, the largest measured size's beyond it (the ratio still grows there, slowly)."""
        if faces <= 1:
            return 1.0
        sizes = [1] + [m for m, _ in self.templates]
        ratios = [1.0] + [r for _, r in self.templates]
        return float(np.interp(faces, sizes, ratios))

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
        slope=0.1361, templates=((2, 1.61), (3, 1.85), (5, 2.21))),
    "facenet-vggface2": ImpostorTail(
        knots=((0.5, 0.0457), (0.2, 0.163), (0.1, 0.2297), (0.03, 0.3255), (0.01, 0.3968),
               (0.003, 0.4618), (0.001, 0.5118), (0.0003, 0.5577), (0.0001, 0.5941),
               (3e-05, 0.6326), (1e-05, 0.6663)),
        slope=0.1305, templates=((2, 1.94), (3, 2.19), (5, 2.72))),
    "arcface-mbf-w600k": ImpostorTail(
        knots=((0.5, 0.0055), (0.2, 0.0612), (0.1, 0.0911), (0.03, 0.1335), (0.01, 0.1667),
               (0.003, 0.1997), (0.001, 0.2279), (0.0003, 0.2569), (0.0001, 0.2828),
               (3e-05, 0.3102), (1e-05, 0.3389)),
        slope=0.0941, templates=((2, 1.34), (3, 1.55), (5, 1.83))),
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

    def cosine_at(self, people: float, fpir: float) -> float:
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
                0.152, 0.2347, 0.3063, 0.3631, 0.411, 0.4537, 0.4923, 0.5277, 0.5606,
                0.5914, 0.6205, 0.6481, 0.6745, 0.6997, 0.7239, 0.7473, 0.7698,
            ),
            (
                0.255, 0.3228, 0.3848, 0.4362, 0.4806, 0.5211, 0.558, 0.5922, 0.6242,
                0.6543, 0.6827, 0.7099, 0.7358, 0.7607, 0.7846, 0.8077, 0.83,
            ),
            (
                0.3365, 0.3942, 0.4492, 0.4961, 0.5377, 0.576, 0.6115, 0.6445, 0.6756,
                0.7049, 0.7328, 0.7595, 0.785, 0.8095, 0.8332, 0.856, 0.8781,
            ),
            (
                0.397, 0.4482, 0.4982, 0.5418, 0.581, 0.6177, 0.6519, 0.6841, 0.7144,
                0.7432, 0.7707, 0.7969, 0.8221, 0.8464, 0.8697, 0.8923, 0.9142,
            ),
            (
                0.4541, 0.4998, 0.5454, 0.5858, 0.6225, 0.6573, 0.69, 0.7209, 0.7503,
                0.7784, 0.8053, 0.8311, 0.8559, 0.8799, 0.9031, 0.9256, 0.9474,
            ),
            (
                0.5003, 0.5422, 0.5844, 0.6222, 0.6569, 0.6898, 0.721, 0.7507, 0.779,
                0.8062, 0.8322, 0.8573, 0.8815, 0.9048, 0.9275, 0.9495, 0.9709,
            ),
            (
                0.5463, 0.5847, 0.6238, 0.6592, 0.6918, 0.723, 0.7526, 0.781, 0.8081,
                0.8341, 0.8592, 0.8834, 0.9068, 0.9295, 0.9515, 0.9729, 0.9937,
            ),
            (
                0.5848, 0.6206, 0.6574, 0.6908, 0.7217, 0.7515, 0.7799, 0.8071, 0.8332,
                0.8583, 0.8826, 0.906, 0.9287, 0.9508, 0.9722, 0.993, 1.0133,
            ),
            (
                0.624, 0.6574, 0.692, 0.7235, 0.7529, 0.7812, 0.8084, 0.8344, 0.8595,
                0.8837, 0.9072, 0.9299, 0.9519, 0.9733, 0.9941, 1.0143, 1.0341,
            ),
            (
                0.6574, 0.689, 0.7218, 0.7519, 0.78, 0.8071, 0.8333, 0.8584, 0.8827,
                0.9061, 0.9289, 0.9509, 0.9723, 0.9932, 1.0135, 1.0333, 1.0526,
            ),
        ),
    ),
    "facenet-vggface2": StrangerGrid(
        spread=0.075,
        people=GRID_PEOPLE,
        fpirs=GRID_FPIRS,
        cosines=(
            (
                0.1782, 0.2563, 0.3238, 0.3774, 0.4224, 0.4627, 0.499, 0.5323, 0.5633,
                0.5923, 0.6196, 0.6456, 0.6704, 0.6941, 0.7169, 0.7389, 0.7601,
            ),
            (
                0.2769, 0.3413, 0.4001, 0.4487, 0.4907, 0.5288, 0.5637, 0.596, 0.6261,
                0.6544, 0.6812, 0.7068, 0.7312, 0.7546, 0.7771, 0.7988, 0.8199,
            ),
            (
                0.3551, 0.41, 0.4623, 0.5069, 0.5463, 0.5826, 0.6161, 0.6473, 0.6766,
                0.7043, 0.7307, 0.7558, 0.7798, 0.8029, 0.8252, 0.8467, 0.8675,
            ),
            (
                0.413, 0.4619, 0.5096, 0.5511, 0.5884, 0.6232, 0.6557, 0.6861, 0.7149,
                0.7421, 0.768, 0.7928, 0.8165, 0.8393, 0.8614, 0.8827, 0.9033,
            ),
            (
                0.4677, 0.5114, 0.555, 0.5935, 0.6285, 0.6615, 0.6926, 0.722, 0.7499,
                0.7765, 0.802, 0.8264, 0.8499, 0.8726, 0.8945, 0.9157, 0.9363,
            ),
            (
                0.512, 0.552, 0.5923, 0.6284, 0.6614, 0.6927, 0.7224, 0.7506, 0.7775,
                0.8032, 0.8278, 0.8516, 0.8745, 0.8966, 0.918, 0.9388, 0.959,
            ),
            (
                0.5559, 0.5926, 0.63, 0.6636, 0.6947, 0.7243, 0.7525, 0.7794, 0.8051,
                0.8298, 0.8536, 0.8765, 0.8986, 0.92, 0.9408, 0.961, 0.9807,
            ),
            (
                0.5927, 0.6269, 0.662, 0.6937, 0.7232, 0.7514, 0.7784, 0.8042, 0.8289,
                0.8527, 0.8757, 0.8979, 0.9194, 0.9402, 0.9604, 0.9801, 0.9993,
            ),
            (
                0.6301, 0.662, 0.6949, 0.7249, 0.7528, 0.7797, 0.8054, 0.8301, 0.8539,
                0.8768, 0.899, 0.9204, 0.9412, 0.9614, 0.9811, 1.0002, 1.0189,
            ),
            (
                0.662, 0.6921, 0.7233, 0.7518, 0.7785, 0.8043, 0.829, 0.8529, 0.8758,
                0.898, 0.9195, 0.9403, 0.9606, 0.9802, 0.9994, 1.0181, 1.0363,
            ),
        ),
    ),
}


def stranger_rate(people: float, fpir: float) -> float:
    """The chance per person that keeps a stranger's chance of matching any of `people`
    persons at `fpir`: 1 - (1 - fpir)^(1/people)."""
    if not 0.0 < fpir < 1.0:
        raise ValueError(f"fpir must be between 0 and 1, not {fpir}")
    return -math.expm1(math.log1p(-fpir) / max(1.0, people))


def effective_people(model: ModelSpec, sizes: Mapping[int, int]) -> float:
    """A group's size as the verdict counts it, in one-face people: each person weighs r(m)
    for its m faces (ImpostorTail.template_factor). `sizes`: faces per person -> how many
    persons have that many (a face without a person is a person of one face)."""
    tail = TAILS[model.key]
    return sum(count * tail.template_factor(faces) for faces, count in sizes.items())


def verdict_cosine(model: ModelSpec, people: float, fpir: float) -> float:
    """The fused cosine at or above which a candidate is `same_person` in a group of `people`
    one-face people (effective_people), so that a stranger is matched to anyone with
    probability about `fpir`."""
    if not 0.0 < fpir < 1.0:
        raise ValueError(f"fpir must be between 0 and 1, not {fpir}")
    grid = STRANGERS.get(model.key)
    if grid is not None:
        return grid.cosine_at(people, fpir)
    return TAILS[model.key].cosine_at(stranger_rate(people, fpir))


def verdict_score(model: ModelSpec, people: float, fpir: float) -> float:
    """verdict_cosine as the calibrated score clients see (model.score)."""
    return model.score(verdict_cosine(model, people, fpir))
