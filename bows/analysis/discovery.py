"""Structures found without labels (SPEC 8, after Engels et al. 2024: cluster feature directions,
then look at each cluster's PCA): groups of words whose vectors form rings, lines or tight clusters,
scored against random word sets of the same size and frequency. Pure: arrays in, tables out.

Method (no word list is named anywhere in it):

1. Candidates: the unit vectors of the candidate words (e.g. the most frequent words) are clustered
   hierarchically (average linkage, cosine distance); *every* subtree of the dendrogram with
   ``min_size``..``max_size`` words is a candidate group, so groups of every scale are tried; so is
   every word with its nearest neighbours (``neighbourhoods`` sizes).
2. Shape of a group, from the PCA of its centred unit vectors (eigenvalues l1 >= l2 >= ...):
   ``ring`` = planarity (l1 + l2) / sum(l) x roundness l2 / l1 x radial uniformity (1 - CV of the
   in-plane radii) x angular coverage (1 - excess of the largest angular gap) x angular spread
   (1 - |mean exp(2i theta)|: two opposite clumps are not a ring);
   ``line`` = l1 / sum(l) x (1 - l2 / l1) x spread (1 - largest PC1 share of one word);
   ``cluster`` = mean pairwise cosine.
3. Null: for each size, random word sets from the candidate pool (screening); then, for the best
   screened groups, sets that match every member's frequency bin. A group's z per shape is
   (score - null mean) / null sd. The ``cluster`` shape is judged against the neighbourhood of a random
   word (itself plus its nearest neighbours) instead, since every dendrogram subtree is tight by
   construction.
4. A group is called a ring / line / cluster when its z passes ``z_min`` (default: Bonferroni over
   the candidates at 5 %). Per shape, groups are taken greedily by z, skipping those that share more
   than ``max_overlap`` of their words with a group already taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
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


def group_shapes(S: np.ndarray, groups: np.ndarray) -> dict[str, np.ndarray]:
    """Shape scores of many equal-size groups at once. ``S``: cosine matrix of the pool (n x n);
    ``groups``: (m, s) indices into the pool. Returns arrays (m,) per score and the PC1-2 coordinates
    (m, s, 2) in ``coords``."""
    groups = np.asarray(groups, dtype=np.int64)
    m, s = groups.shape
    G = S[groups[:, :, None], groups[:, None, :]].astype(np.float64)  # (m, s, s) Gram of unit vectors
    iu = np.triu_indices(s, k=1)
    cluster = G[:, iu[0], iu[1]].mean(axis=1)
    H = np.eye(s) - 1.0 / s
    evals, evecs = np.linalg.eigh(H @ G @ H)
    evals, evecs = np.clip(evals[:, ::-1], 0, None), evecs[:, :, ::-1]
    total = np.maximum(evals.sum(axis=1), 1e-300)
    l1, l2 = evals[:, 0], evals[:, 1]
    coords = evecs[:, :, :2] * np.sqrt(evals[:, None, :2])
    r = np.linalg.norm(coords, axis=2)
    radial = 1 - np.minimum(r.std(axis=1) / np.maximum(r.mean(axis=1), 1e-12), 1.0)
    theta = np.sort(np.mod(np.arctan2(coords[:, :, 1], coords[:, :, 0]), 2 * np.pi), axis=1)
    gaps = np.diff(np.concatenate([theta, theta[:, :1] + 2 * np.pi], axis=1), axis=1)
    coverage = 1 - np.maximum(gaps.max(axis=1) - 2 * np.pi / s, 0) / (2 * np.pi)
    # two opposite clumps also cover the circle and look round: the second circular moment is ~1 for
    # them and ~0 for points spread around a ring
    spread_angle = 1 - np.abs(np.exp(2j * theta).mean(axis=1))
    planarity = (l1 + l2) / total
    roundness = np.where(l1 > 0, l2 / np.maximum(l1, 1e-300), 0.0)
    pc1 = coords[:, :, 0] ** 2
    spread = 1 - pc1.max(axis=1) / np.maximum(pc1.sum(axis=1), 1e-300)
    return {
        "ring": planarity * roundness * radial * coverage * spread_angle,
        "line": l1 / total * (1 - roundness) * spread,
        "cluster": cluster,
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


# ----------------------------------------------------------------------------- nulls
def _z(value: np.ndarray, null: np.ndarray) -> np.ndarray:
    sd = null.std(axis=-1, ddof=1)
    return (value - null.mean(axis=-1)) / np.maximum(sd, 1e-12)


def frequency_bins(freq: np.ndarray, bins: int) -> np.ndarray:
    """Quantile bin (0..bins-1) of every word's frequency (ties broken by rank)."""
    rank = sstats.rankdata(np.asarray(freq, dtype=np.float64), method="ordinal") - 1
    return np.minimum((rank * bins // max(len(rank), 1)).astype(np.int64), bins - 1)


def matched_sets(group: np.ndarray, word_bin: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """(draws, s) random word sets with one word from each member's frequency bin (no repeats within a set
    when the bins allow it)."""
    by_bin = [np.flatnonzero(word_bin == b) for b in range(int(word_bin.max()) + 1)]
    out = np.empty((draws, len(group)), dtype=np.int64)
    for j, b in enumerate(word_bin[group]):
        out[:, j] = rng.choice(by_bin[b], size=draws)
    return out


def neighbourhood_sets(S: np.ndarray, size: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """(draws, size): a random word and its ``size - 1`` nearest neighbours by cosine."""
    seeds = rng.choice(S.shape[0], size=draws, replace=S.shape[0] < draws)
    rows = S[seeds].astype(np.float64)
    rows[np.arange(draws), seeds] = np.inf
    return np.argsort(-rows, axis=1)[:, :size]


# ----------------------------------------------------------------------------- discovery
@dataclass(frozen=True)
class Discovery:
    """All scored candidates (``candidates``) and the groups taken per shape (``found``)."""

    candidates: pd.DataFrame  # one row per candidate group: size, scores, z per shape, members
    found: pd.DataFrame  # the groups taken, with shape, rank within the shape, words in angular order
    z_min: float


def discover(
    vectors: np.ndarray,
    words: Sequence[str],
    freq: np.ndarray | None = None,
    *,
    min_size: int = 4,
    max_size: int = 30,
    draws: int = 100,
    rescore: int = 30,
    neighbourhoods: Sequence[int] = (6, 8, 12),
    bins: int = 10,
    z_min: float | None = None,
    max_overlap: float = 0.3,
    top: int = 12,
    seed: int = 0,
) -> Discovery:
    """Find ring-, line- and cluster-shaped word groups among ``vectors`` (words x dim) (see the module
    docstring). ``freq``: word frequencies for the frequency-matched null (None: all one bin)."""
    rng = np.random.default_rng(seed)
    words = list(words)
    n = len(words)
    if n < 2 * min_size:
        raise ValueError(f"discovery needs at least {2 * min_size} words, got {n}")
    S = unit_cosine(vectors)
    groups = candidate_groups(S, min_size, max_size)
    known = {g.tobytes() for g in groups}
    groups += [
        g
        for g in neighbourhood_groups(S, [s for s in neighbourhoods if min_size <= s <= max_size])
        if g.tobytes() not in known
    ]
    word_bin = frequency_bins(np.ones(n) if freq is None else freq, bins if freq is not None else 1)
    if z_min is None:  # one-sided 5 % after Bonferroni over the candidates and shapes
        z_min = float(sstats.norm.isf(0.05 / max(len(groups) * len(SHAPES), 1)))
    rows = []
    by_size: dict[int, list[int]] = {}
    for gi, g in enumerate(groups):
        by_size.setdefault(len(g), []).append(gi)
    for size, ids in by_size.items():
        members = np.stack([groups[i] for i in ids])
        shapes = group_shapes(S, members)
        null_random = group_shapes(S, np.stack([rng.choice(n, size, replace=False) for _ in range(draws)]))
        null_local = group_shapes(S, neighbourhood_sets(S, size, draws, rng))
        for row, gi in enumerate(ids):
            rows.append(
                {
                    "group": gi,
                    "size": size,
                    **{k: float(shapes[k][row]) for k in ("ring", "line", "cluster", "planarity", "roundness")},
                    "ring_z": float(_z(shapes["ring"][row], null_random["ring"])),
                    "line_z": float(_z(shapes["line"][row], null_random["line"])),
                    "cluster_z": float(_z(shapes["cluster"][row], null_local["cluster"])),
                    "null": "random (size)",
                }
            )
    frame = pd.DataFrame(rows)
    # rescore the best screened groups of each shape against frequency-matched random sets
    if freq is not None and len(frame):
        best = set()
        for shape in ("ring", "line"):
            best.update(frame.nlargest(rescore, f"{shape}_z")["group"].tolist())
        for gi in best:
            g = groups[gi]
            null = group_shapes(S, matched_sets(g, word_bin, draws, rng))
            mine = group_shapes(S, g[None, :])
            at = frame.index[frame["group"] == gi][0]
            frame.loc[at, "ring_z"] = float(_z(mine["ring"][0], null["ring"]))
            frame.loc[at, "line_z"] = float(_z(mine["line"][0], null["line"]))
            frame.loc[at, "null"] = "random (size and frequency)"
    frame["members"] = [groups[gi].tolist() for gi in frame["group"]] if len(frame) else []
    found = []
    for shape in SHAPES:
        taken: list[set[int]] = []
        for _, row in frame.sort_values(f"{shape}_z", ascending=False).iterrows():
            if len(taken) >= top or row[f"{shape}_z"] < z_min:
                break
            if shape != "cluster" and row["null"] == "random (size)" and freq is not None:
                continue  # only groups scored against the frequency-matched null are called
            m = set(row["members"])
            if any(len(m & t) > max_overlap * min(len(m), len(t)) for t in taken):
                continue
            taken.append(m)
            g = np.array(sorted(m))
            coords = group_shapes(S, g[None, :])["coords"][0]
            order = np.argsort(np.arctan2(coords[:, 1], coords[:, 0])) if shape == "ring" else np.argsort(coords[:, 0])
            found.append(
                {
                    "shape": shape,
                    "rank": len(taken),
                    "size": len(g),
                    "z": float(row[f"{shape}_z"]),
                    "ring": row["ring"],
                    "line": row["line"],
                    "cluster": row["cluster"],
                    "planarity": row["planarity"],
                    "null": row["null"] if shape != "cluster" else "neighbourhood",
                    "indices": g[order].tolist(),
                    "words": " ".join(words[i] for i in g[order]),
                    "pc1": coords[order, 0].tolist(),
                    "pc2": coords[order, 1].tolist(),
                }
            )
    columns = [
        "shape",
        "rank",
        "size",
        "z",
        "ring",
        "line",
        "cluster",
        "planarity",
        "null",
        "indices",
        "words",
        "pc1",
        "pc2",
    ]
    return Discovery(frame, pd.DataFrame(found, columns=columns), z_min)


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
