"""Training throughput per GEMM backend and precision vs the step bound of this machine, and the
paper's dense training loop (prints one table; writes <root>/bench/bench_train.json; root = $BOWS_DATA or ./data).

Synthetic WikiText-shaped windows: V = 10,000 words with Zipf frequencies, ~230 distinct words per
window, batch 512, L = 1,000. The step bound of a (backend, precision) row is the sum of the
standalone times, measured here in this run, of the work a step cannot avoid: the three decoder
GEMMs (2*B*V*L FLOPs each, at the backend's measured rate per product; "auto" takes the fastest
backend per product), the sparse encoder forward (embedding_bag) and backward (sparse CSR product),
the loss's elementwise passes over the (vocab, batch) matrix (bias + ReLU, square-sum, bias gradient;
the mean's factor needs no pass: it rides in the GEMMs), one fused AdamW step over W and b, and for
bf16 the casts mixed precision needs (W and dL/dz to bf16, the weight gradient back to fp32). bows windows/s use the median step (CPU) or the
mean over steps with one sync at the end (CUDA). The paper-style baseline feeds dense float
batch x vocab inputs through dense encoder/decoder products, densifying each batch from Python lists.
Last, several models of one L (``make structure``'s seeds) trained in one pass: ``--instances`` instances
of one model through the direct step, the same through autograd (the path before), and as separate
single-instance models, interleaved round by round on the same batches (fp32, ``--instance-latent``).

    python scripts/bench_train.py [--steps 20] [--device auto] [--latent 1000] [--precisions fp32 bf16]
                                  [--instances 3] [--instance-latent 400]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bows.training import kernels  # noqa: E402
from bows.training.autotune import machine_name, measure, time_product  # noqa: E402
from bows.training.batches import epoch_batches, to_device  # noqa: E402
from bows.training.kernels import Kernels, available_backends, model_sparse_loss, step_gemm_flops  # noqa: E402
from bows.training.model import TiedAutoencoder  # noqa: E402
from bows.training.optim import Optimisation  # noqa: E402
from bows.training.train import resolve_device  # noqa: E402

V, BATCH, WORDS = 10_000, 512, 230
PAPER_STEPS = 31_670  # the paper's 10-epoch WikiText-103 run, batch 512
DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16}


def zipf_windows(n: int, vocab: int, words: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """CSR of ``n`` windows whose words are drawn from a Zipf(1) law, ~``words`` distinct per window."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, vocab + 1)
    p /= p.sum()
    draws = int(words * 1.9)  # draws with replacement per window; duplicates of frequent words collapse
    ids = rng.choice(vocab, size=(n, draws), p=p)
    codes = np.unique(np.arange(n, dtype=np.int64)[:, None] * vocab + ids)  # sorted, distinct per window
    rows, indices = np.divmod(codes, vocab)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=offsets[1:])
    return offsets, indices.astype(np.uint16)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def set_tf32(on: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


class Peak:
    """Peak memory of a block: CUDA allocator peak, or the process's peak RSS (reset via clear_refs)."""

    def __init__(self, device: torch.device):
        self.device = device

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        else:
            try:
                Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            except OSError:
                pass
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.bytes = torch.cuda.max_memory_allocated()
            return
        try:
            status = Path("/proc/self/status").read_text()
            self.bytes = next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM"))
        except (OSError, StopIteration):
            self.bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def other_parts(batch, latent: int, dtype: torch.dtype, device: torch.device) -> dict[str, float]:
    """Standalone seconds of the non-GEMM work a step cannot avoid (see the module docstring)."""
    g = torch.Generator().manual_seed(1)
    rows = torch.randn(V, latent, generator=g).to(device)
    low = dtype != torch.float32
    rows_c = rows.to(dtype)
    indices, offsets = batch.indices, batch.offsets
    n = indices.shape[0]
    diff = torch.randn(V, BATCH, generator=g).to(device)
    grad = torch.randn(V, latent, generator=g).to(device)
    grad_a = torch.randn(BATCH, latent, generator=g).to(device)
    order = torch.argsort(indices, stable=True)
    crow = torch.zeros(V + 1, dtype=torch.int64, device=device)
    torch.cumsum(torch.bincount(indices, minlength=V), 0, out=crow[1:])
    window_of = torch.repeat_interleave(torch.arange(BATCH, device=device), offsets.diff())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        x_t = torch.sparse_csr_tensor(crow, window_of[order], torch.ones(n, device=device), size=(V, BATCH))
    W = torch.nn.Parameter(rows.clone())
    b = torch.nn.Parameter(torch.zeros(V, device=device))
    W.grad, b.grad = grad.clone(), torch.zeros(V, device=device)
    adam = torch.optim.AdamW([W, b], lr=1e-4, weight_decay=4.0, fused=True)

    def loss_passes():  # bias + ReLU (one pass in an ideal kernel), square-sum, bias gradient (row sums)
        diff.clamp_min_(0)
        torch.dot(diff.view(-1), diff.view(-1))
        diff.sum(1)

    parts = {
        "encoder": lambda: F.embedding_bag(indices, rows_c, offsets, mode="sum", include_last_offset=True),
        "encoder_grad": lambda: grad.addmm_(x_t, grad_a),
        "loss": loss_passes,
        "adamw": adam.step,
    }
    if low:
        z = diff.to(dtype)
        parts["casts"] = lambda: (
            rows.to(dtype),
            diff.to(dtype),
            grad.to(dtype).float(),
            torch.add(z, b.detach()[:, None]),
        )
    return {name: time_product(fn, device, reps=3) for name, fn in parts.items()}


def bench_bows(data, latent: int, steps: int, device: torch.device, k: Kernels) -> tuple[float, int]:
    torch.manual_seed(0)
    model = TiedAutoencoder(V, latent).to(device)
    opt = Optimisation(model, lr=5e-4, weight_decay=4.0, total_steps=10 * steps, kernels=k)
    batches = epoch_batches(data, BATCH, seed=0, epoch=0)
    with Peak(device) as peak:
        for _ in range(3):  # warm-up
            opt.update(next(batches))
        if device.type == "cuda":  # the whole step on the device: no host sync until the end
            todo = [next(batches) for _ in range(steps)]
            sync(device)
            t0 = time.perf_counter()
            total = torch.zeros((), device=device)
            for batch in todo:
                total += opt.update(batch)[0]
            float(total)
            rate = steps * BATCH / (time.perf_counter() - t0)
        else:
            times = []
            for _ in range(steps):
                t0 = time.perf_counter()
                float(opt.update(next(batches))[0])
                times.append(time.perf_counter() - t0)
            rate = BATCH / float(np.median(times))  # the median step resists other processes' bursts
    return rate, peak.bytes


def bench_instances(data, latent: int, instances: int, steps: int, device: torch.device) -> dict[str, float]:
    """Seconds per step of ``instances`` models of one L: one multi-instance model (direct step), the same
    through autograd, and that many single-instance models; interleaved round by round (median round)."""

    def make(n: int, loss_fn=None) -> Optimisation:
        torch.manual_seed(0)
        return Optimisation(
            TiedAutoencoder(V, latent, instances=n).to(device),
            lr=5e-4,
            weight_decay=1.0,
            total_steps=10 * steps,
            loss_fn=loss_fn,
        )

    setups = {
        "one model, direct step": [make(instances)],
        "one model, autograd": [make(instances, lambda m, b: model_sparse_loss(m, *b.csr()))],
        "separate models": [make(1) for _ in range(instances)],
    }
    batches = epoch_batches(data, BATCH, seed=0, epoch=0)
    times: dict[str, list[float]] = {name: [] for name in setups}
    for round_ in range(steps + 1):
        batch = next(batches)
        for name, opts in setups.items():
            sync(device)
            t0 = time.perf_counter()
            for opt in opts:
                float(opt.update(batch)[0])
            if round_ > 0:  # the first round warms up
                times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(t)) for name, t in times.items()}


