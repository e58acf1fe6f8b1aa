"""Co-activation statistics: counts against brute force, phi/PMI against a hand table, group matrices."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from references import group_statistics, pair_table

from bows.data import coactivation
from bows.data.windows import spread_rows


def _random_windows(n=300, V=25, seed=0):
    rng = np.random.default_rng(seed)
    X = (rng.random((n, V)) < rng.uniform(0.02, 0.4, V)).astype(np.uint8)
    return X, sp.csr_matrix(X)


def test_cooccurrence_counts_equal_brute_force():
    X, csr = _random_windows()
    reference = sp.triu(csr.T.astype(np.int64) @ csr.astype(np.int64)).toarray()
    for block_bytes in (1 << 26, 3 * 4 * X.shape[1]):  # one block; blocks of 3 rows of C
        cooc = coactivation.cooccurrence(csr, block_bytes=block_bytes)
        assert cooc.has_canonical_format and cooc.data.dtype == np.int64
        C = cooc.toarray()
        np.testing.assert_array_equal(C, reference)
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
    table = pair_table(coactivation.cooccurrence(csr), X.shape[0], min_count=5)
    assert (table["i"] < table["j"]).all() and (table["count"] >= 5).all()
    full = np.asarray(np.corrcoef(X, rowvar=False), dtype=np.float64).reshape(X.shape[1], X.shape[1])
    np.testing.assert_allclose(table["corr"], full[table["i"], table["j"]], atol=1e-5)
    p = X.mean(axis=0)
    pij = (X[:, table["i"]] & X[:, table["j"]]).mean(axis=0)
    np.testing.assert_allclose(table["pmi"], np.log(pij / (p[table["i"]] * p[table["j"]])), atol=1e-5)
    row = coactivation.row_statistics(coactivation.cooccurrence(csr), X.shape[0], 3)
    np.testing.assert_allclose(row["corr"].to_numpy()[[0, 7, 20]], full[3, [0, 7, 20]], atol=1e-9)


def _dense_group_statistics(X: np.ndarray) -> dict[str, np.ndarray]:
    """The group statistics as computed before they streamed (all windows' indicators in memory)."""
    X = X.astype(np.float64)
    count = X.T @ X
    active = X[X.sum(axis=1) > 0]
    centred = active - active.mean(axis=0)
    cov = centred.T @ centred
    rows = active - active.mean(axis=1, keepdims=True)
    return {
        "count": count,
        "cond_corr": cov / np.outer(np.sqrt(np.diag(cov)), np.sqrt(np.diag(cov))),
        "centred_gram": rows.T @ rows,
    }


def test_group_statistics_stream_equal_one_shot(tmp_path):
    from bows.data.stats import scan_windows
    from bows.data.windows import Windows

    X, csr = _random_windows(n=500, seed=2)
    X[::7] = 0  # some empty windows: the statistics count the non-empty ones
    csr = sp.csr_matrix(X)
    groups = {"a": np.array([4, 0, 9]), "b": np.array([9, 11, 3, 20]), "none": np.array([], np.int64)}
    np.save(tmp_path / "o.npy", csr.indptr.astype(np.int64))
    np.save(tmp_path / "i.npy", csr.indices.astype(np.uint16))
    mapped = Windows(np.load(tmp_path / "o.npy", mmap_mode="r"), np.load(tmp_path / "i.npy", mmap_mode="r"), 25)
    sample = np.array([0, 1, 5, 6, 123, 499])
    nonempty = X.sum(axis=1) > 0
    for chunk_words in (1, 17, 10**6):  # a window a chunk ... everything in one chunk
        sampled, moments, n = scan_windows(mapped, sample, groups, chunk_words=chunk_words)
        assert n == int(nonempty.sum())
        np.testing.assert_array_equal(sampled.to_csr().toarray(), X[sample])
        for name, ids in groups.items():
            got = moments[name].statistics()
            one_shot = group_statistics(sp.csr_matrix(X[nonempty][:, ids]))
            for key in ("count", "corr", "pmi", "cond_corr", "centred_gram", "windows"):
                np.testing.assert_array_equal(got[key], one_shot[key])  # streamed == in memory, bit for bit
            assert got["windows"].tolist() == [n, int((X[:, ids].sum(axis=1) > 0).sum())]
            if len(ids):
                old = _dense_group_statistics(X[nonempty][:, ids])
                np.testing.assert_array_equal(got["count"], old["count"])
                np.testing.assert_allclose(got["cond_corr"], old["cond_corr"], rtol=1e-12, atol=1e-12)
                np.testing.assert_allclose(got["centred_gram"], old["centred_gram"], rtol=1e-12, atol=1e-9)
                active = X[:, ids].sum(axis=1) > 0
                np.testing.assert_allclose(got["cond_corr"], np.corrcoef(X[active][:, ids], rowvar=False), atol=1e-9)


def test_group_statistics_hold_no_array_over_all_windows(tmp_path):
    """Streaming the statistics over 1 M windows allocates about a chunk, never a per-window array."""
    import tracemalloc

    from bows.data.stats import scan_windows
    from bows.data.windows import Windows

    n = 1_000_000
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 2, n)
    np.save(tmp_path / "o.npy", np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))
    np.save(tmp_path / "i.npy", rng.integers(0, 30, int(lengths.sum())).astype(np.uint16))
    windows = Windows(np.load(tmp_path / "o.npy", mmap_mode="r"), np.load(tmp_path / "i.npy", mmap_mode="r"), 30)
    tracemalloc.start()
    _, moments, nonempty = scan_windows(windows, np.arange(0, n, n // 50), {"g": np.array([1, 2, 3])}, chunk_words=4096)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert nonempty == int(lengths.sum()) and moments["g"].active > 0
    assert peak < 400_000, f"peak {peak:,} bytes: an array over all {n:,} windows (>= 1 MB) came back"


def test_sample_rows_are_evenly_spaced():
    rows = spread_rows(1000, 10)
    assert rows[0] == 0 and rows[-1] == 999 and len(rows) == 10
    assert np.ptp(np.diff(rows)) <= 1
    assert len(spread_rows(5, 10)) == 5


def test_symmetric_block_equals_the_dense_submatrix():
    X, csr = _random_windows(seed=5)
    cooc = coactivation.cooccurrence(csr)
    full = cooc.toarray()
    full = full + full.T - np.diag(np.diag(full))
    words = np.array([7, 0, 24, 3, 11])
    for block_nnz in (1, 5, 1 << 22):
        np.testing.assert_array_equal(coactivation.symmetric_block(cooc, words, block_nnz), full[np.ix_(words, words)])


def test_read_range_of_mapped_files_and_their_slices(tmp_path):
    from bows.data.stats import read_range

    np.save(tmp_path / "a.npy", np.arange(100, dtype=np.int64))
    mapped = np.load(tmp_path / "a.npy", mmap_mode="r")
    for array, expected in ((mapped, np.arange(100)), (mapped[10:], np.arange(10, 100)), (np.arange(5), np.arange(5))):
        assert np.array_equal(read_range(array, 3, 40), expected[3:40])
        assert np.array_equal(read_range(array, len(expected) - 2, len(expected) + 5), expected[-2:])


def test_pairs_written_block_by_block_equal_the_table(tmp_path):
    import pandas as pd

    X, csr = _random_windows(seed=1)
    cooc = coactivation.cooccurrence(csr)
    table = pair_table(cooc, X.shape[0], min_count=5)
    i, j = np.nonzero(np.triu(cooc.toarray(), 1) >= 5)  # row-major: the (i, j) order
    assert table["i"].tolist() == i.tolist() and table["j"].tolist() == j.tolist()
    small = pd.concat(list(coactivation.pair_blocks(cooc, X.shape[0], 5, block_nnz=7)), ignore_index=True)
    pd.testing.assert_frame_equal(small, table)
    from bows.data.stats import write_pairs

    assert write_pairs(cooc, X.shape[0], 5, tmp_path / "p.parquet") == len(table)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "p.parquet"), table)


