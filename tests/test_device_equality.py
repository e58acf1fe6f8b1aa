"""The training step on the device (CUDA; ``BOWS_TEST_DEVICE`` picks another, e.g. ``cpu`` in CI's
``make gpu-check DEVICE=cpu``) against a float64 CPU reference: loss and gradients of the direct step on
the same batches (one instance and three, fp32 / tf32 / bf16 tolerances), and a few AdamW steps of the
device against the same steps on the CPU. Run by ``make gpu-check``; skipped without CUDA."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from bows.training.batches import epoch_batches, to_device
from bows.training.kernels import DirectStep, Kernels
from bows.training.model import TiedAutoencoder
from bows.training.optim import Optimisation

pytestmark = pytest.mark.gpu
CPU = torch.device("cpu")
VOCAB, LATENT, BATCH = 400, 24, 64
# relative error bounds against float64 (||got - ref|| / ||ref||): fp32 lands far under 1e-4; tf32 (10-bit
# mantissa GEMM operands) near 3e-4; bf16 operands (8 bits) between 1e-3 and 1e-2
GRAD_TOL = {"fp32": 1e-4, "tf32": 3e-3, "bf16": 2e-2}
LOSS_TOL = {"fp32": 1e-5, "tf32": 1e-3, "bf16": 5e-3}
# after ten Adam steps: Adam's normalised update turns the rounding of near-zero gradient entries into steps
# of up to lr, so the bound is looser than one step's (a wrong update is off by orders of magnitude more)
TRAJECTORY_TOL = {"fp32": 1e-3, "tf32": 5e-3, "bf16": 2e-2}


@pytest.fixture
def device() -> torch.device:
    name = os.environ.get("BOWS_TEST_DEVICE") or ("cuda" if torch.cuda.is_available() else "")
    if not name:
        pytest.skip("no CUDA GPU (set BOWS_TEST_DEVICE=cpu to run these on the CPU)")
    if name.startswith("cuda") and not torch.cuda.is_available():
        pytest.fail(f"BOWS_TEST_DEVICE={name} but torch sees no CUDA GPU")
    return torch.device(name)


@pytest.fixture
def precision(request):
    name = request.param
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = name == "tf32"
    yield name
    torch.backends.cuda.matmul.allow_tf32 = before


def _windows(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """CSR windows of distinct Zipf-distributed word ids (some empty)."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, VOCAB + 1)
    lengths = rng.integers(0, 40, n)
    ids = [np.unique(rng.choice(VOCAB, k, p=p / p.sum())) for k in lengths]
    offsets = np.concatenate([[0], np.cumsum([len(i) for i in ids])])
    return offsets, np.concatenate(ids).astype(np.uint16)


def _model(instances: int, output: str = "relu") -> TiedAutoencoder:
    torch.manual_seed(7)
    model = TiedAutoencoder(VOCAB, LATENT, instances=instances, output=output)
    with torch.no_grad():
        model.W.mul_(4)  # many active ReLUs
        model.b.normal_(0, 0.1)
    return model


def _rel(got: torch.Tensor, ref: torch.Tensor) -> float:
    got, ref = got.detach().cpu().double(), ref.detach().cpu().double()
    assert torch.isfinite(got).all()
    return float((got - ref).norm() / ref.norm())


@pytest.mark.parametrize("precision", ["fp32", "tf32", "bf16"], indirect=True)
@pytest.mark.parametrize("instances,output", [(1, "relu"), (1, "linear"), (3, "relu")])
def test_device_step_matches_float64_reference(device, precision, instances, output):
    """Loss and W/b gradients of the direct step on the device, batch after batch (the buffers are reused),
    against the autograd formulation in float64 on the CPU."""
    offsets, indices = _windows(4 * BATCH)
    data = to_device(offsets, indices, VOCAB, device)
    model = _model(instances, output).to(device)
    reference = _model(instances, output).double()
    step = DirectStep(model, Kernels(dtype=torch.bfloat16 if precision == "bf16" else torch.float32))
    for batch in epoch_batches(data, BATCH, seed=1, epoch=0):
        loss = step(*batch.csr())
        ind, off = (t.cpu() for t in batch.csr())
        ref = reference.sparse_loss(ind, off)
        ref_grads = torch.autograd.grad(ref.sum(), [reference.W, reference.b])
        assert loss.shape == (instances,) and loss.dtype == torch.float32
        assert _rel(loss, ref) < LOSS_TOL[precision]
        for got, want in zip((model.W.grad, model.b.grad), ref_grads):
            assert got is not None and got.dtype == torch.float32  # fp32 gradients for fp32 master weights
            assert _rel(got, want) < GRAD_TOL[precision]


@pytest.mark.parametrize("precision", ["fp32", "tf32", "bf16"], indirect=True)
def test_device_training_follows_the_cpu(device, precision):
    """Ten AdamW steps (fused on the device) from the same weights on the same batches: the device's weights
    stay within the precision's tolerance of the CPU's (fp32 CPU reference)."""
    offsets, indices = _windows(10 * BATCH, seed=3)
    weights = []
    for where, dtype in ((device, torch.bfloat16 if precision == "bf16" else torch.float32), (CPU, torch.float32)):
        model = _model(1).to(where)
        opt = Optimisation(model, lr=1e-3, weight_decay=1.0, total_steps=10, kernels=Kernels(dtype=dtype))
        losses = [opt.update(batch) for batch in epoch_batches(to_device(offsets, indices, VOCAB, where), BATCH, 2, 0)]
        assert opt.first_nonfinite() is None and float(losses[-1][0]) < float(losses[0][0])
        weights.append((model.W.detach(), model.b.detach()))
    for got, want in zip(*weights):
        assert _rel(got, want) < TRAJECTORY_TOL[precision]
