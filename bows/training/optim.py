"""The one optimisation loop of the project (BOWS trainer and synthetic experiments): AdamW with
decoupled weight decay (a scalar, or one value per model instance), cosine schedule stepped per
batch without warm-up, optional per-instance gradient clipping, MSE over all batch x vocab entries
(or any other per-instance ``loss_fn``: the city map's compass classifier trains through it too).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn

from bows.training.batches import Batch
from bows.training.kernels import DirectStep, Kernels, model_sparse_loss
from bows.training.model import TiedAutoencoder, reconstruction_loss


def batch_loss(model: TiedAutoencoder, batch: Batch, kernels: Kernels | None = None) -> Tensor:
    """Per-instance MSE of one batch, (instances,); the fused sparse kernel when the batch carries word ids."""
    if batch.indices is not None:
        return model_sparse_loss(model, *batch.csr(), kernels)
    target = batch.dense()
    return reconstruction_loss(model(target), target)


class Optimisation:
    """AdamW + cosine schedule over ``total_steps`` for one (multi-instance) model; checkpointable.

    ``weight_decay`` is a float (AdamW's own decoupled decay, fused kernel where available) or one
    value per instance, applied as ``p.mul_(1 - lr * wd_i)`` before the Adam update, which is what
    AdamW does for a scalar. ``grad_clip`` clips each instance's gradient norm separately.
    """

    def __init__(
        self,
        model: TiedAutoencoder | nn.Module,
        *,
        lr: float,
        weight_decay: float | Sequence[float] | Tensor,
        total_steps: int,
        grad_clip: float | None = None,
        autocast: torch.dtype | None = None,
        kernels: Kernels | None = None,
        loss_fn: Callable[[Any, Batch], Tensor] | None = None,
    ):
        self.model, self.total_steps, self.grad_clip, self.autocast = model, int(total_steps), grad_clip, autocast
        # (model, batch) -> per-instance loss (instances,); by default the autoencoder's MSE, whose fused
        # sparse kernel runs its GEMMs on ``kernels`` (backends and dtype; bf16 there is mixed precision
        # without autocast, which would bypass the fused kernel)
        self.loss_fn = loss_fn or (lambda m, b: batch_loss(m, b, kernels))
        # an autoencoder with the default loss skips autograd: its hand-written forward and backward write
        # into gradient buffers kept across steps (no large allocation per step); several instances share
        # the batch's encoder pass and sparse encoder gradient (DirectStep)
        self.direct: DirectStep | None = None
        if loss_fn is None and autocast is None and isinstance(model, TiedAutoencoder):
            self.direct = DirectStep(model, kernels)
        self.device = device = next(model.parameters()).device
        wd = torch.as_tensor(weight_decay, dtype=torch.float32)
        self.per_instance_decay: Tensor | None = None
        if wd.dim() == 0:
            decay = float(wd)
        else:
            if wd.shape != (model.instances,):
                raise ValueError(f"weight_decay has shape {tuple(wd.shape)}, the model has {model.instances} instances")
            self.per_instance_decay, decay = wd.to(device), 0.0
        fused = device.type in ("cpu", "cuda")
        self.params = list(model.parameters())
        self.aliases = [_contiguous_alias(p) for p in self.params]
        self.optimizer = torch.optim.AdamW([a for a, _ in self.aliases], lr=lr, weight_decay=decay, fused=fused)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=max(1, self.total_steps))
        self.step = 0
        # device-side divergence watch: set by update() without a host sync, read by first_nonfinite()
        self._steps_t = torch.zeros((), dtype=torch.int64, device=device)
        self._first_bad = torch.full((), -1, dtype=torch.int64, device=device)

    def first_nonfinite(self) -> int | None:
        """The first step whose loss was NaN/inf (None if none): one host sync, call it at log
        intervals and before anything that trusts the weights (epoch-end analysis, checkpoint)."""
        first = int(self._first_bad)
        return first if first >= 0 else None

    def weights_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.params)

    def state_finite(self) -> bool:
        """Are AdamW's moment buffers finite? (A huge gradient can overflow ``exp_avg_sq`` to inf while
        the weights and the loss stay finite: such a state must never be checkpointed.)"""
        return all(
            bool(torch.isfinite(value).all())
            for state in self.optimizer.state.values()
            for value in state.values()
            if isinstance(value, Tensor) and value.is_floating_point()
        )

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    @property
    def done(self) -> bool:
        return self.step >= self.total_steps

    def update(self, batch: Batch) -> Tensor:
        """One optimizer step on ``batch``; returns the per-instance loss (detached, on the device)."""
        if self.direct is not None and batch.indices is not None:
            loss = self.direct(*batch.csr())  # sets the parameters' .grad
        else:
            self.model.zero_grad(set_to_none=True)
            with torch.autocast(self.device.type, dtype=self.autocast, enabled=self.autocast is not None):
                loss = self.loss_fn(self.model, batch)
            loss.sum().backward()  # instances are independent: the sum gives each its own gradient
        if self.grad_clip is not None:
            self._clip(self.grad_clip)
        if self.per_instance_decay is not None:
            with torch.no_grad():
                factor = 1.0 - self.lr * self.per_instance_decay
                W, b = self.model.get_parameter("W"), self.model.get_parameter("b")  # a per-instance model
                W.mul_(factor.view(-1, 1, 1))
                b.mul_(factor.view(-1, 1))
        for p, (alias, perm) in zip(self.params, self.aliases):
            alias.grad = None if p.grad is None else (p.grad if perm is None else p.grad.permute(perm))
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        self._steps_t += 1
        bad = ~torch.isfinite(loss.detach()).all()
        self._first_bad = torch.where(bad & (self._first_bad < 0), self._steps_t, self._first_bad)
        return loss.detach()

    def _clip(self, max_norm: float) -> None:
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        squares = cast(Tensor, sum(g.square().flatten(1).sum(1) for g in grads))  # (instances,)
        scale = (max_norm / (squares.sqrt() + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(), "step": self.step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step = int(state["step"])
        self._steps_t.fill_(self.step)


def _contiguous_alias(p: Tensor) -> tuple[Tensor, tuple[int, ...] | None]:
    """A contiguous leaf view of ``p``'s memory and the permutation giving it, or ``(p, None)``.

    The model's ``W`` is a permuted view of a contiguous buffer; the fused AdamW kernel would copy
    such a parameter (and its states) in and out on every step, so it updates this alias instead.
    """
    if p.is_contiguous():
        return p, None
    perm = tuple(sorted(range(p.dim()), key=lambda d: -p.stride(d)))
    alias = p.detach().permute(perm)
    return (alias, perm) if alias.is_contiguous() else (p, None)


@dataclass
class StepInfo:
    step: int  # optimizer steps done
    epoch: int
    loss: Tensor  # (instances,), on the device (call .item()/.tolist() only when you need it)
    windows: int  # samples in this batch


def fit(
    model: TiedAutoencoder | nn.Module,
    batches: Callable[[int, int], Iterable[Batch]],
    opt: Optimisation,
    *,
    epochs: int,
    steps_per_epoch: int,
    on_step: Callable[[StepInfo], None] | None = None,
    on_epoch_end: Callable[[int], None] | None = None,
) -> Optimisation:
    """Train ``model`` until ``opt.total_steps`` (or ``epochs``), continuing from ``opt.step``.

    ``batches(epoch, skip)`` yields the batches of ``epoch`` without its first ``skip`` ones (so a
    resumed run sees exactly the batches it would have seen). ``on_step`` runs after every step,
    ``on_epoch_end`` after every epoch (also a last partial one when ``total_steps`` ends mid-epoch).
    """
    model.train()
    first_epoch, skip = divmod(opt.step, steps_per_epoch)
    for epoch in range(first_epoch, epochs):
        if opt.done:
            break
        for batch in batches(epoch, skip if epoch == first_epoch else 0):
            loss = opt.update(batch)
            if on_step is not None:
                on_step(StepInfo(step=opt.step, epoch=epoch, loss=loss, windows=batch.size))
            if opt.done:
                break
        if on_epoch_end is not None:
            on_epoch_end(epoch)
    return opt


def total_steps(steps_per_epoch: int, epochs: int, max_steps: int | None) -> tuple[int, int]:
    """(total optimizer steps, epochs needed): ``max_steps`` overrides ``epochs`` when set."""
    if max_steps is None:
        return steps_per_epoch * epochs, epochs
    return max_steps, math.ceil(max_steps / steps_per_epoch)
