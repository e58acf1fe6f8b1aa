"""Ring score, PCA ring analysis, seasonal projection, kNN purity, and dimensionality on known inputs."""

from __future__ import annotations

import numpy as np
import pytest

from bows.analysis import geometry as geo
from bows.analysis.groups import MONTH_SEASON, MONTHS, SEASON_OF_WORD


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
