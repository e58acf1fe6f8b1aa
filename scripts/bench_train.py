"""Training throughput on WikiText-shaped windows vs an fp32 FLOP bound and the paper's approach
(writes <root>/bench/bench_train.json; root = $BOWS_DATA or ./data).

Synthetic windows: V = 10,000 words with Zipf frequencies, ~230 distinct words per window,
batch 512, L = 1,000, fp32. The bound: step FLOPs = 3 GEMMs of 2*B*V*L (decoder forward, its two
backward products) + the sparse encoder (2 * active words * L, forward and backward), divided by
the best fp32 GEMM rate measured here for those shapes. Throughputs use the median step time.
The paper-style baseline feeds dense float
batch x vocab inputs through dense encoder/decoder products, densifying each batch from Python lists.

    python scripts/bench_train.py [--steps 30] [--device auto] [--latent 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bows.training.batches import epoch_batches, to_device  # noqa: E402
from bows.training.model import TiedAutoencoder  # noqa: E402
from bows.training.optim import Optimisation  # noqa: E402
from bows.training.train import resolve_device  # noqa: E402

V, BATCH, WORDS = 10_000, 512, 230


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


def best_time(fn, device: torch.device, reps: int = 5) -> float:
    fn()
    sync(device)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return min(times)


def gemm_rate(latent: int, device: torch.device) -> dict[str, float]:
    """GFLOP/s of the three fp32 products of a decoder step (best of a few repetitions)."""
    h, g = torch.randn(BATCH, latent, device=device), torch.randn(BATCH, V, device=device)
    w = torch.randn(V, latent, device=device)
    flops = 2.0 * BATCH * V * latent
    shapes = {
        "forward h@W (BxL @ LxV)": lambda: F.linear(h, w),
        "grad_h g@W^T (BxV @ VxL)": lambda: g @ w,
        "grad_W g^T@h (VxB @ BxL)": lambda: g.t() @ h,
    }
    return {name: flops / best_time(fn, device) / 1e9 for name, fn in shapes.items()}


def bench_bows(offsets, indices, latent: int, steps: int, device: torch.device) -> float:
    data = to_device(offsets, indices, V, device)
    torch.manual_seed(0)
    model = TiedAutoencoder(V, latent).to(device)
    opt = Optimisation(model, lr=5e-4, weight_decay=4.0, total_steps=10 * steps)
    batches = epoch_batches(data, BATCH, seed=0, epoch=0)
    for _ in range(3):  # warm-up
        opt.update(next(batches))
    times = []
    for _ in range(steps):
        sync(device)
        t0 = time.perf_counter()
        float(opt.update(next(batches))[0])
        times.append(time.perf_counter() - t0)
    return BATCH / float(np.median(times))  # the median step resists other processes' bursts


class PaperModel(torch.nn.Module):
    """The paper's formulation: dense input, dense encoder product, tied dense decoder."""

    def __init__(self, latent: int):
        super().__init__()
        self.encoder = torch.nn.Linear(V, latent, bias=False)
        self.bias = torch.nn.Parameter(torch.zeros(V))

    def forward(self, x):
        return torch.relu(F.linear(self.encoder(x), self.encoder.weight.t(), self.bias))


def bench_paper(offsets, indices, latent: int, steps: int, device: torch.device) -> float:
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

    step(0)
    times = []
    for k in range(1, steps + 1):
        sync(device)
        t0 = time.perf_counter()
        float(step(k))
        times.append(time.perf_counter() - t0)
    return BATCH / float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--paper-steps", type=int, default=8)
    parser.add_argument("--latent", type=int, default=1000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--root", default=os.environ.get("BOWS_DATA", "data"))
    args = parser.parse_args()
    device, _ = resolve_device(args.device)
    n = BATCH * (args.steps + 4)
    offsets, indices = zipf_windows(max(n, BATCH * (args.paper_steps + 2)), V, WORDS)
    words = float(np.diff(offsets).mean())
    print(
        f"device {device} ({torch.get_num_threads()} threads), V={V} L={args.latent} batch={BATCH}, "
        f"{words:.0f} words/window, torch {torch.__version__}"
    )

    rates = gemm_rate(args.latent, device)
    best = max(rates.values())
    for name, rate in rates.items():
        print(f"  fp32 GEMM {name:28s} {rate:8.1f} GFLOP/s")
    step_flops = 3 * 2 * V * args.latent + 2 * 2 * words * args.latent  # per window
    bound = best * 1e9 / step_flops
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    ours = bench_bows(offsets, indices, args.latent, args.steps, device)
    peak = (
        torch.cuda.max_memory_allocated()
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    paper = bench_paper(offsets, indices, args.latent, args.paper_steps, device)
    result = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "vocab": V,
        "latent": args.latent,
        "batch": BATCH,
        "words_per_window": words,
        "gemm_gflops": rates,
        "best_gemm_gflops": best,
        "flop_bound_windows_per_s": bound,
        "bows_windows_per_s": ours,
        "bows_fraction_of_bound": ours / bound,
        "paper_windows_per_s": paper,
        "paper_fraction_of_bound": paper / bound,
        "speedup_vs_paper": ours / paper,
        "peak_memory_bytes": peak,
        "steps": args.steps,
        "paper_steps": args.paper_steps,
        "load_average": os.getloadavg(),
    }
    print(f"  fp32 FLOP bound      {bound:8.0f} windows/s")
    print(f"  bows trainer         {ours:8.0f} windows/s  ({ours / bound:.0%} of bound)")
    print(f"  paper-style baseline {paper:8.0f} windows/s  ({paper / bound:.0%} of bound)  -> x{ours / paper:.1f}")
    print(f"  peak memory          {peak / 2**30:8.2f} GiB ({'GPU' if device.type == 'cuda' else 'process RSS'})")
    out = Path(args.root) / "bench" / "bench_train.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
