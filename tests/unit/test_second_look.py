"""The detector's second look below its floor (services/vision/pipeline.py), with a fake
detector and a fake analyser: which doubted faces count. The real models on a real photo:
tests/integration/test_gate_portraits.py."""

import numpy as np

from services.vision.analysis.eye_probe import PROBE_FIELD
from services.vision.mtcnn import Detections
from services.vision.pipeline import DETECT_MIN_SCORE, SECOND_LOOK_EYES, FacePipeline
from shared.images import encode_jpeg
from shared.models import FACENET
from shared.results import FaceAnalysis
from shared.tasks import image_spec

PHOTO = encode_jpeg(np.full((200, 200, 3), 128, np.uint8))


def _detections(*probs: float) -> Detections:
    """Faces side by side, 60 px, upright landmarks."""
    boxes, points = [], []
    for k in range(len(probs)):
        x = 10 + 65 * k
        boxes.append([x, 50, x + 60, 110])
        points.append([[x + 18, 74], [x + 42, 74], [x + 30, 86], [x + 21, 98], [x + 39, 98]])
    return Detections(np.array(boxes, np.float32), np.array(probs, np.float32),
                      np.array(points, np.float32))


class _Embedder:
    """Never asked to embed here (the requests do not ask for features)."""

    spec, size = FACENET, 160

    def embed(self, crops):
        raise AssertionError("not asked")


def _run(detections: Detections, covered: dict[int, list[float]] | None) -> tuple[list, list]:
    """(the probabilities of the faces found, the faces the eye probe was asked about)."""
    asked = []

    def analyse(jobs):
        out = []
        for job in jobs:
            assert job.fields == {PROBE_FIELD}
            out.append([])
            for face in job.faces:
                x = round(face.points[0][0])
                asked.append(x)
                out[-1].append(FaceAnalysis(**{PROBE_FIELD: covered[x]}))
        return out

    pipeline = FacePipeline(lambda images: [detections for _ in images], _Embedder(),
                            min_face=30, analyse=analyse if covered is not None else None)
    faces = pipeline.run({"images": [image_spec(PHOTO)]}).images[0].faces
    return sorted(round(f.prob, 2) for f in faces), asked


def test_a_doubted_face_counts_when_the_probe_sees_both_eyes():
    plain, half = SECOND_LOOK_EYES / 2, SECOND_LOOK_EYES * 2
    found, asked = _run(_detections(0.93, 0.95, 0.8),
                        {28: [plain, plain], 93: [plain, half]})
    assert found == [0.93]  # the other doubted face shows one eye less plainly
    assert sorted(asked) == [28, 93]  # 0.8 is not looked at again


def test_no_second_look_where_a_face_reaches_the_floor_or_without_the_probe():
    found, asked = _run(_detections(DETECT_MIN_SCORE, 0.93), {28: [0, 0], 93: [0, 0]})
    assert found == [DETECT_MIN_SCORE] and asked == []
    found, _ = _run(_detections(0.93), None)
    assert found == []
