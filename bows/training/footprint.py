"""Up-front memory estimate of a training run: stop with one line before torch fails to allocate.

A model of ``instances`` tied autoencoders of ``vocab`` words and ``latent`` dimensions holds, in
fp32, its parameters (``W`` and ``b``), their gradients and AdamW's two moment buffers (4 copies),
plus per batch the dense pre-activations, outputs and their gradients (``batch x (vocab + latent)``
a few times over). ``check_fits`` compares that with the memory free on the device (CUDA) or the
host (``MemAvailable``) and raises a ``BowsError`` naming the setting that drives it.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from bows.errors import BowsError

FLOAT_BYTES = 4
PARAMETER_COPIES = 4  # weights, gradients, AdamW exp_avg and exp_avg_sq
BATCH_COPIES = 4  # pre-activations, outputs and their gradients, per window of a batch


def training_bytes(vocab: int, latent: int, batch: int, instances: int = 1) -> tuple[int, int]:
    """(bytes of parameters + gradients + optimizer state, bytes of batch buffers) of one run."""
    parameters = instances * (vocab * latent + vocab)
    buffers = instances * batch * (vocab + latent) * BATCH_COPIES
    return parameters * PARAMETER_COPIES * FLOAT_BYTES, buffers * FLOAT_BYTES


def free_bytes(device: torch.device) -> int:
    """Memory free for new allocations on ``device``: the CUDA allocator's view, or the host's MemAvailable."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def check_fits(
    device: torch.device,
    vocab: int,
    latent: int,
    batch: int,
    *,
    instances: int = 1,
    latent_setting: str = "model.latent_size",
    batch_setting: str = "train.batch_size",
) -> None:
    """Raise ``BowsError`` if the run cannot fit in the memory free on ``device`` (see the module docstring)."""
    model, buffers = training_bytes(vocab, latent, batch, instances)
    need, free = model + buffers, free_bytes(device)
    if need <= free:
        return
    where = f"the GPU {device}" if device.type == "cuda" else "this host"
    raise BowsError(
        f"{latent_setting}={latent} and {batch_setting}={batch} need about {gb(need)} "
        f"({instances} x {vocab:,} x {latent:,} weights with gradients and AdamW state {gb(model)}, "
        f"batch buffers {gb(buffers)}) but {where} has {gb(free)} free; lower "
        + (f"{latent_setting} or {batch_setting}" if model >= buffers / 8 else f"{batch_setting}")
    )
