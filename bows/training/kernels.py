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

Training calls the forward and backward directly (``DirectStep``: no autograd graph, gradient buffers
kept across steps); ``sparse_tied_loss`` wraps the same two functions in autograd for everything else.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from bows.training.batches import window_ids
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
    """Autograd wrapper of ``_forward``/``_backward`` (the training step itself skips autograd: see
    ``DirectStep``)."""

    @staticmethod
    def forward(ctx, *args) -> Tensor:  # args: those of ``_forward`` (rows, bias, indices, ..., kernels)
        loss, ctx.saved = _forward(*args)  # plain tensors kept on ctx: the backward overwrites diff in place
        return loss

    @staticmethod
    def backward(ctx, grad_loss: Tensor):
        grad_rows, grad_bias = _backward(ctx.saved, grad_loss)  # overwrites the saved diff: one backward only
        return grad_rows, grad_bias, None, None, None, None, None


@dataclass
class _Saved:
    """What the backward needs from the forward: ``diff`` is x_hat - x, (vocab, batch); ``flat_active``
    the flat positions of the batch's words in it, ``active_grad`` dLoss/dz / scale there (0 where the
    output ReLU is off); ``scale`` = 2 / (vocab * batch), the mean's factor, applied inside the GEMMs."""

    rows_c: Tensor
    h: Tensor
    a_c: Tensor
    indices: Tensor
    window_of: Tensor
    flat_active: Tensor
    active_grad: Tensor
    diff: Tensor
    scale: float
    latent_relu: bool
    kernels: Kernels


def _forward(
    rows: Tensor,
    bias: Tensor,
    indices: Tensor,
    offsets: Tensor,
    relu_out: bool,
    latent_relu: bool,
    kernels: Kernels,
    diff_out: Tensor | None = None,
    h: Tensor | None = None,
    window_of: Tensor | None = None,
) -> tuple[Tensor, _Saved]:
    """Loss (0-d) of the batch and the state its backward needs; ``diff_out`` (vocab, batch), when given,
    receives x_hat - x (a persistent buffer spares a large allocation per step). ``h`` (batch, latent) and
    ``window_of``, when given, are the encoder's output and the words' window ids, computed once for all
    instances of a model (``DirectStep``); ``rows`` may then be a column slice of the instances' rows.

    Written out in the (vocab, batch) layout, where ``rows @ a^T`` and ``g @ a`` run fastest on CPU; the
    target is never materialised (1 is subtracted at the active entries); in the backward the encoder
    gradient is a sparse (vocab x batch) @ dense (batch x latent) product added in place, so both halves
    of the tied gradient land in one (vocab, latent) buffer."""
    batch = offsets.shape[0] - 1
    low = kernels.dtype != torch.float32
    rows_c = rows.to(kernels.dtype) if low else rows  # one cast per step; the master stays fp32
    # the encoder gathers from the compute copy (bf16: half the memory traffic; its output is a GEMM operand)
    if h is None:
        h = F.embedding_bag(indices, rows_c, offsets, mode="sum", include_last_offset=True)  # (batch, latent)
    a_c = torch.relu(h) if latent_relu else h
    if window_of is None:
        window_of = window_ids(offsets, indices.shape[0])
    if not low and kernels.forward == "aten":  # z^T: (vocab, batch), bias fused
        diff = torch.addmm(bias.unsqueeze(1), rows, a_c.t(), out=diff_out)
    else:  # the bias is added in fp32 (type promotion: one pass, fp32 result)
        diff = torch.add(_mm(kernels, "forward", rows_c, a_c.t()), bias.unsqueeze(1), out=diff_out)
    # flat positions of the (distinct) active entries: a 1-D take/put, far cheaper than 2-D indexing
    flat_active = indices.long() * batch + window_of
    if relu_out:
        diff.clamp_min_(0)
    flat = diff.view(-1)
    values = flat.take(flat_active) - 1.0  # x_hat - x at the active entries; the target is never materialised
    flat.index_put_((flat_active,), values)
    # the output ReLU's mask matters only at active entries (elsewhere x_hat - x = relu(z) is 0 where z <= 0)
    active_grad = values * (values > -1.0) if relu_out else values
    loss = torch.dot(flat, flat) / flat.numel()
    saved = _Saved(
        rows_c, h, a_c, indices, window_of, flat_active, active_grad, diff, 2.0 / diff.numel(), latent_relu, kernels
    )
    return loss, saved