def test_window_scan_scores_a_found_line_as_a_line(make_config, tmp_path):
    """A group discovered as a line has no natural order: its label-free primary score is its PC1 share
    (a line score), not the ring shape; named groups keep their ordered scores."""
    from bows.data.stats import FOUND_SCORE, PRIMARY_SCORE, window_scan
    from tests.test_study import write_corpus

    write_corpus(tmp_path / "corpus", docs=20)
    cfg = make_config(
        "corpus=local",
        f"corpus.files=[{tmp_path / 'corpus'}/*.txt]",
        "vocab.min_len=3",
        "stats.scan_window_sizes=[1,3]",
    )
    vocab = ["January", "February", "March", "April", "Monday", "Tuesday", "Friday"]
    groups = {
        "months": (vocab[:4], "line"),
        "found line 1": (vocab[:4], None),
        "found ring 1": (vocab[4:], None),
    }
    table = window_scan(cfg, vocab, groups, {"found line 1": "line", "found ring 1": "ring"})
    primary = table.groupby("group")["primary"].first().to_dict()
    assert primary == {
        "months": PRIMARY_SCORE["line"],
        "found line 1": FOUND_SCORE["line"],
        "found ring 1": FOUND_SCORE["ring"],
    }
    line = table[table["group"] == "found line 1"]
    assert np.allclose(line["score"], line["explained_pc1"]) and line["score"].between(0, 1).all()
