"""Science check of bf16 training: do bf16 runs fall inside the fp32 seed-to-seed spread of the
geometry metrics? (trains under <root>/runs/, writes <root>/bench/bf16_check.json; root = $BOWS_DATA or ./data).

For each seed, one fp32 and one bf16 run on the embedded corpus (same data, same batches, same init);
then month/day ring scores, Gram-vs-data (conditional correlation) agreement of the calendar groups,
interference-vs-correlation over all word pairs, and the held-out eval loss. A metric passes when
the bf16 mean lies within max(2 sd, tol) of the fp32 mean (sd over the fp32 seeds; tol is the
metric's resolution: one adjacent pair for ring scores, 1e-3 relative for the loss); bf16 passes
when every metric does.

Full size (the study's models): --latent 1000 --steps 4000 --lr 5e-4 (~17 min per run on a quiet
2-core machine). The default reduced protocol keeps the integrated weight decay sum(lr_t * wd) = 4 of
the full one (cosine schedule: lr * steps / 2 * wd) with L=128, 1,000 steps at lr 2e-3 (~1/40 of
the full compute: six runs fit in ~30 min on a busy shared 2-core machine).

    python scripts/bf16_check.py [--latent 128] [--steps 1000] [--lr 2e-3] [--seeds 1 2 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bows.analysis.compute import Analysis, coactivation, rings  # noqa: E402
from bows.config import compose  # noqa: E402
from bows.data import binarize, stats  # noqa: E402
from bows.training import train  # noqa: E402
from bows.training.checkpoint import load_run  # noqa: E402

METRICS = {  # name in the table -> (analysis metric key, resolution tolerance)
    "months ring": ("geometry/months/ring_score", 1 / 12),
    "days ring": ("geometry/days/ring_score", 1 / 7),
    "months gram~data": ("data/months/gram_vs_cond_corr", 0.0),
    "days gram~data": ("data/days/gram_vs_cond_corr", 0.0),
    "interference~corr": ("coactivation/pearson_dot_corr", 0.0),
    "interference~pmi (spearman)": ("coactivation/spearman_dot_pmi", 0.0),
}


def one_run(overrides: list[str]) -> dict[str, float]:
    cfg = compose(overrides)
    path = train.run(cfg)
    info = load_run(path)
    meta = json.loads((path / "run.json").read_text())
    W = np.asarray(info.W, dtype=np.float32)
    vocab = binarize.vocab_of(info.windows)
    costats = stats.load_stats(stats.build(cfg.paths.root_path, info.windows, cfg.stats))
    a = Analysis()
    rings(W, vocab, costats, a)
    coactivation(W, costats, a, seed=0)
    out = {name: float(a.metrics.get(key, float("nan"))) for name, (key, _) in METRICS.items()}
    out["eval loss"] = meta["summary"]["eval_loss"]
    out["windows/s"] = meta["summary"]["windows_per_s"]
    out["seconds"] = meta["summary"]["seconds"]
    return out


def verdict(fp32: list[dict], bf16: list[dict]) -> dict[str, dict]:
    rows = {}
    tolerances = {name: tol for name, (_, tol) in METRICS.items()}
    for name in [*METRICS, "eval loss"]:
        f = np.array([r[name] for r in fp32], float)
        b = np.array([r[name] for r in bf16], float)
        sd = float(f.std(ddof=1)) if len(f) > 1 else float("nan")
        tol = tolerances.get(name, 1e-3 * abs(float(f.mean())))
        allowed = max(2 * sd, tol) if np.isfinite(sd) else tol
        diff = float(b.mean() - f.mean())
        rows[name] = {
            "fp32": f.tolist(),
            "bf16": b.tolist(),
            "fp32_mean": float(f.mean()),
            "fp32_sd": sd,
            "bf16_mean": float(b.mean()),
            "difference": diff,
            "allowed": allowed,
            "inside_fp32_range": bool(np.all((b >= f.min() - tol) & (b <= f.max() + tol))),
            "pass": bool(abs(diff) <= allowed),
        }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--latent", type=int, default=128)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--root", default=os.environ.get("BOWS_DATA", "data"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    base = [
        f"paths.root={args.root}",
        "corpus=embedded",
        "wandb=disabled",
        f"model.latent_size={args.latent}",
        f"train.max_steps={args.steps}",
        f"train.lr={args.lr}",
        f"train.num_threads={args.threads}",
    ]
    out = Path(args.root) / "bench" / "bf16_check.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict]] = {"fp32": [], "bf16": []}
    started = time.time()
    for seed in args.seeds:
        for precision in ("fp32", "bf16"):
            row = one_run([*base, f"train.seed={seed}", f"train.precision={precision}"])
            results[precision].append({"seed": seed, **row})
            print(f"seed {seed} {precision}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()), flush=True)
            out.write_text(json.dumps({"args": vars(args), "runs": results}, indent=2) + "\n")
    table = verdict(results["fp32"], results["bf16"])
    passed = all(r["pass"] for r in table.values())
    print(f"\nbf16 science check: L={args.latent}, {args.steps} steps, lr {args.lr}, seeds {args.seeds}")
    print(f"{'metric':30s} {'fp32 mean':>10s} {'fp32 sd':>9s} {'bf16 mean':>10s} {'diff':>9s} {'allowed':>8s}  pass")
    for name, r in table.items():
        print(
            f"{name:30s} {r['fp32_mean']:10.4g} {r['fp32_sd']:9.2g} {r['bf16_mean']:10.4g} "
            f"{r['difference']:9.2g} {r['allowed']:8.2g}  {'yes' if r['pass'] else 'NO'}"
        )
    speed = np.mean([r["windows/s"] for r in results["bf16"]]) / np.mean([r["windows/s"] for r in results["fp32"]])
    print(f"bf16 {'PASSES' if passed else 'FAILS'}; bf16/fp32 training speed x{speed:.2f} (median windows/s)")
    payload = {
        "args": vars(args),
        "runs": results,
        "table": table,
        "passed": passed,
        "speedup": speed,
        "seconds": time.time() - started,
    }
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
