"""Measure which GEMM backend is fastest for each product of the training step on this machine
(reads/writes ``<root>/cache/kernels.json``, keyed by machine, torch version, threads, dtype and shapes;
delete it to measure again, e.g. after measuring on a busy machine).

The first run of a (machine, shapes) pair times every available backend (``kernels.BACKENDS``:
torch.mm -- MKL / oneDNN / cuBLAS -- in either operand order, and explicit oneDNN tensors on CPU) on the step's three
products and keeps the fastest of each; later runs read the choice back. A backend that is missing
or fails is skipped with a log line; ``aten`` (``torch.mm``) always remains.

A timing race may choose speed, never numbers: only backends whose product is bitwise equal to ``aten``'s
in a whole training step of the run's shapes take part (``identical_backends``; e.g. oneDNN's fp32 blocking
sums in another order, and ``aten``'s forward fuses the bias into the GEMM: such candidates are left out). Whatever the load, whichever candidate wins, the weights are those of an
all-``aten`` run, so the same config and seed on the same machine give the same weights in any root. The
choice is also recorded in the run's ``run.json`` (``kernel_choice``) and reused on resume.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bows.training.kernels import BACKENDS, PRODUCTS, DirectStep, Kernels, available_backends, gemm_shapes
from bows.training.model import TiedAutoencoder

log = logging.getLogger(__name__)


def machine_name(device: torch.device) -> str:
    """The processor's model name (CPU) or the GPU's name: what a kernel choice is valid for."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cache_key(device: torch.device, dtype: torch.dtype, vocab: int, latent: int, batch: int) -> str:
    threads = torch.get_num_threads() if device.type == "cpu" else 0
    tf32 = device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32
    return "|".join(
        [
            machine_name(device),
            f"torch {torch.__version__}",
            f"{device.type} threads={threads}" + (" tf32" if tf32 else ""),
            str(dtype).removeprefix("torch."),
            f"V={vocab} L={latent} B={batch}",
        ]
    )


def time_product(fn: Callable[[], Any], device: torch.device, reps: int = 3) -> float:
    """Best wall time of ``fn`` over ``reps`` calls after one warm-up (best: robust to shared cores)."""
    fn()
    best = float("inf")
    for _ in range(reps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t0)
    return best


CACHE_RULE = "bitwise-equal-to-aten"  # cache entries measured under another rule are measured again


