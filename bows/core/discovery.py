"""Structures found without labels (SPEC 8, after Engels et al. 2024, "Not all language model features
are linear": cluster feature directions, then look at each cluster's PCA): groups of words whose vectors
form rings, lines or tight clusters, scored against random word sets of the same size and frequency.
Pure: arrays in, tables out.

Method (no word list is named anywhere in it):

1. Candidates, from the cosine matrix of the candidate words (the caller's frequency floor, e.g. the
   3,000 most frequent words), merged and deduplicated: every subtree with ``min_size``..``max_size``
   words of the average-linkage dendrogram (groups of every scale); every word with its nearest
   neighbours (``neighbourhoods`` sizes); every word's *mutual* top-k neighbourhood and the connected
   components of the mutual k-nearest-neighbour graph (``mutual`` k's): a ring or a line is a chain of
   near neighbours, which a clustering cuts into arcs but the graph keeps whole. At k = 2 every word has at
   most two mutual neighbours, so the components are paths and cycles: a ring whose words are each
   other's only near neighbours (its far pairs dissimilar, as the days in a wide W) is one of them.
2. Shape of a group, from its block of the shape matrix (default: the cosines; ``gram`` lets the data
   side pass its co-occurrence correlations) and the PCA of that block, centred (PC1-2 angles theta,
   radii, eigenvalues l1 >= l2 >= ...):
   ``ring`` = adjacency consistency x angular coverage x angular spread x radial uniformity, where
   adjacency consistency is the correlation, over the group's pairs, between their similarity and
   cos(2 pi (rank_i - rank_j) / s) of their ranks around the PC1-2 circle (near on the circle = similar
   in the full space: a ring whose structure lives in small off-diagonal similarities, as in a wide W,
   still scores), coverage = 1 - excess of the largest angular gap, spread = 1 - |mean exp(2i theta)|
   (two opposite clumps are not a ring), radial uniformity = 1 - CV of the radii;
   ``ring_strength`` = ring x contrast, where contrast = (median similarity of ring neighbours - mean of
   the other pairs) / noise, the noise being what the cyclic template leaves unexplained of the group's
   pairs, at least the pool's pair sd: how far the ring stands above the noise, which a shape score
   bounded by 1 cannot say (a perfect 7-word ring scores barely above what random 7-word sets reach);
   ``line`` = l1 / sum(l) x (1 - l2 / l1) x spread (1 - largest PC1 share of one word) x evenness along
   PC1 (1 - excess of the largest gap: two clumps at the ends of PC1 are no line);
   ``cluster`` = mean pairwise similarity.
3. Null: for each size, random word sets from the candidate pool (screening); then, for the best
   screened groups, sets that match every member's frequency bin. A group's z per score is
   (score - null mean) / null sd, for rings and lines on the square root of the score (the products are
   skewed to the right; the root makes their null close to normal); a ring's z is the larger of its
   ``ring`` and ``ring_strength`` z's. The ``cluster`` shape is judged against the neighbourhood of a
   random word (itself plus its nearest neighbours) instead, since every candidate is tight by
   construction.
4. The bar per shape: the Bonferroni z at 5 % over every group scored and every test (``z_min``), raised
   to the best z that the same search reaches on ``null_runs`` structure-free pools (each vector's
   coordinates shuffled: norms kept, every relation between words gone). Candidates are picked for being
   similar, so their z's against random sets have a heavier tail than a normal (in pure noise, Bonferroni
   alone calls a dozen clusters); with 19 null searches, pure noise passes a shape's bar 5 % of the time.
   Per shape, groups are taken greedily by z, skipping those that share more than ``max_overlap`` of
   their words with a group already taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats as sstats

SHAPES = ("ring", "line", "cluster")


# ----------------------------------------------------------------------------- shapes
def shape_scores(coords: np.ndarray) -> dict:
    """Label-free ring shape of 2-D points (e.g. PC1-2 coordinates): ``ring`` = radial uniformity x
    angular coverage, both in [0, 1] (1 for points evenly spaced on a circle)."""
    c = np.asarray(coords, dtype=np.float64)[:, :2]
    c = c - c.mean(axis=0)
    r = np.linalg.norm(c, axis=1)
    theta = np.sort(np.mod(np.arctan2(c[:, 1], c[:, 0]), 2 * np.pi))
    max_gap = np.max(np.diff(np.concatenate([theta, theta[:1] + 2 * np.pi])))
    coverage = 1 - max(max_gap - 2 * np.pi / len(c), 0) / (2 * np.pi)
    radial = 1 - min(r.std() / max(r.mean(), 1e-12), 1.0)
    return {"ring": float(radial * coverage), "radial": float(radial), "coverage": float(coverage)}


def pair_scale(S: np.ndarray) -> float:
    """sd of the off-diagonal similarities of the pool: the noise a structure's similarities stand above
    (about 1/sqrt(L) for the cosines of a wide W, at the packing floor)."""
    S = np.asarray(S)
    iu = np.triu_indices(len(S), k=1)
    return max(float(np.std(S[iu], dtype=np.float64)), 1e-12)


def group_shapes(S: np.ndarray, groups: np.ndarray, scale: float = 1.0) -> dict[str, np.ndarray]:
    """Shape scores of many equal-size groups at once. ``S``: similarity matrix of the pool (n x n, e.g.
    cosines); ``groups``: (m, s) indices into the pool; ``scale``: the pool's similarity noise
    (``pair_scale``), the unit of ``contrast``. Returns arrays (m,) per score and the PC1-2 coordinates
    (m, s, 2) in ``coords``."""
    groups = np.asarray(groups, dtype=np.int64)
    m, s = groups.shape
    G = S[groups[:, :, None], groups[:, None, :]].astype(np.float64)  # (m, s, s) block of the group
    iu = np.triu_indices(s, k=1)
    pairs = G[:, iu[0], iu[1]]
    cluster = pairs.mean(axis=1)
    H = np.eye(s) - 1.0 / s
    evals, evecs = np.linalg.eigh(H @ G @ H)
    evals, evecs = np.clip(evals[:, ::-1], 0, None), evecs[:, :, ::-1]
    total = np.maximum(evals.sum(axis=1), 1e-300)
    l1, l2 = evals[:, 0], evals[:, 1]
    coords = evecs[:, :, :2] * np.sqrt(evals[:, None, :2])
    r = np.linalg.norm(coords, axis=2)
    radial = 1 - np.minimum(r.std(axis=1) / np.maximum(r.mean(axis=1), 1e-12), 1.0)
    angle = np.mod(np.arctan2(coords[:, :, 1], coords[:, :, 0]), 2 * np.pi)
    theta = np.sort(angle, axis=1)
    gaps = np.diff(np.concatenate([theta, theta[:, :1] + 2 * np.pi], axis=1), axis=1)
    coverage = 1 - np.maximum(gaps.max(axis=1) - 2 * np.pi / s, 0) / (2 * np.pi)
    # two opposite clumps also cover the circle and look round: the second circular moment is ~1 for
    # them and ~0 for points spread around a ring
    spread_angle = 1 - np.abs(np.exp(2j * theta).mean(axis=1))
    # adjacency consistency: pairs near each other around the PC1-2 circle are the similar pairs
    rank = np.argsort(np.argsort(angle, axis=1, kind="stable"), axis=1)
    template = np.cos(2 * np.pi * (rank[:, iu[0]] - rank[:, iu[1]]) / s)
    a = pairs - pairs.mean(axis=1, keepdims=True)
    t = template - template.mean(axis=1, keepdims=True)
    denom = np.sqrt((a * a).sum(axis=1) * (t * t).sum(axis=1))
    adjacency = np.where(denom > 1e-300, (a * t).sum(axis=1) / np.maximum(denom, 1e-300), 0.0)
    # contrast: how much more similar ring neighbours are than the group's other pairs, in units of the
    # similarity noise -- the ring's strength, which the scale-free shape scores cannot see (a random set's
    # PCA orders its own noise into a ring-like shape as readily as a weak real ring). The neighbours'
    # similarity is their median pair (every link of a ring stands out, not two strong pairs among noise);
    # the noise is what the cyclic template leaves unexplained of the group's pairs, floored at the pool's
    # (``scale``): inside a cluster whose pairs differ widely for other reasons, neighbours standing out by
    # the same amount are no ring, while a strong ring's graded far pairs are no noise
    gap = np.abs(rank[:, iu[0]] - rank[:, iu[1]])
    neighbour = (gap == 1) | (gap == s - 1)
    other = ~neighbour
    other_mean = (pairs * other).sum(axis=1) / np.maximum(other.sum(axis=1), 1)
    typical = np.nanmedian(np.where(neighbour, pairs, np.nan), axis=1)
    unexplained = pairs.std(axis=1) * np.sqrt(np.maximum(1 - adjacency**2, 0.0))
    contrast = np.where(other.any(axis=1), (typical - other_mean) / np.maximum(unexplained, scale), 0.0)
    planarity = (l1 + l2) / total
    roundness = np.where(l1 > 0, l2 / np.maximum(l1, 1e-300), 0.0)
    pc1 = coords[:, :, 0] ** 2
    spread = 1 - pc1.max(axis=1) / np.maximum(pc1.sum(axis=1), 1e-300)
    # a line is spread along PC1, not two clumps at its ends: excess of the largest gap along PC1
    x = np.sort(coords[:, :, 0], axis=1)
    extent = np.maximum(x[:, -1] - x[:, 0], 1e-300)
    evenness = 1 - np.maximum(np.diff(x, axis=1).max(axis=1) - extent / (s - 1), 0) / extent
    ring = np.maximum(adjacency, 0.0) * coverage * spread_angle * radial
    return {
        "ring": ring,
        "ring_strength": np.maximum(contrast, 0.0) * ring,
        "contrast": contrast,
        "line": l1 / total * (1 - roundness) * spread * evenness,
        "cluster": cluster,
        "adjacency": adjacency,
        "planarity": planarity,
        "roundness": roundness,
        "coords": coords,
    }


# ----------------------------------------------------------------------------- candidates
def unit_cosine(vectors: np.ndarray) -> np.ndarray:
    """Cosine matrix (float32) of the rows of ``vectors`` (zero rows stay zero)."""
    X = np.asarray(vectors, dtype=np.float64)
    X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    return (X @ X.T).astype(np.float32)


def candidate_groups(S: np.ndarray, min_size: int, max_size: int) -> list[np.ndarray]:
    """Every subtree with ``min_size``..``max_size`` leaves of the average-linkage dendrogram of the
    pool under cosine distance ``1 - S``, as sorted index arrays."""
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    n = S.shape[0]
    D = np.clip(1.0 - np.asarray(S, dtype=np.float64), 0.0, 2.0)
    np.fill_diagonal(D, 0.0)
    Z = linkage(squareform(D, checks=False), method="average")
    members: dict[int, np.ndarray] = {}
    out = []
    for i, (a, b, _, size) in enumerate(Z):
        a, b, size = int(a), int(b), int(size)
        if size > max_size:
            continue
        left = members.pop(a) if a >= n else np.array([a])
        right = members.pop(b) if b >= n else np.array([b])
        node = np.sort(np.concatenate([left, right]))
        members[n + i] = node
        if size >= min_size:
            out.append(node)
    return out


def neighbourhood_groups(S: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    """Every word with its ``s - 1`` nearest neighbours by cosine, for each size s (sorted, deduplicated)."""
    order = np.argsort(-np.asarray(S, dtype=np.float64) - 2 * np.eye(len(S)), axis=1)  # self first
    seen, out = set(), []
    for s in sizes:
        for row in np.sort(order[:, :s], axis=1):
            key = row.tobytes()
            if key not in seen:
                seen.add(key)
                out.append(row)
    return out


def top_neighbours(S: np.ndarray, k: int) -> np.ndarray:
    """(n, k) indices of every word's k most similar other words, most similar first."""
    X = np.array(S, dtype=np.float64)
    np.fill_diagonal(X, -np.inf)
    k = min(k, len(X) - 1)
    part = np.argpartition(-X, k - 1, axis=1)[:, :k]
    return np.take_along_axis(part, np.argsort(-np.take_along_axis(X, part, axis=1), axis=1), axis=1)


