"""Binary bag-of-words windows as CSR arrays (SPEC 3.3): pure, vectorised construction and access.

Window k of a sequence of rows is the union of the word sets of rows ``[k*stride, k*stride + G)``.
Rows are grouped into *segments* -- the whole split when windows may cross documents, each
document otherwise -- and windows never cross a segment boundary. Inside a segment of ``n`` rows
windows start at 0, stride, 2*stride, ... while ``start + G <= n``; a segment shorter than G gives
one window of the whole segment. With ``stride > 1`` the last ``(n - G) % stride`` rows of a segment
may be in no window (as for the tail of a split). Empty windows are kept.

Construction, without per-window Python sets: every token occurrence (row r, word w) lies in a
contiguous range of windows ``[lo(r), hi(r)]``. Sorting occurrences by word (a linear radix sort for
uint16 ids) makes a word's ranges non-decreasing; cutting each range at the previous occurrence's
``hi`` makes them disjoint, so each (window, word) pair is produced exactly once. The pairs form the
word-major (transposed) matrix, and scipy's linear CSR->CSC conversion turns it into window-major
CSR with the words of every window already sorted.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class Windows:
    """CSR windows: the word ids of window i are ``indices[offsets[i]:offsets[i+1]]`` (sorted)."""

    offsets: np.ndarray  # int64, (n_windows + 1,)
    indices: np.ndarray  # uint16 (vocab_size <= 65,536) or int32, (nnz,)
    vocab_size: int

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        """Words per window."""
        return np.diff(self.offsets)

    def to_csr(self) -> sp.csr_matrix:
        """The (windows x vocab) binary matrix with uint8 ones (copies the indices as int32: for a large
        memory-mapped split, ``subset`` the windows you need first)."""
        return sp.csr_matrix((np.ones(len(self.indices), np.uint8), np.asarray(self.indices), np.asarray(self.offsets)),
                             shape=(len(self), self.vocab_size))

    def subset(self, rows: np.ndarray) -> "Windows":
        """The windows at positions ``rows`` (in that order), copied into memory."""
        rows = np.asarray(rows, dtype=np.int64)
        starts = np.asarray(self.offsets[rows], dtype=np.int64)
        lengths = np.asarray(self.offsets[rows + 1], dtype=np.int64) - starts
        offsets = np.zeros(len(rows) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return Windows(offsets=offsets, indices=np.asarray(self.indices)[expand_ranges(starts, lengths)],
                       vocab_size=self.vocab_size)


def expand_ranges(starts: np.ndarray, lengths: np.ndarray, dtype: type = np.int64) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for every (s, n), vectorised (lengths must be >= 0)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    nonempty = lengths > 0
    starts = np.asarray(starts, dtype=np.int64)[nonempty]
    lengths = lengths[nonempty]
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype)
    # ones everywhere; at the first element of each range jump from the previous range's end to its start
    step = np.ones(total, dtype)
    firsts = np.cumsum(lengths) - lengths
    step[firsts[1:]] = (starts[1:] - (starts[:-1] + lengths[:-1] - 1)).astype(dtype)
    step[0] = starts[0]
    return np.cumsum(step, dtype=dtype)


@dataclass(frozen=True)
class Layout:
    """Where the windows of a split lie: per window its first row and row count, per row its window range."""

    window_start: np.ndarray  # int64 (n_windows,): first row of each window
    window_rows: np.ndarray  # int64 (n_windows,): rows in each window (G, or a short segment's length)
    row_lo: np.ndarray  # int64 (n_rows,): first window containing the row
    row_hi: np.ndarray  # int64 (n_rows,): last window containing the row (< row_lo if none)

    def __len__(self) -> int:
        return len(self.window_start)


def segment_starts(doc_ids: np.ndarray | None, n_rows: int, cross_documents: bool) -> np.ndarray:
    """First row of every segment: one segment per document (contiguous equal ids), or the whole split."""
    if n_rows == 0:
        return np.zeros(0, np.int64)
    if cross_documents or doc_ids is None:
        return np.zeros(1, np.int64)
    doc_ids = np.asarray(doc_ids)
    change = np.flatnonzero(doc_ids[1:] != doc_ids[:-1]) + 1
    return np.concatenate([[0], change]).astype(np.int64)


def layout(seg_starts: np.ndarray, n_rows: int, group_size: int, stride: int) -> Layout:
    """Window placement for segments starting at ``seg_starts`` (see the module docstring)."""
    seg_starts = np.asarray(seg_starts, dtype=np.int64)
    seg_len = np.diff(np.append(seg_starts, n_rows))
    g_eff = np.minimum(group_size, seg_len)
    per_seg = np.where(seg_len > 0, (seg_len - g_eff) // stride + 1, 0)
    first_window = np.concatenate([[0], np.cumsum(per_seg)[:-1]]).astype(np.int64)
    seg_of_window = np.repeat(np.arange(len(seg_starts)), per_seg)
    local = np.arange(int(per_seg.sum()), dtype=np.int64) - first_window[seg_of_window]
    window_start = seg_starts[seg_of_window] + local * stride
    window_rows = g_eff[seg_of_window].astype(np.int64)

    seg_of_row = np.repeat(np.arange(len(seg_starts)), seg_len)
    t = np.arange(n_rows, dtype=np.int64) - seg_starts[seg_of_row]
    g_row, m_row = g_eff[seg_of_row], per_seg[seg_of_row]
    lo = np.maximum(0, (t - g_row) // stride + 1)  # row t is in local window j iff j*s <= t < j*s + G
    hi = np.minimum(m_row - 1, t // stride)
    offset = first_window[seg_of_row]
    return Layout(window_start=window_start, window_rows=window_rows, row_lo=lo + offset, row_hi=hi + offset)


def build_windows(rows: np.ndarray, ids: np.ndarray, lay: Layout, vocab_size: int,
                  *, block_tokens: int = 1 << 19) -> Windows:
    """CSR windows from token occurrences ``(rows[i], ids[i])`` (rows non-decreasing, duplicates fine).

    Works through blocks of windows whose rows hold about ``block_tokens`` occurrences, small
    enough for the per-block transposition to stay in cache; the result is the same for any block size."""
    rows = np.asarray(rows, dtype=np.int64)
    index_dtype = np.uint16 if vocab_size <= 2**16 else np.int32
    ids = np.asarray(ids).astype(index_dtype, copy=False)
    n_windows, n_rows = len(lay), len(lay.row_lo)
    offsets = np.zeros(n_windows + 1, np.int64)
    # an upper bound of the output (the occurrences inside each window); pages never written cost nothing
    row_ptr = np.searchsorted(rows, np.arange(n_rows + 1))
    bound = int(np.sum(row_ptr[lay.window_start + lay.window_rows] - row_ptr[lay.window_start]))
    indices = np.empty(min(bound, n_windows * vocab_size), index_dtype)
    tokens_per_window = len(rows) / max(n_rows, 1) * (float(lay.window_rows.mean()) if n_windows else 0.0)
    step = max(1, int(block_tokens // max(tokens_per_window, 1.0)))
    ones = np.ones(0, bool)
    for k0 in range(0, n_windows, step):
        k1 = min(k0 + step, n_windows)
        # occurrences in the rows of windows [k0, k1): a contiguous slice, since rows are sorted
        a, b = np.searchsorted(rows, [lay.window_start[k0], lay.window_start[k1 - 1] + lay.window_rows[k1 - 1]])
        block_rows = rows[a:b]
        word_ptr, window = _transposed_block(lay.row_lo[block_rows], lay.row_hi[block_rows], ids[a:b], k0, k1,
                                             vocab_size)
        if len(ones) < len(window):
            ones = np.ones(2 * len(window), bool)
        csc = sp.csr_matrix((ones[:len(window)], window, word_ptr), shape=(vocab_size, k1 - k0)).tocsc()
        # tocsc is a linear counting sort: window-major, and words ascending within each window
        start = offsets[k0]
        offsets[k0 + 1:k1 + 1] = start + csc.indptr[1:]
        indices[start:offsets[k1]] = csc.indices
    return Windows(offsets=offsets, indices=indices[:offsets[-1]], vocab_size=vocab_size)


def _transposed_block(lo: np.ndarray, hi: np.ndarray, ids: np.ndarray, k0: int, k1: int,
                      vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Word-major CSR (indptr over words, window indices) of windows [k0, k1), from occurrences in
    reading order with their window ranges ``[lo, hi]``; every (window, word) pair appears once."""
    lo = (np.maximum(lo, k0) - k0).astype(np.int32)
    hi = (np.minimum(hi, k1 - 1) - k0).astype(np.int32)
    order = np.argsort(ids, kind="stable")  # radix sort for uint16; keeps reading order inside a word
    word, lo, hi = ids[order], lo[order], hi[order]
    # a word's hi is non-decreasing in reading order, so the previous occurrence's hi is the furthest
    # window the word has reached: start after it to make the word's ranges disjoint
    same_word = word[1:] == word[:-1]
    lo[1:] = np.where(same_word, np.maximum(lo[1:], hi[:-1] + 1), lo[1:])
    length = hi - lo + 1
    keep = length > 0
    word, lo, length = word[keep], lo[keep], length[keep]
    window = expand_ranges(lo, length, np.int32)
    index_dtype = np.int32 if len(window) < 2**31 else np.int64
    word_ptr = np.zeros(vocab_size + 1, index_dtype)
    np.cumsum(np.bincount(word, weights=length, minlength=vocab_size).astype(index_dtype), out=word_ptr[1:])
    return word_ptr, window.astype(index_dtype, copy=False)


