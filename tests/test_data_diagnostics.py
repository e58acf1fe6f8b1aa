"""Data diagnostics (bows.data.diagnostics): the windowed union equals the real windows' group columns,
and the ring score of a synthetic corpus with a planted cyclic co-occurrence peaks at the planted G."""

import numpy as np
from readers import row_indicators

from bows.data.diagnostics import centred_gram, scan_window_sizes, structure_scores, windowed_union
from bows.data.windows import build_windows, layout


def test_windowed_union_matches_built_windows():
    rng = np.random.default_rng(0)
    n_rows, vocab = 200, 30
    rows = np.sort(rng.integers(0, n_rows, 600))
    ids = rng.integers(0, vocab, 600)
    seg = np.array([0, 37, 90, 150])
    group = [3, 7, 11, 29]
    for g in (1, 4, 20):
        lay = layout(seg, n_rows, g, 1)
        full = build_windows(rows, ids, lay, vocab)
        expect = np.zeros((len(lay), len(group)), bool)
        for k in range(len(lay)):
            words = set(full.indices[full.offsets[k] : full.offsets[k + 1]].tolist())
            expect[k] = [w in words for w in group]
        got = windowed_union(row_indicators(rows, ids, n_rows, group, vocab), seg, g)
        assert np.array_equal(got, expect)


def planted_corpus(k: int, lag: int, n_rows: int, noise: float, seed: int) -> np.ndarray:
    """Row indicators (rows x k) with a planted cyclic co-occurrence: word j in row t, its calendar
    neighbour j+1 (mod k) ``lag`` rows later -- visible from windows of G = lag + 1 rows -- and, 3 * lag
    rows after t, the opposite word j + k/2, a non-cyclic co-occurrence that wider windows also see and
    that blurs the ring; plus random group words (``noise`` per word and row)."""
    rng = np.random.default_rng(seed)
    ind = rng.random((n_rows, k)) < noise
    t = 0
    while t + 3 * lag < n_rows:
        start = rng.integers(k)
        ind[t, start] = ind[t + lag, (start + 1) % k] = ind[t + 3 * lag, (start + k // 2) % k] = True
        t += 3 * lag + 1 + rng.integers(20, 30)
    return ind


def test_ring_score_peaks_at_the_planted_window_size():
    k, lag = 12, 4  # neighbours 4 rows apart: the first window holding both has G = 5
    ind = planted_corpus(k, lag, n_rows=100_000, noise=0.002, seed=1)
    scan = scan_window_sizes(ind, np.array([0]), "ring", (1, 2, 3, 5, 10, 20))
    for key in ("adjacent_fraction", "corr_adjacent_fraction"):
        score = {row["group_size"]: row[key] for row in scan}
        best = max(score, key=lambda g: score[g])
        assert best == 5, (key, score)
        assert score[5] >= 0.75 and all(score[g] <= score[5] - 0.25 for g in score if g != 5), (key, score)


def test_too_few_windows_give_null_with_reason():
    ind = np.zeros((50, 5), bool)
    ind[3, 1] = True
    M, n = centred_gram(windowed_union(ind, np.array([0]), 2))
    out = structure_scores(M, n, "ring")
    assert out["adjacent_fraction"] is None and "windows" in out["reason"]


def test_line_spearman_orders_words_along_the_first_principal_axis():
    """A group whose dominant axis follows the natural order (and whose second axis does not) has
    line_spearman 1; reversing the order keeps it 1 (absolute value); a scrambled axis gives less."""
    k = 8
    i = np.arange(k) - (k - 1) / 2
    alternating = np.array([1.0, -1.0] * (k // 2))
    M = 10 * np.outer(i, i) / (i @ i) + np.outer(alternating, alternating) / k
    out = structure_scores(M, 10_000, "line")
    assert out["reason"] is None and out["line_spearman"] == 1.0
    assert structure_scores(M[::-1, ::-1], 10_000, "line")["line_spearman"] == 1.0
    scramble = np.array([3, 0, 6, 1, 7, 2, 5, 4])
    assert structure_scores(M[np.ix_(scramble, scramble)], 10_000, "line")["line_spearman"] < 0.5
    assert structure_scores(M, 10_000, None)["line_spearman"] is None  # no natural order, no score


def test_an_isotropic_group_scores_its_chance_levels_and_explained_shares_are_ordered():
    """A centred isotropic group (no structure) has exactly the chance shares ``chance_levels`` states;
    the explained shares of a planted line (variance 10) and a second axis (variance 1) come largest first."""
    from bows.data.diagnostics import chance_levels

    k = 9
    iso = np.eye(k) - np.ones((k, k)) / k
    out, chance = structure_scores(iso, 10_000, "ring"), chance_levels(k)
    assert np.isclose(out["line_share"], chance["line_share"]) and np.isclose(
        out["fourier_share"], chance["fourier_share"]
    )
    i = np.arange(8) - 3.5
    alternating = np.array([1.0, -1.0] * 4)
    M = 10 * np.outer(i, i) / (i @ i) + np.outer(alternating, alternating) / 8
    out = structure_scores(M, 10_000, "line")
    assert out["explained_pc1"] > 0.85 > 0.15 > out["explained_pc2"] > 0  # largest first
