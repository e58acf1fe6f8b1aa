"""Window construction (bows.data.windows) against a brute-force set union written from the spec."""

from __future__ import annotations

import numpy as np
import pytest

from bows.data.windows import Windows, build_windows, expand_ranges, layout, naive_windows, segment_starts, window_stats


def reference(
    row_sets: list[set[int]], doc_ids: list[int], group_size: int, stride: int, cross_documents: bool
) -> list[list[int]]:
    """SPEC 3.3 read literally: per segment, windows at 0, stride, ... while start + G <= n;
    a segment shorter than G is one window of the whole segment."""
    n = len(row_sets)
    if n == 0:
        return []
    bounds = [0] + [i for i in range(1, n) if doc_ids[i] != doc_ids[i - 1]] + [n]
    if cross_documents:
        bounds = [0, n]
    out = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        size = min(group_size, b - a)
        for start in range(a, b - size + 1, stride):
            out.append(sorted(set().union(*row_sets[start : start + size])))
    return out


def random_case(rng: np.random.Generator):
    n_rows, vocab = int(rng.integers(0, 60)), int(rng.integers(1, 40))
    row_sets = [
        set() if rng.random() < 0.3 else set(rng.integers(0, vocab, rng.integers(1, 8)).tolist()) for _ in range(n_rows)
    ]
    doc_ids = np.sort(rng.integers(0, max(1, n_rows // 4), n_rows)).tolist()  # many documents shorter than G
    rows, ids = [], []
    for r, words in enumerate(row_sets):
        tokens = list(words) * int(rng.integers(1, 3))  # repeated tokens inside a row
        rng.shuffle(tokens)
        rows += [r] * len(tokens)
        ids += tokens
    return row_sets, doc_ids, np.array(rows, np.int64), np.array(ids, np.int64), vocab


@pytest.mark.parametrize("cross_documents", [True, False])
def test_windows_equal_brute_force_set_union(cross_documents):
    rng = np.random.default_rng(7)
    for _ in range(150):
        row_sets, doc_ids, rows, ids, vocab = random_case(rng)
        group_size, stride = int(rng.integers(1, 9)), int(rng.integers(1, 5))
        seg = segment_starts(np.array(doc_ids), len(row_sets), cross_documents)
        lay = layout(seg, len(row_sets), group_size, stride)
        built = build_windows(rows, ids, lay, vocab, block_tokens=int(rng.integers(1, 64)))  # many blocks
        expected = reference(row_sets, doc_ids, group_size, stride, cross_documents)
        assert len(built) == len(expected)
        assert [built.indices[a:b].tolist() for a, b in zip(built.offsets[:-1], built.offsets[1:])] == expected
        assert built.indices.dtype == np.uint16 and built.offsets.dtype == np.int64


def test_naive_reference_agrees_and_block_size_does_not_matter():
    rng = np.random.default_rng(3)
    row_sets, doc_ids, rows, ids, vocab = random_case(rng)
    lay = layout(segment_starts(None, len(row_sets), True), len(row_sets), 5, 2)
    one = build_windows(rows, ids, lay, vocab, block_tokens=1)
    big = build_windows(rows, ids, lay, vocab, block_tokens=1 << 20)
    naive = naive_windows(row_sets, lay, vocab)
    for w in (big, naive):
        assert np.array_equal(one.offsets, w.offsets) and np.array_equal(one.indices, w.indices)


def test_layout_rules_for_short_documents_and_stride_tails():
    # documents of 3, 7 and 1 rows, G = 4, stride = 2
    seg = segment_starts(np.array([0] * 3 + [1] * 7 + [2]), 11, cross_documents=False)
    assert seg.tolist() == [0, 3, 10]
    lay = layout(seg, 11, group_size=4, stride=2)
    assert lay.window_start.tolist() == [0, 3, 5, 10]  # short doc: one window; 7 rows: starts 0, 2 (5 = 3 + 2)
    assert lay.window_rows.tolist() == [3, 4, 4, 1]
    assert lay.row_hi[9] < lay.row_lo[9]  # the last row of the 7-row document is in no window (stride tail)
    cross = layout(segment_starts(None, 11, True), 11, group_size=4, stride=1)
    assert len(cross) == 8 and cross.window_start.tolist() == list(range(8))


def test_large_vocabularies_use_int32_and_empty_splits_work():
    lay = layout(segment_starts(None, 2, True), 2, 1, 1)
    w = build_windows(np.array([0, 1]), np.array([70_000, 5]), lay, 100_000)
    assert w.indices.dtype == np.int32 and w.indices.tolist() == [70_000, 5]
    empty = build_windows(np.zeros(0, np.int64), np.zeros(0, np.int64), layout(np.zeros(0, np.int64), 0, 5, 1), 10)
    assert len(empty) == 0 and empty.offsets.tolist() == [0]
    assert window_stats(empty)["windows"] == 0


def test_windows_container():
    w = Windows(offsets=np.array([0, 2, 2, 5]), indices=np.array([1, 4, 0, 2, 3], np.uint16), vocab_size=6)
    assert len(w) == 3 and w.lengths.tolist() == [2, 0, 3]
    dense = w.to_csr().toarray()
    assert dense.shape == (3, 6) and dense.dtype == np.uint8 and dense.sum() == 5 and dense[2, 3] == 1
    sub = w.subset(np.array([2, 0, 1]))
    assert sub.offsets.tolist() == [0, 3, 5, 5] and sub.indices.tolist() == [0, 2, 3, 1, 4]
    stats = window_stats(w)
    assert stats["windows"] == 3 and stats["empty_fraction"] == pytest.approx(1 / 3) and stats["mean_words"] == 5 / 3


def test_expand_ranges():
    assert expand_ranges(np.array([5, 0, 9]), np.array([2, 0, 3])).tolist() == [5, 6, 9, 10, 11]
    assert expand_ranges(np.array([3]), np.array([0])).tolist() == []