def mutual_graph(neighbours: np.ndarray, k: int) -> sp.csr_matrix:
    """Boolean adjacency of the mutual k-nearest-neighbour graph (i ~ j when each is among the other's k
    nearest) from ``top_neighbours`` (at least k columns)."""
    n = len(neighbours)
    k = min(k, neighbours.shape[1])
    A = sp.csr_matrix(
        (np.ones(n * k, dtype=bool), (np.repeat(np.arange(n), k), neighbours[:, :k].ravel())), shape=(n, n)
    )
    return sp.csr_matrix(A.multiply(A.T))


def mutual_groups(S: np.ndarray, ks: Sequence[int], min_size: int, max_size: int) -> list[np.ndarray]:
    """For each k: every word with its mutual top-k neighbours, and every connected component of the
    mutual k-NN graph, of ``min_size``..``max_size`` words (sorted index arrays; may repeat)."""
    from scipy.sparse.csgraph import connected_components

    if not ks:
        return []
    neighbours = top_neighbours(S, max(ks))
    out = []
    for k in ks:
        M = mutual_graph(neighbours, k)
        sizes = np.diff(M.indptr) + 1
        for i in np.flatnonzero((sizes >= min_size) & (sizes <= max_size)):
            out.append(np.sort(np.append(M.indices[M.indptr[i] : M.indptr[i + 1]], i)))
        _, label = connected_components(M, directed=False)
        order = np.argsort(label, kind="stable")
        for part in np.split(order, np.flatnonzero(np.diff(label[order])) + 1):
            if min_size <= len(part) <= max_size:
                out.append(np.sort(part))
    return out