def naive_windows(row_sets: list[set[int]], lay: Layout, vocab_size: int) -> Windows:
    """Reference implementation: one Python set union per window (tests and the benchmark only)."""
    offsets, indices = [0], []
    for start, n in zip(lay.window_start.tolist(), lay.window_rows.tolist()):
        words = sorted(set().union(*row_sets[start:start + n]))
        indices.extend(words)
        offsets.append(offsets[-1] + len(words))
    dtype = np.uint16 if vocab_size <= 2**16 else np.int32
    return Windows(offsets=np.array(offsets, np.int64), indices=np.array(indices, dtype), vocab_size=vocab_size)


def window_stats(windows: Windows) -> dict[str, float]:
    """Number of windows, empty fraction and mean/p10/p50/p90 words per window."""
    lengths = windows.lengths
    if len(lengths) == 0:
        return {"windows": 0, "empty_fraction": 0.0, "mean_words": 0.0, "p10_words": 0.0,
                "p50_words": 0.0, "p90_words": 0.0}
    p10, p50, p90 = np.percentile(lengths, [10, 50, 90])
    return {"windows": int(len(lengths)), "empty_fraction": float(np.mean(lengths == 0)),
            "mean_words": float(lengths.mean()), "p10_words": float(p10), "p50_words": float(p50),
            "p90_words": float(p90)}
