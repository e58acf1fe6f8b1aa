"""The fused sparse training loss of one tied autoencoder and the GEMM backends it runs on (pure:
no I/O; which backend is fastest on a machine is measured by ``bows.training.autotune``).

The loss is ``model.sparse_loss`` -- the plain autograd formulation in ``model.py`` -- with the
forward and backward written out by hand so that no dense (batch x vocab) input ever exists.
Its three dense products are most of the cost of a step:

    forward    z^T      = rows @ a^T      (vocab, latent) @ (latent, batch)
    grad_rows  dW_dec   = g @ a           (vocab, batch)  @ (batch, latent)
    grad_a     dL/da    = g^T @ rows      (batch, vocab)  @ (vocab, latent)

(``rows`` is W as (vocab, latent), ``a`` the latent code, ``g`` dLoss/dz^T.) Each runs on the backend
``Kernels`` names for it, in ``Kernels.dtype``. bf16 is mixed precision without autocast: the fp32
master W is cast once per step; the GEMMs take bf16 operands and accumulate in fp32; the sparse
encoder sums the bf16 copy's rows (its output is a bf16 GEMM operand anyway); everything else is
fp32 -- bias, loss and its elementwise maths, both halves of the weight gradient, the optimizer state.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from bows.training.model import TiedAutoencoder

PRODUCTS = ("forward", "grad_rows", "grad_a")


@dataclass(frozen=True)
class Kernels:
    """Which backend computes each product of the fused loss, and in which operand dtype."""

    dtype: torch.dtype = torch.float32
    forward: str = "aten"
    grad_rows: str = "aten"
    grad_a: str = "aten"

    def describe(self) -> str:
        name = str(self.dtype).removeprefix("torch.")
        return f"{name}: " + ", ".join(f"{p}={getattr(self, p)}" for p in PRODUCTS)


def _mm_aten(a: Tensor, b: Tensor) -> Tensor:
    """``torch.mm``: MKL (fp32 on CPU), oneDNN (bf16 on CPU), cuBLAS (CUDA; TF32 if allowed)."""
    return torch.mm(a, b)


def _mm_aten_transposed(a: Tensor, b: Tensor) -> Tensor:
    """``torch.mm`` of the transposed problem, ``(b^T a^T)^T``: the other operand layout for the BLAS
    (some shapes run faster one way round; the output is made contiguous again)."""
    return torch.mm(b.t(), a.t()).t().contiguous()


def _mm_onednn(a: Tensor, b: Tensor) -> Tensor:
    """oneDNN through mkldnn tensors: ``mkldnn_linear(x, w)`` is ``x @ w^T`` (conversions included)."""
    x = a.contiguous().to_mkldnn()
    w = b.t().contiguous().to_mkldnn()
    return torch.ops.aten.mkldnn_linear(x, w, None).to_dense()


BACKENDS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "aten": _mm_aten,
    "aten_t": _mm_aten_transposed,
    "onednn": _mm_onednn,
}


def available_backends(device: torch.device, dtype: torch.dtype = torch.float32) -> list[str]:
    """Backends that can run a ``dtype`` product on ``device`` here: each is tried on a tiny product."""
    names = [n for n in BACKENDS if n != "onednn" or (device.type == "cpu" and _mkldnn_usable())]
    ok = []
    for name in names:
        try:
            a = torch.ones(3, 2, dtype=dtype, device=device)
            if float(BACKENDS[name](a, a.t()).float().sum()) == 18.0:
                ok.append(name)
        except (RuntimeError, NotImplementedError, AttributeError):
            continue
    return ok


def _mkldnn_usable() -> bool:
    return bool(torch.backends.mkldnn.is_available()) and hasattr(torch.ops.aten, "mkldnn_linear")


def gemm_shapes(vocab: int, latent: int, batch: int) -> dict[str, tuple[tuple[int, int], tuple[int, int]]]:
    """Operand shapes (a, b) of each product ``a @ b`` of one step."""
    return {
        "forward": ((vocab, latent), (latent, batch)),
        "grad_rows": ((vocab, batch), (batch, latent)),
        "grad_a": ((batch, vocab), (vocab, latent)),
    }


def step_gemm_flops(vocab: int, latent: int, batch: int) -> float:
    return 3 * 2.0 * vocab * latent * batch


def _mm(kernels: Kernels, product: str, a: Tensor, b: Tensor) -> Tensor:
    return BACKENDS[getattr(kernels, product)](a, b)


def model_sparse_loss(
    model: TiedAutoencoder, indices: Tensor, offsets: Tensor, kernels: Kernels | None = None
) -> Tensor:
    """``model.sparse_loss`` (instances,): the fused kernel for a single-instance model, the autograd
    formulation for several instances. Under autocast the fused kernel runs its GEMMs in the autocast
    dtype (autocast itself would cast inside the kernel's hand-written backward)."""
    if model.instances != 1:
        return model.sparse_loss(indices, offsets)
    device = model.W.device.type
    if torch.is_autocast_enabled(device):
        kernels = replace(kernels or Kernels(), dtype=torch.get_autocast_dtype(device))
        with torch.autocast(device, enabled=False):
            return model_sparse_loss(model, indices, offsets, kernels)
    bias = model.b.view(model.vocab_size)
    relu_out = model.output == "relu"
    loss = sparse_tied_loss(
        model.rows(), bias, indices, offsets, relu_out=relu_out, latent_relu=model.latent_relu, kernels=kernels
    )
    return loss.view(1)


def sparse_tied_loss(
    rows: Tensor,
    bias: Tensor,
    indices: Tensor,
    offsets: Tensor,
    *,
    relu_out: bool = True,
    latent_relu: bool = False,
    kernels: Kernels | None = None,
) -> Tensor:
    """MSE over batch x vocab of a tied autoencoder with weights ``rows`` (vocab, latent) and ``bias``
    (vocab,) reconstructing the CSR batch (``indices``, ``offsets`` of length batch + 1, distinct ids
    per window). Same value and gradients as ``reconstruction_loss(model.forward_sparse(...), x)``."""
    return _SparseTiedLoss.apply(rows, bias, indices, offsets, relu_out, latent_relu, kernels or Kernels())


class _SparseTiedLoss(torch.autograd.Function):
    """Forward and backward written out in the (vocab, batch) layout, where ``rows @ a^T`` and
    ``g @ a`` run fastest on CPU; the target is never materialised (1 is subtracted at the active
    entries), the encoder gradient is a sparse (vocab x batch) @ dense (batch x latent) product added
    in place, and both halves of the tied gradient land in one (vocab, latent) buffer."""

    @staticmethod
    def forward(
        ctx,
        rows: Tensor,
        bias: Tensor,
        indices: Tensor,
        offsets: Tensor,
        relu_out: bool,
        latent_relu: bool,
        kernels: Kernels,
    ) -> Tensor:
        vocab, batch = rows.shape[0], offsets.shape[0] - 1
        low = kernels.dtype != torch.float32
        rows_c = rows.to(kernels.dtype) if low else rows  # one cast per step; the master stays fp32
        # the encoder gathers from the compute copy (bf16: half the memory traffic; its output is a GEMM operand)
        h = F.embedding_bag(indices, rows_c, offsets, mode="sum", include_last_offset=True)  # (batch, latent)
        a_c = torch.relu(h) if latent_relu else h
        window_of = torch.repeat_interleave(
            torch.arange(batch, device=rows.device), offsets.diff(), output_size=indices.shape[0]
        )
        if not low and kernels.forward == "aten":
            diff = torch.addmm(bias.unsqueeze(1), rows, a_c.t())  # z^T: (vocab, batch), bias fused
        else:  # the bias is added in fp32 (type promotion: one pass, fp32 result)
            diff = torch.add(_mm(kernels, "forward", rows_c, a_c.t()), bias.unsqueeze(1))
        active = (indices, window_of)  # distinct positions, so no accumulate (which would sort)
        if relu_out:
            diff.clamp_min_(0)
        values = diff[active]
        # ReLU mask: only needed at active entries (elsewhere x_hat - x = relu(z) is 0 where z <= 0)
        alive = values > 0 if relu_out else values[:0]
        diff.index_put_(active, values - 1.0)  # x_hat - x; the target is never materialised
        flat = diff.view(-1)
        loss = torch.dot(flat, flat) / flat.numel()
        ctx.relu_out, ctx.latent_relu, ctx.vocab, ctx.kernels = relu_out, latent_relu, vocab, kernels
        ctx.save_for_backward(rows_c, h, a_c, indices, window_of, diff, alive)
        return loss

    @staticmethod
    def backward(ctx, grad_loss: Tensor):
        rows_c, h, a_c, indices, window_of, diff, alive = ctx.saved_tensors
        kernels: Kernels = ctx.kernels
        g = diff.mul_(grad_loss * (2.0 / diff.numel()))  # dLoss/dz^T (vocab, batch), in place: one backward only
        if ctx.relu_out:
            active = (indices, window_of)
            g.index_put_(active, g[active] * alive)
        g_c = g.to(kernels.dtype) if kernels.dtype != torch.float32 else g
        grad_rows = _mm(kernels, "grad_rows", g_c, a_c).float()  # decoder half (vocab, latent), fp32
        grad_a = _mm(kernels, "grad_a", g_c.t(), rows_c).float()  # (batch, latent)
        if ctx.latent_relu:
            grad_a.mul_(h > 0)
        # encoder half: x^T (vocab x batch, sparse CSR) @ grad_a, accumulated into the same buffer, fp32
        order = _order_by_word(indices, ctx.vocab)
        counts = torch.zeros(ctx.vocab, dtype=torch.int64, device=h.device)
        # bincount would sync with the host on CUDA to size its output; index_add_ does not
        counts.index_add_(0, indices.long(), torch.ones_like(indices, dtype=torch.int64))
        crow = torch.zeros(ctx.vocab + 1, dtype=torch.int64, device=h.device)
        torch.cumsum(counts, 0, out=crow[1:])
        with warnings.catch_warnings():  # "sparse CSR support is in beta": this product is long supported
            warnings.simplefilter("ignore", UserWarning)
            x_t = torch.sparse_csr_tensor(
                crow, window_of[order], torch.ones(indices.shape[0], device=h.device), size=(ctx.vocab, h.shape[0])
            )
        grad_rows.addmm_(x_t, grad_a)
        return grad_rows, g.sum(1), None, None, None, None, None


def _order_by_word(indices: Tensor, vocab: int) -> Tensor:
    """Stable permutation that sorts word ids. On CPU numpy's radix sort (~1 ms for a batch):
    torch's multi-threaded CPU sort of the same array took 100x longer when cores were shared."""
    if indices.device.type == "cpu":
        ids = indices.numpy().astype(np.uint16 if vocab <= 1 << 16 else np.int32)
        return torch.from_numpy(np.argsort(ids, kind="stable"))
    return torch.argsort(indices, stable=True)
