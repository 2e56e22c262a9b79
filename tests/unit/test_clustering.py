"""The clustering core (services/recognition/clustering.py) on synthetic identities: every face
in exactly one cluster, largest first, each representative inside its own cluster, and the
people found again; faces of nobody in particular stay alone."""

import numpy as np

from services.recognition.clustering import cluster, exact_neighbours


def _people(sizes: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(sizes), 512))
    owners = np.repeat(np.arange(len(sizes)), sizes)
    x = centres[owners] / np.sqrt(512) + rng.standard_normal((len(owners), 512)) * 0.02
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), owners


def test_people_are_found_again_and_every_face_is_in_one_cluster():
    vectors, owners = _people([12, 7, 7, 3, 1, 1, 1])
    found = cluster(*exact_neighbours(vectors, 10), threshold=0.5, vectors=vectors)
    assert found.labels.shape == owners.shape and found.sizes.sum() == len(owners)
    assert list(found.sizes) == [12, 7, 7, 3, 1, 1, 1]  # largest first, singletons kept
    for person in range(7):  # one person, one cluster, and nobody else in it
        labels = set(found.labels[owners == person].tolist())
        assert len(labels) == 1
        assert set(owners[found.labels == labels.pop()].tolist()) == {person}
    for c, face in enumerate(found.representatives):
        assert found.labels[face] == c


def test_a_threshold_above_every_pair_leaves_everyone_alone():
    vectors, _ = _people([5, 5])
    found = cluster(*exact_neighbours(vectors, 4), threshold=0.9999, vectors=vectors)
    assert found.count == 10 and set(found.sizes.tolist()) == {1}
