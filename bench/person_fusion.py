"""Identification by person: which fusion rule scores a person of several faces, and whether the
`same_person` verdict keeps its stated FPIR as the group grows (services/recognition/
person_fusion.py holds the rule and the verdict; this prints the figures behind them).

    .venv/bin/python -m bench.person_fusion [--embedder facenet] [--draws 20]
    .venv/bin/python -m bench.person_fusion --calibrate --embedder NAME  # TAILS[...] literal
    .venv/bin/python -m bench.person_fusion --strangers --embedder NAME  # STRANGERS[...] literal
    .venv/bin/python -m bench.person_fusion --choose-fillers             # the filler model
    .venv/bin/python -m bench.person_fusion --quality                    # read quality first

Data: LFW View 1's 4,992 images through the product's own pipeline (bench/lfw_calibrate.py's
cached embeddings: MTCNN, the largest face of the central 150 x 150 region), split by LFW's own
people lists into DevTrain (2,129 people, 3,438 images with a face; everything is chosen and
calibrated here) and DevTest (963 people, 1,549 images; nothing is tuned on them). The 5
images with no face are left out.

1. Fusion table, per split, for k = 1, 3, 5 photos per person: the gallery is every person with
   at least k + 1 images, enrolled with k of them; each draw (--draws, random k) probes with one
   other image of each (mated searches) and with every image of the people with k or fewer
   images (strangers, never enrolled). Rules: the best face (max, the reference), the mean of
   the top 2 and top 3 cosines, the template mean (the cosine to the normalised mean of the
   person's face vectors) and the quality-weighted template (each face weighted by the quality
   score enrolment stores, shared/quality_gate.quality_score; only with --quality's cache).
   Rank-1 is the share of mated searches whose own person scores highest; FNIR at FPIR x sets
   the threshold on the strangers' best person scores so that a share x of them match anyone
   (bench/open_set.py's definitions) and counts the mated searches not found at rank 1 at or
   above it. "ratio" is the rule's FNIR over the best face's in the same draws.
2. The verdict (default run): in galleries of 1k, 2.6k (all real), 10k and 100k people, the FPIR
   measured at verdict_cosine(model, effective_people(gallery), fpir) for fpir 1% and 0.1% (the
   cosine printed: the two halves' mean), and the FNIR it costs (mated searches not found at
   rank 1 at or above that cosine). DevTest's people are halved; one half is in the gallery (k =
   1 or 3 photos each, the rest of their photos probe: mated), every image of the other half
   probes as a stranger, then the halves swap. The gallery is filled with DevTrain's people (up
   to k photos each), then, past LFW's 3,095 people, with fillers: single-face identities each
   the normalised blend of two DevTrain people's face vectors (drawn within one of
   FILLER_CLUSTERS k-means clusters, weights FILLER_WEIGHTS; `--choose-fillers` prints the
   choice, made on DevTrain alone). No filler comes from a DevTest person, so no probe meets
   itself. The check printed first compares DevTest probes against the 2,129 DevTrain people and
   against as many fillers; the strangers matched in the largest gallery are named (LFW holds a
   few people under two names and photos of two people: they match at any gallery size).
   `--choose-fillers` ends with the chosen fillers made from fewer parents than fillers, as the
   large galleries are (pool_check): they then match far fewer strangers than real people do, so
   those rows understate.
3. The stranger model (`--strangers`): on DevTrain alone, each image a stranger against one
   image of each other person; the FPIR over random groups of 30 to 2,000 people (exact:
   hypergeometric over each stranger's count of people at or above the cosine) at the
   independence formula's cosines, the stranger spread that fits it best, and the
   STRANGERS grid computed from it (person_fusion's docstring has the model).
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.lfw import DEFAULT_ROOT, all_pairs, central_jpeg, view1_names
from bench.lfw_calibrate import CACHE as EMBEDDINGS
from bench.lfw_calibrate import product_embeddings
from bench.open_set import threshold_at_fpir
from services.recognition import person_fusion
from shared.models import ModelSpec, model_for

QUALITY = EMBEDDINGS.parent / "person-fusion" / "quality.npz"
RULES = ("max", "mean-top-2", "mean-top-3", "template-mean", "quality-template")
# the filler model: blends within one of this many k-means clusters of DevTrain's people, the
# weight of the first uniform in this range (a filler is never nearer than a 3:1 blend to a
# real person); chosen by --choose-fillers on DevTrain alone
FILLER_CLUSTERS = 3
FILLER_WEIGHTS = (0.25, 0.75)
SIZES = (1_000, 2_600, 10_000, 100_000)  # 2,600: the most real people a gallery here holds
# the single-face tail's knots (rates) and the range its extrapolation's slope is fitted on
KNOT_RATES = (0.5, 0.2, 0.1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5)
SLOPE_RATES = np.logspace(-3, -5, 9)
# the stranger model: the tail's knot it keeps, how finely its spread is integrated, and the
# group sizes its spread is fitted at on DevTrain
STRANGER_ANCHOR = 1e-5
STRANGER_POINTS = 400
STRANGER_FIT_PEOPLE = (30, 100, 300, 1_000, 2_000)
# the verdict's grid: group sizes (half decades) and FPIRs it is computed at


@dataclass
class Faces:
    """View 1's images with a face: unit vectors, person ids, DevTrain or not, quality."""

    vectors: np.ndarray
    person: np.ndarray  # index into names of people
    train: np.ndarray  # bool per image
    quality: np.ndarray | None
    names: np.ndarray  # LFW's relative path of each image

    def subset(self, mask: np.ndarray) -> Faces:
        return Faces(self.vectors[mask], self.person[mask], self.train[mask],
                     None if self.quality is None else self.quality[mask], self.names[mask])

    def by_person(self) -> dict[int, np.ndarray]:
        order = np.argsort(self.person, kind="stable")
        people, starts = np.unique(self.person[order], return_index=True)
        return dict(zip(people.tolist(), np.split(order, starts[1:]), strict=True))


