"""The clustering core (services/recognition/clustering.py) on synthetic identities: every face
in exactly one cluster, largest first, each representative inside its own cluster, and the
people found again; faces of nobody in particular stay alone."""

import numpy as np

from services.recognition.clustering import cluster, exact_neighbours, nearest_cluster


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


def test_a_new_face_joins_the_cluster_its_close_neighbours_weigh_most():
    placed = {10: 0, 11: 0, 12: 1, 13: 1}
    # two members of cluster 1 just above the threshold outweigh one of cluster 0 far above
    assert nearest_cluster([10, 12, 13], [0.9, 0.62, 0.62], placed, 0.6) == 0
    assert nearest_cluster([10, 12, 13], [0.7, 0.69, 0.69], placed, 0.6) == 1
    # neighbours below the threshold, or not placed yet, do not count
    assert nearest_cluster([10, 12], [0.59, 0.1], placed, 0.6) is None
    assert nearest_cluster([99], [0.99], placed, 0.6) is None
    assert nearest_cluster([], [], placed, 0.6) is None


def test_tiny_groups_cluster_too():
    for n in (0, 1, 2):
        vectors, _ = _people([1] * n) if n else (np.zeros((0, 512), np.float32), None)
        found = cluster(*exact_neighbours(vectors), threshold=0.5, vectors=vectors)
        assert found.count == n and len(found.labels) == n
