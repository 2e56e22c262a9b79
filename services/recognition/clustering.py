"""Who is in a group: its faces clustered by person, with nobody labelled.

Pure compute over embeddings (unit vectors of one model): the caller brings each face's k
nearest neighbours (the gallery finds them through the group's index; never all pairs), and
`cluster` joins faces by Chinese whispers (Biemann 2006) on that graph: an edge for each
neighbour at or above the threshold, weighted by how far above it the pair scores, and each
face takes, over a few sweeps in random order, the cluster its edges weigh most. Every face ends
in exactly one cluster, singletons included.

The default threshold and k were chosen on half of LFW View 1's people and are reported on the
other half by bench/clustering.py (docs/performance.md, "Clustering").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Chosen on the even half of LFW View 1's people (bench/clustering.py): a calibrated score of
# 0.85 (FaceNet's cosine 0.623) and 40 neighbours gave the best BCubed F there.
DEFAULT_SCORE = 0.85
K_NEIGHBOURS = 40
MAX_SWEEPS = 30


@dataclass(frozen=True)
class Clusters:
    labels: np.ndarray  # one per face, 0..count-1, the largest cluster 0
    sizes: np.ndarray  # faces per cluster, descending
    representatives: np.ndarray  # per cluster, the face closest to its members (an index)

    @property
    def count(self) -> int:
        return len(self.sizes)


def exact_neighbours(vectors: np.ndarray, k: int = K_NEIGHBOURS, block: int = 2048
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Each vector's k nearest others by cosine, best first: (indices, cosines), n x k. Exact,
    in blocks: for small groups and benchmarks; the gallery searches its index instead."""
    n = len(vectors)
    k = min(k, n - 1)
    indices = np.zeros((n, max(k, 0)), np.int64)
    cosines = np.zeros((n, max(k, 0)), np.float32)
    if k <= 0:
        return indices, cosines
    for start in range(0, n, block):
        sims = vectors[start:start + block] @ vectors.T
        rows = np.arange(sims.shape[0])
        sims[rows, start + rows] = -np.inf  # not itself
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_sims, axis=1)
        indices[start:start + block] = np.take_along_axis(top, order, axis=1)
        cosines[start:start + block] = np.take_along_axis(top_sims, order, axis=1)
    return indices, cosines


def cluster(indices: np.ndarray, cosines: np.ndarray, threshold: float, seed: int = 0,
            vectors: np.ndarray | None = None) -> Clusters:
    """Chinese whispers over the k-nearest-neighbour graph: `indices` / `cosines` (n x k) as
    exact_neighbours gives them, `threshold` a cosine (the caller maps a score to it)."""
    n = len(indices)
    rows = np.repeat(np.arange(n), indices.shape[1])
    cols = indices.reshape(-1)
    weights = cosines.reshape(-1).astype(np.float64) - threshold
    keep = weights >= 0
    rows, cols, weights = rows[keep], cols[keep], weights[keep] + 1e-3
    # undirected: a neighbour relation either way is one edge (the larger weight)
    a, b = np.minimum(rows, cols), np.maximum(rows, cols)
    pairs: dict[tuple[int, int], float] = {}
    for x, y, w in zip(a.tolist(), b.tolist(), weights.tolist(), strict=True):
        if x != y and w > pairs.get((x, y), 0.0):
            pairs[(x, y)] = w
    adjacency: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for (x, y), w in pairs.items():
        adjacency[x].append((y, w))
        adjacency[y].append((x, w))
    labels = np.arange(n)
    rng = np.random.default_rng(seed)
    for _ in range(MAX_SWEEPS):
        changed = 0
        for node in rng.permutation(n).tolist():
            edges = adjacency[node]
            if not edges:
                continue
            votes: dict[int, float] = {}
            for other, w in edges:
                label = labels[other]
                votes[label] = votes.get(label, 0.0) + w
            best = max(votes.items(), key=lambda item: (item[1], -item[0]))[0]
            if best != labels[node]:
                labels[node] = best
                changed += 1
        if changed == 0:
            break
    return _ordered(labels, adjacency, vectors)