def load(root: Path, embedder: str, quality: bool) -> Faces:
    names = view1_names(root)
    vectors, found = product_embeddings(root, embedder)
    who = [n.split("/")[0] for n in names]
    ids = {p: k for k, p in enumerate(sorted(set(who)))}
    train_people = {line.split()[0] for line in
                    (root / "peopleDevTrain.txt").read_text().split("\n")[1:] if line.strip()}
    scores = None
    if quality or QUALITY.is_file():
        scores = product_qualities(root)
        # a face the analysis did not read (rare) weighs as the median face
        scores = np.where(np.isnan(scores), np.nanmedian(scores), scores)
    faces = Faces(vectors.astype(np.float64), np.array([ids[p] for p in who]),
                  np.array([p in train_people for p in who]), scores, np.array(names))
    return faces.subset(found)


def product_qualities(root: Path) -> np.ndarray:
    """The quality score enrolment stores with each View 1 image's largest face
    (shared/quality_gate.quality_score over the worker's analysis, read as bench/gate.py reads
    it); NaN where no face was found. Cached in QUALITY."""
    if QUALITY.is_file():
        return np.load(QUALITY)["quality"]
    import torch

    from bench.gate import Reader
    from shared.quality_gate import quality_score
    from shared.settings import Settings

    torch.set_grad_enabled(False)
    names = view1_names(root)
    started = time.perf_counter()
    records = Reader(Settings().changed(quality_gate=True)).records(
        "lfw", [central_jpeg(root, n) for n in names], names)
    # the detector's probability is only read when no quality was measured: never here
    quality = np.array([np.nan if r.analysis is None else quality_score(r.analysis, 1.0)
                        for r in records])
    print(f"({len(names)} images analysed in {time.perf_counter() - started:.0f} s)")
    QUALITY.parent.mkdir(parents=True, exist_ok=True)
    np.savez(QUALITY, quality=quality)
    return quality


