"""Training batches built on the device from CSR windows: word ids for the sparse training path and,
when asked, dense 0/1 (batch x vocab) targets, vectorised (one gather, one ``repeat_interleave``, one scatter).

The whole CSR (offsets + indices) is moved to the device once; a batch is a tensor of window ids,
so nothing per sample ever touches Python. The visiting order of an epoch is a function of
(seed, epoch) only, which makes an interrupted run resumable mid-epoch with identical batches.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from bows.training.model import densify


@dataclass(frozen=True)
class Batch:
    """One optimisation batch: dense 0/1 ``target`` (batch, vocab) (or (instances, batch, vocab)),
    and/or CSR word ids (window i is ``indices[offsets[i]:offsets[i+1]]``, offsets of length
    batch + 1). With word ids the model trains through its sparse path and needs no dense target.
    """

    target: Tensor | None = None
    indices: Tensor | None = None
    offsets: Tensor | None = None
    inputs: Tensor | None = None  # models other than the autoencoder (with their own ``loss_fn``)

    @property
    def size(self) -> int:
        if self.inputs is not None:
            return self.inputs.shape[0]
        return self.offsets.shape[0] - 1 if self.offsets is not None else self.dense().shape[-2]

    def csr(self) -> tuple[Tensor, Tensor]:
        """(indices, offsets): the batch's word ids."""
        if self.indices is None or self.offsets is None:
            raise ValueError("this batch carries no word ids")
        return self.indices, self.offsets

    def dense(self) -> Tensor:
        """The dense 0/1 target."""
        if self.target is None:
            raise ValueError("this batch carries no dense target")
        return self.target


@dataclass(frozen=True)
class DeviceWindows:
    """CSR windows resident on one device; ``rows`` are the ids of the non-empty windows."""

    offsets: Tensor  # int64 (n_windows + 1,)
    indices: Tensor  # int32 (nnz,)
    vocab_size: int
    rows: Tensor  # int64 (n_nonempty,)
    lengths: np.ndarray | None = None  # words per window of ``rows``, on the host: sizes batches without a device sync

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def steps_per_epoch(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)


def to_device(
    offsets: np.ndarray, indices: np.ndarray, vocab_size: int, device: torch.device, rows: np.ndarray | None = None
) -> DeviceWindows:
    """Copy a CSR (e.g. a memory-mapped ``Windows``) to ``device`` once, keeping non-empty windows.

    ``rows`` restricts to those windows (before dropping empty ones), e.g. an evaluation subset.
    """
    offsets = np.array(offsets, dtype=np.int64)  # a writable copy (memory maps are read-only)
    ids = np.array(indices, dtype=np.int32)  # uint16 ids up to 65,535 (and int32 beyond) stay exact
    if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(f"word ids must lie in [0, {vocab_size}), got [{int(ids.min())}, {int(ids.max())}]")
    if len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(ids) or np.any(np.diff(offsets) < 0):
        raise ValueError(f"offsets are not a CSR index of {len(ids)} word ids")
    lengths = np.diff(offsets)
    keep = np.flatnonzero(lengths > 0) if rows is None else np.asarray(rows, np.int64)[lengths[rows] > 0]
    return DeviceWindows(
        offsets=torch.from_numpy(offsets).to(device),
        indices=torch.from_numpy(ids).to(device),
        vocab_size=int(vocab_size),
        rows=torch.from_numpy(np.ascontiguousarray(keep)).to(device),
        lengths=lengths[keep],
    )


def window_ids(offsets: Tensor, total: int) -> Tensor:
    """The window of every word of a CSR batch, (total,) int64: ``repeat_interleave`` on a GPU (no
    host sync with ``output_size``); numpy's repeat on CPU, 10-20x faster than torch's there."""
    batch = offsets.shape[0] - 1
    if offsets.device.type == "cpu":
        lengths = np.diff(offsets.numpy())
        return torch.from_numpy(np.repeat(np.arange(batch, dtype=np.int64), lengths))
    return torch.repeat_interleave(torch.arange(batch, device=offsets.device), offsets.diff(), output_size=total)


