"""Bounded-memory building blocks of the data stages: reads docs.parquet split by split in chunks of
rows, builds windows chunk by chunk, and appends them to ``.npy`` files (OpenWebText scale).

Nothing here holds more than a chunk of rows (``data.chunk_rows``) plus what a window needs from
the previous chunk: the rows after the next window start (fewer than ``group_size``), of the
unfinished last document when windows stay within documents (whose finished windows are written
as soon as their rows are read, so one huge document costs no more than many small ones), or of
the split when they cross documents. The
numba kernels of ``bows.data.windows`` run once per chunk; the output equals the one-shot build
byte for byte (``tests/test_scale.py``). Shards (``data.num_shards``) are row ranges of a split:
a shard owns the documents that start in its range (or, across documents, the windows that start
there), so concatenating the shards' windows in order gives the windows of the whole split.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as _pc
import pyarrow.parquet as pq

from bows.data.tokenize import tokenize, word_ids
from bows.data.windows import NO_WINDOWS, build_windows, layout
from bows.errors import with_path
from bows.progress import Progress

pc: Any = _pc  # pyarrow.compute's kernels are generated at import time: no static types

DOCS_ROW_GROUP = 100_000  # rows per Parquet row group written by the download stage (what a reader holds at once)


# ------------------------------------------------------------------------------------- reading
def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def parquet_batches(path: Path, batch_size: int, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """The record batches of a Parquet file in order, holding about one row group's pages at a time.
    (``ParquetFile`` pre-buffers by default, and ``iter_batches`` over the whole file then keeps the
    column chunks it has read: memory grows with the file, ~0.45 GB per GB of text.)"""
    yield from pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=batch_size, columns=columns)


def split_groups(pf: pq.ParquetFile, split: str) -> list[tuple[int, int, bool]]:
    """(row group, rows of ``split`` in it, whether the group holds only that split) per row group
    with rows of ``split``, from the Parquet statistics (reading the ``split`` column only when a
    group has no statistics or mixes splits)."""
    column = pf.schema_arrow.get_field_index("split")
    out = []
    for group in range(pf.num_row_groups):
        meta = pf.metadata.row_group(group)
        stats = meta.column(column).statistics
        if stats is not None and stats.has_min_max:
            lo, hi = _text(stats.min), _text(stats.max)
            if split < lo or split > hi:
                continue
            if lo == hi == split:
                out.append((group, meta.num_rows, True))
                continue
        values = pf.read_row_group(group, columns=["split"]).column(0)
        n = int(pc.sum(pc.equal(values, split)).as_py() or 0)
        if n:
            out.append((group, n, False))
    return out


def split_rows(path: Path, split: str) -> int:
    """Number of rows of ``split`` in a docs Parquet file (from its metadata)."""
    return sum(n for _, n, _ in split_groups(pq.ParquetFile(path), split))


def read_split(
    path: Path, split: str, columns: list[str], chunk_rows: int, start: int = 0
) -> Iterator[tuple[int, pa.Table]]:
    """``(first row, rows)`` chunks of at most ``chunk_rows`` rows of ``split``, from split-local row
    ``start`` on, in reading order (stop iterating to stop reading)."""
    pf = pq.ParquetFile(path)
    groups, row = [], 0
    for group, n, pure in split_groups(pf, split):
        if row + n > start:
            if not groups:
                first = row
            groups.append((group, pure))
        row += n
    if not groups:
        return
    row = first
    wanted = list(dict.fromkeys(columns + ["split"]))
    for group, pure in groups:
        for batch in pf.iter_batches(batch_size=chunk_rows, row_groups=[group], columns=wanted, use_threads=False):
            table = pa.Table.from_batches([batch])
            if not pure:
                table = table.filter(pc.equal(table["split"], split))
            table = table.select(columns)
            if row + table.num_rows <= start:
                row += table.num_rows
                continue
            if row < start:
                table, row = table.slice(start - row), start
            if table.num_rows:
                yield row, table
            row += table.num_rows


def doc_changes(doc_ids: pa.ChunkedArray | pa.Array, previous: str | None) -> np.ndarray:
    """Per row: does it start a new document (its id differs from the row before; ``previous`` is
    the id of the row before the first one, None at the start of a split)."""
    ids = doc_ids.combine_chunks() if isinstance(doc_ids, pa.ChunkedArray) else doc_ids
    n = len(ids)
    change = np.ones(n, dtype=bool)
    if n > 1:
        change[1:] = pc.not_equal(ids.slice(1), ids.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    if n and previous is not None:
        change[0] = ids[0].as_py() != previous
    return change


# ------------------------------------------------------------------------------------- writing
class NpyAppender:
    """A 1-D ``.npy`` file written piece by piece. numpy pads the header so that its length does not
    depend on the length of the array; it is rewritten with the final length on ``close``, so the
    file equals ``np.save`` of the concatenated pieces byte for byte."""

    def __init__(self, path: Path, dtype: np.dtype | type):
        self.path, self.dtype, self.length = Path(path), np.dtype(dtype), 0
        self.handle = open(self.path, "wb")
        self._header(0)
        self.data_start = self.handle.tell()

    def _header(self, n: int) -> None:
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (n,)}
        np.lib.format.write_array_header_1_0(self.handle, header)

    def append(self, values: np.ndarray) -> None:
        values = np.ascontiguousarray(values)
        if values.dtype != self.dtype:
            values = values.astype(self.dtype, casting="safe")
        try:
            values.tofile(self.handle)
        except OSError as exc:  # a full disk: numpy says "N requested and M written", naming no file
            raise with_path(exc, self.path) from exc
        self.length += len(values)

    def close(self) -> None:
        try:
            self.handle.seek(0)
            self._header(self.length)
            if self.handle.tell() != self.data_start:
                raise RuntimeError(f"{self.path}: the .npy header changed length; cannot finish it in place")
            self.handle.close()
        except OSError as exc:
            raise with_path(exc, self.path) from exc

    def __enter__(self) -> NpyAppender:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        else:
            self.handle.close()


class WindowSink(Protocol):
    """Where ``ChunkedWindows`` puts its windows: ``CsrAppender`` (files), ``GroupMoments`` (statistics)."""

    def append(self, offsets: np.ndarray, indices: np.ndarray) -> None: ...


class CsrAppender:
    """CSR windows appended piece by piece to ``offsets`` and ``indices`` ``.npy`` files, with the
    histogram of window sizes (for statistics without holding the offsets)."""

    def __init__(self, offsets_path: Path, indices_path: Path, index_dtype: np.dtype | type):
        self.offsets = NpyAppender(offsets_path, np.int64)
        self.indices = NpyAppender(indices_path, index_dtype)
        self.offsets.append(np.zeros(1, np.int64))
        self.nnz = 0
        self.sizes = np.zeros(1, np.int64)  # sizes[k] = windows with k words

    def append(self, offsets: np.ndarray, indices: np.ndarray) -> None:
        """Windows given as local CSR (``offsets[0] == 0``)."""
        offsets = np.asarray(offsets, np.int64)
        if len(offsets) <= 1:
            return
        self.offsets.append(offsets[1:] + self.nnz)
        self.indices.append(indices)
        self.nnz += int(offsets[-1])
        self.add_sizes(np.diff(offsets))

    def add_sizes(self, lengths: np.ndarray) -> None:
        counts = np.bincount(lengths, minlength=len(self.sizes)).astype(np.int64)
        counts[: len(self.sizes)] += self.sizes
        self.sizes = counts

    def close(self) -> None:
        self.offsets.close()
        self.indices.close()


def size_stats(sizes: np.ndarray) -> dict[str, float]:
    """``bows.data.windows.window_stats`` from a histogram of window sizes (``sizes[k]`` windows of k
    words): the same numbers, including numpy's linear percentiles, without the array of sizes."""
    sizes = np.asarray(sizes, np.int64)
    n = int(sizes.sum())
    if n == 0:
        return dict(NO_WINDOWS)
    ends = np.cumsum(sizes)  # value k occupies sorted positions [ends[k-1], ends[k])

    def value(position: np.ndarray) -> np.ndarray:
        return np.searchsorted(ends, position, side="right").astype(np.int64)

    q = np.true_divide(np.array([10, 50, 90]), 100)
    virtual = (n - 1) * q  # numpy's 'linear' method (np.percentile's default), step by step
    below = np.floor(virtual)
    above = np.minimum(below + 1, n - 1)
    gamma = virtual - below
    a, b = value(below.astype(np.int64)), value(above.astype(np.int64))
    diff = b - a
    result = np.add(a, diff * gamma)
    np.subtract(b, diff * (1 - gamma), out=result, where=gamma >= 0.5, casting="unsafe")
    total = int(np.dot(np.arange(len(sizes), dtype=np.int64), sizes))
    return {
        "windows": n,
        "empty_fraction": float(sizes[0] / n),
        "mean_words": float(total / n),
        "p10_words": float(result[0]),
        "p50_words": float(result[1]),
        "p90_words": float(result[2]),
    }


