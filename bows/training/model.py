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
    def rows(self) -> Tensor:
        """W as (vocab, instances * latent): row k holds word k's vector of every instance (a view)."""
        return self.W.permute(2, 0, 1).reshape(self.vocab_size, self.instances * self.latent_size)

    def encode_sparse(self, indices: Tensor, offsets: Tensor) -> Tensor:
        """h for a batch given as CSR word ids: window i is ``indices[offsets[i]:offsets[i+1]]``.

        ``offsets`` has length batch + 1 and ends at ``len(indices)``; both int64 (or both int32).
        Returns (instances, batch, latent). Cost: active words x latent, not batch x vocab x latent.
        """
        h = F.embedding_bag(indices, self.rows(), offsets, mode="sum", include_last_offset=True)
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

        The plain autograd formulation. Training runs the same maths as one fused kernel that never
        builds the dense input (``bows.training.kernels.sparse_tied_loss``, tested against this).
        """
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


def reconstruction_loss(x_hat: Tensor, target: Tensor) -> Tensor:
    """Per-instance MSE averaged over all batch x vocab entries: (instances, batch, vocab) -> (instances,).

    ``target`` is (batch, vocab) (shared by all instances) or (instances, batch, vocab).
    """
    return (x_hat - target).square().mean(dim=(-2, -1))