def normalised(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def fused(rule: str, probes: np.ndarray, faces: np.ndarray,
          weights: np.ndarray | None = None) -> np.ndarray:
    """(probes, persons) person scores; faces is (persons, k, dim), every person k faces."""
    if rule == "template-mean":  # person_fusion.fused_cosine, in one matrix product
        return probes @ normalised(faces.mean(axis=1)).T
    if rule == "quality-template":
        return probes @ normalised(np.einsum("gk,gkd->gd", np.maximum(weights, 0.05),
                                             faces)).T
    cos = np.einsum("pd,gkd->pgk", probes, faces)
    if rule == "max":
        return cos.max(axis=2)
    top = int(rule.rsplit("-", 1)[1])
    return -np.sort(-cos, axis=2)[:, :, :top].mean(axis=2)


def fnir_at(mate: np.ndarray, found: np.ndarray, strangers: np.ndarray, fpir: float) -> float:
    threshold = threshold_at_fpir(strangers, fpir)
    return float(np.mean(~(found & (mate >= threshold))))


def fusion_table(faces: Faces, label: str, draws: int, seed: int) -> dict[tuple[str, int], float]:
    """Print the table for one split; return FNIR at FPIR 1% per (rule, k)."""
    rng = np.random.default_rng(seed)
    rules = [r for r in RULES if r != "quality-template" or faces.quality is not None]
    groups = faces.by_person()
    print(f"\nFusion table, {label} (draws: {draws})")
    print(f"  {'k':>2} {'rule':<17} {'people':>6} {'mated':>6} {'strangers':>9} {'rank-1':>7}"
          f" {'FNIR@1%':>8} {'ratio':>6} {'FNIR@0.1%':>9} {'ratio':>6}")
    out = {}
    for k in (1, 3, 5):
        gallery = [g for g in groups.values() if len(g) >= k + 1]
        strangers = np.concatenate([g for g in groups.values() if len(g) <= k])
        mates, found, best = ({r: [] for r in rules} for _ in range(3))
        for _ in range(draws):
            picks = [rng.permutation(g)[:k + 1] for g in gallery]
            probe_idx = np.array([p[0] for p in picks])
            enrol = np.array([p[1:] for p in picks])
            probes = faces.vectors[np.concatenate([probe_idx, strangers])]
            weights = None if faces.quality is None else faces.quality[enrol]
            n = len(gallery)
            for rule in rules:
                scores = fused(rule, probes, faces.vectors[enrol], weights)
                mate = scores[np.arange(n), np.arange(n)]
                others = scores[:n].copy()
                others[np.arange(n), np.arange(n)] = -np.inf
                mates[rule].append(mate)
                found[rule].append(mate > others.max(axis=1))
                best[rule].append(scores[n:].max(axis=1))
        reference = None
        for rule in rules:
            mate, hit, stranger = (np.concatenate(x[rule]) for x in (mates, found, best))
            f1, f01 = (fnir_at(mate, hit, stranger, x) for x in (0.01, 0.001))
            if reference is None:
                reference = (f1, f01)
            out[(rule, k)] = f1
            ratio = [f"{f / r:.2f}" if r > 0 else "-" for f, r in zip((f1, f01), reference,
                                                                     strict=True)]
            print(f"  {k:>2} {rule:<17} {len(gallery):>6} {len(mate):>6} {len(stranger):>9}"
                  f" {hit.mean():>7.2%} {f1:>8.2%} {ratio[0]:>6} {f01:>9.2%} {ratio[1]:>6}")
    return out


def choose_rule(fnir: dict[tuple[str, int], float]) -> str:
    """Of the rules that read only the faces' vectors, the one with the lowest mean FNIR at
    FPIR 1% over 3 and 5 photos. The quality-weighted template is measured but not a
    candidate: the quality a face is stored with is the detector's probability when it was
    enrolled with the gate off (shared/quality_gate.quality_score), so the weights of one
    person's faces need not be comparable."""
    rules = sorted({r for r, _ in fnir if r != "quality-template"})
    return min(rules, key=lambda r: (fnir[(r, 3)] + fnir[(r, 5)]) / 2)


# ---------------------------------------------------------------- the single-face tail


def template_ratios(faces: Faces, rng: np.random.Generator, draws: int = 20
                    ) -> dict[int, list[float]]:
    """p_m / p_1 for the template of m = 2, 3, 5 faces: at the cosines where one face of the
    same people matches a share 1e-3 and 1e-4 of other people's images (DevTrain people with 5
    or more images, random faces per draw)."""
    groups = faces.by_person()
    people = [p for p, g in groups.items() if len(g) >= 5]
    scores: dict[int, list[np.ndarray]] = {m: [] for m in (1, 2, 3, 5)}
    for _ in range(draws):
        for m in scores:
            picks = np.array([rng.permutation(groups[p])[:m] for p in people])
            sims = faces.vectors @ normalised(faces.vectors[picks].mean(axis=1)).T
            own = faces.person[:, None] == np.array(people)[None, :]
            scores[m].append(sims[~own])
    single = np.concatenate(scores[1])
    cuts = [np.quantile(single, 1 - r) for r in (1e-3, 1e-4)]
    return {m: [float(np.mean(np.concatenate(scores[m]) >= c)) / r
                for c, r in zip(cuts, (1e-3, 1e-4), strict=True)] for m in (2, 3, 5)}


def calibrate(faces: Faces, model: ModelSpec, seed: int) -> person_fusion.ImpostorTail:
    train = faces.subset(faces.train)
    impostor, _ = all_pairs(train.vectors, train.person)
    print(f"\nCalibration of {model.key} on DevTrain: {len(impostor):,} impostor pairs "
          f"(every pair of images of different people)")
    knots = tuple((r, round(float(np.quantile(impostor, 1 - r)), 4)) for r in KNOT_RATES)
    z = np.array([person_fusion._NORMAL.inv_cdf(1 - r) for r in SLOPE_RATES])
    t = np.array([np.quantile(impostor, 1 - r) for r in SLOPE_RATES])
    slope = float(np.polyfit(z, t, 1)[0])
    ratios = template_ratios(train, np.random.default_rng(seed))
    print("  template of m faces: p_m / p_1 at the single face's FMR 1e-3, 1e-4")
    for m, values in ratios.items():
        print(f"    m={m}: {values[0]:.2f}, {values[1]:.2f}")
    templates = tuple((m, round(values[1], 2)) for m, values in ratios.items())
    tail = person_fusion.ImpostorTail(knots, round(slope, 4), templates)
    print(f"  templates: the ratios at 1e-4, nearer the rates a verdict works at: {templates}")
    print(f"services/recognition/person_fusion.py TAILS[{model.key!r}] = ImpostorTail(\n"
          f"    knots=({', '.join(f'({r:g}, {c})' for r, c in knots)}),\n"
          f"    slope={tail.slope}, templates={templates})")
    check_tail(faces, tail)
    return tail


def check_tail(faces: Faces, tail: person_fusion.ImpostorTail) -> None:
    """The tail on held-out pairs: DevTest x DevTest and DevTest x DevTrain."""
    test, train = faces.subset(~faces.train), faces.subset(faces.train)
    within, _ = all_pairs(test.vectors, test.person)
    across = (test.vectors @ train.vectors.T).ravel()
    print(f"  held out: measured rate at the tail's cosine for each rate (DevTest pairs "
          f"{len(within):,}; DevTest x DevTrain {len(across):,})")
    for rate in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6):
        cosine = tail.cosine_at(rate)
        shown = [f"{np.mean(x >= cosine):.2e}" if rate * len(x) >= 3 else "-"
                 for x in (within, across)]
        print(f"    {rate:.0e}: cosine {cosine:.4f}  {shown[0]:>9}  {shown[1]:>9}")