# ----------------------------------------------------------------------------- windows by chunk
@dataclass
class _Pending:
    """Token occurrences of rows carried into the next chunk (rows numbered from 0)."""

    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint16))
    n_rows: int = 0
    changes: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))


class ChunkedWindows:
    """Windows of a run of rows fed chunk by chunk (``feed``, then ``finish``), appended to ``out``.

    Within documents (``cross_documents`` false) the rows fed must be whole documents (the last one
    may continue in the next chunk; it is carried). Across documents the rows fed start at a window
    start and, when ``whole_split``, are the whole split (a split shorter than G is one window)."""

    def __init__(
        self,
        out: WindowSink,
        vocab_size: int,
        group_size: int,
        stride: int,
        cross_documents: bool,
        whole_split: bool = True,
    ):
        self.out, self.vocab_size = out, vocab_size
        self.group_size, self.stride, self.cross = group_size, stride, cross_documents
        self.whole_split = whole_split
        self.pending = _Pending(ids=np.zeros(0, np.uint16 if vocab_size <= 2**16 else np.int32))
        self.skip = 0  # with stride > G: rows to drop before the next window start
        # within documents: the first pending row continues a document whose first windows are written
        # (so the rest of it gives windows only from G rows on, never the short whole-document one)
        self.continued = False
        self.emitted = 0
        self.seconds = 0.0

    def feed(
        self, rows: np.ndarray, ids: np.ndarray, n_rows: int, changes: np.ndarray | None = None, final: bool = False
    ) -> None:
        """Token occurrences ``(rows, ids)`` of the next ``n_rows`` rows (``changes``: new-document flags)."""
        start = time.perf_counter()
        if self.skip:
            drop = min(self.skip, n_rows)
            skip = self.skip - drop
            if not self.cross and changes is not None:  # a skip within a document ends where it ends
                begins = np.flatnonzero(changes[:drop])
                if len(begins):
                    drop, skip, self.continued = int(begins[0]), 0, False
            keep = rows >= drop
            rows, ids, n_rows, self.skip = rows[keep] - drop, ids[keep], n_rows - drop, skip
            changes = None if changes is None else changes[drop:]
        p = self.pending
        if p.n_rows == 0 and changes is not None and len(changes) and changes[0]:
            self.continued = False  # the continued document ended exactly where the carried rows did
        rows = np.concatenate([p.rows, np.asarray(rows, np.int64) + p.n_rows])
        ids = np.concatenate([p.ids, np.asarray(ids).astype(p.ids.dtype, copy=False)])
        n = p.n_rows + n_rows
        if self.cross:
            self._cross(rows, ids, n, final)
        else:
            flags = np.concatenate([p.changes, np.ones(n_rows, bool) if changes is None else changes])
            if len(flags):
                flags[0] = True
            self._within(rows, ids, n, flags, final)
        self.seconds += time.perf_counter() - start

    def finish(self) -> None:
        self.feed(np.zeros(0, np.int64), np.zeros(0, self.pending.ids.dtype), 0, np.zeros(0, bool), final=True)

    def _emit(self, rows: np.ndarray, ids: np.ndarray, seg_starts: np.ndarray, n_rows: int) -> None:
        lay = layout(seg_starts, n_rows, self.group_size, self.stride)
        if len(lay) == 0:
            return
        windows = build_windows(rows, ids, lay, self.vocab_size)
        self.out.append(windows.offsets, windows.indices)
        self.emitted += len(lay)

    def _carry(self, rows: np.ndarray, ids: np.ndarray, first_row: int, n: int, flags: np.ndarray | None) -> None:
        cut = np.searchsorted(rows, first_row)
        self.pending = _Pending(
            rows=rows[cut:] - first_row,
            ids=ids[cut:],
            n_rows=n - first_row,
            changes=np.zeros(0, bool) if flags is None else flags[first_row:],
        )

    def _within(self, rows: np.ndarray, ids: np.ndarray, n: int, flags: np.ndarray, final: bool) -> None:
        g, s = self.group_size, self.stride
        seg_starts = np.flatnonzero(flags).astype(np.int64)
        done = n if final else (int(seg_starts[-1]) if len(seg_starts) else 0)  # the last document may go on
        first = 0
        if self.continued and n > 0 and (done > 0 or final):  # the continued document ended in these rows
            end = int(seg_starts[1]) if len(seg_starts) > 1 else n
            if end < g:  # its windows are all written: its last rows start none
                first = end
            self.continued = False
        if done > first:
            lo, hi = np.searchsorted(rows, first), np.searchsorted(rows, done)
            starts = seg_starts[(seg_starts >= first) & (seg_starts < done)]
            if len(starts) == 0 or starts[0] != first:
                starts = np.concatenate([[first], starts]).astype(np.int64)
            self._emit(rows[lo:hi] - first, ids[lo:hi], starts - first, done - first)
        next_start = done
        length = n - done
        if not final and length >= g:  # the unfinished document's finished windows, now
            count = (length - g) // s + 1
            used = count * s - s + g
            cut = np.searchsorted(rows, done + used)
            lo = np.searchsorted(rows, done)
            self._emit(rows[lo:cut] - done, ids[lo:cut], np.zeros(1, np.int64), used)
            next_start = done + count * s
            self.continued = True
        if next_start > n:
            self.skip, next_start = next_start - n, n
        self._carry(rows, ids, next_start, n, flags)

    def _cross(self, rows: np.ndarray, ids: np.ndarray, n: int, final: bool) -> None:
        g, s = self.group_size, self.stride
        if n >= g:
            count = (n - g) // s + 1  # windows starting at 0, s, 2s, ... that end by row n
            used = (count - 1) * s + g
            cut = np.searchsorted(rows, used)
            self._emit(rows[:cut], ids[:cut], np.zeros(1, np.int64), used)
            next_start = count * s
        elif final and self.whole_split and self.emitted == 0 and n > 0:
            self._emit(rows, ids, np.zeros(1, np.int64), n)  # a split shorter than G: one window of it all
            next_start = n
        else:
            next_start = 0
        if next_start > n:
            self.skip, next_start = next_start - n, n
        self._carry(rows, ids, next_start, n, None)