def gather(windows: DeviceWindows, rows: Tensor, dense: bool = False, total: int | None = None) -> Batch:
    """The batch of windows ``rows``: CSR word ids (and the dense (batch, vocab) 0/1 targets if ``dense``).

    ``total`` (the batch's word count, known on the host) spares the one device -> host sync per batch.
    """
    starts = windows.offsets[rows]
    lengths = windows.offsets[rows + 1] - starts
    offsets = torch.zeros(rows.shape[0] + 1, dtype=torch.int64, device=rows.device)
    torch.cumsum(lengths, 0, out=offsets[1:])
    if total is None:
        total = int(offsets[-1])  # a host sync (sizes the gather)
    # position of every word of the batch in `indices`: start of its window + rank inside it
    positions = torch.arange(total, device=rows.device) + (starts - offsets[:-1])[window_ids(offsets, total)]
    indices = windows.indices[positions].long()
    target = densify(indices, offsets, windows.vocab_size) if dense else None
    return Batch(target=target, indices=indices, offsets=offsets)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The permutation of ``n`` windows for ``epoch``: a function of (seed, epoch) only."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def epoch_batches(
    windows: DeviceWindows, batch_size: int, seed: int, epoch: int, skip: int = 0, dense: bool = False
) -> Iterator[Batch]:
    """Shuffled batches of one epoch (the last one may be short), skipping the first ``skip``."""
    host_order = epoch_order(len(windows), seed, epoch)
    order = torch.from_numpy(host_order).to(windows.rows.device)
    rows = windows.rows[order]
    for start in range(skip * batch_size, len(windows), batch_size):
        part = slice(start, start + batch_size)
        total = None if windows.lengths is None else int(windows.lengths[host_order[part]].sum())
        yield gather(windows, rows[part], dense, total)


def sequential_batches(windows: DeviceWindows, batch_size: int) -> Iterator[Batch]:
    """Batches in storage order (evaluation)."""
    for start in range(0, len(windows), batch_size):
        part = slice(start, start + batch_size)
        total = None if windows.lengths is None else int(windows.lengths[part].sum())
        yield gather(windows, windows.rows[part], total=total)


def tensor_batches(data: Tensor, batch_size: int, seed: int, epoch: int, skip: int = 0) -> Iterator[Batch]:
    """Shuffled dense batches of a (samples, features) tensor (synthetic experiments)."""
    order = torch.from_numpy(epoch_order(data.shape[0], seed, epoch)).to(data.device)
    for start in range(skip * batch_size, data.shape[0], batch_size):
        yield Batch(target=data[order[start : start + batch_size]])


# ------------------------------------------------------------------------ streaming (issue 13)
# Windows larger than device memory stay in their memory-mapped files; an epoch visits them in
# blocks of ``block`` non-empty windows (consecutive in storage, a multiple of the batch size):
# the blocks in a shuffled order, the windows of each block in a shuffled order, both functions
# of (seed, epoch) only. With one block this is exactly ``epoch_order``, so the streamed batches
# equal the resident ones. The next block is read (and, on CUDA, copied from pinned memory on a
# side stream) while the current block's batches are computed.