# ---------------------------------------------------------------- the stranger model


@dataclass
class Strangers:
    """Strangers as a mixture: stranger s matches one person at cosine t with probability
    P(N(mean_s, spread_s) >= t), each s weighing the same."""

    mean: np.ndarray
    spread: np.ndarray

    def rates(self, cosine: np.ndarray | float) -> np.ndarray:
        """p_s(cosine) per stranger s (rows) for each cosine (columns): one face's rate."""
        z = (np.atleast_1d(cosine)[None, :] - self.mean[:, None]) / self.spread[:, None]
        return np.minimum(1.0, np.exp(np.interp(z, _Z, _LOG_UPPER)))

    def fpir(self, rates: np.ndarray, people: float) -> np.ndarray:
        """The share of strangers matched to anyone among `people` persons, per column."""
        return np.mean(-np.expm1(people * np.log1p(-np.minimum(rates, 1 - 1e-16))), axis=0)


# the normal upper tail's log on a fine grid (numpy has no erfc)
_Z = np.linspace(-10.0, 37.0, 47_001)
_LOG_UPPER = np.log(np.array([max(0.5 * math.erfc(z / math.sqrt(2.0)), 1e-300) for z in _Z]))


def stranger_model(tail: person_fusion.ImpostorTail, spread: float) -> Strangers:
    """The single-face tail past 1e-3 is close to a normal one (straight in the normal
    quantile, slope tail.slope): split its variance into a per-stranger location, normal with
    sd `spread` (how much strangers differ in resembling people at large), and the rest per
    comparison. spread 0 is the independence formula; the mixture keeps the tail's 1e-5 knot."""
    rate = STRANGER_ANCHOR
    z = person_fusion._NORMAL.inv_cdf(1 - rate)
    centre = dict(tail.knots)[rate] - z * tail.slope
    u = np.array([person_fusion._NORMAL.inv_cdf((k + 0.5) / STRANGER_POINTS)
                  for k in range(STRANGER_POINTS)])
    rest = math.sqrt(tail.slope ** 2 - spread ** 2)
    return Strangers(centre + spread * u, np.full(STRANGER_POINTS, rest))


