"""Training batches built on the device from CSR windows: word ids for the sparse training path and,
when asked, dense 0/1 (batch x vocab) targets, vectorised (one gather, one ``repeat_interleave``, one scatter).

The whole CSR (offsets + indices) is moved to the device once; a batch is a tensor of window ids,
so nothing per sample ever touches Python. The visiting order of an epoch is a function of
(seed, epoch) only, which makes an interrupted run resumable mid-epoch with identical batches.
"""

from __future__ import annotations

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
    shift = torch.repeat_interleave(starts - offsets[:-1], lengths, output_size=total)
    positions = torch.arange(total, device=rows.device) + shift
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
