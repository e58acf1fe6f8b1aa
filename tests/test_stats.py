"""Co-activation statistics: counts against brute force, phi/PMI against a hand table, group matrices."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from bows.data import coactivation
from bows.data.windows import spread_rows


def _random_windows(n=300, V=25, seed=0):
    rng = np.random.default_rng(seed)
    X = (rng.random((n, V)) < rng.uniform(0.02, 0.4, V)).astype(np.uint8)
    return X, sp.csr_matrix(X)


def test_cooccurrence_counts_equal_brute_force():
    X, csr = _random_windows()
    C = coactivation.cooccurrence(csr, chunk=37).toarray()
    for i, j in itertools.combinations_with_replacement(range(X.shape[1]), 2):
        assert C[i, j] == int(np.sum(X[:, i] & X[:, j]))
    assert np.all(np.tril(C, -1) == 0)


def test_phi_and_pmi_on_a_hand_table():
    # n = 10 windows, word i in 5, word j in 4, both in 3
    assert coactivation.phi(3, 5, 4, 10) == pytest.approx((10 * 3 - 5 * 4) / np.sqrt(5 * 5 * 4 * 6))
    assert coactivation.pmi(3, 5, 4, 10) == pytest.approx(np.log(1.5))
    assert np.isnan(coactivation.phi(3, 10, 4, 10))  # a word present everywhere has no correlation


def test_pair_table_matches_numpy():
    X, csr = _random_windows(seed=1)
    table = coactivation.pair_table(coactivation.cooccurrence(csr), X.shape[0], min_count=5)
    assert (table["i"] < table["j"]).all() and (table["count"] >= 5).all()
    full = np.asarray(np.corrcoef(X, rowvar=False), dtype=np.float64).reshape(X.shape[1], X.shape[1])
    np.testing.assert_allclose(table["corr"], full[table["i"], table["j"]], atol=1e-5)
    p = X.mean(axis=0)
    pij = (X[:, table["i"]] & X[:, table["j"]]).mean(axis=0)
    np.testing.assert_allclose(table["pmi"], np.log(pij / (p[table["i"]] * p[table["j"]])), atol=1e-5)
    row = coactivation.row_statistics(coactivation.cooccurrence(csr), X.shape[0], 3)
    np.testing.assert_allclose(row["corr"].to_numpy()[[0, 7, 20]], full[3, [0, 7, 20]], atol=1e-9)


def test_group_columns_and_group_statistics():
    X, csr = _random_windows(seed=2)
    ids = np.array([4, 0, 9])
    cols = coactivation.group_columns(
        csr.indptr.astype(np.int64), csr.indices.astype(np.uint16), ids, X.shape[1], chunk=50
    )
    np.testing.assert_array_equal(cols.toarray(), X[:, ids])
    g = coactivation.group_statistics(cols)
    active = X[:, ids].sum(axis=1) > 0
    np.testing.assert_allclose(g["cond_corr"], np.corrcoef(X[active][:, ids], rowvar=False), atol=1e-9)
    np.testing.assert_array_equal(g["count"], X[:, ids].T.astype(int) @ X[:, ids].astype(int))
    assert g["windows"].tolist() == [X.shape[0], int(active.sum())]


def test_sample_rows_are_evenly_spaced():
    rows = spread_rows(1000, 10)
    assert rows[0] == 0 and rows[-1] == 999 and len(rows) == 10
    assert np.ptp(np.diff(rows)) <= 1
    assert len(spread_rows(5, 10)) == 5
