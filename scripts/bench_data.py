"""Data-pipeline benchmark: tokenize, vocab and window throughput on a synthetic WikiText-shaped corpus.

Writes ``<paths.root>/bench/bench_data.json`` and prints a table. The corpus: ``--rows`` rows, ~35%
empty or short heading rows, paragraph rows with a heavy-tailed (log-normal) length of ~70 words
on average, words drawn from a Zipf law over a lexicon of alphabetic pseudo-words mixed with
stopwords, numbers and WikiText-style punctuation (" @-@ ", " , ", " . "). The window step is compared
with a per-window Python set union timed on the first ``--naive-windows`` windows (extrapolated).

    python scripts/bench_data.py [--rows 100000] [--naive-windows 3000] [hydra overrides, e.g. paths.root=/tmp/b]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as _pc
import pyarrow.parquet as pq

from bows.artifacts import Files, artifact_key, build_artifact, library_versions
from bows.config import BowsConfig, compose
from bows.data.binarize import build_binarized
from bows.data.tokenize import stopwords, tokenize, word_ids
from bows.data.vocab import build_vocab, choose_vocab, count_words, sample_rows
from bows.data.windows import build_windows, layout, naive_windows, segment_starts

pc: Any = _pc  # pyarrow.compute's kernels are generated at import time: no static types

WINDOW = ["corpus=wikitext103", "window.group_size=20", "window.stride=1", "window.cross_documents=true"]


def synthetic_corpus(n_rows: int, seed: int = 0, lexicon_size: int = 60_000) -> pa.Table:
    """A docs table (doc_id, source, split, text) shaped like WikiText-103's raw lines."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(3, 11, lexicon_size)
    chars = letters[rng.integers(0, 26, int(lengths.sum()))]
    words = pc.binary_join(
        pa.ListArray.from_arrays(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32), pa.array(chars)), ""
    ).to_numpy(zero_copy_only=False)
    capital = rng.random(lexicon_size) < 0.3
    words = np.where(capital, np.char.capitalize(words.astype(str)), words.astype(str))
    zipf = 1.0 / np.arange(1, lexicon_size + 1) ** 1.05
    functional = np.array(list(stopwords()) + [",", ".", "@-@", "(", ")", "The", "In"] + [str(n) for n in range(200)])
    kind = rng.random(n_rows)
    row_words = np.where(kind < 0.30, 0, np.clip(rng.lognormal(3.9, 0.8, n_rows), 1, 2000).astype(np.int64))
    row_words = np.where((kind >= 0.30) & (kind < 0.35), rng.integers(2, 6, n_rows), row_words)  # " = = Heading = = "
    total = int(row_words.sum())
    content = words[rng.choice(lexicon_size, size=total, p=zipf / zipf.sum())]
    filler = functional[rng.integers(0, len(functional), total)]
    tokens = np.where(rng.random(total) < 0.55, content, filler)
    offsets = np.concatenate([[0], np.cumsum(row_words)]).astype(np.int64)
    values = pa.chunked_array([pa.array(tokens, pa.large_string())]).combine_chunks()
    text = pc.binary_join(pa.LargeListArray.from_arrays(offsets, values), pa.scalar(" ", pa.large_string()))
    split = np.where(
        np.arange(n_rows) < int(0.98 * n_rows),
        "train",
        np.where(np.arange(n_rows) < int(0.99 * n_rows), "validation", "test"),
    )
    doc = np.cumsum(rng.random(n_rows) < 1 / 40)  # articles of ~40 lines
    return pa.table(
        {
            "doc_id": pa.array([f"doc{d}" for d in doc.tolist()]),
            "source": pa.array(["synthetic"] * n_rows),
            "split": pa.array(split),
            "text": text.cast(pa.string()),
        }
    )


