"""Per-step training speed of this tree's fused loss (fp32 and bf16, kernels chosen by autotune) vs
another checkout's (e.g. main before this change), interleaved step by step in one process so that
both see the same machine load (prints the ratios; writes <root>/bench/bench_speedup.json).

    python scripts/bench_speedup.py --baseline /path/to/other/checkout [--latent 1000] [--steps 12]

The baseline's ``bows/training/model.py`` is loaded on its own (it is pure) and trained through
this tree's ``Optimisation`` with its ``sparse_loss``: the optimizer is the same, the loss kernel differs.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import BATCH, WORDS, V, zipf_windows  # noqa: E402

from bows.training.autotune import select_kernels  # noqa: E402
from bows.training.batches import epoch_batches, to_device  # noqa: E402
from bows.training.model import TiedAutoencoder  # noqa: E402
from bows.training.optim import Optimisation  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--baseline", required=True, help="a checkout whose bows/training/model.py is the baseline")
    parser.add_argument("--latent", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--root", default=os.environ.get("BOWS_DATA", "data"))
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location("baseline_model", Path(args.baseline) / "bows/training/model.py")
    assert spec and spec.loader
    base = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(base)
    cpu = torch.device("cpu")
    offsets, indices = zipf_windows(BATCH * (args.steps + 4), V, WORDS)
    data = to_device(offsets, indices, V, cpu)
    cache = Path(args.root) / "cache" / "kernels.json"
    runs = {}
    torch.manual_seed(0)
    model = base.TiedAutoencoder(V, args.latent)
    runs["baseline fp32"] = Optimisation(
        model, lr=5e-4, weight_decay=4.0, total_steps=100, loss_fn=lambda m, b: m.sparse_loss(b.indices, b.offsets)
    )
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        k, _ = select_kernels(cpu, dtype, V, args.latent, BATCH, cache)
        torch.manual_seed(0)
        runs[name] = Optimisation(
            TiedAutoencoder(V, args.latent), lr=5e-4, weight_decay=4.0, total_steps=100, kernels=k
        )
    times: dict[str, list[float]] = {n: [] for n in runs}
    batches = list(epoch_batches(data, BATCH, 0, 0))
    for i, batch in enumerate(batches[: args.steps + 2]):
        for name, opt in runs.items():
            t0 = time.perf_counter()
            float(opt.update(batch)[0])
            if i >= 2:  # warm-up
                times[name].append(time.perf_counter() - t0)
    med = {n: float(np.median(t)) for n, t in times.items()}
    result = {
        "latent": args.latent,
        "median_step_s": med,
        "windows_per_s": {n: BATCH / s for n, s in med.items()},
        "speedup_fp32": med["baseline fp32"] / med["fp32"],
        "speedup_bf16": med["baseline fp32"] / med["bf16"],
        "load_average": os.getloadavg(),
    }
    for n, s in med.items():
        print(f"{n:14s} {s * 1000:8.1f} ms/step {BATCH / s:8.0f} windows/s  x{med['baseline fp32'] / s:.2f}")
    out = Path(args.root) / "bench" / "bench_speedup.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out} (load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