class PaperModel(torch.nn.Module):
    """The paper's formulation: dense input, dense encoder product, tied dense decoder."""

    def __init__(self, latent: int):
        super().__init__()
        self.encoder = torch.nn.Linear(V, latent, bias=False)
        self.bias = torch.nn.Parameter(torch.zeros(V))

    def forward(self, x):
        return torch.relu(F.linear(self.encoder(x), self.encoder.weight.t(), self.bias))


def bench_paper(offsets, indices, latent: int, steps: int, device: torch.device) -> tuple[float, int]:
    lists = [indices[offsets[i] : offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]  # per-sample lists
    model = PaperModel(latent).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=4.0)
    order = np.random.default_rng(0).permutation(len(lists))

    def step(k: int):
        x = torch.zeros(BATCH, V)
        for row, i in enumerate(order[k * BATCH : (k + 1) * BATCH]):
            x[row, lists[i]] = 1.0
        x = x.to(device)
        loss = F.mse_loss(model(x), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.detach()

    with Peak(device) as peak:
        step(0)
        times = []
        for k in range(1, steps + 1):
            sync(device)
            t0 = time.perf_counter()
            float(step(k))
            times.append(time.perf_counter() - t0)
    return BATCH / float(np.median(times)), peak.bytes


def main() -> None:
    global V
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--paper-steps", type=int, default=5)
    parser.add_argument("--latent", type=int, default=1000)
    parser.add_argument("--words", type=int, default=WORDS, help="target distinct words per window")
    parser.add_argument("--vocab", type=int, default=V, help="vocabulary size (smaller: a quick check only)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precisions", nargs="+", default=None, help="default: fp32 bf16 (CPU), fp32 tf32 bf16 (CUDA)")
    parser.add_argument("--instances", type=int, default=3, help="models of one L in one pass (0: skip)")
    parser.add_argument("--instance-latent", type=int, default=400)
    parser.add_argument("--instance-steps", type=int, default=8)
    parser.add_argument("--root", default=os.environ.get("BOWS_DATA", "data"))
    args = parser.parse_args()
    V = args.vocab  # the module's functions read V at call time
    device, _ = resolve_device(args.device, num_threads=args.threads)
    precisions = args.precisions or (["fp32", "tf32", "bf16"] if device.type == "cuda" else ["fp32", "bf16"])
    offsets, indices = zipf_windows(BATCH * (max(args.steps, args.paper_steps) + 4), V, args.words)
    data = to_device(offsets, indices, V, device)
    words = float(np.diff(offsets).mean())
    L = args.latent
    flops = step_gemm_flops(V, L, BATCH)
    print(
        f"{machine_name(device)}: {device} ({torch.get_num_threads() if device.type == 'cpu' else 1} threads), "
        f"torch {torch.__version__}; V={V} L={L} batch={BATCH}, {words:.0f} words/window; load {os.getloadavg()[0]:.1f}"
    )
    sample = next(epoch_batches(data, BATCH, seed=0, epoch=0))
    rows, results = [], {}
    for precision in precisions:
        dtype = DTYPES[precision]
        set_tf32(precision == "tf32")
        rates = measure(device, dtype, V, L, BATCH, reps=3, same_numbers=False)  # {product: {backend: GFLOP/s}}
        others = other_parts(sample, L, dtype, device)
        backends = [b for b in available_backends(device, dtype) if all(b in rates[p] for p in kernels.PRODUCTS)]
        best = {p: max(rates[p], key=lambda n, p=p: rates[p][n]) for p in kernels.PRODUCTS}
        uniform = len(set(best.values())) == 1
        for backend in [*backends, "auto"]:
            if backend == "auto" and uniform:
                results[f"{precision}/auto"] = results[f"{precision}/{best['forward']}"]  # already measured
                continue
            pick = best if backend == "auto" else dict.fromkeys(kernels.PRODUCTS, backend)
            gemm_s = sum(flops / 3 / (rates[p][pick[p]] * 1e9) for p in kernels.PRODUCTS)
            bound = BATCH / (gemm_s + sum(others.values()))
            k = Kernels(dtype=dtype, **pick)
            ours, peak = bench_bows(data, L, args.steps, device, k)
            chosen = backend == "auto" or (uniform and backend == best["forward"])
            label = f"{precision} {backend}" + (" *" if chosen else "")
            row = {
                "precision": precision,
                "backend": backend,
                "kernels": k.describe(),
                "gemm_gflops": {p: rates[p][pick[p]] for p in kernels.PRODUCTS},
                "gemm_gflops_mean": flops / gemm_s / 1e9,
                "gemm_seconds": gemm_s,
                "other_seconds": others,
                "bound_windows_per_s": bound,
                "windows_per_s": ours,
                "fraction_of_bound": ours / bound,
                "peak_memory_bytes": peak,
                "projected_paper_run_s": PAPER_STEPS * BATCH / ours,
            }
            rows.append((label, row))
            results[f"{precision}/{backend}"] = row
    set_tf32(False)
    paper, paper_peak = bench_paper(offsets, indices, L, args.paper_steps, device)
    best_fp32 = max((r for _, r in rows if r["precision"] == "fp32"), key=lambda r: r["bound_windows_per_s"])

    print(
        f"\n{'precision / backend (* = chosen)':34s} {'GEMM GFLOP/s':>12s} {'bound w/s':>10s} {'bows w/s':>9s} "
        f"{'of bound':>8s} {'peak GiB':>8s} {'paper run':>10s}"
    )
    for label, r in rows:
        print(
            f"{label:34s} {r['gemm_gflops_mean']:12.0f} {r['bound_windows_per_s']:10.0f} {r['windows_per_s']:9.0f} "
            f"{r['fraction_of_bound']:8.0%} {r['peak_memory_bytes'] / 2**30:8.2f} {r['projected_paper_run_s']:9.0f}s"
        )
    print(
        f"{'paper-style dense loop (fp32)':34s} {'':12s} {best_fp32['bound_windows_per_s']:10.0f} {paper:9.0f} "
        f"{paper / best_fp32['bound_windows_per_s']:8.0%} {paper_peak / 2**30:8.2f} {PAPER_STEPS * BATCH / paper:9.0f}s"
    )
    fastest = max((r for _, r in rows), key=lambda r: r["windows_per_s"])
    for precision in precisions:
        if f"{precision}/auto" in results:
            print(f"  {precision} auto choice: {results[f'{precision}/auto']['kernels']}")
    print(
        f"bows {fastest['precision']} {fastest['backend']} x{fastest['windows_per_s'] / paper:.1f} the paper loop; "
        + (
            f"bf16 x{results['bf16/auto']['windows_per_s'] / results['fp32/auto']['windows_per_s']:.2f} fp32 "
            if "bf16/auto" in results and "fp32/auto" in results
            else ""
        )
        + "('paper run' = 31,670 steps of 512 at that rate)"
    )
    multi = {}
    if args.instances > 1:
        multi = bench_instances(data, args.instance_latent, args.instances, args.instance_steps, device)
        print(f"\n{args.instances} models of L={args.instance_latent} (fp32), seconds per step of all of them:")
        base = multi["one model, direct step"]
        for name, sec in multi.items():
            print(f"  {name:24s} {sec:7.3f} s  ({sec / base:.2f}x the one-model direct step)")
    result = {
        "device": str(device),
        "machine": machine_name(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "vocab": V,
        "latent": L,
        "batch": BATCH,
        "words_per_window": words,
        "rows": results,
        "paper_windows_per_s": paper,
        "paper_fraction_of_fp32_bound": paper / best_fp32["bound_windows_per_s"],
        "paper_peak_memory_bytes": paper_peak,
        "steps": args.steps,
        "paper_steps": args.paper_steps,
        "load_average": os.getloadavg(),
        "instances": {"count": args.instances, "latent": args.instance_latent, "seconds_per_step": multi},
    }
    out = Path(args.root) / "bench" / "bench_train.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