@dataclass(frozen=True)
class StreamedWindows:
    """Memory-mapped CSR windows streamed to ``device`` block by block (see ``stream_batches``)."""

    offsets: np.ndarray  # int64 (n_windows + 1,), memory-mapped
    indices: np.ndarray  # uint16/int32 (nnz,), memory-mapped
    vocab_size: int
    device: torch.device
    bounds: np.ndarray  # int64 (n_blocks + 1,): first stored window of each block, then n_windows
    n: int  # non-empty windows
    block: int  # non-empty windows per block (the last may hold fewer)

    def __len__(self) -> int:
        return self.n

    @property
    def n_blocks(self) -> int:
        return len(self.bounds) - 1

    def steps_per_epoch(self, batch_size: int) -> int:
        return -(-self.n // batch_size)

    def block_size(self, b: int) -> int:
        return min(self.block, self.n - b * self.block)

    def load(self, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Block ``b`` on the host: local offsets, int32 word ids and the local ids of its non-empty windows."""
        lo, hi = int(self.bounds[b]), int(self.bounds[b + 1])
        offsets = np.array(self.offsets[lo : hi + 1], dtype=np.int64)
        indices = np.array(self.indices[offsets[0] : offsets[-1]], dtype=np.int32)
        offsets -= offsets[0]
        return offsets, indices, np.flatnonzero(np.diff(offsets) > 0)


def stream_windows(
    offsets: np.ndarray,
    indices: np.ndarray,
    vocab_size: int,
    device: torch.device,
    batch_size: int,
    block_windows: int,
    chunk: int = 1 << 24,
) -> StreamedWindows:
    """Plan the blocks of a (memory-mapped) CSR: one pass over the offsets in chunks, keeping only
    the block boundaries. ``block_windows`` is rounded down to a multiple of ``batch_size``."""
    block = max(batch_size, block_windows // batch_size * batch_size)
    n_windows = len(offsets) - 1
    bounds, seen = [0], 0
    for start in range(0, n_windows, chunk):
        part = np.asarray(offsets[start : min(start + chunk, n_windows) + 1], dtype=np.int64)
        nonempty = np.flatnonzero(np.diff(part) > 0) + start
        ranks = np.arange(seen, seen + len(nonempty))
        bounds.extend(nonempty[(ranks % block == 0) & (ranks > 0)].tolist())
        seen += len(nonempty)
    bounds.append(n_windows)
    return StreamedWindows(
        offsets=offsets,
        indices=indices,
        vocab_size=int(vocab_size),
        device=device,
        bounds=np.asarray(bounds, np.int64),
        n=seen,
        block=block,
    )


def block_order(n_blocks: int, seed: int, epoch: int) -> np.ndarray:
    """The order in which an epoch visits the blocks (a function of (seed, epoch) only)."""
    if n_blocks == 1:
        return np.zeros(1, np.int64)
    return np.random.default_rng([seed, epoch, n_blocks]).permutation(n_blocks)


def in_block_order(size: int, n_blocks: int, b: int, seed: int, epoch: int) -> np.ndarray:
    """The order of the windows of block ``b``: with one block, ``epoch_order`` (the resident order)."""
    if n_blocks == 1:
        return epoch_order(size, seed, epoch)
    return np.random.default_rng([seed, epoch, n_blocks, b + 1]).permutation(size)


class _BlockLoader:
    """Reads blocks in a background thread and copies them to the device (CUDA: pinned memory and a
    side stream, so the copy overlaps the current block's compute)."""

    def __init__(self, data: StreamedWindows):
        from concurrent.futures import ThreadPoolExecutor

        self.data = data
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bows-blocks")
        self.cuda = data.device.type == "cuda"
        self.stream = torch.cuda.Stream(data.device) if self.cuda else None

    def _host(self, b: int) -> tuple[Tensor, ...]:
        arrays = self.data.load(b)
        tensors = tuple(torch.from_numpy(a) for a in arrays)
        return tuple(t.pin_memory() for t in tensors) if self.cuda else tensors

    def submit(self, b: int):
        return self.pool.submit(self._host, b)

    def take(self, future) -> DeviceWindows:
        offsets, indices, rows = future.result()
        if not self.cuda:
            return DeviceWindows(offsets=offsets, indices=indices, vocab_size=self.data.vocab_size, rows=rows)
        current, side = torch.cuda.current_stream(self.data.device), self.stream
        assert side is not None
        with torch.cuda.stream(side):
            moved = [t.to(self.data.device, non_blocking=True) for t in (offsets, indices, rows)]
        current.wait_stream(side)
        for t in moved:
            t.record_stream(current)
        return DeviceWindows(offsets=moved[0], indices=moved[1], vocab_size=self.data.vocab_size, rows=moved[2])

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def stream_batches(
    data: StreamedWindows, batch_size: int, seed: int, epoch: int, skip: int = 0, dense: bool = False
) -> Iterator[Batch]:
    """Shuffled batches of one epoch streamed block by block, skipping the first ``skip`` (resume)."""
    if data.block % batch_size:
        raise ValueError(f"the block ({data.block} windows) must be a multiple of the batch size {batch_size}")
    order = block_order(data.n_blocks, seed, epoch)
    per_block = np.array([-(-data.block_size(int(b)) // batch_size) for b in order], np.int64)
    done = np.cumsum(per_block)
    first = int(np.searchsorted(done, skip, side="right"))
    if first >= len(order):
        return
    skip_in_first = skip - (int(done[first - 1]) if first else 0)
    loader = _BlockLoader(data)
    try:
        pending = loader.submit(int(order[first]))
        for position in range(first, len(order)):
            b = int(order[position])
            block = loader.take(pending)
            if position + 1 < len(order):
                pending = loader.submit(int(order[position + 1]))  # read the next block during this one
            local = torch.from_numpy(in_block_order(len(block), data.n_blocks, b, seed, epoch)).to(block.rows.device)
            rows = block.rows[local]
            start = skip_in_first * batch_size if position == first else 0
            for at in range(start, len(rows), batch_size):
                yield gather(block, rows[at : at + batch_size], dense)
            del block, rows
    finally:
        loader.close()


def resident_bytes(offsets: np.ndarray, indices: np.ndarray) -> int:
    """Device bytes of the resident copy (int64 offsets, int32 indices, int64 non-empty ids)."""
    return 8 * len(offsets) + 4 * len(indices) + 8 * (len(offsets) - 1)


def memory_budget(device: torch.device, gib: float | None) -> int:
    """Bytes the resident windows may use: ``gib`` if set, else half the device's memory (CUDA) or
    half the host's physical memory (CPU)."""
    if gib is not None:
        return int(gib * 2**30)
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory // 2
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
