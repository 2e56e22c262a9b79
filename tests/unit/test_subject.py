"""The subject rule (services/vision/subject.py) on boxes and landmarks."""

import numpy as np

from services.vision.subject import prominence, subject_order


def _face(x1, y1, x2, y2):
    """A box and five landmarks placed as MTCNN places them (eyes, nose, mouth corners)."""
    w, h = x2 - x1, y2 - y1
    points = [(x1 + fx * w, y1 + fy * h) for fx, fy in
              ((0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.35, 0.8), (0.65, 0.8))]
    return [x1, y1, x2, y2], points


def test_a_complete_face_beats_a_larger_one_cut_by_the_edge():
    # the photo: the subject 95 x 129 inside; a neighbour whose box runs 85 px past the
    # left edge (43 x 100 of it inside), 4 of its 5 landmarks beyond the edge
    subject, subject_points = _face(150, 40, 245, 169)
    cut, cut_points = _face(-85, 30, 43, 130)
    boxes = np.array([cut, subject], float)
    points = np.array([cut_points, subject_points], float)
    assert (boxes[0, 2] - boxes[0, 0]) * (boxes[0, 3] - boxes[0, 1]) > 95 * 129  # larger box
    assert (points[0, :, 0] < 0).sum() == 4
    assert list(subject_order(boxes, points, 300, 200, np.array([0, 1]))) == [1, 0]


def test_faces_inside_the_photo_rank_by_area_as_before():
    boxes, points = zip(*(_face(10, 10, 50, 60), _face(100, 10, 190, 110),
                          _face(200, 20, 260, 90)), strict=True)
    rank = prominence(np.array(boxes, float), np.array(points, float), 300, 200)
    assert list(np.argsort(-rank)) == [1, 2, 0]
    assert rank[1] == 90 * 100  # a face wholly inside: its box's area


def test_a_face_barely_cut_keeps_most_of_its_rank():
    box, pts = _face(0, 100, 100, 210)  # the chin 10 px past the bottom edge
    rank = prominence(np.array([box], float), np.array([pts], float), 300, 200)
    assert 0.8 * 100 * 110 < rank[0] < 100 * 110
    assert prominence(np.zeros((0, 4)), np.zeros((0, 5, 2)), 10, 10).shape == (0,)