# ------------------------------------------------------------------------------------ one split
@dataclass
class SplitResult:
    """Counts of the rows a (shard of a) split owns, and the histogram of its window sizes."""

    rows: int = 0
    documents: int = 0
    tokens: int = 0
    sizes: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    seconds: dict[str, float] = field(default_factory=lambda: {"tokenize": 0.0, "windows": 0.0})

    def stats(self) -> dict:
        return {
            "rows": self.rows,
            "documents": self.documents,
            "tokens": self.tokens,
            **size_stats(self.sizes),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def shard_range(n_rows: int, shard: int, num_shards: int) -> tuple[int, int]:
    """The rows ``[a, b)`` of a split that shard ``shard`` of ``num_shards`` owns."""
    return n_rows * shard // num_shards, n_rows * (shard + 1) // num_shards


def split_windows_chunked(
    path: Path,
    split: str,
    vocab: pa.Array,
    out: CsrAppender,
    *,
    min_len: int,
    group_size: int,
    stride: int,
    cross_documents: bool,
    chunk_rows: int,
    shard: int = 0,
    num_shards: int = 1,
) -> SplitResult:
    """Stream the rows of ``split`` (in ``path``, a docs Parquet file) through the tokenizer and the
    window kernels into ``out``; with ``num_shards > 1`` only shard ``shard``'s windows (see the
    module docstring). Statistics count the rows ``shard_range`` assigns to the shard."""
    n_total = split_rows(path, split)
    a, b = shard_range(n_total, shard, num_shards)
    result = SplitResult()
    if cross_documents:  # the shard owns the windows starting in [a, b): rows [first, stop) feed them
        if n_total < group_size:
            first, stop = 0, (n_total if a == 0 and b > 0 else 0)
        else:
            last_start = (n_total - group_size) // stride * stride  # the split's last window start
            first = -(-a // stride) * stride
            owned_last = min(last_start, (b - 1) // stride * stride)
            first, stop = (first, owned_last + group_size) if first <= owned_last else (0, 0)
    builder = ChunkedWindows(out, len(vocab), group_size, stride, cross_documents, whole_split=a == 0)
    previous: str | None = None
    started, finished = False, False
    read_from = max(a - 1, 0)
    label = f"binarize {split}" + (f" (shard {shard}/{num_shards})" if num_shards > 1 else "")
    progress = Progress(label, b - a)
    for row0, table in read_split(path, split, ["doc_id", "text"], chunk_rows, read_from):
        progress.update(max(0, min(table.num_rows, b - row0) - max(0, a - row0)))
        changes = doc_changes(table["doc_id"], previous)
        previous = table["doc_id"][-1].as_py()
        n = table.num_rows
        if row0 < a:  # the row before the range: only its document id was needed
            table, changes, row0, n = table.slice(a - row0), changes[a - row0 :], a, n - (a - row0)
        if n == 0:
            continue
        t0 = time.perf_counter()
        tok_rows, tok_ids = word_ids(tokenize(table["text"], min_len=min_len), vocab)
        result.seconds["tokenize"] += time.perf_counter() - t0
        own = slice(0, max(0, min(n, b - row0)))  # rows this shard counts in the statistics
        result.rows += own.stop
        result.documents += int(changes[own].sum())
        result.tokens += int(np.searchsorted(tok_rows, own.stop))
        if cross_documents:
            lo, hi = max(first - row0, 0), min(stop - row0, n)
            if lo < hi:
                keep = (tok_rows >= lo) & (tok_rows < hi)
                builder.feed(tok_rows[keep] - lo, tok_ids[keep], hi - lo)
            finished = row0 + n >= max(stop, b)
        else:
            lo = 0
            if not started:  # skip the end of a document that started before the range
                begins = np.flatnonzero(changes)
                if len(begins) == 0 or row0 + int(begins[0]) >= b:
                    finished = row0 + n >= b
                    if finished:
                        break
                    continue
                lo, started = int(begins[0]), True
            ends = np.flatnonzero(changes[lo:]) + lo
            ends = ends[row0 + ends >= b]  # the first document starting at or after b is the next shard's
            hi = int(ends[0]) if len(ends) else n
            keep = (tok_rows >= lo) & (tok_rows < hi)
            builder.feed(tok_rows[keep] - lo, tok_ids[keep], hi - lo, changes[lo:hi])
            finished = hi < n
        if finished:
            break
    progress.close()
    builder.finish()
    result.sizes = out.sizes
    result.seconds["windows"] = builder.seconds
    return result