def _ordered(raw: np.ndarray, adjacency: list[list[tuple[int, float]]],
             vectors: np.ndarray | None) -> Clusters:
    """Clusters numbered largest first; each one's representative: the member closest to the
    cluster's mean vector (or, without vectors, the one with the most weight inside it)."""
    _, inverse, counts = np.unique(raw, return_inverse=True, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    labels = rank[inverse]
    sizes = counts[order]
    representatives = np.zeros(len(sizes), np.int64)
    members = np.argsort(labels, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    for c in range(len(sizes)):
        group = members[bounds[c]:bounds[c + 1]]
        if len(group) == 1:
            representatives[c] = group[0]
        elif vectors is not None:
            centre = vectors[group].mean(axis=0)
            representatives[c] = group[int(np.argmax(vectors[group] @ centre))]
        else:
            inside = [sum(w for o, w in adjacency[i] if labels[o] == c) for i in group]
            representatives[c] = group[int(np.argmax(inside))]
    return Clusters(labels, sizes, representatives)


def nearest_cluster(neighbours: list[int], cosines: list[float], placed: dict[int, int],
                    threshold: float, own: int | None = None,
                    forbidden: frozenset[int] = frozenset()) -> int | None:
    """The cluster a new face joins: its person's cluster (`own`) when it has one; else the
    one its placed neighbours at or above `threshold` weigh most, weighted as `cluster` weighs
    edges, leaving out `forbidden` clusters (another person's, or one it is marked "not");
    None: none is close enough (a cluster of its own)."""
    if own is not None and own not in forbidden:
        return own
    votes: dict[int, float] = {}
    for other, cosine in zip(neighbours, cosines, strict=True):
        if other in placed and cosine >= threshold and placed[other] not in forbidden:
            votes[placed[other]] = votes.get(placed[other], 0.0) + cosine - threshold + 1e-3
    if not votes:
        return None
    return max(votes.items(), key=lambda item: (item[1], -item[0]))[0]


def constrain(labels: np.ndarray, persons: np.ndarray, not_persons: dict[int, set[int]]
              ) -> np.ndarray:
    """Labels that keep the corrections: every face of a person in one cluster (the one most
    of its faces are in; where two persons would share one, the person with more faces keeps
    it and the other gets a new one), and no face in the cluster of a person it is marked
    "not" (such a face gets a cluster of its own). `persons[i]`: face i's person, -1 for
    none; `not_persons`: face index -> persons it is not."""
    out = labels.copy()
    fresh = int(labels.max(initial=-1)) + 1
    owner: dict[int, int] = {}  # cluster -> its person
    counts: dict[int, int] = {}
    people = [p for p in np.unique(persons) if p >= 0]
    sizes = {p: int(np.sum(persons == p)) for p in people}
    for person in sorted(people, key=lambda p: (-sizes[p], p)):
        members = np.flatnonzero(persons == person)
        choices, votes = np.unique(labels[members], return_counts=True)
        ranked = [int(c) for c in choices[np.argsort(-votes, kind="stable")]
                  if int(c) not in owner]
        home = ranked[0] if ranked else fresh
        if not ranked:
            fresh += 1
        owner[home] = int(person)
        counts[home] = len(members)
        out[members] = home
    # a face with no person left in a cluster its person-less neighbours shared with an
    # owned one stays; a face marked "not" the owner leaves
    for face, marked in not_persons.items():
        if persons[face] < 0 and owner.get(int(out[face])) in marked:
            out[face] = fresh
            fresh += 1
    return out


def relabel(labels: np.ndarray, vectors: np.ndarray | None) -> Clusters:
    """Clusters numbered largest first, with representatives, from any labels (after
    `constrain`)."""
    return _ordered(labels, [[] for _ in range(len(labels))], vectors)
