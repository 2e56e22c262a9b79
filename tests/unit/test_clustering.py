"""The clustering core (services/recognition/clustering.py) on synthetic identities: every face
in exactly one cluster, largest first, each representative inside its own cluster, and the
people found again; faces of nobody in particular stay alone."""

import numpy as np

from services.recognition.clustering import (
    cluster,
    constrain,
    exact_neighbours,
    nearest_cluster,
    relabel,
)


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


def test_a_new_face_joins_its_persons_cluster_and_never_a_forbidden_one():
    placed = {10: 0, 11: 0, 12: 1}
    # its person's cluster wins over closer neighbours
    assert nearest_cluster([12], [0.99], placed, 0.6, own=0) == 0
    # a cluster it may not join is passed over, even when it is the closest
    assert nearest_cluster([12, 10], [0.99, 0.7], placed, 0.6, forbidden=frozenset({1})) == 0
    assert nearest_cluster([12], [0.99], placed, 0.6, forbidden=frozenset({1})) is None
    # its person's cluster, if forbidden (marked "not"), is not joined either
    assert nearest_cluster([10], [0.9], placed, 0.6, own=0, forbidden=frozenset({0})) is None


def test_constrain_keeps_each_person_together_and_marked_faces_apart():
    labels = np.array([0, 0, 1, 1, 2, 0])
    persons = np.array([7, 7, 7, 8, -1, -1])  # person 7 split over 0 and 1; 8 shares 1
    out = constrain(labels, persons, {5: {7}})
    assert out[0] == out[1] == out[2] == 0  # 7 where most of its faces were
    assert out[3] == 1  # 8 keeps cluster 1 (7 did not want it)
    assert out[4] == 2  # untouched
    assert out[5] not in (0, 1, 2)  # marked "not 7": out of 7's cluster, alone
    # two persons wanting one cluster: the larger keeps it, the other gets a new one
    both = constrain(np.array([0, 0, 0]), np.array([1, 1, 2]), {})
    assert both[0] == both[1] == 0 and both[2] not in (0,)
    clusters = relabel(both, None)
    assert clusters.count == 2 and list(clusters.sizes) == [2, 1]
