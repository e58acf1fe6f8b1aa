"""Training dynamics of the geometry, measured on the device once per log interval (pure: no I/O).

What weight decay moves, per log interval: ||W||_F, the distribution of word-vector norms |w_j|
(mean, quantiles, max), how many words are "represented" (norm above ``REPRESENTED_NORM``), the mean
feature dimensionality D_j = |w_j|^2 / sum_k (w_j_hat . w_k)^2 (Elhage et al.) on a fixed sample of
words, the output bias (mean, min) and the gradient norm of the last step. Everything is computed as
device tensors and stacked into one vector, so the caller pays a single host sync per interval (the
one it already pays for the loss). ``scripts/bench_dynamics.py`` measures the overhead.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from bows.core.geometry import REPRESENTED_NORM

SAMPLE_WORDS = 256  # words in the fixed dimensionality sample (the forced tokens first, then evenly spaced)
FORCED = 39  # the paper's forced tokens (days, months, planets, animals) lead every vocabulary
QUANTILES = (0.1, 0.5, 0.9)
KEYS = (
    "weights/frobenius",
    "weights/norm_mean",
    *(f"weights/norm_q{round(q * 100):02d}" for q in QUANTILES),
    "weights/norm_max",
    "weights/represented",
    "weights/represented_fraction",
    "weights/dimensionality_mean",
    "bias/mean",
    "bias/min",
    "grad/norm",
)


def sample_words(vocab_size: int, n: int = SAMPLE_WORDS) -> Tensor:
    """A fixed sample of word ids: the forced tokens, then evenly spaced over the rest (no duplicates)."""
    forced = torch.arange(min(FORCED, vocab_size))
    rest = torch.linspace(len(forced), vocab_size - 1, max(0, min(n, vocab_size) - len(forced))).round().long()
    return torch.unique(torch.cat([forced, rest]))


class GeometryProbe:
    """Measures ``KEYS`` of a single-instance tied autoencoder's ``W`` (latent, vocab) and ``b`` (vocab,)."""

    def __init__(self, vocab_size: int, device: torch.device):
        self.sample = sample_words(vocab_size).to(device)
        self.vocab_size = vocab_size
        self.quantiles = torch.tensor(QUANTILES, device=device)

    @torch.no_grad()
    def measure(self, W: Tensor, b: Tensor, params: Sequence[Tensor]) -> Tensor:
        """One float64 device vector in ``KEYS`` order (no host sync); ``params`` carry the last gradients."""
        W, b = W.detach().float(), b.detach().float()
        sq = W.square().sum(0)  # (vocab,) squared norms
        norms = sq.sqrt()
        represented = (norms > REPRESENTED_NORM).sum().to(torch.float32)
        Ws = W[:, self.sample]  # (latent, sample)
        unit = Ws / norms[self.sample].clamp_min(1e-12)
        overlap = (unit.t() @ W).square().sum(1)  # (sample,) sum_k (w_j_hat . w_k)^2, k over all words
        dim = torch.where(sq[self.sample] > 0, sq[self.sample] / overlap.clamp_min(1e-30), torch.zeros_like(overlap))
        grads = [p.grad for p in params if p.grad is not None]
        grad_norm = (
            torch.stack([g.detach().float().square().sum() for g in grads]).sum().sqrt()
            if grads
            else torch.tensor(float("nan"), device=W.device)
        )
        q = torch.quantile(norms, self.quantiles)
        return torch.stack(
            [
                sq.sum().sqrt(),
                norms.mean(),
                *q,
                norms.max(),
                represented,
                represented / self.vocab_size,
                dim.mean(),
                b.mean(),
                b.min(),
                grad_norm,
            ]
        ).double()

    @staticmethod
    def as_dict(values: list[float]) -> dict[str, float]:
        """Name the host copy of ``measure``'s vector (``represented`` as an int)."""
        out = dict(zip(KEYS, values))
        out["weights/represented"] = int(round(out["weights/represented"]))
        return out
