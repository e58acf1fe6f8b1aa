"""Ring score, PCA ring analysis, seasonal projection, kNN purity, and dimensionality on known inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bows.core import geometry as geo
from bows.core.groups import MONTH_SEASON, MONTHS, SEASON_OF_WORD


def _circle(n, radius=1.0, noise=0.0, dim=6, seed=0):
    rng = np.random.default_rng(seed)
    t = 2 * np.pi * np.arange(n) / n
    X = np.zeros((n, dim))
    X[:, 0], X[:, 1] = radius * np.cos(t), radius * np.sin(t)
    return X + noise * rng.standard_normal(X.shape) + 3.0  # offset: the ring need not be centred at 0


@pytest.mark.parametrize("n", [7, 12])
def test_perfect_ring_scores_one(n):
    ring = geo.ring_analysis(_circle(n), [str(i) for i in range(n)])
    assert ring["adjacent_fraction"] == 1.0
    assert ring["circular_rank_corr"] == pytest.approx(1.0)
    assert sum(ring["explained_variance"][:2]) == pytest.approx(1.0)
    reversed_ring = geo.ring_analysis(_circle(n)[::-1], [str(i) for i in range(n)])
    assert reversed_ring["adjacent_fraction"] == 1.0  # orientation does not matter


def test_shuffled_ring_scores_near_chance():
    n, scores, corrs = 12, [], []
    for seed in range(200):
        X = _circle(n)[np.random.default_rng(seed).permutation(n)]
        r = geo.ring_analysis(X, [str(i) for i in range(n)])
        scores.append(r["adjacent_fraction"])
        corrs.append(r["circular_rank_corr"])
    assert np.mean(scores) == pytest.approx(2 / (n - 1), abs=0.04)
    assert np.mean(corrs) < 0.3


def test_seasonal_projection_points_to_its_season():
    months = _circle(12)
    fit = geo.pca(months, 3)
    coords = fit.transform(months)
    december, july = months[11], months[6]
    extra = np.stack([fit.mean + 0.5 * (december - fit.mean), fit.mean + 0.5 * (july - fit.mean) + np.eye(6)[3]])
    proj = geo.project_words(fit, list(MONTHS), coords, extra, ["snow", "summer"], MONTH_SEASON, SEASON_OF_WORD)
    assert proj[0]["nearest"] == "December" and proj[0]["season_match"]
    assert proj[0]["in_plane_fraction"] == pytest.approx(1.0)
    assert proj[1]["nearest"] == "July" and proj[1]["season"] == "summer"
    assert proj[1]["in_plane_fraction"] == pytest.approx(0.5**2 / (0.5**2 + 1))


def test_offdiag_frobenius_and_agreement():
    assert geo.offdiag_frobenius(np.eye(4)) == 0.0
    V = np.array([[1.0, 0], [1, 0]])
    assert geo.offdiag_frobenius(V) == pytest.approx(np.sqrt(2))
    a = np.array([[1, 0.5, 0.1], [0.5, 1, 0.3], [0.1, 0.3, 1]])
    assert geo.offdiag_agreement(a, 2 * a)["pearson"] == pytest.approx(1.0)


def test_ring_signal_against_random_pairs_by_hand():
    n, dim = 12, 400
    rng = np.random.default_rng(0)
    angle = 2 * np.pi * np.arange(n) / n
    V = np.zeros((n, dim))
    V[:, 0], V[:, 1] = np.cos(angle), np.sin(angle)
    pool = rng.standard_normal((3000, dim))  # random directions: cosine sd 1/sqrt(dim)
    out = geo.ring_signal(V, pool)
    assert out["adjacent_cosine"] == pytest.approx(np.cos(2 * np.pi / n))
    C = np.cos(angle[:, None] - angle[None, :])  # the other pairs, by hand
    other = (C[np.triu_indices(n, 1)].sum() - n * np.cos(2 * np.pi / n)) / (n * (n - 1) / 2 - n)
    assert out["other_cosine"] == pytest.approx(other)
    assert out["random_cosine_sd"] == pytest.approx(1 / np.sqrt(dim), rel=0.05)
    assert out["adjacent_z"] == pytest.approx(np.cos(2 * np.pi / n) * np.sqrt(dim), rel=0.06)
    shuffled = geo.ring_signal(V[rng.permutation(n)], pool)  # calendar order lost: neighbours no closer
    assert shuffled["adjacent_cosine"] < out["adjacent_cosine"]


def test_knn_purity_separates_clusters_from_shuffled_baseline():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 20)) * 3
    labels = np.repeat(np.arange(3), 15)
    X = centres[labels] + rng.standard_normal((45, 20))
    test = geo.knn_purity_test(X, labels, k=5)
    assert test["purity"] > 0.95
    assert test["baseline_mean"] == pytest.approx(14 / 44, abs=0.08)
    assert test["z"] > 5


def test_feature_dimensionality_known_cases():
    # orthogonal features: D = 1; an antipodal pair sharing one dimension: D = 1/2; a dead feature: 0
    W = np.array([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]])
    np.testing.assert_allclose(geo.feature_dimensionality(W), [0.5, 0.5, 1.0, 0.0])
    rng = np.random.default_rng(0)
    W = rng.standard_normal((5, 30))
    brute = [
        (W[:, i] @ W[:, i]) / sum((W[:, i] / np.linalg.norm(W[:, i]) @ W[:, j]) ** 2 for j in range(30))
        for i in range(30)
    ]
    np.testing.assert_allclose(geo.feature_dimensionality(W), brute)


def _theta_for_order(order):
    """Angles placing point order[k] at position k around the circle (point i's angle = its slot)."""
    theta = np.empty(len(order))
    theta[np.asarray(order)] = 2 * np.pi * np.arange(len(order)) / len(order)
    return theta


def test_ring_score_exact_on_hand_built_permutations():
    n = 12
    # calendar order: all 12 cyclic pairs adjacent, including the Dec-Jan wrap-around pair (11, 0)
    assert _score(_theta_for_order(range(n)))["adjacent_fraction"] == 1.0
    # Jan and Dec swapped: pairs (11,0) stay adjacent, (0,1) and (10,11) break -> 10/12
    swap = [11, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0]
    assert _score(_theta_for_order(swap))["adjacent_fraction"] == pytest.approx(10 / 12)
    # every second month: 0,2,4,...,10,1,3,...,11 -> only (11,0) is adjacent around the ring
    alternate = [*range(0, n, 2), *range(1, n, 2)]
    assert _score(_theta_for_order(alternate))["adjacent_fraction"] == pytest.approx(1 / 12)
    # 7 days reversed: orientation does not matter
    assert _score(_theta_for_order(range(6, -1, -1)))["adjacent_fraction"] == 1.0


def _score(theta) -> dict[str, Any]:
    """geo.ring_score with its values typed loosely (tests index and compare them)."""
    return geo.ring_score(theta)


@pytest.mark.parametrize("n", [3, 7, 12])
def test_chance_level_is_two_over_n_minus_one(n):
    assert _score(np.linspace(0, 1, n))["chance_adjacent_fraction"] == pytest.approx(2 / (n - 1))
    # and it is the exact mean over all orders (n = 7: every permutation of 6 points after fixing one)
    if n == 7:
        from itertools import permutations

        scores = [_score(_theta_for_order((0, *p)))["adjacent_fraction"] for p in permutations(range(1, n))]
        assert np.mean(scores) == pytest.approx(2 / (n - 1))


def test_circular_rank_corr_exact():
    n = 12
    assert _score(_theta_for_order(range(n)))["circular_rank_corr"] == pytest.approx(1.0)
    # rotation by one slot keeps the ring perfect
    assert _score(_theta_for_order([*range(1, n), 0]))["circular_rank_corr"] == pytest.approx(1.0)
    alternate = [*range(0, n, 2), *range(1, n, 2)]
    assert _score(_theta_for_order(alternate))["circular_rank_corr"] < 0.2


@pytest.mark.parametrize(
    "coords",
    [np.zeros((12, 2)), np.ones((7, 3)), np.zeros((2, 2))],
    ids=["all-zero (no windows)", "identical points", "too few points"],
)
def test_ring_from_no_data_is_nan_with_reason_never_one(coords):
    score = _score(geo.angles(coords))
    assert np.isnan(score["adjacent_fraction"]) and np.isnan(score["circular_rank_corr"])
    assert score["reason"]
    coords_from_gram, _ = geo.pca_from_gram(np.zeros((12, 12)), 2)  # what the data side did with 0 windows
    assert np.isnan(_score(geo.angles(coords_from_gram))["adjacent_fraction"])


def test_tied_or_missing_angles_have_no_order():
    tied = np.zeros(12)  # every point at the same angle: stable sorting would "find" the calendar order
    assert np.isnan(_score(tied)["adjacent_fraction"]) and "tied" in _score(tied)["reason"]
    one_nan = np.linspace(0, 6, 12)
    one_nan[3] = np.nan
    assert np.isnan(_score(one_nan)["circular_rank_corr"])


def test_packing_floor_is_the_welch_bound():
    from bows.core.geometry import packing_floor

    # three unit vectors 120 degrees apart in the plane: the tightest packing, max |cos| = 1/2 = the bound
    angle = 2 * np.pi * np.arange(3) / 3
    W = np.stack([np.cos(angle), np.sin(angle)])
    assert packing_floor(W) == {"represented": 3.0, "packing_floor": pytest.approx(0.5)}
    frame = W / np.linalg.norm(W, axis=0)
    assert np.abs(frame.T @ frame - np.eye(3)).max() == pytest.approx(packing_floor(W)["packing_floor"])
    # a word below the representation threshold does not count; N <= L words can be orthogonal: floor 0
    W2 = np.concatenate([np.eye(2), [[0.1], [0.2]]], axis=1)
    assert packing_floor(W2) == {"represented": 2.0, "packing_floor": 0.0}
    # many words in few dimensions: sqrt((N - L) / (L (N - 1)))
    big = np.random.default_rng(0).normal(size=(10, 1000))
    assert packing_floor(big)["packing_floor"] == pytest.approx(np.sqrt(990 / (10 * 999)))