def measured_fpir(scores: np.ndarray, cosine: float, people: int) -> float:
    """Mean over strangers (rows: cosines to one image of each other person, -inf for their
    own) of the chance that some of `people` persons drawn at random reaches `cosine`: exact,
    hypergeometric (1 - C(n - c, N) / C(n, N))."""
    n = scores.shape[1] - 1
    counts = (scores >= cosine).sum(axis=1)
    i = np.arange(people)
    miss = [np.sum(np.log(np.maximum(n - c - i, 0) / (n - i))) if c + people <= n else -np.inf
            for c in counts]
    return float(np.mean(-np.expm1(np.array(miss))))


def stranger_grid(strangers: Strangers) -> tuple[tuple[float, ...], ...]:
    """verdict cosines for GRID_FPIRS (rows) x GRID_PEOPLE (columns) of person_fusion under the
    model: where the mean over strangers of 1 - (1 - p_s)^N equals the FPIR."""
    cosines = np.linspace(-0.2, 1.2, 14_001)
    rates = strangers.rates(cosines)
    rows = []
    for fpir in person_fusion.GRID_FPIRS:
        row = []
        for people in person_fusion.GRID_PEOPLE:
            curve = strangers.fpir(rates, people)  # falling with the cosine
            j = int(np.argmax(curve <= fpir))  # the first at or below, refined linearly
            a, b = curve[j - 1], curve[j]
            w = (a - fpir) / (a - b) if a > b else 0.0
            row.append(round(float(cosines[j - 1] + w * (cosines[j] - cosines[j - 1])), 4))
        rows.append(tuple(row))
    return tuple(rows)


def calibrate_strangers(faces: Faces, model: ModelSpec, seed: int) -> None:
    """On DevTrain: each image a stranger against one image of every other person; the FPIR
    measured (exactly, over random groups of N) at the independence formula's cosines, and the
    spread that the mixture fits it with; then the STRANGERS grid from the chosen spread."""
    train = faces.subset(faces.train)
    tail = person_fusion.TAILS[model.key]
    rng = np.random.default_rng(seed)
    one = np.array([rng.choice(g) for g in train.by_person().values()])
    scores = train.vectors @ train.vectors[one].T
    scores[train.person[:, None] == train.person[one][None, :]] = -np.inf
    points = []
    for people in STRANGER_FIT_PEOPLE:
        for fpir in (0.01, 0.001):
            cosine = tail.cosine_at(person_fusion.stranger_rate(people, fpir))
            points.append((people, fpir, cosine, measured_fpir(scores, cosine, people)))
    print(f"\nStranger model of {model.key} on DevTrain ({len(train.vectors)} strangers against "
          f"one image of each of the other {len(one) - 1} people; one-face templates, factor 1):")
    print("  FPIR at the independence formula's cosine for each target, measured and fitted by"
          " spread")
    print(f"    {'spread':>7} " + " ".join(f"{n:>6,}:{f:<5.1%}" for n, f, _, _ in points)
          + "  rms log error")
    print(f"    {'measured':>7} " + " ".join(f"{m:>12.3%}" for *_, m in points))
    best = (math.inf, 0.0)
    for spread in np.arange(0.0, tail.slope * 0.9, 0.005):
        mixture = stranger_model(tail, float(spread))
        fitted = [float(mixture.fpir(mixture.rates(c), n)[0]) for n, _, c, _ in points]
        error = math.sqrt(np.mean([math.log(p / m) ** 2 for p, (*_, m) in
                                   zip(fitted, points, strict=True)]))
        best = min(best, (error, round(float(spread), 3)))
        print(f"    {spread:>7.3f} " + " ".join(f"{p:>12.3%}" for p in fitted) + f"  {error:.3f}")
    spread = best[1]
    grid = stranger_grid(stranger_model(tail, spread))
    print(f"  chosen spread {spread} (tail slope {tail.slope}; the grid is in one-face people)")
    print(f"services/recognition/person_fusion.py STRANGERS[{model.key!r}] = StrangerGrid(\n"
          f"    spread={spread},\n    people=GRID_PEOPLE,\n    fpirs=GRID_FPIRS,\n"
          f"    cosines=(\n" + "".join(f"        {row},\n" for row in grid) + "    ))")


# ---------------------------------------------------------------- fillers


def kmeans(x: np.ndarray, k: int, rng: np.random.Generator, rounds: int = 30) -> np.ndarray:
    """Spherical k-means: each vector's cluster."""
    centres = x[rng.choice(len(x), k, replace=False)]
    for _ in range(rounds):
        label = np.argmax(x @ centres.T, axis=1)
        for c in range(k):
            if np.any(label == c):
                centres[c] = normalised(x[label == c].mean(axis=0))
    return np.argmax(x @ centres.T, axis=1)


