"""Structure discovery (bows.core.discovery): a planted ring among random vectors is found and
ranked first with its words, also when tight clusters beside its arcs make a clustering cut it into
pieces; pure noise yields no ring and no line."""

import numpy as np

from bows.core.discovery import (
    cooccurrence_correlation,
    discover,
    evaluate,
    group_shapes,
    match,
    matched_sets,
    pair_scale,
    unit_cosine,
)


def _pool(n: int, dim: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim))


def _planted(seed: int = 1):
    rng = np.random.default_rng(seed)
    dim, k = 40, 12
    X = _pool(300, dim, 2)
    centre = 3.0 * rng.standard_normal(dim)  # a shared direction keeps the ring's words together
    basis, _ = np.linalg.qr(rng.standard_normal((dim, 2)))
    theta = 2 * np.pi * np.arange(k) / k
    ring = centre + 2.0 * (np.cos(theta)[:, None] * basis[:, 0] + np.sin(theta)[:, None] * basis[:, 1])
    ring += 0.05 * rng.standard_normal((k, dim))
    X[:k] = ring
    words = [f"m{i}" for i in range(k)] + [f"w{i}" for i in range(k, len(X))]
    return X, words, rng.uniform(1, 100, len(X)), k


def test_planted_ring_is_found_first():
    X, words, freq, k = _planted()
    result = discover(X, words, freq, draws=100, null_runs=4, seed=0)
    rings = result.found[result.found["shape"] == "ring"]
    assert len(rings) >= 1
    best = match(result.found, words[:k])
    assert best["rank"] == 1 and best["recall"] == 1.0 and best["precision"] >= 0.8
    # the planted order comes back around the circle (either direction)
    order = [int(w[1:]) for w in rings.iloc[0]["words"].split() if w.startswith("m")]
    steps = np.mod(np.diff(order + order[:1]), k)
    assert np.all(steps == 1) or np.all(steps == k - 1)


def test_ring_beside_clusters_is_found_whole():
    # every quarter of the ring has a tight cluster next to it: average linkage joins each arc to its
    # cluster before the arcs to each other (the old dendrogram-only candidates never held the ring);
    # the mutual-nearest-neighbour chain of the ring's words does
    rng = np.random.default_rng(1)
    dim, k = 40, 12
    X = _pool(300, dim, 1)
    basis, _ = np.linalg.qr(rng.standard_normal((dim, 6)))
    theta = 2 * np.pi * np.arange(k) / k
    X[:k] = 3.0 * (np.cos(theta)[:, None] * basis[:, 0] + np.sin(theta)[:, None] * basis[:, 1])
    X[:k] += 0.1 * rng.standard_normal((k, dim))
    for q in range(4):
        a = np.pi / 2 * q + np.pi / 12
        centre = 3.0 * (np.cos(a) * basis[:, 0] + np.sin(a) * basis[:, 1]) + 2.5 * basis[:, 2 + q]
        X[k + 8 * q : k + 8 * (q + 1)] = centre + 0.15 * rng.standard_normal((8, dim))
    words = [f"m{i}" for i in range(k)] + [f"w{i}" for i in range(k, len(X))]
    result = discover(X, words, rng.uniform(1, 100, len(X)), draws=100, null_runs=4, seed=0)
    best = match(result.found, words[:k])
    assert best["rank"] == 1 and best["recall"] == 1.0 and best["precision"] == 1.0


def test_ring_in_small_off_diagonals_scores_as_a_ring():
    # near-orthogonal unit vectors (as in a wide W): the ring lives only in small cosines between
    # neighbours while the plane holds little of the group's variance (planarity ~0.3); adjacency
    # consistency still sees it. Random small cosines of the same size are no ring.
    k, dim = 12, 400
    rng = np.random.default_rng(0)
    theta = 2 * np.pi * np.arange(k) / k
    basis, _ = np.linalg.qr(rng.standard_normal((dim, 2 + k)))
    own = basis[:, 2:].T  # one private direction per word
    ring = own + 0.4 * (np.cos(theta)[:, None] * basis[:, 0] + np.sin(theta)[:, None] * basis[:, 1])
    noise = own + 0.4 * rng.standard_normal((k, dim)) / np.sqrt(dim / 2)
    S = unit_cosine(np.vstack([ring, noise]))
    shapes = group_shapes(S, np.array([np.arange(k), np.arange(k, 2 * k)]))
    assert np.abs(S[:k, :k] - np.eye(k)).max() < 0.2 and shapes["planarity"][0] < 0.4
    assert shapes["adjacency"][0] > 0.95 and shapes["ring"][0] > 0.8
    assert shapes["ring"][1] < 0.5


def test_pure_noise_has_no_ring_line_or_cluster():
    X = _pool(300, 40, 3)
    words = [f"w{i}" for i in range(len(X))]
    result = discover(X, words, np.random.default_rng(0).uniform(1, 100, len(X)), draws=100, seed=0)
    assert result.found.empty
    # near-orthogonal noise, as wide as a W: the candidates (picked for being similar) beat random sets by
    # more than a normal tail allows, so Bonferroni alone called a dozen clusters here; the bar from the
    # structure-free searches calls none (it lets pure noise through 5 % of the time per shape)
    X = _pool(1000, 1000, 4)
    words = [f"w{i}" for i in range(len(X))]
    result = discover(X, words, np.random.default_rng(0).uniform(1, 100, len(X)), seed=0)
    assert result.found.empty, result.found[["shape", "z"]]
    assert all(result.thresholds[shape] >= result.z_min for shape in ("ring", "line", "cluster"))
    assert len(result.null_best) == 19