def _operands(
    device: torch.device, dtype: torch.dtype, vocab: int, latent: int, batch: int
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Random operands of each product with the step's shapes and layouts (fixed seed)."""
    generator = torch.Generator(device="cpu").manual_seed(0)
    out = {}
    for product, (sa, sb) in gemm_shapes(vocab, latent, batch).items():
        a = torch.randn(*sa, generator=generator).to(device=device, dtype=dtype)
        b = torch.randn(*sb, generator=generator).to(device=device, dtype=dtype)
        if product == "grad_a":  # the step multiplies a transposed view of g
            a = torch.randn(sa[1], sa[0], generator=generator).to(device=device, dtype=dtype).t()
        out[product] = (a, b)
    return out


def _step_result(kernels: Kernels, W: torch.Tensor, bias: torch.Tensor, indices, offsets) -> list[torch.Tensor]:
    """Loss and both gradients of one training step with ``kernels``: the trainer's own code path
    (``DirectStep`` on a ``TiedAutoencoder``, whose rows are a transposed view of W)."""
    model = TiedAutoencoder(W.shape[1], W.shape[0]).to(W.device)
    with torch.no_grad():
        model.W.copy_(W.view_as(model.W))
        model.b.copy_(bias.view_as(model.b))
    loss = DirectStep(model, kernels)(indices, offsets)
    assert model.W.grad is not None and model.b.grad is not None
    return [loss.detach().clone(), model.W.grad.clone(), model.b.grad.clone()]


def identical_backends(
    names: list[str], device: torch.device, dtype: torch.dtype, vocab: int, latent: int, batch: int
) -> dict[str, list[str]]:
    """Per product, the backends of ``names`` with which a whole training step (loss and gradients, the
    other products on ``aten``) is bitwise equal to the all-``aten`` step on a random batch of these shapes
    ({product: [backend, ...]}, ``aten`` first): the only ones a timing race may pick between."""
    generator = torch.Generator(device="cpu").manual_seed(0)
    rows = (0.1 * torch.randn(latent, vocab, generator=generator)).to(device)  # W: (latent, vocab)
    bias = (0.1 * torch.randn(vocab, generator=generator)).to(device)
    per_window = max(1, min(8, vocab))
    # the full batch and smaller ones (an epoch's last batch, evaluation): a BLAS picks its path by size
    sizes = sorted({batch, max(1, batch - 1), batch // 2 + 1, batch // 4 + 1, batch // 8 + 1, min(batch, 7), 1})
    steps = []
    for size in sizes:
        ids = torch.stack([torch.randperm(vocab, generator=generator)[:per_window] for _ in range(size)])
        indices = ids.sort(dim=1).values.reshape(-1).to(device)
        offsets = torch.arange(0, size * per_window + 1, per_window, dtype=torch.int64).to(device)
        steps.append((indices, offsets, _step_result(Kernels(dtype=dtype), rows, bias, indices, offsets)))
    out: dict[str, list[str]] = {}
    for product in PRODUCTS:
        same = ["aten"]
        for name in names:
            if name == "aten":
                continue
            kernels = Kernels(dtype=dtype, **{product: name})
            try:
                equal = all(
                    all(torch.equal(x, y) for x, y in zip(_step_result(kernels, rows, bias, i, o), ref))
                    for i, o, ref in steps
                )
            except (RuntimeError, NotImplementedError) as exc:
                log.info("kernels: backend %s failed on %s (%s); skipped", name, product, exc)
                continue
            if equal:
                same.append(name)
            else:
                log.info("kernels: %s on %s changes the step's numbers (vs aten); not a candidate", name, product)
        out[product] = same
    return out


def measure(
    device: torch.device,
    dtype: torch.dtype,
    vocab: int,
    latent: int,
    batch: int,
    backends: list[str] | None = None,
    reps: int = 3,
    same_numbers: bool = True,
) -> dict[str, dict[str, float]]:
    """GFLOP/s of each product (``PRODUCTS``) on each backend that runs: {product: {backend: rate}}.
    ``same_numbers``: only backends bitwise equal to ``aten`` on these shapes (``identical_backends``);
    False times every backend (the benchmarks)."""
    names = [b for b in (backends or list(BACKENDS)) if b in available_backends(device, dtype)]
    if not names:
        names = ["aten"]
    rates: dict[str, dict[str, float]] = {}
    operands = _operands(device, dtype, vocab, latent, batch)
    candidates = (
        identical_backends(names, device, dtype, vocab, latent, batch)
        if same_numbers
        else dict.fromkeys(operands, names)
    )
    for product, (a, b) in operands.items():
        (sa0, sa1), sb1 = a.shape, b.shape[1]
        flops = 2.0 * sa0 * sa1 * sb1
        best = dict.fromkeys([n for n in names if n in candidates[product]], float("inf"))
        for _ in range(reps):  # backends interleaved: a burst of other work hits them alike
            for name in list(best):
                fn = BACKENDS[name]
                try:
                    best[name] = min(best[name], time_product(lambda fn=fn, a=a, b=b: fn(a, b), device, reps=1))
                except (RuntimeError, NotImplementedError) as exc:
                    log.info("kernels: backend %s failed on %s (%s); skipped", name, product, exc)
                    del best[name]
        rates[product] = {name: flops / seconds / 1e9 for name, seconds in best.items()}
    return rates


def choose(rates: dict[str, dict[str, float]], dtype: torch.dtype) -> Kernels:
    """The fastest backend per product (``aten`` where nothing was measured)."""
    pick = {p: max(rates.get(p) or {"aten": 0.0}, key=lambda n: (rates.get(p) or {"aten": 0.0})[n]) for p in PRODUCTS}
    return Kernels(dtype=dtype, **pick)


def select_kernels(
    device: torch.device,
    dtype: torch.dtype,
    vocab: int,
    latent: int,
    batch: int,
    cache: Path | None = None,
    backends: list[str] | None = None,
) -> tuple[Kernels, dict[str, dict[str, float]]]:
    """The step's kernels for these shapes on this machine, measured once and cached in ``cache``.

    ``backends`` restricts the candidates (e.g. ``["aten"]``: no measurement at all). Returns the
    choice and the measured GFLOP/s {product: {backend: rate}}.
    """
    if backends == ["aten"]:
        return Kernels(dtype=dtype), {}
    key = cache_key(device, dtype, vocab, latent, batch)
    table = _read(cache)
    usable = set(available_backends(device, dtype))
    entry = table.get(key)
    valid = bool(entry) and entry.get("rule") == CACHE_RULE and all(entry["choice"].get(p) in usable for p in PRODUCTS)
    if entry and valid and backends is None:
        kernels = Kernels(dtype=dtype, **{p: entry["choice"][p] for p in PRODUCTS})
        log.info("kernels: %s (cached measurement for %s)", kernels.describe(), key)
        return kernels, entry["gflops"]
    rates = measure(device, dtype, vocab, latent, batch, backends, same_numbers=backends is None)
    kernels = choose(rates, dtype)
    summary = "; ".join(f"{p} " + ", ".join(f"{n} {r:.0f}" for n, r in rates[p].items()) for p in PRODUCTS)
    log.info("kernels: %s (measured GFLOP/s: %s)", kernels.describe(), summary)
    if backends is None and cache is not None:
        table[key] = {
            "choice": {p: getattr(kernels, p) for p in PRODUCTS},
            "rule": CACHE_RULE,
            "gflops": rates,
            "measured": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        }
        _write(cache, table)
    return kernels, rates


def _read(path: Path | None) -> dict[str, Any]:
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError) as exc:
        log.warning("kernels: ignoring unreadable cache %s (%s)", path, exc)
        return {}


def _write(path: Path, table: dict[str, Any]) -> None:
    """Atomic write (temp + rename); a read-only or full disk only costs a re-measurement next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("kernels: could not write the kernel cache %s (%s); measuring again next run", path, exc)