class Fillers:
    """Single-face stand-ins for people LFW lacks: normalised blends of two parents' face
    vectors from the same cluster (module docstring)."""

    def __init__(self, parents: np.ndarray, clusters: int, weights: tuple[float, float],
                 seed: int) -> None:
        self.parents, self.weights, self.seed = parents, weights, seed
        label = kmeans(parents, clusters, np.random.default_rng(seed))
        self.members = [np.flatnonzero(label == c) for c in range(clusters)]
        self.sizes = np.array([len(m) for m in self.members]) / len(parents)

    def chunk(self, index: int, n: int) -> np.ndarray:
        rng = np.random.default_rng((self.seed, index))
        cluster = rng.choice(len(self.members), n, p=self.sizes)
        a = np.array([rng.choice(self.members[c]) for c in cluster])
        b = np.array([rng.choice(self.members[c]) for c in cluster])
        w = rng.uniform(*self.weights, n)[:, None]
        return normalised(w * self.parents[a] + (1 - w) * self.parents[b])


def one_each(faces: Faces, rng: np.random.Generator) -> np.ndarray:
    """One random image's vector per person."""
    return np.array([faces.vectors[rng.choice(g)] for g in faces.by_person().values()])


def compare(probes: np.ndarray, real: np.ndarray, fake: np.ndarray, indent: str = "  ") -> float:
    """Print real vs filler impostor quantiles and the share of probes whose best is at or
    above the real best's 50/90/99th percentile; return the worst |log ratio| of those."""
    sr, sf = probes @ real.T, probes @ fake.T
    rates = [r for r in (1e-2, 1e-3, 1e-4, 1e-5) if r * sr.size >= 10]
    print(f"{indent}impostor cosine at rate " + "  ".join(f"{r:.0e}" for r in rates))
    for name, s in (("real", sr), ("fillers", sf)):
        print(f"{indent}  {name:<8}" + "  ".join(f"{np.quantile(s, 1 - r):.4f}" for r in rates))
    levels = np.quantile(sr.max(axis=1), (0.5, 0.9, 0.99))
    shares = [(np.mean(sr.max(axis=1) >= t), np.mean(sf.max(axis=1) >= t)) for t in levels]
    print(f"{indent}probes whose best person is at or above: "
          + "  ".join(f"{t:.4f}: real {a:.3f} fillers {b:.3f}"
                      for t, (a, b) in zip(levels, shares, strict=True)))
    return max(abs(math.log(max(b, 1e-4) / a)) for a, b in shares)


def choose_fillers(faces: Faces, seed: int) -> None:
    """On DevTrain alone: a third of its people are parents, a third the real reference,
    the last third's images probe."""
    train = faces.subset(faces.train)
    rng = np.random.default_rng(seed)
    people = np.unique(train.person)
    thirds = np.array_split(rng.permutation(people), 3)
    part = [train.subset(np.isin(train.person, t)) for t in thirds]
    parents, real = one_each(part[0], rng), one_each(part[1], rng)
    print(f"\nFiller model on DevTrain: {len(parents)} parents, {len(real)} real people, "
          f"{len(part[2].vectors)} probe images")
    for clusters in (1, 3, 10, 30):
        for weights in ((0.25, 0.75), (0.0, 1.0)):
            fake = Fillers(parents, clusters, weights, seed).chunk(0, len(real))
            print(f"  clusters {clusters}, weights {weights}:")
            worst = compare(part[2].vectors, real, fake, "    ")
            print(f"    worst |log share ratio| {worst:.2f}")
    pool_check(parents, real, part[2].vectors, rng, seed)