def _small_ring(rho: float, n: int = 600, dim: int = 100, k: int = 7, seed: int = 0):
    """k words on a ring of strength ``rho`` among near-orthogonal random words (as the days in a wide W):
    ring neighbours have cosine ~ rho^2 cos(2 pi / k), far pairs are dissimilar."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, dim)) / np.sqrt(dim)
    basis, _ = np.linalg.qr(rng.standard_normal((dim, 2)))
    theta = 2 * np.pi * np.arange(k) / k
    ring = np.cos(theta)[:, None] * basis[:, 0] + np.sin(theta)[:, None] * basis[:, 1]
    X[:k] = np.sqrt(1 - rho**2) * X[:k] / np.linalg.norm(X[:k], axis=1, keepdims=True) + rho * ring
    words = [f"d{i}" for i in range(k)] + [f"w{i}" for i in range(k, n)]
    return X, words, rng.uniform(1, 100, n), k


def test_small_ring_of_near_orthogonal_words_is_found():
    # a 7-word ring whose neighbours stand ~5 pool sd above the noise: a shape score bounded by 1 cannot tell
    # it from random 7-word sets (its z stayed below the bar), and no cluster holds it (its far pairs are
    # dissimilar); the ring's strength and the mutual 2-NN cycles find it
    X, words, freq, k = _small_ring(0.8)
    result = discover(X, words, freq, seed=0)
    best = match(result.found, words[:k])
    assert best["rank"] == 1 and best["recall"] == 1.0 and best["precision"] == 1.0


def test_ring_strength_counts_every_link_against_the_noise():
    X, words, freq, k = _small_ring(0.8)
    S = unit_cosine(X)
    # a ring of near-orthogonal words stands far above the pool's noise
    ring = group_shapes(S, np.arange(k)[None, :], pair_scale(S))
    assert ring["contrast"][0] > 3
    # two near-duplicate pairs among random words: strong neighbours, but no ring (the median link is noise)
    Y = X[k : k + 6].copy()
    Y[1], Y[3] = Y[0] + 0.05 * Y[1], Y[2] + 0.05 * Y[3]
    pairs = group_shapes(unit_cosine(np.vstack([Y, X[k + 6 :]])), np.arange(6)[None, :], pair_scale(S))
    assert pairs["contrast"][0] < 0.5 and pairs["ring_strength"][0] < 0.1  # a mean link: contrast ~1.1


def test_group_shapes_of_a_circle_and_a_line():
    theta = 2 * np.pi * np.arange(8) / 8
    circle = np.c_[np.cos(theta), np.sin(theta), np.full(8, 3.0)]
    line = np.c_[np.linspace(-1, 1, 8), np.zeros(8), np.full(8, 3.0)]
    S = unit_cosine(np.vstack([circle, line]))
    shapes = group_shapes(S, np.array([np.arange(8), np.arange(8, 16)]))
    assert shapes["ring"][0] > 0.9 and shapes["ring"][1] < 0.1
    assert shapes["line"][1] > shapes["line"][0]
    # two tight clumps at the ends of PC1 are elongated but no line
    clumps = np.c_[np.repeat([-1.0, 1.0], 4) + 0.01 * np.arange(8), np.zeros(8), np.full(8, 3.0)]
    S2 = unit_cosine(np.vstack([line, clumps]))
    two = group_shapes(S2, np.array([np.arange(8), np.arange(8, 16)]))
    assert two["line"][1] < 0.3 * two["line"][0]


def test_evaluation_of_a_planted_ring_and_of_random_groups():
    X, words, freq, k = _planted()
    result = discover(X, words, freq, draws=100, null_runs=4, seed=0)
    rng = np.random.default_rng(5)
    targets = {f"random{i}": [words[j] for j in rng.choice(np.arange(k, len(X)), k, replace=False)] for i in range(5)}
    ev = evaluate(result, X, words, freq, {"ring": words[:k], "absent": ["x", "y"], **targets}, seed=0)
    assert ev["ring"]["ring"]["recall"] == 1.0 and ev["ring"]["candidate"]["f1"] == 1.0
    assert ev["ring"]["own"]["ring_z"] > result.z_min and ev["ring"]["own"]["ring_p"] < 0.01
    # random groups: typical against the frequency-matched null, and no candidate holds them
    assert np.median([ev[t]["own"]["ring_p"] for t in targets]) > 0.1
    assert max(ev[t]["candidate"]["f1"] for t in targets) < 0.5
    assert ev["absent"]["own"] is None and "reason" in ev["absent"]


def test_matched_sets_follow_the_bins_without_repeats():
    word_bin = np.repeat(np.arange(4), 10)
    group = np.array([0, 1, 2, 15, 39])
    sets = matched_sets(group, word_bin, 500, np.random.default_rng(0))
    assert np.array_equal(word_bin[sets], np.tile(word_bin[group], (500, 1)))
    assert all(len(set(row)) == len(row) for row in sets)


def test_cooccurrence_correlation_is_the_indicator_correlation():
    X = (np.random.default_rng(0).random((400, 6)) < [0.1, 0.2, 0.3, 0.4, 0.5, 0.05]).astype(np.float64)
    cooc = X.T @ X
    phi = cooccurrence_correlation(cooc, np.diag(cooc), len(X))
    np.testing.assert_allclose(phi, np.corrcoef(X.T), atol=1e-12)
