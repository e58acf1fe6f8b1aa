"""Overhead of the per-interval geometry dynamics (bows.training.dynamics) on training throughput
(writes <root>/bench/bench_dynamics.json; root = $BOWS_DATA or ./data).

Same synthetic WikiText-shaped windows as scripts/bench_train.py (V = 10,000, ~230 words per window,
batch 512). Two measurements in the same process, on the same model and batches:
  probe share  = median time of one probe (measure + host copy) / (log_every x median step time)
  loop ratio   = time of N steps with the probe every log_every steps / time of N steps without,
                 both with the loss synced once per interval as the trainer does (interleaved repeats).

    python scripts/bench_dynamics.py [--steps 200] [--log-every 50] [--latent 1000] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_train import BATCH, WORDS, V, sync, zipf_windows  # noqa: E402

from bows.training.batches import epoch_batches, to_device  # noqa: E402
from bows.training.dynamics import GeometryProbe  # noqa: E402
from bows.training.model import TiedAutoencoder  # noqa: E402
from bows.training.optim import Optimisation  # noqa: E402
from bows.training.train import resolve_device  # noqa: E402


def dynamics_overhead(latent: int, steps: int, log_every: int, device: torch.device, repeats: int = 2) -> dict:
    """Probe share and loop ratio (see the module docstring) for one model size."""
    offsets, indices = zipf_windows(BATCH * 8, V, WORDS)
    data = to_device(offsets, indices, V, device)
    torch.manual_seed(0)
    model = TiedAutoencoder(V, latent).to(device)
    opt = Optimisation(model, lr=5e-4, weight_decay=4.0, total_steps=10**6)
    probe = GeometryProbe(V, device)
    params = list(model.parameters())
    batches = list(epoch_batches(data, BATCH, seed=0, epoch=0))

    def loop(n: int, with_probe: bool) -> float:
        loss_sum = torch.zeros((), device=device)
        sync(device)
        t0 = time.perf_counter()
        for k in range(1, n + 1):
            loss_sum += opt.update(batches[k % len(batches)])[0]
            if k % log_every == 0:
                if with_probe:
                    W, b = model.weights()
                    torch.cat([loss_sum.double().reshape(1), probe.measure(W, b, params)]).tolist()
                else:
                    loss_sum.item()
                loss_sum.zero_()
        sync(device)
        return time.perf_counter() - t0

    loop(log_every, True)  # warm-up (allocations, kernels)
    step_times, probe_times = [], []
    for _ in range(20):
        sync(device)
        t0 = time.perf_counter()
        opt.update(batches[0])
        sync(device)
        step_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        W, b = model.weights()
        probe.measure(W, b, params).tolist()
        probe_times.append(time.perf_counter() - t0)
    base, probed = [], []
    for _ in range(repeats):  # interleaved, so drifting machine load hits both alike
        base.append(loop(steps, False))
        probed.append(loop(steps, True))
    step, one_probe = float(np.median(step_times)), float(np.median(probe_times))
    return {
        "latent": latent,
        "log_every": log_every,
        "steps": steps,
        "step_ms": 1e3 * step,
        "probe_ms": 1e3 * one_probe,
        "probe_share": one_probe / (log_every * step),
        "loop_ratio": float(np.median(probed) / np.median(base)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--latent", type=int, nargs="+", default=[1000])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    device, _ = resolve_device(args.device, "fp32", args.threads)
    rows = [dynamics_overhead(latent, args.steps, args.log_every, device) for latent in args.latent]
    print(f"geometry dynamics overhead on {device} ({torch.get_num_threads()} threads), batch {BATCH}, V {V}")  # noqa: T201
    print(f"{'L':>6} {'every':>6} {'step ms':>9} {'probe ms':>9} {'probe share':>12} {'loop ratio':>11}")  # noqa: T201
    for r in rows:
        print(  # noqa: T201
            f"{r['latent']:>6} {r['log_every']:>6} {r['step_ms']:>9.2f} {r['probe_ms']:>9.2f} "
            f"{r['probe_share']:>11.2%} {r['loop_ratio']:>11.3f}"
        )
    out = Path(os.environ.get("BOWS_DATA", "data")) / "bench" / "bench_dynamics.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"device": str(device), "threads": torch.get_num_threads(), "rows": rows}, indent=2))
    print(f"-> {out}")  # noqa: T201


if __name__ == "__main__":
    main()