def pool_check(parents: np.ndarray, real: np.ndarray, probes: np.ndarray,
               rng: np.random.Generator, seed: int) -> None:
    """The chosen fillers made from fewer parents than fillers, as the verdict's large
    galleries are (2,129 DevTrain parents for up to 97,000 fillers: 1 to about 46): blends
    of one small pool resemble each other, so a probe near none of its parents meets none of
    them, and a gallery of fillers matches fewer strangers than as many real people would."""
    print(f"\nThe chosen fillers ({FILLER_CLUSTERS} clusters, weights {FILLER_WEIGHTS}), "
          f"{len(real)} of them, from fewer parents:")
    for ratio in (1, 10, 46):
        pool = parents[rng.choice(len(parents), len(real) // ratio, replace=False)]
        clusters = FILLER_CLUSTERS if len(pool) >= 10 * FILLER_CLUSTERS else 1
        print(f"  {len(pool)} parents (1 to {ratio}), {clusters} cluster(s):")
        compare(probes, real, Fillers(pool, clusters, FILLER_WEIGHTS, seed).chunk(0, len(real)),
                "    ")


# ---------------------------------------------------------------- the verdict


def running_max(probes: np.ndarray, fillers: Fillers, cuts: list[int],
                chunk: int = 10_000) -> dict[int, np.ndarray]:
    """Each probe's best filler score over the first n fillers, for each n in cuts."""
    best = np.full(len(probes), -np.inf)
    out, done, index = {}, 0, 0
    pending = sorted(set(cuts))
    while pending:
        n = min(chunk, pending[-1] - done)
        scores = probes @ fillers.chunk(index, n).T
        for cut in [c for c in pending if c <= done + n]:
            part = scores[:, :cut - done]
            out[cut] = np.maximum(best, part.max(axis=1)) if part.shape[1] else best.copy()
            pending.remove(cut)
        best = np.maximum(best, scores.max(axis=1))
        done, index = done + n, index + 1
    return out


def interval(hits: int, n: int) -> str:
    """Wilson 95% interval of a share."""
    if n == 0:
        return "-"
    p, z = hits / n, 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return f"{max(0.0, centre - half):.2%}-{centre + half:.2%}"


def verdict_table(faces: Faces, model: ModelSpec, seed: int) -> None:
    rng = np.random.default_rng(seed)
    train, test = faces.subset(faces.train), faces.subset(~faces.train)
    parents = one_each(train, rng)
    fillers = Fillers(parents, FILLER_CLUSTERS, FILLER_WEIGHTS, seed)
    print(f"\nFillers ({FILLER_CLUSTERS} clusters, weights {FILLER_WEIGHTS}) against real people,"
          f" DevTest probes ({len(test.vectors)}), {len(parents)} of each:")
    real = one_each(train, np.random.default_rng(seed + 1))
    compare(test.vectors, real, fillers.chunk(10**6, len(real)))
    groups = test.by_person()
    people = np.array(sorted(groups))
    halves = np.array_split(rng.permutation(people), 2)
    train_groups = list(train.by_person().values())
    print(f"\nVerdict of {model.key}: `same_person` at verdict_cosine(model, effective people, "
          f"fpir), fused by {person_fusion.FUSION_RULE}")
    for k in (1, 3):
        # DevTrain's people, up to k photos each: the same for both halves
        train_faces = [train.vectors[rng.permutation(g)[:k]] for g in train_groups]
        train_templates = normalised(np.array([f.mean(axis=0) for f in train_faces]))
        rows: dict[tuple[int, float], list[int]] = {}
        used: dict[tuple[int, float], list[float]] = {}  # each half's verdict cosine
        shown: dict[int, tuple[int, int, int]] = {}
        hits: list[str] = []
        for h in (0, 1):
            gallery, strangers = halves[h], halves[1 - h]
            picks = {p: rng.permutation(groups[p]) for p in gallery}
            enrol = {p: g[:k] for p, g in picks.items()}
            mated = [(i, p) for p, g in picks.items() if len(g) > k for i in g[k:]]
            templates = normalised(np.array([test.vectors[enrol[p]].mean(axis=0)
                                             for p in gallery]))
            stranger_images = np.concatenate([groups[p] for p in strangers])
            probe_images = np.concatenate([[i for i, _ in mated], stranger_images]).astype(int)
            probes = test.vectors[probe_images]
            own = test.vectors[probe_images] @ templates.T
            train_scores = probes @ train_templates.T
            n_real = len(gallery) + len(train_groups)
            cuts = [max(0, size - n_real) for size in SIZES]
            filler_best = running_max(probes, fillers, cuts)
            column = {p: c for c, p in enumerate(gallery)}
            mate_col = np.array([column[p] for _, p in mated])
            n_mated = len(mated)
            for size, cut in zip(SIZES, cuts, strict=True):
                from_train = min(len(train_groups), size - len(gallery))
                # the verdict counts the gallery as the product does: by its people's face counts
                counted = Counter(len(enrol[p]) for p in gallery)
                counted.update(len(f) for f in train_faces[:from_train])
                counted[1] += cut
                effective = person_fusion.effective_people(model, counted)
                rest = np.maximum(train_scores[:, :from_train].max(axis=1), filler_best[cut])
                mate = own[np.arange(n_mated), mate_col]
                others = own[:n_mated].copy()
                others[np.arange(n_mated), mate_col] = -np.inf
                mate_found = mate > np.maximum(others.max(axis=1), rest[:n_mated])
                stranger_best = np.maximum(own[n_mated:].max(axis=1), rest[n_mated:])
                shown[size] = (len(gallery), from_train, cut)
                if k == 1 and size == SIZES[-1]:
                    # who the strangers matched at the largest gallery's 1% cosine: a real
                    # person (the name) or a filler
                    cosine = person_fusion.verdict_cosine(model, effective, 0.01)
                    train_names = [train.names[g[0]].split("/")[0] for g in train_groups]
                    for j in np.flatnonzero(stranger_best >= cosine):
                        image = test.names[stranger_images[j]]
                        row = n_mated + j
                        real_best = [(own[row].max(), test.names[groups[gallery[
                            own[row].argmax()]][0]].split("/")[0]),
                            (train_scores[row].max(), train_names[train_scores[row].argmax()])]
                        score, who = max(real_best)
                        hits.append(f"{image} {stranger_best[j]:.3f}: " + (
                            who if score >= stranger_best[j] else "a filler"))
                for fpir in (0.01, 0.001):
                    cosine = person_fusion.verdict_cosine(model, effective, fpir)
                    used.setdefault((size, fpir), []).append(cosine)
                    counts = rows.setdefault((size, fpir), [0, 0, 0, 0])
                    counts[0] += int(np.sum(stranger_best >= cosine))
                    counts[1] += len(stranger_best)
                    counts[2] += int(np.sum(~(mate_found & (mate >= cosine))))
                    counts[3] += n_mated
        print(f"  {k} photo(s) per person (DevTest and DevTrain people; fillers one face):")
        print(f"    {'people':>7} {'fpir':>6} {'cosine':>7} {'score':>6} {'FPIR':>7} "
              f"{'(95%)':>13} {'strangers':>13} {'FNIR':>7} {'mated':>9}")
        for size in SIZES:
            for fpir in (0.01, 0.001):
                cosine = float(np.mean(used[(size, fpir)]))
                fp, n, fn, m = rows[(size, fpir)]
                print(f"    {size:>7,} {fpir:>6.1%} {cosine:>7.4f} {model.score(cosine):>6.3f}"
                      f" {fp / n:>7.2%} {interval(fp, n):>13} {fp:>5}/{n:<7} {fn / m:>7.2%}"
                      f" {fn:>4}/{m:<4}")
        print("    (gallery, last half: " + "; ".join(
            f"{s:,}: {a} DevTest + {b} DevTrain + {c:,} fillers"
            for s, (a, b, c) in shown.items()) + ")")
        if hits:
            print(f"    strangers matched at {SIZES[-1]:,} people, fpir 1% (probe, cosine: "
                  f"the best match): " + "; ".join(hits))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--embedder", default="facenet")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quality", action="store_true",
                        help="read each image's quality score first (cached; about 10 minutes)")
    parser.add_argument("--calibrate", action="store_true",
                        help="print the model's TAILS literal and its held-out check")
    parser.add_argument("--choose-fillers", action="store_true")
    parser.add_argument("--strangers", action="store_true",
                        help="print the model's STRANGERS literal (the verdict's grid)")
    parser.add_argument("--skip-fusion", action="store_true")
    args = parser.parse_args()
    model = model_for(args.embedder)
    faces = load(args.root, args.embedder, args.quality)
    print(f"{model.key}: {len(faces.vectors)} images with a face; DevTrain "
          f"{faces.train.sum()} images of {len(np.unique(faces.person[faces.train]))} people, "
          f"DevTest {(~faces.train).sum()} of {len(np.unique(faces.person[~faces.train]))}")
    if args.calibrate:
        calibrate(faces, model, args.seed)
        return
    if args.strangers:
        calibrate_strangers(faces, model, args.seed)
        return
    if args.choose_fillers:
        choose_fillers(faces, args.seed)
        return
    if not args.skip_fusion:
        chosen = fusion_table(faces.subset(faces.train), "DevTrain (the rule is chosen here)",
                              args.draws, args.seed)
        rule = choose_rule(chosen)
        print(f"  lowest mean FNIR at FPIR 1% over 3 and 5 photos, of the rules reading only "
              f"vectors: {rule} (FUSION_RULE: {person_fusion.FUSION_RULE})")
        fusion_table(faces.subset(~faces.train), "DevTest (not tuned on)", args.draws,
                     args.seed + 1)
    if model.key not in person_fusion.TAILS:
        print(f"\nno TAILS entry for {model.key}: run --calibrate --embedder {args.embedder}")
        return
    verdict_table(faces, model, args.seed)


if __name__ == "__main__":
    main()