def dedupe(groups: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The distinct groups, first occurrence kept (groups as sorted index arrays)."""
    seen, out = set(), []
    for g in groups:
        key = np.asarray(g, dtype=np.int64).tobytes()
        if key not in seen:
            seen.add(key)
            out.append(np.asarray(g, dtype=np.int64))
    return out


# ----------------------------------------------------------------------------- nulls
def _z(value: np.ndarray, null: np.ndarray, shape: str = "cluster") -> np.ndarray:
    """z of ``value`` against the ``null`` draws (last axis). Ring and line scores (products of fractions,
    skewed to the right) are compared on their square root, which makes their null close to normal."""
    if shape in STABILISED:
        value, null = np.sqrt(np.maximum(value, 0.0)), np.sqrt(np.maximum(null, 0.0))
    sd = null.std(axis=-1, ddof=1)
    # the scores are fractions of order 0.01-1: a near-constant null (e.g. every random set scoring 0)
    # must not turn a tiny difference into an enormous z
    return (value - null.mean(axis=-1)) / np.maximum(sd, NULL_SD_FLOOR)


NULL_SD_FLOOR = 1e-3


STABILISED = ("ring", "line")  # shapes whose z is taken on the square root of the score
# the scores each shape is tested on (its z is the largest of their z's; the Bonferroni count has one test
# per score): a ring by its shape alone (scale-free: a ring on a large common offset, whose similarities
# barely differ, still counts) and by its shape times its strength (``contrast`` in units of the pool's
# noise: a 7-word ring can score no higher than 1 on shape alone, which random 7-word sets often approach,
# so a clear small ring is only told from noise by how far its neighbours stand above the noise)
TESTS = {"ring": ("ring", "ring_strength"), "line": ("line",), "cluster": ("cluster",)}
STATISTICS = tuple(stat for stats in TESTS.values() for stat in stats)


def frequency_bins(freq: np.ndarray, bins: int) -> np.ndarray:
    """Quantile bin (0..bins-1) of every word's frequency (ties broken by rank)."""
    rank = sstats.rankdata(np.asarray(freq, dtype=np.float64), method="ordinal") - 1
    return np.minimum((rank * bins // max(len(rank), 1)).astype(np.int64), bins - 1)


def matched_sets(group: np.ndarray, word_bin: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """(draws, s) random word sets with one word from each member's frequency bin, without repeats within a
    set (unless a bin holds fewer words than the group has members in it)."""
    group = np.asarray(group, dtype=np.int64)
    out = np.empty((draws, len(group)), dtype=np.int64)
    member_bins = word_bin[group]
    for b in np.unique(member_bins):
        slots = np.flatnonzero(member_bins == b)
        pool = np.flatnonzero(word_bin == b)
        if len(pool) >= len(slots):  # distinct words: the first len(slots) of a random permutation per draw
            picks = np.argsort(rng.random((draws, len(pool))), axis=1)[:, : len(slots)]
            out[:, slots] = pool[picks]
        else:
            out[:, slots] = rng.choice(pool, size=(draws, len(slots)))
    return out


def neighbourhood_sets(S: np.ndarray, size: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """(draws, size): a random word and its ``size - 1`` nearest neighbours by cosine."""
    seeds = rng.choice(S.shape[0], size=draws, replace=S.shape[0] < draws)
    rows = S[seeds].astype(np.float64)
    rows[np.arange(draws), seeds] = np.inf
    return np.argsort(-rows, axis=1)[:, :size]


# ----------------------------------------------------------------------------- discovery
class SizeNull:
    """Screening null, drawn once per group size: shape scores of random word sets of the pool (ring,
    line) and of random words' own neighbourhoods in ``S_near`` (cluster), scored on ``S``."""

    def __init__(self, S: np.ndarray, S_near: np.ndarray, draws: int, rng: np.random.Generator, scale: float = 1.0):
        self.S, self.S_near, self.draws, self.rng, self.scale = S, S_near, draws, rng, scale
        self._draws: dict[int, dict[str, np.ndarray]] = {}

    def scores(self, size: int) -> dict[str, np.ndarray]:
        if size not in self._draws:
            n = self.S.shape[0]
            sets = np.stack([self.rng.choice(n, size, replace=False) for _ in range(self.draws)])
            rand = group_shapes(self.S, sets, self.scale)
            local = group_shapes(self.S, neighbourhood_sets(self.S_near, size, self.draws, self.rng), self.scale)
            self._draws[size] = {
                "ring": rand["ring"],
                "ring_strength": rand["ring_strength"],
                "line": rand["line"],
                "cluster": local["cluster"],
            }
        return self._draws[size]

    def z(self, shapes: dict[str, np.ndarray], size: int, shape: str) -> np.ndarray:
        null = self.scores(size)
        return np.max([_z(shapes[stat], null[stat][None, :], shape) for stat in TESTS[shape]], axis=0)


@dataclass(frozen=True)
class Discovery:
    """All scored candidates (``candidates``) and the groups taken per shape (``found``)."""

    candidates: pd.DataFrame  # one row per candidate group: size, source, scores, z per shape, members
    found: pd.DataFrame  # the groups taken, with shape, rank within the shape, words in angular order
    z_min: float  # Bonferroni bar over every group scored and every test
    scored: int = 0  # groups scored in all: the Bonferroni count
    thresholds: dict[str, float] = field(default_factory=dict)  # the bar per shape: z_min or the null searches' best
    null_best: list[dict[str, float]] = field(default_factory=list)  # best z per shape of each structure-free search


SCORES = ("ring", "ring_strength", "contrast", "line", "cluster", "adjacency", "planarity", "roundness")


def candidates_of(
    C: np.ndarray, min_size: int, max_size: int, neighbourhoods: Sequence[int], mutual: Sequence[int]
) -> tuple[list[np.ndarray], list[str]]:
    """The distinct candidate groups of a cosine matrix and the source of each (step 1 of the module
    docstring): dendrogram subtrees, nearest neighbourhoods, mutual top-k neighbourhoods and components."""
    sizes_ok = [s for s in neighbourhoods if min_size <= s <= max_size]
    sources = {
        "dendrogram": candidate_groups(C, min_size, max_size),
        "neighbours": neighbourhood_groups(C, sizes_ok),
        "mutual": mutual_groups(C, mutual, min_size, max_size),
    }
    groups, source = [], []
    seen: set[bytes] = set()
    for name, found_groups in sources.items():
        for g in dedupe(found_groups):
            if g.tobytes() not in seen:
                seen.add(g.tobytes())
                groups.append(g)
                source.append(name)
    return groups, source


def screen(
    S: np.ndarray,
    C: np.ndarray,
    groups: list[np.ndarray],
    draws: int,
    rng: np.random.Generator,
    null: SizeNull | None = None,
) -> tuple[list[dict], SizeNull]:
    """Shape scores (SCORES) and screening z per shape (against random sets of the pool, clusters against
    random words' neighbourhoods in ``C``) of every group, scored on the similarity matrix ``S``; returns
    them and the null used (``null``: one to reuse, e.g. across structure-free pools, which are alike)."""
    scale = pair_scale(S)
    null = SizeNull(S, C, draws, rng, scale) if null is None else null
    out: list[dict] = [{} for _ in groups]
    by_size: dict[int, list[int]] = {}
    for gi, g in enumerate(groups):
        by_size.setdefault(len(g), []).append(gi)
    for size, members in by_size.items():
        shapes = group_shapes(S, np.stack([groups[i] for i in members]), scale)
        z = {shape: null.z(shapes, size, shape) for shape in SHAPES}
        for row, gi in enumerate(members):
            out[gi] = {
                **{k: float(shapes[k][row]) for k in SCORES},
                **{f"{shape}_z": float(z[shape][row]) for shape in SHAPES},
            }
    return out, null


def structure_free(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The pool with every vector's coordinates shuffled: norms and coordinate values kept, every
    relation between words destroyed (the null of the whole search)."""
    return rng.permuted(np.asarray(vectors, dtype=np.float64), axis=1)


FOUND_COLUMNS = (
    "shape",
    "rank",
    "size",
    "z",
    "ring",
    "line",
    "cluster",
    "adjacency",
    "planarity",
    "source",
    "null",
    "indices",
    "words",
    "pc1",
    "pc2",
)


def discover(
    vectors: np.ndarray,
    words: Sequence[str],
    freq: np.ndarray | None = None,
    *,
    gram: np.ndarray | None = None,
    min_size: int = 4,
    max_size: int = 30,
    draws: int = 100,
    rescore: int = 30,
    neighbourhoods: Sequence[int] = (6, 8, 12),
    mutual: Sequence[int] = (2, 3, 5, 10, 20),
    bins: int = 10,
    z_min: float | None = None,
    null_runs: int = 19,
    thresholds: dict[str, float] | None = None,
    max_overlap: float = 0.3,
    top: int = 12,
    seed: int = 0,
) -> Discovery:
    """Find ring-, line- and cluster-shaped word groups among ``vectors`` (words x dim) (see the module
    docstring). ``freq``: word frequencies for the frequency-matched null (None: all one bin). ``gram``:
    the similarity matrix (words x words) whose group blocks are scored (None: the vectors' cosines;
    candidates always come from the cosines). ``null_runs``: searches of structure-free pools whose best
    z per shape raises that shape's bar (19: a 5 % family-wise error per shape; 0: Bonferroni only);
    ``thresholds``: the bars of an earlier search of a like pool (same size and dimension), instead."""
    rng = np.random.default_rng(seed)
    words = list(words)
    n = len(words)
    if n < 2 * min_size:
        raise ValueError(f"discovery needs at least {2 * min_size} words, got {n}")
    C = unit_cosine(vectors)
    S = C if gram is None else np.asarray(gram, dtype=np.float32)
    if S.shape != (n, n):
        raise ValueError(f"gram must be {n} x {n}, got {S.shape}")
    groups, source = candidates_of(C, min_size, max_size, neighbourhoods, mutual)
    shapes_of, real_null = screen(S, C, groups, draws, rng)
    scale = real_null.scale  # the pool's pair sd, the unit of every contrast below
    scored = len(groups)
    if z_min is None:  # one-sided 5 % after Bonferroni over every group scored and every test
        z_min = float(sstats.norm.isf(0.05 / max(scored * len(STATISTICS), 1)))
    null_best: list[dict[str, float]] = []
    if thresholds is None:
        null_best = structure_free_bests(vectors, rng, null_runs, draws, min_size, max_size, neighbourhoods, mutual)
        thresholds = {shape: max([z_min, *(best[shape] for best in null_best)]) for shape in SHAPES}
    frame = pd.DataFrame(
        [{"group": gi, "size": len(groups[gi]), "source": source[gi], **shapes_of[gi]} for gi in range(len(groups))]
    )
    frame["null"] = "random (size)"
    if freq is not None and len(frame):
        rescore_matched(frame, groups, S, frequency_bins(freq, bins), draws, rescore, rng, scale)
    frame["members"] = [groups[gi].tolist() for gi in frame["group"]] if len(frame) else []
    found = take_groups(frame, S, scale, words, dict(thresholds), top, max_overlap, matched=freq is not None)
    return Discovery(frame, found, z_min, scored, dict(thresholds), null_best)


def structure_free_bests(
    vectors: np.ndarray,
    rng: np.random.Generator,
    runs: int,
    draws: int,
    min_size: int,
    max_size: int,
    neighbourhoods: Sequence[int],
    mutual: Sequence[int],
) -> list[dict[str, float]]:
    """The best screening z per shape of ``runs`` searches of structure-free pools. Candidates are picked
    for being similar, so their z's against random sets run higher than a normal tail: the bar of a shape
    is at least the best z any of these searches reached for it (the rank of the real maximum among
    ``runs + 1`` searches)."""
    bests: list[dict[str, float]] = []
    free_null = None  # random sets of one structure-free pool stand for those of any other
    for _ in range(runs):
        C0 = unit_cosine(structure_free(vectors, rng))
        g0, _ = candidates_of(C0, min_size, max_size, neighbourhoods, mutual)
        z0, free_null = screen(C0, C0, g0, draws, rng, free_null)
        bests.append({shape: max((z[f"{shape}_z"] for z in z0), default=float("-inf")) for shape in SHAPES})
    return bests


def rescore_matched(
    frame: pd.DataFrame,
    groups: list[np.ndarray],
    S: np.ndarray,
    word_bin: np.ndarray,
    draws: int,
    rescore: int,
    rng: np.random.Generator,
    scale: float,
) -> None:
    """Rescore the ``rescore`` best screened groups of each of ring and line against random sets of the
    same size and word-frequency bins (in ``frame``: their ring / line z and ``null``)."""
    best = set()
    for shape in ("ring", "line"):
        best.update(frame.nlargest(rescore, f"{shape}_z")["group"].tolist())
    for gi in best:
        g = groups[gi]
        matched = group_shapes(S, matched_sets(g, word_bin, draws, rng), scale)
        mine = group_shapes(S, g[None, :], scale)
        at = frame.index[frame["group"] == gi][0]
        for shape in ("ring", "line"):
            z = [_z(mine[stat][0], matched[stat], shape) for stat in TESTS[shape]]
            frame.loc[at, f"{shape}_z"] = float(np.max(z))
        frame.loc[at, "null"] = "random (size and frequency)"


def take_groups(
    frame: pd.DataFrame,
    S: np.ndarray,
    scale: float,
    words: list[str],
    thresholds: dict[str, float],
    top: int,
    max_overlap: float,
    matched: bool,
) -> pd.DataFrame:
    """Per shape, the best-scoring groups that pass its bar (at most ``top``, overlapping a taken one by
    at most ``max_overlap``), words in angular (ring) or PC1 order; with ``matched``, a ring or a line
    must have been rescored against the frequency-matched null to be called."""
    found = []
    for shape in SHAPES:
        taken: list[set[int]] = []
        for _, row in frame.sort_values(f"{shape}_z", ascending=False).iterrows():
            if len(taken) >= top or row[f"{shape}_z"] < thresholds[shape]:
                break
            if shape != "cluster" and row["null"] == "random (size)" and matched:
                continue  # only groups scored against the frequency-matched null are called
            m = set(row["members"])
            if any(len(m & t) > max_overlap * min(len(m), len(t)) for t in taken):
                continue
            taken.append(m)
            g = np.array(sorted(m))
            coords = group_shapes(S, g[None, :], scale)["coords"][0]
            order = np.argsort(np.arctan2(coords[:, 1], coords[:, 0])) if shape == "ring" else np.argsort(coords[:, 0])
            found.append(
                {
                    **{k: row[k] for k in ("ring", "line", "cluster", "adjacency", "planarity", "source")},
                    "shape": shape,
                    "rank": len(taken),
                    "size": len(g),
                    "z": float(row[f"{shape}_z"]),
                    "null": row["null"] if shape != "cluster" else "neighbourhood",
                    "indices": g[order].tolist(),
                    "words": " ".join(words[i] for i in g[order]),
                    "pc1": coords[order, 0].tolist(),
                    "pc2": coords[order, 1].tolist(),
                }
            )
    return pd.DataFrame(found, columns=list(FOUND_COLUMNS))


def match(found: pd.DataFrame, target: Sequence[str], shape: str | None = "ring") -> dict:
    """Precision, recall and F1 of the target words (e.g. the months) in the best-matching found group
    (of ``shape``, or any), with its rank; zeros and rank None when none overlaps."""
    wanted = set(target)
    best = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "rank": None, "shape": None, "words": None, "groups": 0}
    rows = found if shape is None else found[found["shape"] == shape]
    best["groups"] = int(len(rows))
    for _, row in rows.iterrows():
        g = set(row["words"].split())
        hit = len(g & wanted)
        if hit == 0:
            continue
        p, r = hit / len(g), hit / len(wanted)
        f1 = 2 * p * r / (p + r)
        if f1 > best["f1"]:
            best.update(precision=p, recall=r, f1=f1, rank=int(row["rank"]), shape=row["shape"], words=row["words"])
    return best


# ----------------------------------------------------------------------------- data-side vectors
def ppmi_vectors(
    cooc: np.ndarray, counts: np.ndarray, n_windows: int, dim: int = 100, min_count: int = 5
) -> np.ndarray:
    """Word vectors from the data alone, for comparison with W: the truncated SVD (U sqrt(S), ``dim``
    columns) of the positive PMI matrix of a symmetric co-occurrence block (pairs seen fewer than
    ``min_count`` times count as 0)."""
    C = np.asarray(cooc, dtype=np.float64)
    c = np.maximum(np.asarray(counts, dtype=np.float64), 1.0)
    with np.errstate(divide="ignore"):
        pmi = np.log(np.maximum(C, 1e-300) * n_windows) - np.log(c)[:, None] - np.log(c)[None, :]
    ppmi = np.where(C >= min_count, np.maximum(pmi, 0.0), 0.0)
    np.fill_diagonal(ppmi, 0.0)
    U, s, _ = np.linalg.svd(ppmi, full_matrices=False)
    dim = min(dim, len(s))
    return U[:, :dim] * np.sqrt(s[:dim])


# ----------------------------------------------------------------------------- evaluation (labels after the fact)
def candidate_match(candidates: pd.DataFrame, target: Sequence[int]) -> dict:
    """The candidate (scored or not, called or not) that best matches the ``target`` pool indices: did
    candidate generation hold the group at all? F1, size, source and its ring z."""
    wanted = set(int(i) for i in target)
    best = {"f1": 0.0, "size": None, "source": None, "ring_z": None}
    for members, size, source, ring_z in zip(
        candidates["members"], candidates["size"], candidates["source"], candidates["ring_z"], strict=True
    ):
        hit = len(wanted & set(members))
        f1 = 2 * hit / (len(wanted) + int(size)) if wanted else 0.0
        if f1 > best["f1"]:
            best = {"f1": f1, "size": int(size), "source": source, "ring_z": float(ring_z)}
    return best


def own_shape(
    vectors: np.ndarray,
    group: Sequence[int],
    freq: np.ndarray | None = None,
    *,
    gram: np.ndarray | None = None,
    draws: int = 1000,
    bins: int = 10,
    seed: int = 0,
) -> dict:
    """A labelled group's own shape scores and z / p against random word sets of the pool matching its
    members' frequency bins (``draws`` of them): how detectable its ring is at all, whatever the
    candidates. For evaluation only; ``discover`` never sees the labels."""
    g = np.asarray(group, dtype=np.int64)
    if len(g) < 3:
        raise ValueError(f"a shape needs at least 3 words, got {len(g)}")
    S = unit_cosine(vectors) if gram is None else np.asarray(gram, dtype=np.float32)
    n = S.shape[0]
    word_bin = frequency_bins(np.ones(n) if freq is None else freq, bins if freq is not None else 1)
    scale = pair_scale(S)
    mine = group_shapes(S, g[None, :], scale)
    null = group_shapes(S, matched_sets(g, word_bin, draws, np.random.default_rng(seed)), scale)
    out: dict = {"size": int(len(g)), "draws": draws}
    for shape in SHAPES:
        tests = TESTS[shape]
        out[shape] = float(mine[shape][0])
        out[f"{shape}_z"] = float(np.max([_z(mine[stat][0], null[stat], shape) for stat in tests]))
        # the smallest p of the shape's tests, Bonferroni-corrected for their number
        p = min(float((1 + np.sum(null[stat] >= mine[stat][0])) / (1 + draws)) for stat in tests)
        out[f"{shape}_p"] = min(1.0, p * len(tests))
    out["adjacency"] = float(mine["adjacency"][0])
    out["contrast"] = float(mine["contrast"][0])
    coords = mine["coords"][0]
    order = np.argsort(np.arctan2(coords[:, 1], coords[:, 0]))
    out["order"] = g[order].tolist()  # pool indices in angular order around PC1-2
    out["pc1"], out["pc2"] = coords[order, 0].tolist(), coords[order, 1].tolist()
    return out


def evaluate(
    result: Discovery,
    vectors: np.ndarray,
    words: Sequence[str],
    freq: np.ndarray | None,
    targets: dict[str, Sequence[str]],
    *,
    gram: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, dict]:
    """Per named target group (e.g. months): the best-matching found ring and found group of any shape
    (``match``), the best candidate (``candidate_match``) and the group's own shape z (``own_shape``,
    None with a ``reason`` below 3 words in the pool)."""
    index = {w: i for i, w in enumerate(words)}
    out: dict[str, dict] = {}
    for name, target in targets.items():
        present = [w for w in target if w in index]
        entry: dict = {
            "words": len(present),
            "ring": match(result.found, present, "ring"),
            "any": match(result.found, present, None),
            "candidate": candidate_match(result.candidates, [index[w] for w in present]),
            "own": None,
        }
        if len(present) >= 3:
            entry["own"] = own = own_shape(vectors, [index[w] for w in present], freq, gram=gram, seed=seed)
            own["words"] = " ".join(words[int(i)] for i in own["order"])
        else:
            entry["reason"] = f"only {len(present)} of its words among the candidate words"
        out[name] = entry
    return out


def in_weights(
    W: np.ndarray,
    vocab: Sequence[str],
    counts: np.ndarray,
    targets: dict[str, Sequence[str]],
    *,
    candidates: int = 3000,
    seed: int = 0,
    thresholds: dict[str, float] | None = None,
) -> tuple[Discovery, np.ndarray, dict[str, dict]] | None:
    """Discovery among a trained W's (latent x vocab) ``candidates`` most frequent represented words (by
    ``counts``), and its evaluation against the named ``targets`` after the fact. Returns the result (found
    groups' ``indices`` still pool positions), the pool (vocabulary ids) and the evaluation; None when
    fewer than 20 candidate words are represented. ``thresholds``: as for ``discover``."""
    counts = np.asarray(counts)
    ids = np.argsort(-counts, kind="stable")[: min(candidates, len(vocab))]
    ids = ids[(np.asarray(W)[:, ids] ** 2).sum(axis=0) > 1e-8]
    if len(ids) < 20:
        return None
    vectors, freq = np.asarray(W)[:, ids].T, counts[ids].astype(np.float64)
    pool_words = [str(vocab[i]) for i in ids]
    result = discover(vectors, pool_words, freq, seed=seed, thresholds=thresholds)
    return result, ids, evaluate(result, vectors, pool_words, freq, targets, seed=seed)


def cooccurrence_correlation(cooc: np.ndarray, counts: np.ndarray, n_windows: int) -> np.ndarray:
    """Pearson (phi) correlation of the words' window indicators from a symmetric co-occurrence block
    (pairs) and the words' window counts (diagonal 1): the data's analogue of a Gram matrix."""
    p = np.asarray(counts, dtype=np.float64) / max(n_windows, 1)
    cov = np.asarray(cooc, dtype=np.float64) / max(n_windows, 1) - np.outer(p, p)
    sd = np.sqrt(np.maximum(p * (1 - p), 1e-300))
    phi = cov / np.outer(sd, sd)
    np.fill_diagonal(phi, 1.0)
    return phi