def timed(fn, *args, **kwargs):
    """``(result, wall seconds)``; the CPU seconds of the call are kept in ``timed.cpu``."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    timed.cpu = time.process_time() - cpu
    return out, time.perf_counter() - start


def bench(cfg: BowsConfig, n_rows: int, naive_windows_count: int) -> dict:
    docs, seconds_corpus = timed(synthetic_corpus, n_rows)
    train = docs.filter(pc.equal(docs["split"], "train"))
    text = train["text"].combine_chunks()
    results: dict = {
        "rows": n_rows,
        "train_rows": train.num_rows,
        "corpus_seconds": seconds_corpus,
        "vocab_size": cfg.vocab.size,
        "window": {
            "group_size": cfg.window.group_size,
            "stride": cfg.window.stride,
            "cross_documents": cfg.window.cross_documents,
        },
    }

    # tokenize the whole train split in one call
    tokens, t_tok = timed(tokenize, text, min_len=cfg.vocab.min_len)
    # vocab: tokenize + count the seeded sample, pick forced + top words
    sample = sample_rows(train.num_rows, cfg.vocab.sample_fraction, cfg.vocab.seed)
    counts, t_count = timed(lambda: count_words(text.take(pa.array(sample)), cfg.vocab.min_len))
    vocab_table, t_choose = timed(choose_vocab, counts, cfg.vocab.size)
    vocab = vocab_table["word"].combine_chunks()
    (rows, ids), t_ids = timed(word_ids, tokens, vocab)
    codes = pc.dictionary_encode(train["doc_id"]).combine_chunks().indices.to_numpy(zero_copy_only=False)

    def make_windows():
        lay = layout(
            segment_starts(codes, train.num_rows, cfg.window.cross_documents),
            train.num_rows,
            cfg.window.group_size,
            cfg.window.stride,
        )
        return lay, build_windows(rows, ids, lay, cfg.vocab.size)

    runs, cpu_win = [], []
    for _ in range(3):  # median of three: the machine may be shared
        runs.append(timed(make_windows))
        cpu_win.append(timed.cpu)
    (lay, windows), t_win, cpu_win = runs[0][0], float(np.median([s for _, s in runs])), float(np.median(cpu_win))
    # naive: Python sets of each row's word ids (built untimed), one set union per window
    m = min(naive_windows_count, len(lay))
    last_row = int(lay.window_start[m - 1] + lay.window_rows[m - 1])
    bounds = np.searchsorted(rows, np.arange(last_row + 1))
    row_sets = [set(ids[bounds[r] : bounds[r + 1]].tolist()) for r in range(last_row)]
    sub = type(lay)(
        window_start=lay.window_start[:m], window_rows=lay.window_rows[:m], row_lo=lay.row_lo, row_hi=lay.row_hi
    )
    naive, t_naive = timed(naive_windows, row_sets, sub, cfg.vocab.size)
    cpu_naive = timed.cpu
    assert np.array_equal(naive.indices, windows.indices[: windows.offsets[m]]), "naive and vectorised windows differ"

    # end to end: the real vocab + binarize stages on a docs artifact (parquet in, .npy + meta out)
    with tempfile.TemporaryDirectory(dir=cfg.paths.root_path) as tmp:
        root = Path(tmp)
        with build_artifact(root, "download", artifact_key("download", {"bench": n_rows}), {"bench": n_rows}) as b:
            pq.write_table(docs, b.path(Files.DOCS))
        stage_cfg = compose([f"paths.root={root}", *cfg_overrides(cfg)])
        start = time.perf_counter()
        vocab_art, t_vocab_stage = timed(build_vocab, stage_cfg, b.artifact)
        bin_art, t_bin_stage = timed(build_binarized, stage_cfg, b.artifact, vocab_art)
        t_e2e = time.perf_counter() - start

    per_window, per_window_naive = t_win / len(lay), t_naive / m
    results.update(
        {
            "tokens_kept": int(len(tokens.rows)),
            "tokens_in_vocab": int(len(ids)),
            "windows": len(lay),
            "mean_words_per_window": float(windows.lengths.mean()),
            "seconds": {
                "tokenize": t_tok,
                "vocab_count": t_count,
                "vocab_choose": t_choose,
                "word_ids": t_ids,
                "windows": t_win,
                "vocab_stage": t_vocab_stage,
                "binarize_stage": t_bin_stage,
                "end_to_end": t_e2e,
            },
            "rows_per_second": {
                "tokenize": train.num_rows / t_tok,
                "windows": train.num_rows / t_win,
                "end_to_end": n_rows / t_e2e,
            },
            "naive": {
                "windows_timed": m,
                "us_per_window": per_window_naive * 1e6,
                "extrapolated_seconds": per_window_naive * len(lay),
            },
            "windows_us_per_window": per_window * 1e6,
            "windows_speedup_vs_naive": per_window_naive / per_window,
            "windows_cpu_us_per_window": cpu_win / len(lay) * 1e6,
            "naive_cpu_us_per_window": cpu_naive / m * 1e6,
            "windows_cpu_speedup_vs_naive": (cpu_naive / m) / (cpu_win / len(lay)),
            "binarize_stats": bin_art.stats,
            "versions": library_versions(),
            "cpus": os.cpu_count(),
            "load_average_1min": os.getloadavg()[0],
        }
    )
    return results


def cfg_overrides(cfg: BowsConfig) -> list[str]:
    return [
        "wandb=disabled",
        *WINDOW,
        f"vocab.size={cfg.vocab.size}",
        f"vocab.min_len={cfg.vocab.min_len}",
        f"vocab.sample_fraction={cfg.vocab.sample_fraction}",
        f"window.group_size={cfg.window.group_size}",
        f"window.stride={cfg.window.stride}",
        f"window.cross_documents={str(cfg.window.cross_documents).lower()}",
    ]


def table(r: dict) -> str:
    s, rps = r["seconds"], r["rows_per_second"]
    lines = [
        f"bench-data: {r['rows']:,} rows ({r['train_rows']:,} train), V={r['vocab_size']}, "
        f"{r['cpus']} CPUs, load {r['load_average_1min']:.1f}, "
        f"G={r['window']['group_size']}, stride={r['window']['stride']}, "
        f"cross_documents={r['window']['cross_documents']}",
        f"{'step':<34}{'seconds':>9}{'rows/s':>12}",
        f"{'tokenize (train split)':<34}{s['tokenize']:>9.2f}{rps['tokenize']:>12,.0f}",
        f"{'vocab count (20% sample)':<34}{s['vocab_count']:>9.2f}",
        f"{'vocab choose':<34}{s['vocab_choose']:>9.3f}",
        f"{'word ids':<34}{s['word_ids']:>9.2f}",
        f"{'windows (vectorised)':<34}{s['windows']:>9.2f}{rps['windows']:>12,.0f}",
        f"{'windows (naive, extrapolated)':<34}{r['naive']['extrapolated_seconds']:>9.2f}",
        f"{'vocab stage':<34}{s['vocab_stage']:>9.2f}",
        f"{'binarize stage':<34}{s['binarize_stage']:>9.2f}",
        f"{'end to end (vocab + binarize)':<34}{s['end_to_end']:>9.2f}{rps['end_to_end']:>12,.0f}",
        f"windows: {r['windows']:,}, {r['mean_words_per_window']:.1f} words each; "
        f"{r['windows_us_per_window']:.2f} us/window vs naive {r['naive']['us_per_window']:.1f} us/window "
        f"({r['naive']['windows_timed']:,} timed): {r['windows_speedup_vs_naive']:.1f}x faster",
        f"  in CPU time: {r['windows_cpu_us_per_window']:.2f} vs {r['naive_cpu_us_per_window']:.1f} us/window: "
        f"{r['windows_cpu_speedup_vs_naive']:.1f}x faster",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--naive-windows", type=int, default=3_000)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides (paths.root=..., vocab.size=..., window.*)")
    args = parser.parse_args()
    cfg = compose(["wandb=disabled", *WINDOW, *args.overrides])
    cfg.paths.root_path.mkdir(parents=True, exist_ok=True)
    results = bench(cfg, args.rows, args.naive_windows)
    print(table(results))
    out = cfg.paths.root_path / "bench" / "bench_data.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
