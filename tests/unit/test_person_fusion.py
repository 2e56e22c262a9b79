"""A person's fused score and the `same_person` verdict (services/recognition/person_fusion.py):
the rule on made-up vectors, the verdict's calibration against each model's own operating
points (shared/models.py, measured on the same LFW images by another bench)."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from services.recognition import person_fusion
from services.recognition.person_fusion import (
    STRANGERS,
    TAILS,
    StrangerGrid,
    effective_people,
    fused_cosine,
    person_cosine,
    stranger_rate,
    template_norm,
    verdict_cosine,
    verdict_score,
)
from shared.models import FACENET, MODELS, SCORE_FMR

RNG = np.random.default_rng(0)


def _unit(n: int, dim: int = 64) -> np.ndarray:
    x = RNG.standard_normal((n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_one_face_is_its_own_cosine():
    assert fused_cosine([0.4321]) == pytest.approx(0.4321)
    probe, face = _unit(2)
    assert person_cosine(probe, face) == pytest.approx(float(probe @ face))


def test_fused_cosine_is_the_cosine_to_the_normalised_mean_in_any_order():
    probe, faces = _unit(1)[0], _unit(4)
    template = faces.mean(axis=0) / np.linalg.norm(faces.mean(axis=0))
    cosines = faces @ probe
    expected = float(template @ probe)
    norm = template_norm(faces)
    assert fused_cosine(cosines, template_norm=norm) == pytest.approx(expected)
    assert fused_cosine(cosines[::-1], template_norm=norm) == pytest.approx(expected)
    assert person_cosine(probe, faces) == pytest.approx(expected)
    # vectors need not arrive normalised
    assert person_cosine(3 * probe, faces * np.arange(1, 5)[:, None]) == pytest.approx(expected)


def test_identical_faces_score_as_one_and_the_template_is_nearer_its_own_mean():
    probe, face = _unit(2)
    assert person_cosine(probe, np.stack([face, face, face])) == pytest.approx(float(probe @ face))
    faces = _unit(3)
    centre = faces.mean(axis=0)
    # the probe at the faces' centre matches the template exactly, each face less
    assert person_cosine(centre, faces) == pytest.approx(1.0)
    assert max(faces @ (centre / np.linalg.norm(centre))) < 1.0


def test_several_faces_need_the_template_norm():
    with pytest.raises(ValueError, match="template_norm"):
        fused_cosine([0.3, 0.5])
    with pytest.raises(ValueError):
        fused_cosine([])
    with pytest.raises(ValueError):
        fused_cosine([0.3, 0.5], template_norm=0.0)


def test_every_model_has_a_tail():
    assert set(TAILS) == {spec.key for spec in MODELS.values()}
    for tail in TAILS.values():
        rates = [r for r, _ in tail.knots]
        cosines = [c for _, c in tail.knots]
        assert rates == sorted(rates, reverse=True)
        assert cosines == sorted(cosines)
        assert tail.slope > 0
        sizes = [m for m, _ in tail.templates]
        ratios = [r for _, r in tail.templates]
        assert sizes == sorted(set(sizes)) and sizes[0] >= 2
        assert all(1.0 <= a <= b for a, b in pairwise([1.0, *ratios]))


def test_every_stranger_grid_rises_with_the_group_and_falls_with_the_fpir():
    assert FACENET.key in STRANGERS and set(STRANGERS) <= set(TAILS)
    for grid in STRANGERS.values():
        assert list(grid.people) == sorted(set(grid.people)) and grid.people[0] == 1
        assert list(grid.fpirs) == sorted(set(grid.fpirs), reverse=True)
        assert len(grid.cosines) == len(grid.fpirs)
        for row in grid.cosines:
            assert len(row) == len(grid.people)
            assert all(a < b for a, b in pairwise(row))
        for column in zip(*grid.cosines, strict=True):
            assert all(a < b for a, b in pairwise(column))


def test_the_grid_is_exact_at_its_knots_linear_in_logs_between_and_clamped_outside():
    grid = StrangerGrid(spread=0.05, people=(1, 10, 100), fpirs=(0.1, 0.01),
                        cosines=((0.2, 0.3, 0.5), (0.4, 0.5, 0.7)))
    assert grid.cosine_at(10, 0.1) == pytest.approx(0.3)
    assert grid.cosine_at(100, 0.01) == pytest.approx(0.7)
    # halfway in log people and in log fpir
    assert grid.cosine_at(32, 0.1) == pytest.approx(0.4, abs=2e-3)  # 10^1.5 = 31.6
    assert grid.cosine_at(10, 10 ** -1.5) == pytest.approx(0.4)
    assert grid.cosine_at(0, 0.1) == pytest.approx(0.2)  # an empty group: as one person
    assert grid.cosine_at(10**6, 1e-6) == pytest.approx(0.7)
    assert grid.cosine_at(1, 0.4) == pytest.approx(0.2)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_tail_agrees_with_the_models_operating_points(name):
    """Both are LFW View 1 impostor tails through the same pipeline (this one DevTrain only):
    a recalibrated model without a recalibrated tail fails here."""
    spec = MODELS[name]
    tail = TAILS[spec.key]
    for point in spec.operating_points:
        if point.fmr >= 1e-4:
            assert tail.cosine_at(point.fmr) == pytest.approx(point.cosine, abs=0.01)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_cosine_at_and_rate_at_are_inverse_inside_and_beyond_the_knots(name):
    tail = TAILS[MODELS[name].key]
    for rate in (0.3, 0.05, 2e-3, 1e-5, 1e-7, 1e-9):
        assert tail.rate_at(tail.cosine_at(rate)) == pytest.approx(rate, rel=1e-6)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_verdict_rises_with_the_group_and_falls_with_the_fpir(name):
    spec = MODELS[name]
    sizes = (1, 2, 10, 1_000, 10_000, 100_000, 10_000_000)
    for fpir in (0.1, 0.01, 0.001):
        cosines = [verdict_cosine(spec, n, fpir) for n in sizes]
        assert all(a < b for a, b in pairwise(cosines))
        assert cosines[0] > -1.0 and cosines[-1] <= 1.0
    for n in sizes:
        assert (verdict_cosine(spec, n, 0.1) < verdict_cosine(spec, n, 0.01)
                < verdict_cosine(spec, n, 0.001))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_one_person_is_the_per_comparison_rate(name):
    """A group of one one-face person: the verdict's cosine is where a single face's
    false-match rate is fpir, so it lies between the model's operating points at fpir and
    fpir / 10.
    The stranger model's mixture is a normal tail through the measured 1e-5 knot, so near 1e-2
    (where the measured tail is heavier than normal) it is off by up to a quarter."""
    spec = MODELS[name]
    tail = TAILS[spec.key]
    points = {fmr: p.cosine for p, (_, fmr) in zip(spec.operating_points, SCORE_FMR,
                                                     strict=True)}
    tolerance = 0.25 if spec.key in STRANGERS else 1e-6
    for fpir in (1e-2, 1e-3, 1e-4):
        cosine = verdict_cosine(spec, 1, fpir)
        assert tail.rate_at(cosine) == pytest.approx(fpir, rel=tolerance)
        assert points[fpir] - 0.01 < cosine < points[fpir / 10]


@pytest.mark.parametrize("key", sorted(STRANGERS))
def test_strangers_who_differ_lower_the_verdict_of_a_big_group_below_independence(key):
    """The stranger model (a spread in how much strangers resemble people at large) agrees
    with the independence formula for a group of one (within 0.02: at a rate of 1e-2 the
    measured tail is heavier than the mixture's normal one) and asks less of a large group."""
    spec = next(s for s in MODELS.values() if s.key == key)
    tail = TAILS[key]
    for fpir in (0.01, 0.001):
        def independent(people: int, fpir: float = fpir) -> float:
            return tail.cosine_at(stranger_rate(people, fpir))
        assert verdict_cosine(spec, 1, fpir) == pytest.approx(independent(1), abs=0.02)
        gaps = [independent(n) - verdict_cosine(spec, n, fpir) for n in (1_000, 100_000)]
        assert 0.005 < gaps[0] < gaps[1] < 0.05


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_group_counts_each_person_by_how_often_a_template_of_its_faces_matches(name):
    """effective_people: one-face people count one each (faces without a person too), a
    person of m faces r(m), measured up to the largest size and held beyond it."""
    spec = MODELS[name]
    tail = TAILS[spec.key]
    (small, r_small), *_, (large, r_large) = tail.templates
    assert effective_people(spec, {}) == 0
    assert effective_people(spec, {1: 1_000}) == pytest.approx(1_000)
    assert effective_people(spec, {small: 10}) == pytest.approx(10 * r_small)
    assert effective_people(spec, {1: 5, large: 2, 40: 1}) == pytest.approx(5 + 3 * r_large)
    factors = [tail.template_factor(m) for m in range(0, 12)]
    assert factors[:2] == [1.0, 1.0] and all(a <= b for a, b in pairwise(factors))
    # a group of many-face people asks more of a candidate than as many one-face people
    for fpir in (0.01, 0.001):
        assert verdict_cosine(spec, effective_people(spec, {5: 1_000}), fpir) > verdict_cosine(
            spec, effective_people(spec, {1: 1_000}), fpir)


def test_a_big_group_matches_a_stranger_at_the_stated_rate_under_independence():
    people, fpir = 100_000, 0.01
    rate = stranger_rate(people, fpir)
    assert 1 - (1 - rate) ** people == pytest.approx(fpir, rel=1e-9)
    assert stranger_rate(1, fpir) == pytest.approx(fpir)
    assert stranger_rate(0, fpir) == stranger_rate(1, fpir)  # an empty group: as one person
    with pytest.raises(ValueError):
        stranger_rate(10, 0.0)
    with pytest.raises(ValueError):
        stranger_rate(10, 1.0)


def test_the_verdict_as_a_score():
    for people in (1, 1_000, 100_000):
        cosine = verdict_cosine(FACENET, people, 0.01)
        assert verdict_score(FACENET, people, 0.01) == pytest.approx(FACENET.score(cosine))
    # a group of one at 1% sits near the score that stands for FMR 1e-2 (0.60), a big group
    # far above the recommended 0.80
    assert 0.58 < verdict_score(FACENET, 1, 0.01) < 0.70
    assert verdict_score(FACENET, 100_000, 0.01) > 0.9


def test_the_rule_is_named():
    assert person_fusion.FUSION_RULE == "template-mean"
