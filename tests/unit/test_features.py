import base64
from itertools import pairwise

import numpy as np
import pytest

from gateway.dialects.cloudwalk.codes import cloudwalk_code
from services.recognition.scoring import feature_similarity as similarity
from shared.errors import ERRORS, FaceError
from shared.features import from_base64, pack, to_base64, unpack
from shared.models import ARCFACE, FACENET, RECOMMENDED_SCORE


def _unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=512).astype(np.float32)
    return v / np.linalg.norm(v)


def test_round_trip_keeps_model_and_vector():
    vector = _unit(1)
    feature = from_base64(to_base64(FACENET, vector))
    assert feature.model is FACENET
    np.testing.assert_array_equal(feature.vector, vector)


def test_identical_features_score_near_one_and_unrelated_ones_near_zero():
    v = _unit(2)
    assert similarity(from_base64(to_base64(FACENET, v)), from_base64(to_base64(FACENET, v))) > 0.99
    # random directions in 512-d are nearly orthogonal: far below the 1e-1 false-match point
    assert similarity(from_base64(to_base64(FACENET, v)),
                      from_base64(to_base64(FACENET, _unit(3)))) < 0.5


def test_the_score_mapping_is_monotonic_and_invertible():
    """The measured table (bench/lfw_calibrate.py wrote it; tests/models/test_embedders.py
    checks real faces against its threshold) must make a mapping clients can rely on."""
    for model in (FACENET, ARCFACE):
        points = model.operating_points
        # a stricter false-match rate needs a higher cosine and refuses more of the same person
        assert all(a.score < b.score and a.fmr > b.fmr for a, b in pairwise(points))
        assert all(a.cosine < b.cosine and a.fnmr <= b.fnmr for a, b in pairwise(points))
        assert any(p.score == RECOMMENDED_SCORE for p in points)
        for point in points:
            assert model.score(point.cosine) == pytest.approx(point.score)
        grid = np.linspace(-1, 1, 401)
        scores = [model.score(c) for c in grid]
        assert scores[0] == 0.0 and scores[-1] == 1.0 and np.all(np.diff(scores) > 0)
        for cosine, score in zip(grid, scores, strict=True):
            assert model.cosine_for_score(score) == pytest.approx(cosine, abs=1e-9)


def test_damaged_feature_is_refused_with_8514():
    blob = bytearray(pack(FACENET, _unit(3)))
    blob[100] ^= 0xFF
    with pytest.raises(FaceError) as err:
        unpack(bytes(blob))
    assert cloudwalk_code(err.value.kind) == 8514


def test_truncated_feature_is_refused_with_8515():
    blob = pack(FACENET, _unit(4))
    with pytest.raises(FaceError) as err:
        from_base64(base64.b64encode(blob[:-12]).decode())
    assert err.value.kind is ERRORS.FEATURE_LENGTH


def test_features_of_two_models_are_never_compared():
    a = from_base64(to_base64(FACENET, _unit(5)))
    b = from_base64(to_base64(ARCFACE, _unit(5)))
    with pytest.raises(FaceError) as err:
        similarity(a, b)
    assert cloudwalk_code(err.value.kind) == 8514


def test_not_base64_and_foreign_blobs_are_8514():
    with pytest.raises(FaceError) as err:
        from_base64("%%%not base64%%%")
    assert err.value.kind is ERRORS.FEATURE_DATA
    with pytest.raises(FaceError) as err:
        from_base64(base64.b64encode(b"X" * 2060).decode())
    assert err.value.kind is ERRORS.FEATURE_DATA


def test_features_of_the_earlier_default_still_decode_but_never_meet_the_new_one():
    from shared.models import FACENET_M14, model_for

    assert model_for("facenet") is FACENET and model_for("facenet-m14") is FACENET_M14
    assert FACENET.code != FACENET_M14.code
    old = from_base64(to_base64(FACENET_M14, _unit(6)))
    assert old.model is FACENET_M14
    assert similarity(old, from_base64(to_base64(FACENET_M14, _unit(6)))) > 0.99
    with pytest.raises(FaceError) as err:
        similarity(old, from_base64(to_base64(FACENET, _unit(6))))
    assert cloudwalk_code(err.value.kind) == 8514
