"""Explorer size and load-time benchmark on a synthetic model (no training): writes the explorer page of a
random L x V weight matrix (months and days included, so the Group view has something to show), with
held-out windows and a co-occurrence matrix of realistic density, prints its size and packing time, and
-- when headless Chromium is found -- the time until the page is ready (median of ``--loads`` loads).

    python scripts/explorer_size.py [--latent 1000] [--vocab 10000] [--out /tmp/explorer-bench]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from bows.analysis import explorer
from bows.core.groups import DAYS, MONTHS

PROBE = """<script>(function () {
  var pre = document.createElement('pre'); pre.id = 'bows-check';
  pre.textContent = JSON.stringify({ready: window.BOWS_READY_MS || null, nearest: document.querySelectorAll('#nearest li').length});
  document.body.appendChild(pre);
})();</script>"""


def synthetic_inputs(L: int, V: int, windows: int, seed: int = 0) -> explorer.ModelInputs:
    rng = np.random.default_rng(seed)
    words = [*MONTHS, *DAYS] + [f"word{i}" for i in range(V - len(MONTHS) - len(DAYS))]
    W = (rng.normal(size=(L, V)) / np.sqrt(L)).astype(np.float32)
    b = (-0.2 + 0.05 * rng.normal(size=V)).astype(np.float32)
    sizes = rng.integers(10, 60, windows)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    # Zipf-like word choice per window
    p = 1.0 / np.arange(1, V + 1)
    indices = np.concatenate([np.sort(rng.choice(V, s, replace=False, p=p / p.sum())) for s in sizes])
    X = sp.csr_matrix((np.ones(len(indices), np.float32), indices, offsets), shape=(windows, V))
    counts_matrix = (X.T @ X).tocsr()
    cooc = sp.triu(counts_matrix).tocsr()
    return explorer.ModelInputs(
        W=W,
        b=b,
        vocab=words,
        X=X,
        heldout_split="validation",
        counts=np.asarray(counts_matrix.diagonal()).astype(np.int64),
        n_windows=windows,
        cooc=cooc,
        tables={},
        metrics={},
        info={"title": f"synthetic L={L}, V={V}", "label": "synthetic"},
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--latent", type=int, default=1000)
    ap.add_argument("--vocab", type=int, default=10_000)
    ap.add_argument("--windows", type=int, default=explorer.MAX_WINDOWS)
    ap.add_argument("--loads", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("/tmp/explorer-bench"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    inputs = synthetic_inputs(args.latent, args.vocab, args.windows)
    start = time.perf_counter()
    data = explorer.pack_model(inputs)
    packed = time.perf_counter() - start
    page = explorer.write_run_explorer(args.out, data)
    parts = {k: len(json.dumps(v)) for k, v in data.items()}
    result = {
        "latent": args.latent,
        "vocab": args.vocab,
        "pack_seconds": round(packed, 1),
        "page_mb": round(page.stat().st_size / 1e6, 2),
        "largest_parts_mb": {k: round(v / 1e6, 2) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])[:5]},
    }
    browser = next((b for b in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if b), None)
    if browser:
        probe = args.out / "probe.html"
        probe.write_text(page.read_text().replace("</body></html>", PROBE + "</body></html>"))
        ready, walls = [], []
        for _ in range(args.loads):
            t = time.perf_counter()
            cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", probe.as_uri()]
            dom = subprocess.run(cmd, capture_output=True, text=True, timeout=300).stdout
            walls.append(time.perf_counter() - t)
            found = re.search(r'<pre id="bows-check">(.*?)</pre>', dom, re.S)
            ready.append(json.loads(found.group(1).replace("&quot;", '"'))["ready"] if found else None)
        result["ready_ms"] = ready
        result["ready_ms_median"] = statistics.median([r for r in ready if r is not None] or [float("nan")])
        result["chromium_process_seconds"] = [round(w, 2) for w in walls]
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
