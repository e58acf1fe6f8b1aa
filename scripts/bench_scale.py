"""Scale benchmark (issue 13): the data stages on synthetic corpora of growing size, peak memory per stage,
and the streaming trainer against the resident one (writes <root>/bench/bench_scale.json, prints a table).

For every size (GB of text) it writes a local Parquet corpus of OpenWebText-shaped records (one
record = one document of ~40 lines, WikiText-like rows: see ``bench_data.synthetic_corpus``), then
runs download, vocab, binarize and stats as the Makefile does (``corpus=local``, windows within
documents, G=20), each in its own child process whose peak RSS (``ru_maxrss``) is recorded. The
memory curve should be flat: peak RSS is set by ``data.chunk_rows``, not by the corpus. Training
(``--train-steps`` > 0) runs the same steps with the windows resident on the device and streamed
from the memory-mapped files in shuffled blocks of ``--block`` windows, on the ``--train-size`` corpus.

    python scripts/bench_scale.py [--sizes 0.1 0.3 1] [--train-steps 300] [--parts data train] [overrides]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as _pc
import pyarrow.parquet as pq

pc: Any = _pc  # pyarrow.compute's kernels are generated at import time: no static types

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

STAGES = ("download", "vocab", "binarize", "stats")
TRAIN = [
    "model.latent_size=100",
    "train.batch_size=512",
    "train.eval_windows=0",
    "train.log_every=25",
    "train.resume=false",
    "wandb=disabled",
]


def make_corpus(path: Path, gigabytes: float, seed: int = 0, batch_rows: int = 50_000) -> dict:
    """A Parquet file of records (``text``: lines joined by newlines) holding ``gigabytes`` GB of text:
    one synthetic batch of ``batch_rows`` WikiText-shaped rows (one lexicon, so every size has the
    same word statistics), its documents shuffled anew for every repetition."""
    from bench_data import synthetic_corpus

    table = synthetic_corpus(batch_rows, seed=seed)
    doc = pc.dictionary_encode(table["doc_id"]).combine_chunks().indices.to_numpy()
    starts = np.concatenate([[0], np.flatnonzero(np.diff(doc)) + 1, [len(doc)]]).astype(np.int32)
    records = pc.binary_join(pa.ListArray.from_arrays(pa.array(starts), table["text"].combine_chunks()), "\n")
    record_bytes = int(pc.sum(pc.binary_length(records)).as_py())
    rng = np.random.default_rng(seed)
    target, written, rows, docs = int(gigabytes * 1e9), 0, 0, 0
    tmp = path.with_name(path.name + ".tmp")
    with pq.ParquetWriter(tmp, pa.schema([("text", pa.string())]), compression="zstd") as writer:
        while written < target:
            shuffled = records.take(pa.array(rng.permutation(len(records))))
            writer.write_table(pa.table({"text": shuffled}), row_group_size=2_000)  # ~20 MB of text per group
            written, rows, docs = written + record_bytes, rows + len(doc), docs + len(records)
    os.replace(tmp, path)
    return {"gigabytes": written / 1e9, "rows": rows, "records": docs}


def child(stage: str, overrides: list[str], out: Path) -> None:
    """Run one stage in this (child) process and write its peak RSS and timing to ``out``."""
    from bows.config import compose

    cfg = compose(overrides)
    start = time.perf_counter()
    if stage.startswith("train"):
        from bows.training import train

        path = train.run(cfg)
        info = json.loads((path / "run.json").read_text())
        extra = {
            "windows_per_s": info["summary"]["windows_per_s"],
            "steps": info["summary"]["steps"],
            "data_path": info.get("data", {}).get("path"),
        }
    else:
        module = __import__(f"bows.data.{stage}", fromlist=["run"])
        artifact = module.run(cfg)
        extra = {"seconds": artifact.meta.get("seconds"), "stats": artifact.stats}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    out.write_text(
        json.dumps({"stage": stage, "wall_s": time.perf_counter() - start, "peak_rss": peak, **extra}, default=str)
    )


def run_child(stage: str, overrides: list[str], work: Path) -> dict:
    out = work / f".{stage}.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, __file__, "--child", stage, *overrides]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not out.is_file():
        raise RuntimeError(f"{stage} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(out.read_text())


def bench_size(gb: float, root: Path, overrides: list[str]) -> dict:
    corpus_dir = root / "bench" / "scale"
    corpus_dir.mkdir(parents=True, exist_ok=True)
    corpus = corpus_dir / f"corpus-{gb:g}GB.parquet"
    info_path = corpus.with_suffix(".json")
    if not corpus.is_file() or not info_path.is_file():
        info_path.write_text(json.dumps(make_corpus(corpus, gb)))
    info = json.loads(info_path.read_text())
    data_root = corpus_dir / f"root-{gb:g}GB"
    common = [f"paths.root={data_root}", "corpus=local", f"corpus.files=[{corpus}]", "wandb=disabled", *overrides]
    result = {"size_gb": gb, **info, "stages": {}}
    for stage in STAGES:
        measured = run_child(stage, common, corpus_dir)
        # the build's own seconds (stats computes before its builder starts: its wall time, start-up included)
        seconds = measured["wall_s"] if stage == "stats" else (measured["seconds"] or measured["wall_s"])
        result["stages"][stage] = {
            "peak_rss_gb": measured["peak_rss"] / 2**30,
            "seconds": seconds,
            "rows_per_s": info["rows"] / seconds,
            "wall_s": measured["wall_s"],
        }
        print(
            f"  {gb:g} GB {stage:<9} {seconds:8.1f} s  {info['rows'] / seconds:>11,.0f} rows/s  "
            f"peak RSS {measured['peak_rss'] / 2**30:.2f} GB",
            flush=True,
        )
    return result


def bench_train(gb: float, root: Path, steps: int, overrides: list[str]) -> dict:
    corpus_dir = root / "bench" / "scale"
    corpus = corpus_dir / f"corpus-{gb:g}GB.parquet"
    common = [
        f"paths.root={corpus_dir / f'root-{gb:g}GB'}",
        "corpus=local",
        f"corpus.files=[{corpus}]",
        f"train.max_steps={steps}",
        *TRAIN,
        *overrides,
    ]
    out = {}
    for mode in ("resident", "stream"):
        measured = run_child(f"train-{mode}", [*common, f"train.stream={mode}"], corpus_dir)
        out[mode] = {
            "data": measured["data_path"],
            "windows_per_s": measured["windows_per_s"],
            "peak_rss_gb": measured["peak_rss"] / 2**30,
            "wall_s": measured["wall_s"],
        }
        print(
            f"  {gb:g} GB train {mode:<9} {measured['windows_per_s']:>11,.0f} windows/s  "
            f"peak RSS {measured['peak_rss'] / 2**30:.2f} GB  ({measured['data_path']})",
            flush=True,
        )
    out["stream_over_resident"] = out["stream"]["windows_per_s"] / out["resident"]["windows_per_s"]
    return out


def table(results: dict) -> str:
    lines = [f"{'size GB':>8}{'rows':>12}  " + "".join(f"{s + ' rows/s':>17}{'RSS GB':>8}" for s in STAGES)]
    for r in results["sizes"]:
        cells = "".join(f"{r['stages'][s]['rows_per_s']:>17,.0f}{r['stages'][s]['peak_rss_gb']:>8.2f}" for s in STAGES)
        lines.append(f"{r['gigabytes']:>8.2f}{r['rows']:>12,}  {cells}")
    peaks = {s: [r["stages"][s]["peak_rss_gb"] for r in results["sizes"]] for s in STAGES}
    lines.append("peak RSS max/min over sizes: " + ", ".join(f"{s} {max(v) / min(v):.2f}" for s, v in peaks.items()))
    if results.get("train"):
        t = results["train"]
        lines.append(
            f"train ({t['size_gb']:g} GB, {t['steps']} steps): resident {t['resident']['windows_per_s']:,.0f} "
            f"windows/s, stream {t['stream']['windows_per_s']:,.0f} windows/s "
            f"(ratio {t['stream_over_resident']:.2f})"
        )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":  # one stage, in the child process run_child started
        stage, overrides = sys.argv[2], sys.argv[3:]
        data_root = Path(next(o.split("=", 1)[1] for o in overrides if o.startswith("paths.root=")))
        return child(stage, overrides, data_root.parent / f".{stage}.json")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[0.1, 0.3, 1.0])
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--train-size", type=float, default=None, help="corpus (GB) to train on; default the smallest")
    parser.add_argument("--block", type=int, default=32_768, help="windows per streamed block (several per epoch)")
    parser.add_argument("--parts", nargs="+", default=["data", "train"], choices=["data", "train"])
    args, overrides = parser.parse_known_args()
    overrides = [o for o in overrides if o != "--"]
    from bows.config import compose

    root = compose([o for o in overrides if o.startswith("paths.")]).paths.root_path
    out_path = root / "bench" / "bench_scale.json"
    results: dict[str, Any] = json.loads(out_path.read_text()) if out_path.is_file() else {"sizes": []}
    if "data" in args.parts:
        for gb in args.sizes:  # a size measured again replaces its row; other sizes' rows are kept
            row = bench_size(gb, root, overrides)
            results["sizes"] = sorted(
                [r for r in results["sizes"] if r["size_gb"] != gb] + [row], key=lambda r: r["size_gb"]
            )
            out_path.write_text(json.dumps(results, indent=2) + "\n")
    if "train" in args.parts and args.train_steps > 0:
        gb = args.train_size if args.train_size is not None else min(args.sizes)
        train_overrides = [*overrides, f"train.stream_block_windows={args.block}"]
        results["train"] = {
            "size_gb": gb,
            "steps": args.train_steps,
            "block": args.block,
            **bench_train(gb, root, args.train_steps, train_overrides),
        }
    peaks = {s: [r["stages"][s]["peak_rss_gb"] for r in results["sizes"]] for s in STAGES}
    results["peak_rss_max_over_min"] = {s: max(v) / min(v) for s, v in peaks.items() if v}
    results["chunk_rows"] = next((o.split("=", 1)[1] for o in overrides if o.startswith("data.chunk_rows=")), "default")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
