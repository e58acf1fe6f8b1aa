"""Binary bag-of-words windows as CSR arrays (SPEC 3.3): compiled construction and vectorised access.

Window k of a sequence of rows is the union of the word sets of rows ``[k*stride, k*stride + G)``.
Rows are grouped into *segments* -- the whole split when windows may cross documents, each
document otherwise -- and windows never cross a segment boundary. Inside a segment of ``n`` rows
windows start at 0, stride, 2*stride, ... while ``start + G <= n``; a segment shorter than G gives
one window of the whole segment. With ``stride > 1`` the last ``(n - G) % stride`` rows of a segment
may be in no window (as for the tail of a split). Empty windows are kept.

Construction, without per-window sets, in two linear numba passes over the occurrences: every
token occurrence (row r, word w) lies in a contiguous range of windows ``[lo(r), hi(r)]``, and both
bounds are non-decreasing in reading order, so starting each range after the furthest window its word
has reached so far makes a word's ranges disjoint: each (window, word) pair comes out exactly once.
Pass one adds those ranges to a difference array of window sizes (the CSR offsets). Pass two works
through blocks of windows that stay in cache: it merges each word's touching ranges into pieces,
counting-sorts the pieces by word, and writes them window-major in that order (a transposition by
counting sort), so the words of every window come out sorted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit


def spread_rows(n: int, k: int) -> np.ndarray:
    """``k`` evenly spaced positions in [0, n) (all of them when k >= n): the one deterministic
    sample of windows, used by the co-activation statistics, training evaluation and analyses."""
    if k >= n:
        return np.arange(n, dtype=np.int64)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


def heldout_rows(offsets: np.ndarray, k: int) -> np.ndarray:
    """Up to ``k`` non-empty windows spread evenly over a split (ids of its windows)."""
    nonempty = np.flatnonzero(np.diff(np.asarray(offsets, np.int64)) > 0)
    return nonempty[spread_rows(len(nonempty), k)]


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
        return sp.csr_matrix(
            (np.ones(len(self.indices), np.uint8), np.asarray(self.indices), np.asarray(self.offsets)),
            shape=(len(self), self.vocab_size),
        )

    def subset(self, rows: np.ndarray) -> Windows:
        """The windows at positions ``rows`` (in that order), copied into memory."""
        rows = np.asarray(rows, dtype=np.int64)
        starts = np.asarray(self.offsets[rows], dtype=np.int64)
        lengths = np.asarray(self.offsets[rows + 1], dtype=np.int64) - starts
        offsets = np.zeros(len(rows) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return Windows(
            offsets=offsets,
            indices=np.asarray(self.indices)[expand_ranges(starts, lengths)],
            vocab_size=self.vocab_size,
        )


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


def build_windows(
    rows: np.ndarray, ids: np.ndarray, lay: Layout, vocab_size: int, *, block_tokens: int = 1 << 19
) -> Windows:
    """CSR windows from token occurrences ``(rows[i], ids[i])`` (rows non-decreasing, duplicates fine).

    Fills blocks of windows whose rows hold about ``block_tokens`` occurrences, small enough for a
    block's output to stay in cache; the result is the same for any block size. The kernels compile
    on the first call after installation (seconds) and load from numba's cache after that."""
    rows = np.asarray(rows, dtype=np.int64)
    index_dtype = np.uint16 if vocab_size <= 2**16 else np.int32
    ids = np.asarray(ids)
    if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(f"word ids must lie in [0, {vocab_size})")
    ids = ids.astype(index_dtype, copy=False)
    n_windows, n_rows = len(lay), len(lay.row_lo)
    offsets = _window_offsets(rows, ids, lay.row_lo, lay.row_hi, n_windows, vocab_size)
    indices = np.empty(int(offsets[-1]), index_dtype)
    tokens_per_window = len(rows) / max(n_rows, 1) * (float(lay.window_rows.mean()) if n_windows else 0.0)
    step = min(max(1, int(block_tokens // max(tokens_per_window, 1.0))), max(n_windows, 1))
    _fill_windows(
        rows, ids, lay.row_lo, lay.row_hi, lay.window_start, lay.window_rows, offsets, indices, vocab_size, step
    )
    return Windows(offsets=offsets, indices=indices, vocab_size=vocab_size)


@njit(cache=True)
def _window_offsets(rows, ids, row_lo, row_hi, n_windows, vocab_size):
    """CSR offsets: every occurrence adds its range of windows, started after the furthest window its
    word has reached (so each (window, word) pair counts once), to a difference array of window sizes."""
    reach = np.full(vocab_size, -1, np.int64)
    delta = np.zeros(n_windows + 1, np.int64)
    n_rows, previous = len(row_lo), 0
    for i in range(len(rows)):
        r, w = rows[i], ids[i]
        if r < previous or r >= n_rows:
            raise ValueError("rows must be non-decreasing and lie in [0, number of rows)")
        previous = r
        lo, hi = max(row_lo[r], reach[w] + 1), row_hi[r]
        if lo <= hi:
            delta[lo] += 1
            delta[hi + 1] -= 1
            reach[w] = hi
    offsets = np.zeros(n_windows + 1, np.int64)
    size = 0
    for k in range(n_windows):
        size += delta[k]
        offsets[k + 1] = offsets[k] + size
    return offsets


@njit(cache=True)
def _fill_windows(rows, ids, row_lo, row_hi, window_start, window_rows, offsets, indices, vocab_size, step):
    """Writes ``indices`` block by block of ``step`` windows: the block's disjoint (word, window range)
    pieces, counting-sorted by word, go to their windows in word order, so every window's words are sorted."""
    n_windows = len(window_start)
    reach = np.full(vocab_size, -1, np.int64)  # clipped to the block, so never past the next block's start
    word_start = np.zeros(vocab_size + 1, np.int64)
    last_piece = np.full(vocab_size, -1, np.int64)  # numbered across blocks: this block's are >= first_piece
    first_piece = 0
    cap = 0
    piece_word, piece_lo, piece_hi = np.empty(0, ids.dtype), np.empty(0, np.int32), np.empty(0, np.int32)
    sorted_word, sorted_lo, sorted_hi = np.empty(0, ids.dtype), np.empty(0, np.int32), np.empty(0, np.int32)
    pos = np.empty(step, np.int64)
    for k0 in range(0, n_windows, step):
        k1 = min(k0 + step, n_windows)
        a = np.searchsorted(rows, window_start[k0])
        b = np.searchsorted(rows, window_start[k1 - 1] + window_rows[k1 - 1])
        if b - a > cap:
            cap = 2 * (b - a)
            piece_word, piece_lo, piece_hi = np.empty(cap, ids.dtype), np.empty(cap, np.int32), np.empty(cap, np.int32)
            sorted_word, sorted_lo, sorted_hi = (
                np.empty(cap, ids.dtype),
                np.empty(cap, np.int32),
                np.empty(cap, np.int32),
            )
        n = 0
        for i in range(a, b):
            r, w = rows[i], ids[i]
            lo, hi = max(row_lo[r], reach[w] + 1, k0), min(row_hi[r], k1 - 1)
            if lo <= hi:
                j = last_piece[w] - first_piece
                if j >= 0 and lo == reach[w] + 1:  # continues the word's last piece in this block
                    piece_hi[j] = hi - k0
                else:
                    piece_word[n], piece_lo[n], piece_hi[n] = w, lo - k0, hi - k0
                    word_start[w + 1] += 1
                    last_piece[w] = first_piece + n
                    n += 1
                reach[w] = hi
        first_piece += n
        for w in range(vocab_size):
            word_start[w + 1] += word_start[w]
        for j in range(n):
            t = word_start[piece_word[j]]
            sorted_word[t], sorted_lo[t], sorted_hi[t] = piece_word[j], piece_lo[j], piece_hi[j]
            word_start[piece_word[j]] = t + 1
        word_start[:] = 0
        for k in range(k1 - k0):
            pos[k] = offsets[k0 + k]
        for t in range(n):
            w = sorted_word[t]
            for k in range(sorted_lo[t], sorted_hi[t] + 1):
                indices[pos[k]] = w
                pos[k] += 1


def naive_windows(row_sets: list[set[int]], lay: Layout, vocab_size: int) -> Windows:
    """Reference implementation: one Python set union per window (tests and the benchmark only)."""
    offsets, indices = [0], []
    for start, n in zip(lay.window_start.tolist(), lay.window_rows.tolist()):
        words = sorted(set().union(*row_sets[start : start + n]))
        indices.extend(words)
        offsets.append(offsets[-1] + len(words))
    dtype = np.uint16 if vocab_size <= 2**16 else np.int32
    return Windows(offsets=np.array(offsets, np.int64), indices=np.array(indices, dtype), vocab_size=vocab_size)


# statistics of a split without windows
NO_WINDOWS: dict[str, float] = {
    "windows": 0,
    "empty_fraction": 0.0,
    "mean_words": 0.0,
    "p10_words": 0.0,
    "p50_words": 0.0,
    "p90_words": 0.0,
}


def window_stats(windows: Windows) -> dict[str, float]:
    """Number of windows, empty fraction and mean/p10/p50/p90 words per window."""
    lengths = windows.lengths
    if len(lengths) == 0:
        return dict(NO_WINDOWS)
    p10, p50, p90 = np.percentile(lengths, [10, 50, 90])
    return {
        "windows": int(len(lengths)),
        "empty_fraction": float(np.mean(lengths == 0)),
        "mean_words": float(lengths.mean()),
        "p10_words": float(p10),
        "p50_words": float(p50),
        "p90_words": float(p90),
    }
