"""The tied-weight bag-of-words autoencoder (pure: no I/O, no tracking, no paths).

    h     = W x                  W: (latent, vocab), x in {0, 1}^vocab, no encoder bias
    x_hat = ReLU(W^T h + b)      b: (vocab,); output="linear" drops the ReLU

One weight parameter serves as encoder and (transposed) decoder. An ``instances`` dimension
trains several independent models in one pass (different weight decays or seeds, or many tiny
synthetic models): ``W`` has shape (instances, latent, vocab) and ``b`` (instances, vocab).

Memory layout: ``W`` is a strided *view* of a (vocab, instances, latent) buffer, so a word's
vector for every instance is one contiguous row. The sparse encoder is then a single
``embedding_bag`` over the active word ids with no copy of W, and for one instance the decoder
is ``F.linear`` with a contiguous (vocab, latent) weight -- the fastest fp32 GEMM layout on CPU.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

OUTPUTS = ("relu", "linear")


class TiedAutoencoder(nn.Module):
    """``instances`` independent tied autoencoders of ``vocab_size`` words and ``latent_size`` dims."""

    def __init__(
        self, vocab_size: int, latent_size: int, *, instances: int = 1, output: str = "relu", latent_relu: bool = False
    ):
        super().__init__()
        if vocab_size < 1 or latent_size < 1 or instances < 1:
            raise ValueError(
                f"vocab_size, latent_size and instances must be >= 1, got {vocab_size}, {latent_size}, {instances}"
            )
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        self.vocab_size, self.latent_size, self.instances = vocab_size, latent_size, instances
        self.output, self.latent_relu = output, latent_relu
        rows = torch.empty(vocab_size, instances, latent_size)  # (vocab, instances, latent), contiguous
        self.W = nn.Parameter(rows.permute(1, 2, 0))  # (instances, latent, vocab) view of `rows`
        self.b = nn.Parameter(torch.zeros(instances, vocab_size))  # (instances, vocab)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Paper init: W ~ U(-sqrt(2/V), sqrt(2/V)) (kaiming-uniform, a = sqrt(2), fan_in = V), b = 0."""
        bound = math.sqrt(2.0 / self.vocab_size)
        with torch.no_grad():
            self.W.uniform_(-bound, bound)
            self.b.zero_()

    # --- encoder ------------------------------------------------------------------------------
    def _rows(self) -> Tensor:
        """W as (vocab, instances * latent): row k holds word k's vector of every instance (a view)."""
        return self.W.permute(2, 0, 1).reshape(self.vocab_size, self.instances * self.latent_size)

    def encode_sparse(self, indices: Tensor, offsets: Tensor) -> Tensor:
        """h for a batch given as CSR word ids: window i is ``indices[offsets[i]:offsets[i+1]]``.

        ``offsets`` has length batch + 1 and ends at ``len(indices)``; both int64 (or both int32).
        Returns (instances, batch, latent). Cost: active words x latent, not batch x vocab x latent.
        """
        h = F.embedding_bag(indices, self._rows(), offsets, mode="sum", include_last_offset=True)
        h = h.view(-1, self.instances, self.latent_size).transpose(0, 1)  # (instances, batch, latent)
        return torch.relu(h) if self.latent_relu else h

    def encode_dense(self, x: Tensor) -> Tensor:
        """h for dense inputs x: (batch, vocab), shared by all instances, or (instances, batch, vocab)."""
        if x.dim() == 2 and self.instances == 1:
            h = F.linear(x, self.W[0]).unsqueeze(0)  # (1, batch, latent)
        else:
            h = torch.matmul(x, self.W.transpose(1, 2))  # (instances, batch, latent)
        return torch.relu(h) if self.latent_relu else h

    # --- decoder ------------------------------------------------------------------------------
    def preactivation(self, h: Tensor) -> Tensor:
        """z = W^T h + b for h: (instances, batch, latent) -> (instances, batch, vocab)."""
        if self.instances == 1:
            return F.linear(h[0], self.W[0].t(), self.b[0]).unsqueeze(0)  # contiguous (vocab, latent) weight
        return torch.baddbmm(self.b.unsqueeze(1), h, self.W)

    def decode(self, h: Tensor) -> Tensor:
        """x_hat = ReLU(W^T h + b) (or linear): (instances, batch, latent) -> (instances, batch, vocab)."""
        z = self.preactivation(h)
        return torch.relu(z) if self.output == "relu" else z

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruction of dense inputs x: (batch, vocab) or (instances, batch, vocab)."""
        return self.decode(self.encode_dense(x))

    def forward_sparse(self, indices: Tensor, offsets: Tensor) -> Tensor:
        """Reconstruction of CSR inputs (see ``encode_sparse``): (instances, batch, vocab)."""
        return self.decode(self.encode_sparse(indices, offsets))

    def sparse_loss(self, indices: Tensor, offsets: Tensor) -> Tensor:
        """Per-instance MSE (over batch x vocab) of reconstructing CSR inputs, (instances,).

        For one instance outside autocast this is the fused training kernel ``_SparseTiedLoss``
        (same value and gradients as the autograd reference below, without any dense input).
        The word ids of a window must be distinct (binarized windows are).
        """
        if self.instances == 1 and not torch.is_autocast_enabled(self.W.device.type):
            rows, bias = self._rows(), self.b.view(self.vocab_size)
            return _SparseTiedLoss.apply(rows, bias, indices, offsets, self.output == "relu", self.latent_relu).view(1)
        return reconstruction_loss(self.forward_sparse(indices, offsets), densify(indices, offsets, self.vocab_size))

    # --- helpers ------------------------------------------------------------------------------
    def weights(self) -> tuple[Tensor, Tensor]:
        """(W (latent, vocab), b (vocab,)) of a single-instance model, detached."""
        if self.instances != 1:
            raise ValueError(
                f"weights() needs a single-instance model, this one has {self.instances}; index W[i], b[i]"
            )
        return self.W[0].detach(), self.b[0].detach()

    def extra_repr(self) -> str:
        return (
            f"vocab={self.vocab_size}, latent={self.latent_size}, instances={self.instances}, "
            f"output={self.output}, latent_relu={self.latent_relu}"
        )


def densify(indices: Tensor, offsets: Tensor, vocab_size: int) -> Tensor:
    """Dense 0/1 (batch, vocab) matrix of CSR rows (offsets of length batch + 1), vectorised."""
    batch = offsets.shape[0] - 1
    window_of = torch.repeat_interleave(
        torch.arange(batch, device=indices.device), offsets.diff(), output_size=indices.shape[0]
    )
    x = torch.zeros(batch, vocab_size, device=indices.device)
    x.index_put_((window_of, indices.long()), torch.ones((), device=indices.device))
    return x


class _SparseTiedLoss(torch.autograd.Function):
    """MSE of one tied autoencoder on a CSR batch, forward and backward written out by hand.

    Works in the (vocab, batch) layout, where the fp32 GEMMs ``rows @ h^T`` and ``g @ h`` run
    fastest on CPU; the target is never materialised (1 is subtracted at the active entries), the
    encoder gradient is a sparse (vocab x batch) @ dense (batch x latent) product added in place,
    and both halves of the tied gradient land in one (vocab, latent) buffer. ``rows`` is W as
    (vocab, latent). Autograd-equivalent to ``reconstruction_loss(model.forward_sparse(...), x)``.
    """

    @staticmethod
    def forward(
        ctx, rows: Tensor, bias: Tensor, indices: Tensor, offsets: Tensor, relu_out: bool, latent_relu: bool
    ) -> Tensor:
        vocab, batch = rows.shape[0], offsets.shape[0] - 1
        h = F.embedding_bag(indices, rows, offsets, mode="sum", include_last_offset=True)  # (batch, latent)
        a = torch.relu(h) if latent_relu else h
        window_of = torch.repeat_interleave(
            torch.arange(batch, device=rows.device), offsets.diff(), output_size=indices.shape[0]
        )
        diff = torch.addmm(bias.unsqueeze(1), rows, a.t())  # z^T: (vocab, batch)
        mask = diff > 0 if relu_out else None
        if relu_out:
            diff.clamp_min_(0)
        active = (indices, window_of)  # distinct positions, so no accumulate (which would sort)
        diff.index_put_(active, diff[active] - 1.0)  # x_hat - x
        flat = diff.view(-1)
        loss = torch.dot(flat, flat) / flat.numel()
        ctx.relu_out, ctx.latent_relu, ctx.vocab = relu_out, latent_relu, vocab
        ctx.save_for_backward(rows, h, indices, window_of, diff, *([mask] if relu_out else []))
        return loss

    @staticmethod
    def backward(ctx, grad_loss: Tensor):
        rows, h, indices, window_of, diff, *mask = ctx.saved_tensors
        g = diff.mul_(grad_loss * (2.0 / diff.numel()))  # dLoss/dz^T (vocab, batch), in place: one backward only
        if ctx.relu_out:
            g.mul_(mask[0])
        a = torch.relu(h) if ctx.latent_relu else h
        grad_rows = g @ a  # decoder half: (vocab, batch) @ (batch, latent)
        grad_a = g.t() @ rows  # (batch, latent)
        if ctx.latent_relu:
            grad_a.mul_(h > 0)
        # encoder half: x^T (vocab x batch, sparse CSR) @ grad_a, accumulated into the same buffer
        order = _order_by_word(indices, ctx.vocab)
        crow = torch.zeros(ctx.vocab + 1, dtype=torch.int64, device=rows.device)
        torch.cumsum(torch.bincount(indices, minlength=ctx.vocab), 0, out=crow[1:])
        with warnings.catch_warnings():  # "sparse CSR support is in beta": this product is long supported
            warnings.simplefilter("ignore", UserWarning)
            x_t = torch.sparse_csr_tensor(
                crow, window_of[order], torch.ones(indices.shape[0], device=rows.device), size=(ctx.vocab, h.shape[0])
            )
        grad_rows.addmm_(x_t, grad_a)
        return grad_rows, g.sum(1), None, None, None, None


def _order_by_word(indices: Tensor, vocab: int) -> Tensor:
    """Stable permutation that sorts word ids. On CPU numpy's radix sort (~1 ms for a batch):
    torch's multi-threaded CPU sort of the same array took 100x longer when cores were shared."""
    if indices.device.type == "cpu":
        ids = indices.numpy().astype(np.uint16 if vocab <= 1 << 16 else np.int32)
        return torch.from_numpy(np.argsort(ids, kind="stable"))
    return torch.argsort(indices, stable=True)


def reconstruction_loss(x_hat: Tensor, target: Tensor) -> Tensor:
    """Per-instance MSE averaged over all batch x vocab entries: (instances, batch, vocab) -> (instances,).

    ``target`` is (batch, vocab) (shared by all instances) or (instances, batch, vocab).
    """
    return (x_hat - target).square().mean(dim=(-2, -1))
