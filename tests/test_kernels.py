"""The fused sparse loss against the model's autograd formulation (every backend, fp32 and bf16),
and the per-machine kernel choice: measured, cached, falling back when a backend is missing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bows.training import autotune, kernels
from bows.training.batches import epoch_batches, to_device
from bows.training.kernels import Kernels, available_backends, model_sparse_loss
from bows.training.model import TiedAutoencoder
from bows.training.optim import Optimisation

CPU = torch.device("cpu")


def _batch(vocab: int, batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(0, 40, (batch,), generator=g)
    lengths[1] = 0  # an empty window
    ids = [torch.randperm(vocab, generator=g)[: int(n)] for n in lengths]
    offsets = torch.zeros(batch + 1, dtype=torch.int64)
    torch.cumsum(lengths, 0, out=offsets[1:])
    return torch.cat(ids), offsets


def _model(output: str = "relu", latent_relu: bool = False) -> TiedAutoencoder:
    torch.manual_seed(4)
    model = TiedAutoencoder(300, 24, output=output, latent_relu=latent_relu)
    with torch.no_grad():
        model.W.mul_(4)  # many active ReLUs on both sides
        model.b.normal_(0, 0.1)
    return model


def _loss_and_grads(model, loss):
    return loss.detach(), torch.autograd.grad(loss.sum(), [model.W, model.b])


def _uniform(name: str, dtype: torch.dtype = torch.float32) -> Kernels:
    return Kernels(dtype=dtype, forward=name, grad_rows=name, grad_a=name)


@pytest.mark.parametrize("output", ["relu", "linear"])
@pytest.mark.parametrize("latent_relu", [False, True])
@pytest.mark.parametrize("backend", list(kernels.BACKENDS))
def test_fused_fp32_equals_autograd_reference(output, latent_relu, backend):
    if backend not in available_backends(CPU):
        pytest.skip(f"{backend} not available here")
    model = _model(output, latent_relu)
    indices, offsets = _batch(300, 33)
    ref, ref_grads = _loss_and_grads(model, model.sparse_loss(indices, offsets))
    k = _uniform(backend)
    fused, grads = _loss_and_grads(model, model_sparse_loss(model, indices, offsets, k))
    torch.testing.assert_close(fused, ref)
    for a, b in zip(grads, ref_grads):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("output", ["relu", "linear"])
@pytest.mark.parametrize("backend", list(kernels.BACKENDS))
def test_fused_bf16_matches_reference_within_bf16_tolerance(output, backend):
    if backend not in available_backends(CPU, torch.bfloat16):
        pytest.skip(f"{backend} has no bf16 here")
    model = _model(output)
    indices, offsets = _batch(300, 33)
    ref, ref_grads = _loss_and_grads(model, model.sparse_loss(indices, offsets))
    k = _uniform(backend, torch.bfloat16)
    low, grads = _loss_and_grads(model, model_sparse_loss(model, indices, offsets, k))
    assert low.dtype == torch.float32 and low != ref  # really computed in bf16, reported in fp32
    torch.testing.assert_close(low, ref, rtol=2e-3, atol=0)
    for a, b in zip(grads, ref_grads):
        assert a.dtype == torch.float32  # fp32 gradients for the fp32 master weights
        assert float((a - b).norm() / b.norm()) < 1e-2  # bf16 has 8 mantissa bits: ~4e-3 per element


def test_autocast_runs_the_fused_kernel_in_its_dtype():
    model = _model()
    indices, offsets = _batch(300, 17)
    bf16 = model_sparse_loss(model, indices, offsets, Kernels(dtype=torch.bfloat16))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto = model_sparse_loss(model, indices, offsets)
    assert auto.dtype == torch.float32
    torch.testing.assert_close(auto, bf16, rtol=0, atol=0)


def test_mixed_backends_per_product_agree():
    model = _model()
    indices, offsets = _batch(300, 17)
    names = available_backends(CPU)
    mixed = Kernels(forward=names[-1], grad_rows=names[0], grad_a=names[-1])
    ref, ref_grads = _loss_and_grads(model, model.sparse_loss(indices, offsets))
    fused, grads = _loss_and_grads(model, model_sparse_loss(model, indices, offsets, mixed))
    torch.testing.assert_close(fused, ref)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b)


def test_bf16_training_keeps_fp32_master_and_tracks_fp32():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 20, 256)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.concatenate([rng.choice(64, n, replace=False) for n in lengths]).astype(np.uint16)
    data = to_device(offsets, indices, 64, CPU)
    curves = {}
    for dtype in (torch.float32, torch.bfloat16):
        torch.manual_seed(0)
        model = TiedAutoencoder(64, 8)
        opt = Optimisation(model, lr=3e-2, weight_decay=0.0, total_steps=40, kernels=Kernels(dtype=dtype))
        curves[dtype] = [float(opt.update(b)[0]) for e in range(10) for b in epoch_batches(data, 64, 0, e)]
        state = opt.optimizer.state_dict()["state"]
        assert model.W.dtype == torch.float32 and all(s["exp_avg"].dtype == torch.float32 for s in state.values())
    fp32, bf16 = np.array(curves[torch.float32]), np.array(curves[torch.bfloat16])
    assert fp32[-1] < 0.85 * fp32[0] and np.all(np.isfinite(bf16))
    np.testing.assert_allclose(bf16, fp32, rtol=2e-2)  # the same optimisation, to bf16 precision


@pytest.mark.parametrize("output,latent_relu", [("relu", False), ("linear", False), ("relu", True)])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("backend", list(kernels.BACKENDS))
def test_direct_step_gradients_equal_autograd_reference(output, latent_relu, precision, backend):
    """The training step's autograd-free path, twice in a row with different batch sizes (its buffers are
    reused, so a stale value or a wrong in-GEMM scale would show), against the autograd reference."""
    dtype = torch.float32 if precision == "fp32" else torch.bfloat16
    if backend not in available_backends(CPU, dtype):
        pytest.skip(f"{backend} not available for {precision} here")
    model = _model(output, latent_relu)
    step = kernels.DirectStep(model, _uniform(backend, dtype))
    for batch, seed in ((33, 0), (20, 1), (33, 2)):
        indices, offsets = _batch(300, batch, seed)
        ref, ref_grads = _loss_and_grads(model, model.sparse_loss(indices, offsets))
        loss = step(indices, offsets)
        assert model.W.grad is not None and model.b.grad is not None
        got = (model.W.grad, model.b.grad)
        if dtype == torch.float32:
            torch.testing.assert_close(loss, ref)
            for a, b in zip(got, ref_grads):
                torch.testing.assert_close(a, b)
        else:
            torch.testing.assert_close(loss, ref, rtol=2e-3, atol=0)
            for a, b in zip(got, ref_grads):
                assert float((a - b).norm() / b.norm()) < 1e-2


def test_optimisation_direct_path_trains_like_autograd():
    """Optimisation's default single-instance path (DirectStep) and the autograd path (any ``loss_fn``)
    take the same AdamW steps."""
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 20, 200)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.concatenate([rng.choice(64, n, replace=False) for n in lengths]).astype(np.uint16)
    data = to_device(offsets, indices, 64, CPU)
    weights = []
    for loss_fn in (None, lambda m, b: model_sparse_loss(m, *b.csr())):
        torch.manual_seed(0)
        model = TiedAutoencoder(64, 8)
        opt = Optimisation(model, lr=3e-2, weight_decay=0.5, total_steps=20, loss_fn=loss_fn)
        assert (opt.direct is not None) == (loss_fn is None)
        losses = [float(opt.update(b)[0]) for e in range(3) for b in epoch_batches(data, 64, 0, e)]
        weights.append((model.W.detach().clone(), model.b.detach().clone(), losses))
    (w1, b1, l1), (w2, b2, l2) = weights
    np.testing.assert_allclose(l1, l2, rtol=1e-5)
    torch.testing.assert_close(w1, w2)
    torch.testing.assert_close(b1, b2)
    assert l1[-1] < l1[0]


# --------------------------------------------------------------------------- kernel choice
def test_choose_takes_fastest_backend_per_product():
    rates = {"forward": {"aten": 10.0, "onednn": 20.0}, "grad_rows": {"aten": 30.0, "onednn": 5.0}, "grad_a": {}}
    k = autotune.choose(rates, torch.float32)
    assert (k.forward, k.grad_rows, k.grad_a) == ("onednn", "aten", "aten")


def test_selection_measures_once_then_reads_the_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache" / "kernels.json"
    chosen, rates = autotune.select_kernels(CPU, torch.float32, 200, 16, 32, cache)
    assert set(rates) == set(kernels.PRODUCTS) and all(r > 0 for p in rates.values() for r in p.values())
    table = json.loads(cache.read_text())
    (key,) = table
    assert torch.__version__ in key and "V=200 L=16 B=32" in key
    assert table[key]["choice"] == {p: getattr(chosen, p) for p in kernels.PRODUCTS}

    def no_measuring(*args, **kwargs):
        raise AssertionError("measured again despite the cache")

    monkeypatch.setattr(autotune, "measure", no_measuring)
    again, _ = autotune.select_kernels(CPU, torch.float32, 200, 16, 32, cache)
    assert again == chosen
    with pytest.raises(AssertionError, match="measured again"):  # other shapes: a new measurement
        autotune.select_kernels(CPU, torch.float32, 200, 17, 32, cache)


def test_selection_falls_back_when_onednn_is_missing(tmp_path, monkeypatch):
    cache = tmp_path / "kernels.json"
    key = autotune.cache_key(CPU, torch.float32, 100, 8, 16)
    cache.write_text(json.dumps({key: {"choice": dict.fromkeys(kernels.PRODUCTS, "onednn"), "gflops": {}}}))
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert "onednn" not in available_backends(CPU) and "aten" in available_backends(CPU)
    chosen, rates = autotune.select_kernels(CPU, torch.float32, 100, 8, 16, cache)  # cached onednn is unusable
    assert "onednn" not in {chosen.forward, chosen.grad_rows, chosen.grad_a}
    assert all("onednn" not in r and "aten" in r for r in rates.values())
    chosen, _ = autotune.select_kernels(CPU, torch.float32, 100, 8, 16, None, backends=["onednn"])
    assert chosen == Kernels()  # asked for onednn explicitly: aten stands in
    model = _model()
    indices, offsets = _batch(300, 9)
    torch.testing.assert_close(model_sparse_loss(model, indices, offsets, chosen), model.sparse_loss(indices, offsets))


def test_a_failing_backend_is_skipped(monkeypatch):
    def broken(a, b):
        raise RuntimeError("no such primitive")

    monkeypatch.setitem(kernels.BACKENDS, "onednn", broken)
    assert "onednn" not in available_backends(CPU)
    rates = autotune.measure(CPU, torch.float32, 50, 4, 8)
    assert all("onednn" not in r and "aten" in r for r in rates.values())


def test_unreadable_cache_is_remeasured_and_rewritten(tmp_path):
    cache = tmp_path / "kernels.json"
    cache.write_text("{not json")
    chosen, _ = autotune.select_kernels(CPU, torch.float32, 50, 4, 8, cache)
    assert json.loads(cache.read_text())  # replaced by a valid table
    assert chosen.dtype == torch.float32


# --------------------------------------------------------------------------- CUDA
def test_batches_sized_on_the_host_equal_device_sized_ones():
    from dataclasses import replace as dc_replace

    from bows.training.batches import sequential_batches

    rng = np.random.default_rng(1)
    lengths = rng.integers(0, 12, 300)  # with empty windows, which are dropped
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    indices = rng.integers(0, 50, offsets[-1]).astype(np.uint16)
    data = to_device(offsets, indices, 50, CPU)
    assert data.lengths is not None and int(data.lengths.sum()) == offsets[-1]
    synced = dc_replace(data, lengths=None)  # the old way: one device -> host read per batch
    for make in (lambda d: epoch_batches(d, 32, 3, 1, skip=2), lambda d: sequential_batches(d, 32)):
        pairs = list(zip(make(data), make(synced), strict=True))
        assert len(pairs) > 3
        for a, b in pairs:
            assert a.indices is not None and b.indices is not None and a.offsets is not None and b.offsets is not None
            assert torch.equal(a.indices, b.indices) and torch.equal(a.offsets, b.offsets)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_step_matches_cpu_and_never_syncs(dtype):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    cuda = torch.device("cuda")
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 30, 512)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.concatenate([rng.choice(300, n, replace=False) for n in lengths]).astype(np.uint16)
    model = _model()
    ind, off = torch.from_numpy(indices.astype(np.int64)), torch.from_numpy(offsets)
    ref = model.sparse_loss(ind[: off[64]], off[:65])
    gpu_model = TiedAutoencoder(300, 24).to(cuda)
    gpu_model.load_state_dict(model.state_dict())
    got = model_sparse_loss(gpu_model, ind[: off[64]].to(cuda), off[:65].to(cuda), Kernels(dtype=dtype))
    torch.testing.assert_close(got.cpu(), ref.detach(), rtol=2e-3 if dtype == torch.bfloat16 else 1e-5, atol=0)
    data = to_device(offsets, indices, 300, cuda)
    opt = Optimisation(gpu_model, lr=1e-3, weight_decay=1.0, total_steps=20, kernels=Kernels(dtype=dtype))
    batches = epoch_batches(data, 64, 0, 0)
    opt.update(next(batches))  # warm-up (allocations, library handles)
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(4):
            opt.update(next(batches))  # a host sync anywhere in batching, loss, backward or AdamW raises
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize("output,latent_relu", [("relu", False), ("linear", False), ("relu", True)])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_multi_instance_direct_step_equals_autograd_reference(output, latent_relu, precision):
    """Three instances in one direct step (shared encoder pass and sparse encoder gradient, decoder GEMMs on
    column slices of the rows) give each instance the autograd reference's loss and gradients, over three
    consecutive steps of different batch sizes."""
    dtype = torch.float32 if precision == "fp32" else torch.bfloat16
    torch.manual_seed(5)
    model = TiedAutoencoder(300, 24, instances=3, output=output, latent_relu=latent_relu)
    with torch.no_grad():
        model.W.mul_(4)
        model.b.normal_(0, 0.1)
    step = kernels.DirectStep(model, Kernels(dtype=dtype))
    for batch, seed in ((33, 0), (20, 1), (33, 2)):
        indices, offsets = _batch(300, batch, seed)
        ref, ref_grads = _loss_and_grads(model, model.sparse_loss(indices, offsets))
        loss = step(indices, offsets)
        assert loss.shape == (3,) and model.W.grad is not None and model.b.grad is not None
        got = (model.W.grad, model.b.grad)
        if dtype == torch.float32:
            torch.testing.assert_close(loss, ref)
            for a, b in zip(got, ref_grads):
                torch.testing.assert_close(a, b)
        else:
            torch.testing.assert_close(loss, ref, rtol=2e-3, atol=0)
            for a, b in zip(got, ref_grads):
                for i in range(3):  # every instance, not only the sum
                    assert float((a[i] - b[i]).norm() / b[i].norm()) < 2e-2  # bf16 operands


def test_multi_instance_optimisation_trains_each_instance_like_a_single_model():
    """Two instances with different weight decays trained in one pass (direct step) take the same AdamW
    steps as each trained alone."""
    rng = np.random.default_rng(2)
    lengths = rng.integers(1, 20, 200)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.concatenate([rng.choice(64, n, replace=False) for n in lengths]).astype(np.uint16)
    data = to_device(offsets, indices, 64, CPU)
    torch.manual_seed(0)
    init = torch.empty(2, 8, 64).uniform_(-0.3, 0.3)
    both = TiedAutoencoder(64, 8, instances=2)
    with torch.no_grad():
        both.W.copy_(init)
    opt = Optimisation(both, lr=3e-2, weight_decay=[0.5, 2.0], total_steps=20)
    assert opt.direct is not None
    joint = [opt.update(b).tolist() for e in range(3) for b in epoch_batches(data, 64, 0, e)]
    for i, wd in enumerate((0.5, 2.0)):
        alone = TiedAutoencoder(64, 8)
        with torch.no_grad():
            alone.W.copy_(init[i : i + 1])
        single = Optimisation(alone, lr=3e-2, weight_decay=[wd], total_steps=20)
        losses = [float(single.update(b)[0]) for e in range(3) for b in epoch_batches(data, 64, 0, e)]
        np.testing.assert_allclose([row[i] for row in joint], losses, rtol=1e-5)
        torch.testing.assert_close(both.W[i].detach(), alone.W[0].detach())