def _backward(
    saved: _Saved,
    grad_loss: Tensor | None = None,
    grad_rows_out: Tensor | None = None,
    grad_a_out: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """(dLoss/drows (vocab, latent) fp32, dLoss/dbias (vocab,)) from the forward's state, times
    ``grad_loss`` if given (autograd); overwrites ``saved.diff``. ``grad_rows_out`` (fp32 (vocab, latent))
    receives the weight gradient. With ``grad_a_out`` (batch, latent) the encoder half is left to the
    caller: dLoss/da is written there instead (``DirectStep`` adds all instances' encoder halves at once)."""
    kernels = saved.kernels
    low = kernels.dtype != torch.float32
    g = saved.diff
    g.view(-1).index_put_((saved.flat_active,), saved.active_grad)
    in_gemm = grad_loss is None and not low and kernels.grad_rows == "aten"
    alpha = saved.scale if in_gemm else 1.0  # the mean's factor rides in the GEMM (alpha) when it can
    if not in_gemm:
        g.mul_(saved.scale if grad_loss is None else grad_loss * saved.scale)  # dLoss/dz^T, (vocab, batch)
    g_c = g.to(kernels.dtype) if low else g
    if in_gemm:
        out = grad_rows_out if grad_rows_out is not None else g.new_empty(g.shape[0], saved.a_c.shape[1])
        grad_rows = out.addmm_(g, saved.a_c, beta=0, alpha=alpha)  # decoder half (vocab, latent)
    else:
        grad_rows = _mm(kernels, "grad_rows", g_c, saved.a_c)
        grad_rows = grad_rows_out.copy_(grad_rows) if grad_rows_out is not None else grad_rows.float()
    grad_a = _mm(kernels, "grad_a", g_c.t(), saved.rows_c).float()  # (batch, latent)
    if alpha != 1.0:
        grad_a.mul_(alpha)
    if saved.latent_relu:
        grad_a.mul_(saved.h > 0)
    grad_bias = g.sum(1)
    grad_bias = grad_bias.mul_(alpha) if alpha != 1.0 else grad_bias
    if grad_a_out is not None:
        grad_a_out.copy_(grad_a)
    else:
        _add_encoder_grad(grad_rows, saved.indices, saved.window_of, g.shape[1], grad_a)
    return grad_rows, grad_bias


def _add_encoder_grad(grad_rows: Tensor, indices: Tensor, window_of: Tensor, batch: int, grad_a: Tensor) -> None:
    """The encoder half of the tied gradient, x^T (vocab x batch, sparse CSR) @ grad_a (batch, latent),
    added in place to ``grad_rows`` (vocab, latent), fp32."""
    vocab, device = grad_rows.shape[0], grad_rows.device
    order = _order_by_word(indices, vocab)
    counts = torch.zeros(vocab, dtype=torch.int64, device=device)
    # bincount would sync with the host on CUDA to size its output; index_add_ does not
    counts.index_add_(0, indices.long(), torch.ones_like(indices, dtype=torch.int64))
    crow = torch.zeros(vocab + 1, dtype=torch.int64, device=device)
    torch.cumsum(counts, 0, out=crow[1:])
    with warnings.catch_warnings():  # "sparse CSR support is in beta": this product is long supported
        warnings.simplefilter("ignore", UserWarning)
        x_t = torch.sparse_csr_tensor(
            crow, window_of[order], torch.ones(indices.shape[0], device=device), size=(vocab, batch)
        )
    grad_rows.addmm_(x_t, grad_a)


class DirectStep:
    """Loss and gradients of an autoencoder without autograd: the hand-written forward and backward
    write into buffers kept across steps (x_hat - x and the (vocab, instances * latent) weight gradient,
    20 + 40 MB per instance at the default sizes), so a step allocates no large tensor -- on CPU each
    fresh 40 MB allocation is a fresh mmap, ~10,000 page faults per step. Sets the parameters' ``.grad``
    to views of the buffers (overwritten by the next step).

    Several instances (seeds or weight decays of one L, trained in one pass) share the batch: the sparse
    encoder runs once over all instances' rows, the window ids and the encoder gradient's sparse x^T are
    built once, and only the decoder's three GEMMs run per instance, on column slices of the rows (no
    copy), one after another through the same (vocab, batch) buffer."""

    def __init__(self, model: TiedAutoencoder, kernels: Kernels | None = None):
        self.model, self.kernels = model, kernels or Kernels()
        rows = model.rows()
        self.grad_rows = torch.zeros_like(rows, dtype=torch.float32, memory_format=torch.contiguous_format)
        self.grad_bias = torch.zeros(model.instances, model.vocab_size, dtype=torch.float32, device=rows.device)
        self.diff: Tensor | None = None
        self.grad_a: Tensor | None = None

    def __call__(self, indices: Tensor, offsets: Tensor) -> Tensor:
        """Per-instance loss of the batch, (instances,); the parameters' gradients are set."""
        model, batch = self.model, offsets.shape[0] - 1
        n, latent, vocab = model.instances, model.latent_size, model.vocab_size
        if self.diff is None or self.diff.shape[1] != batch:
            self.diff = torch.empty(vocab, batch, device=self.grad_rows.device)
        relu_out = model.output == "relu"
        with torch.no_grad():
            rows, bias = model.rows(), model.b
            if n == 1:
                loss, saved = _forward(
                    rows, bias.view(vocab), indices, offsets, relu_out, model.latent_relu, self.kernels, self.diff
                )
                _, grad_bias = _backward(saved, grad_rows_out=self.grad_rows)
                self.grad_bias[0].copy_(grad_bias)
                losses = loss.view(1)
            else:
                losses = self._instances(rows, bias, indices, offsets, relu_out)
        # W is (instances, latent, vocab), a permuted view of (vocab, instances, latent) memory: its
        # gradient is the same view of the buffer
        model.W.grad = self.grad_rows.view(vocab, n, latent).permute(1, 2, 0)
        model.b.grad = self.grad_bias
        return losses

    def _instances(self, rows: Tensor, bias: Tensor, indices: Tensor, offsets: Tensor, relu_out: bool) -> Tensor:
        model, batch, latent = self.model, offsets.shape[0] - 1, self.model.latent_size
        if self.grad_a is None or self.grad_a.shape[0] != batch:
            self.grad_a = torch.empty(batch, rows.shape[1], device=rows.device)
        low = self.kernels.dtype != torch.float32
        h = F.embedding_bag(  # every instance's code at once: (batch, instances * latent)
            indices, rows.to(self.kernels.dtype) if low else rows, offsets, mode="sum", include_last_offset=True
        )
        window_of = window_ids(offsets, indices.shape[0])
        losses = []
        for i in range(model.instances):
            cols = slice(i * latent, (i + 1) * latent)
            loss, saved = _forward(
                rows[:, cols],
                bias[i],
                indices,
                offsets,
                relu_out,
                model.latent_relu,
                self.kernels,
                self.diff,
                h=h[:, cols],
                window_of=window_of,
            )
            _, grad_bias = _backward(saved, grad_rows_out=self.grad_rows[:, cols], grad_a_out=self.grad_a[:, cols])
            self.grad_bias[i].copy_(grad_bias)
            losses.append(loss)
        _add_encoder_grad(self.grad_rows, indices, window_of, batch, self.grad_a)
        return torch.stack(losses)


def _order_by_word(indices: Tensor, vocab: int) -> Tensor:
    """Stable permutation that sorts word ids. On CPU numpy's radix sort (~1 ms for a batch):
    torch's multi-threaded CPU sort of the same array took 100x longer when cores were shared."""
    if indices.device.type == "cpu":
        ids = indices.numpy().astype(np.uint16 if vocab <= 1 << 16 else np.int32)
        return torch.from_numpy(np.argsort(ids, kind="stable"))
    return torch.argsort(indices, stable=True)
