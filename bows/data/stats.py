"""Stage "stats": reads the binarized train windows (stage binarize) and writes their co-activation
statistics -- word counts, the sparse co-occurrence matrix X^T X of an evenly spaced sample of
windows, the frequent pairs with phi correlation and PMI, and dense matrices for the named word groups.
One streaming pass over the windows files (``scan_windows``) copies out the sample and adds up the
groups' integer moments; memory is set by ``stats.sample_windows``, the vocabulary and a chunk, not
by the corpus (the data diagnostics stream the corpus in chunks of ``data.chunk_rows`` rows too).
"""

from __future__ import annotations

import json
import logging
import mmap
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from bows.artifacts import Artifact, ScanFiles, StatsFiles, open_artifact  # noqa: F401  (file names re-exported)
from bows.cli import stage_main
from bows.config import BowsConfig, StatsConfig, key_dict
from bows.core.groups import GROUPS, lookup
from bows.data import TRAIN
from bows.data.coactivation import PAIR_SCHEMA, CoStats, GroupMoments, pair_blocks, pair_counts, symmetric_block
from bows.data.windows import Windows, expand_ranges, spread_rows
from bows.progress import Progress
from bows.stages import build_artifact, reuse_or_key

log = logging.getLogger(__name__)

STAGE = "stats"
SPLIT = TRAIN


def read_range(array: np.ndarray, start: int, stop: int) -> np.ndarray:
    """``array[start:stop]`` in memory; from a memory-mapped ``.npy`` by reading the file, so the pages
    read never stay mapped into the process (its resident memory does not grow with the file)."""
    if isinstance(array, np.memmap) and isinstance(array.base, mmap.mmap) and array.filename is not None:
        # a whole mapped file (a slice of one keeps its parent's ``offset``: read through the mapping)
        start, stop = min(start, len(array)), min(stop, len(array))
        count = max(0, stop - start)
        return np.fromfile(array.filename, array.dtype, count, offset=array.offset + start * array.itemsize)
    return np.asarray(array[start:stop])


def window_chunks(windows: Windows, chunk_words: int = 1 << 22) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(first window, offsets, indices)`` of consecutive runs of windows holding about
    ``chunk_words`` words each on average (offsets as stored: they start at the run's first word)."""
    n = len(windows)
    total = int(read_range(windows.offsets, n, n + 1)[0]) if n else 0
    step = int(np.clip(chunk_words * n // max(total, 1), 1, max(n, 1)))
    for w0 in range(0, n, step):
        offsets = read_range(windows.offsets, w0, min(w0 + step, n) + 1).astype(np.int64, copy=False)
        yield w0, offsets, read_range(windows.indices, int(offsets[0]), int(offsets[-1]))


def sample_nonempty(offsets: np.ndarray, sample: int, chunk: int = 1 << 22) -> np.ndarray:
    """Ids of ``sample`` evenly spaced non-empty windows (``spread_rows`` over the non-empty ones), read
    from (memory-mapped) CSR offsets in chunks: memory is set by ``sample`` and ``chunk``."""
    n_windows = len(offsets) - 1
    counts = []
    for start in range(0, n_windows, chunk):
        part = read_range(offsets, start, min(start + chunk, n_windows) + 1).astype(np.int64, copy=False)
        counts.append(int(np.count_nonzero(np.diff(part))))
    ranks = spread_rows(int(sum(counts)), sample)
    picked, seen = [np.zeros(0, np.int64)], 0
    for index, start in enumerate(range(0, n_windows, chunk)):
        lo, hi = np.searchsorted(ranks, [seen, seen + counts[index]])
        if hi > lo:
            part = read_range(offsets, start, min(start + chunk, n_windows) + 1).astype(np.int64, copy=False)
            picked.append(np.flatnonzero(np.diff(part) > 0)[ranks[lo:hi] - seen] + start)
        seen += counts[index]
    return np.concatenate(picked)


def scan_windows(
    windows: Windows, sample: np.ndarray, groups: dict[str, np.ndarray], chunk_words: int = 1 << 22
) -> tuple[Windows, dict[str, GroupMoments], int]:
    """One pass over the windows, a chunk at a time: the ``sample`` windows (sorted ids) copied into
    memory, the moments of every group (word ids) over the non-empty windows, and their number.
    Memory: the sample, a chunk, and k x k per group -- never an array over all windows."""
    union = np.unique(np.concatenate([np.zeros(0, np.int64), *(np.asarray(g, np.int64) for g in groups.values())]))
    column = np.full(windows.vocab_size, -1, np.int32)
    column[union] = np.arange(len(union), dtype=np.int32)
    local = {}  # per group: position in ``union`` -> group column (-1: not in the group)
    for name, ids in groups.items():
        local[name] = np.full(len(union), -1, np.int64)
        local[name][np.searchsorted(union, ids)] = np.arange(len(ids))
    moments = {name: GroupMoments(len(ids)) for name, ids in groups.items()}
    lengths, pieces, nonempty = [np.zeros(0, np.int64)], [np.zeros(0, windows.indices.dtype)], 0
    for w0, offsets, indices in window_chunks(windows, chunk_words):
        sizes = np.diff(offsets)
        nonempty += int(np.count_nonzero(sizes))
        mine = sample[np.searchsorted(sample, w0) : np.searchsorted(sample, w0 + len(sizes))] - w0
        if len(mine):
            pieces.append(indices[expand_ranges(offsets[mine] - offsets[0], sizes[mine])])
            lengths.append(sizes[mine])
        mapped = column[indices]
        hit = np.flatnonzero(mapped >= 0)
        if len(hit):
            window = np.searchsorted(offsets, offsets[0] + hit, side="right") - 1
            for name, group in local.items():
                cols = group[mapped[hit]]
                keep = cols >= 0
                moments[name].add(window[keep], cols[keep])
    for m in moments.values():
        m.windows = nonempty
    sizes = np.concatenate(lengths)
    offsets = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return Windows(offsets, np.concatenate(pieces), windows.vocab_size), moments, nonempty


def write_pairs(cooc: sp.csr_matrix, n: int, min_count: int, path: Path) -> int:
    """The frequent pairs (i < j, count, phi, PMI) written to Parquet block by block (never whole in memory;
    equal to ``tests/references.py``'s one-piece ``pair_table``); the number of pairs."""
    rows = 0
    with pq.ParquetWriter(path, PAIR_SCHEMA) as writer:
        for block in pair_blocks(cooc, n, min_count):
            writer.write_table(pa.Table.from_pandas(block, schema=PAIR_SCHEMA, preserve_index=False))
            rows += len(block)
    return rows


# ----------------------------------------------------------------------------- artifact
def load_stats(artifact: Artifact | Path) -> CoStats:
    """Every file of a stats artifact, read into memory (the analyses compute on it without touching files)."""
    artifact = artifact if isinstance(artifact, Artifact) else open_artifact(Path(artifact))
    info = json.loads(artifact.file(StatsFiles.GROUP_WORDS).read_text())
    with np.load(artifact.file(StatsFiles.GROUPS)) as data:
        arrays = {key: data[key] for key in data.files}
    groups = {
        name: ({key.split("/", 1)[1]: v for key, v in arrays.items() if key.startswith(name + "/")}, words)
        for name, words in info.items()
    }
    return CoStats(
        words=pd.read_parquet(artifact.file(StatsFiles.WORDS)),
        n_windows=int(artifact.stats["sample_windows"]),
        pairs=pd.read_parquet(artifact.file(StatsFiles.PAIRS)),
        cooccurrence=sp.csr_matrix(sp.load_npz(artifact.file(StatsFiles.COOC))),
        groups=groups,
    )


def stats_config(cfg: StatsConfig) -> dict:
    """What the stats artifact depends on besides its windows input (hashed into the key)."""
    return {"stats": key_dict(cfg), "split": SPLIT}


def build(
    root: Path, windows_artifact: Artifact, cfg: StatsConfig, groups: dict[str, Sequence[str]] | None = None
) -> Artifact:
    """The stats artifact of a windows artifact (built unless an intact one exists)."""
    from bows.data.binarize import load_windows, vocab_of

    config = stats_config(cfg)
    key, found = reuse_or_key(root, STAGE, config, {"windows": windows_artifact})
    if found is not None:
        return found
    groups = dict(GROUPS if groups is None else groups)
    vocab = vocab_of(windows_artifact)
    windows = load_windows(windows_artifact, SPLIT)
    rows = sample_nonempty(windows.offsets, cfg.sample_windows)
    found = {name: lookup(words, vocab) for name, words in groups.items()}
    sampled, moments, nonempty = scan_windows(windows, rows, {k: np.asarray(v.indices) for k, v in found.items()})
    log.info("stats: %d of %d non-empty train windows (evenly spaced), V=%d", len(rows), nonempty, len(vocab))
    n = len(sampled)
    cooc = pair_counts(sampled.offsets, sampled.indices, sampled.vocab_size)
    del sampled
    counts = cooc.diagonal().astype(np.int64)
    with build_artifact(root, STAGE, key, config, {"windows": windows_artifact}) as b:
        pd.DataFrame(
            {"index": np.arange(len(vocab), dtype=np.int32), "word": vocab, "count": counts, "freq": counts / max(n, 1)}
        ).to_parquet(b.path(StatsFiles.WORDS), index=False)
        sp.save_npz(b.path(StatsFiles.COOC), cooc, compressed=True)
        pairs = write_pairs(cooc, n, cfg.min_count, b.path(StatsFiles.PAIRS))
        arrays, info = {}, {}
        for name, found_words in found.items():
            mats = moments[name].statistics()
            arrays.update({f"{name}/{k}": v for k, v in mats.items()})
            info[name] = {
                "words": list(found_words.words),
                "missing": list(found_words.missing),
                "windows": int(mats["windows"][0]),
                "windows_with_group": int(mats["windows"][1]),
            }
        np.savez_compressed(b.path(StatsFiles.GROUPS), **arrays)
        b.path(StatsFiles.GROUP_WORDS).write_text(json.dumps(info, indent=2) + "\n")
        b.stats = {
            "sample_windows": int(n),
            "train_windows": int(len(windows)),
            "nonempty_windows": int(nonempty),
            "sample": f"{n} evenly spaced of the {nonempty} non-empty train windows",
            "group_windows": f"all {nonempty} non-empty train windows",
            "pairs": int(pairs),
            "nonzero_pairs": int(cooc.nnz - np.count_nonzero(counts)),
            "min_count": cfg.min_count,
            "vocab_size": len(vocab),
            "missing": {k: v["missing"] for k, v in info.items() if v["missing"]},
        }
    log.info("stats: %d pairs with count >= %d -> %s", pairs, cfg.min_count, b.artifact.path)
    return b.artifact


# ----------------------------------------------------------------------------- data diagnostics
SCAN_STAGE = "windowscan"


PRIMARY_SCORE = {"ring": "adjacent_fraction", "line": "line_spearman", None: "shape_ring"}
# a discovered group has no natural order: its label-free score follows the shape it was found as
FOUND_SCORE = {"ring": "shape_ring", "line": "explained_pc1"}


def data_discovery(costats: CoStats, candidates: int = 3000, dim: int = 100, seed: int = 0):
    """Label-free structure discovery on the co-occurrence alone, for comparison with the model's W
    (``bows.core.discovery``): candidates from word vectors (PPMI-SVD of the most frequent words),
    shapes from the words' indicator correlations (phi, the data's analogue of W's Gram). Returns the
    discovery, the pool (vocabulary ids) and the evaluation against the months and days (labels used
    only after the method ran)."""
    from bows.core.discovery import cooccurrence_correlation, discover, evaluate, ppmi_vectors
    from bows.core.groups import GROUPS, MONTHS

    cooc = costats.cooccurrence
    counts = cooc.diagonal().astype(np.float64)
    top = np.argsort(-counts, kind="stable")[: min(candidates, len(counts))]
    top = top[counts[top] > 0]
    block = symmetric_block(cooc, top)
    vectors = ppmi_vectors(block, counts[top], costats.n_windows, dim)
    phi = cooccurrence_correlation(block, counts[top], costats.n_windows)
    words = [costats.vocab[i] for i in top]
    result = discover(vectors, words, counts[top], gram=phi, seed=seed)
    targets = {"months": MONTHS, "days": GROUPS["days"]}
    return result, top, evaluate(result, vectors, words, counts[top], targets, gram=phi, seed=seed)


def group_window_moments(
    path: Path,
    vocab: list[str],
    groups: dict[str, np.ndarray],
    window_sizes: Sequence[int],
    *,
    stride: int,
    cross_documents: bool,
    min_len: int,
    chunk_rows: int,
) -> dict[str, dict[int, GroupMoments]]:
    """Per group (word ids) and window size G: the moments of the group's windows over the train
    rows of a docs Parquet file. The split streams in chunks of ``chunk_rows`` rows through the
    tokenizer and the window kernels restricted to the group's words (``chunks.ChunkedWindows``:
    the windows of the binarize stage), so memory is set by the chunk, not by the corpus."""
    import pyarrow as pa

    from bows.data.chunks import ChunkedWindows, doc_changes, read_split, split_rows
    from bows.data.tokenize import tokenize, word_ids

    words = pa.array(vocab, pa.string())
    sizes = list(dict.fromkeys(int(g) for g in window_sizes))
    moments = {name: {g: GroupMoments(len(ids)) for g in sizes} for name, ids in groups.items()}
    builders, columns = {}, {}
    for name, ids in groups.items():
        columns[name] = np.full(len(vocab), -1, np.int64)
        columns[name][ids] = np.arange(len(ids))
        builders[name] = [ChunkedWindows(moments[name][g], len(ids), g, stride, cross_documents) for g in sizes]
    previous: str | None = None
    progress = Progress(f"stats: windows of {', '.join(groups)}", split_rows(path, SPLIT))
    for _, table in read_split(path, SPLIT, ["doc_id", "text"], chunk_rows):
        progress.update(table.num_rows)
        changes = doc_changes(table["doc_id"], previous)
        previous = table["doc_id"][-1].as_py()
        rows, ids = word_ids(tokenize(table["text"], min_len=min_len), words)
        for name, column in columns.items():
            mapped = column[np.asarray(ids, np.int64)]
            hit = mapped >= 0
            for builder in builders[name]:
                builder.feed(rows[hit], mapped[hit], table.num_rows, changes)
    progress.close()
    for chain in builders.values():
        for builder in chain:
            builder.finish()
    return moments


def _segmentation_moments(
    cfg: BowsConfig, sentences_per_row: int, vocab: list[str], groups: dict[str, np.ndarray]
) -> dict[str, dict[int, GroupMoments]]:
    """``group_window_moments`` of the corpus cut into rows of ``sentences_per_row`` sentences (the
    embedded corpus; others: as configured)."""
    import dataclasses

    from bows.artifacts import Files
    from bows.data import download

    corpus = dataclasses.replace(cfg.corpus, sentences_per_row=sentences_per_row)
    docs = download.run(dataclasses.replace(cfg, corpus=corpus))
    return group_window_moments(
        docs.file(Files.DOCS),
        vocab,
        groups,
        cfg.stats.scan_window_sizes,
        stride=cfg.window.stride,
        cross_documents=cfg.window.cross_documents,
        min_len=cfg.vocab.min_len,
        chunk_rows=cfg.data.chunk_rows,
    )


def window_scan(
    cfg: BowsConfig,
    vocab: list[str],
    groups: dict[str, tuple[Sequence[str], str | None]],
    found_shapes: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Ring / line scores of every group for every segmentation and window size G (one row each).
    ``found_shapes``: the shape ("ring", "line") each discovered group (kind None) was found as, which
    picks its label-free primary score (``FOUND_SCORE``)."""
    from bows.data import diagnostics as diag

    segmentations = (
        sorted(set(cfg.stats.scan_sentences_per_row) | {cfg.corpus.sentences_per_row})
        if cfg.corpus.name == "embedded"
        else [cfg.corpus.sentences_per_row]
    )
    found = {}
    for name, (words, _) in groups.items():
        found[name] = lookup(words, vocab)
        if len(found[name]) < 3:
            log.info("stats: scan: %s has %d words in the vocabulary, skipped", name, len(found[name]))
            del found[name]
    frames = []
    for spr in segmentations:
        moments = _segmentation_moments(cfg, spr, vocab, {k: np.asarray(v.indices, np.int64) for k, v in found.items()})
        for name, hit in found.items():
            kind = groups[name][1]
            frame = pd.DataFrame([{"group_size": g, **diag.window_scores(m, kind)} for g, m in moments[name].items()])
            frame.insert(0, "group", name)
            frame.insert(1, "kind", kind or "discovered")
            frame.insert(2, "sentences_per_row", spr if cfg.corpus.name == "embedded" else None)
            frame["words"] = " ".join(hit.words)
            frame["missing"] = " ".join(hit.missing)
            # 4 points (seasons) always look half-adjacent on a ring: their share of the Fourier mode is the score
            primary = "fourier_share" if kind == "ring" and len(hit) < 5 else PRIMARY_SCORE[kind]
            if kind is None and (found_shapes or {}).get(name) in FOUND_SCORE:
                primary = FOUND_SCORE[(found_shapes or {})[name]]
            frame["primary"] = primary
            frame["score"] = frame[primary]
            frame["chance"] = diag.chance_levels(len(hit)).get(primary)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def scan_summary(table: pd.DataFrame, cfg: BowsConfig) -> dict:
    """Per group: the best G per segmentation (primary score, ties to the smaller G) and the scores
    of the configured segmentation and G."""
    out = {}
    spr = cfg.corpus.sentences_per_row if cfg.corpus.name == "embedded" else None
    for name, frame in table.groupby("group", sort=False):
        chance = frame["chance"].iloc[0]
        entry = {
            "kind": frame["kind"].iloc[0],
            "primary": frame["primary"].iloc[0],
            "words": frame["words"].iloc[0],
            "chance": None if chance is None or not np.isfinite(chance) else float(chance),
            "best": [],
        }
        for seg, part in frame.groupby("sentences_per_row", dropna=False, sort=True):
            scored = part.dropna(subset=["score"])
            if len(scored):
                top = scored.sort_values(["score", "group_size"], ascending=[False, True]).iloc[0]
                entry["best"].append(
                    {
                        "sentences_per_row": None if pd.isna(seg) else int(float(str(seg))),
                        "group_size": int(top["group_size"]),
                        "score": float(top["score"]),
                    }
                )
        here = frame[
            (frame["group_size"] == cfg.window.group_size)
            & ((frame["sentences_per_row"] == spr) if spr is not None else True)
        ]
        entry["configured"] = (
            here.drop(columns=["group", "words", "missing"]).to_dict("records")[0] if len(here) else None
        )
        out[name] = entry
    return {"sentences_per_row": spr, "group_size": cfg.window.group_size, "groups": out}


def _scan_key(cfg: BowsConfig, windows_artifact: Artifact, stats_artifact: Artifact) -> tuple[dict, dict]:
    config = {
        "stats": key_dict(cfg.stats),
        "corpus": key_dict(cfg.corpus),
        "vocab": key_dict(cfg.vocab),
        "window": key_dict(cfg.window),
        "split": SPLIT,
    }
    return config, {"windows": windows_artifact, "stats": stats_artifact}


def find_window_scan(
    cfg: BowsConfig, windows_artifact: Artifact, stats_artifact: Artifact, root: Path | None = None
) -> Artifact | None:
    """The data-diagnostics artifact of these inputs if ``make stats`` built it (never builds)."""
    config, inputs = _scan_key(cfg, windows_artifact, stats_artifact)
    return reuse_or_key(root or cfg.paths.root_path, SCAN_STAGE, config, inputs)[1]


def load_window_scan(artifact: Artifact) -> tuple[pd.DataFrame, dict]:
    return pd.read_parquet(artifact.file(ScanFiles.TABLE)), json.loads(artifact.file(ScanFiles.SUMMARY).read_text())


def build_window_scan(cfg: BowsConfig, windows_artifact: Artifact, stats_artifact: Artifact) -> Artifact:
    """The data-diagnostics artifact: named groups and groups discovered in the co-occurrence, scanned
    over G and (embedded corpus) the row segmentation; numbers, then the figures next to them."""
    from bows.core.groups import DIAGNOSTIC_GROUPS
    from bows.data.binarize import vocab_of
    from bows.plots import diagnostics as diag_plots

    config, inputs = _scan_key(cfg, windows_artifact, stats_artifact)
    key, found = reuse_or_key(cfg.paths.root_path, SCAN_STAGE, config, inputs)
    if found is not None:
        return found
    vocab = vocab_of(windows_artifact)
    groups: dict[str, tuple[Sequence[str], str | None]] = {k: v for k, v in DIAGNOSTIC_GROUPS.items()}
    discovered = pd.DataFrame()
    discovery_summary = None
    found_shapes: dict[str, str] = {}
    if cfg.stats.scan_discovered > 0:
        result, _, evaluation = data_discovery(load_stats(stats_artifact))
        discovered = result.found
        discovery_summary = {
            "z_min": result.z_min,
            "thresholds": result.thresholds,
            "candidates": int(len(result.candidates)),
            "evaluation": evaluation,
        }
        best = discovered[discovered["shape"] != "cluster"].sort_values("z", ascending=False)
        for _, row in best.head(cfg.stats.scan_discovered).iterrows():
            name = f"found {row['shape']} {row['rank']}"
            groups[name] = (row["words"].split(), None)
            found_shapes[name] = row["shape"]
    table = window_scan(cfg, vocab, groups, found_shapes)
    summary = scan_summary(table, cfg)
    summary["discovery"] = discovery_summary  # the co-occurrence's own discovery, judged on months and days
    with build_artifact(cfg.paths.root_path, SCAN_STAGE, key, config, inputs) as b:
        table.to_parquet(b.path(ScanFiles.TABLE), index=False)
        discovered.to_parquet(b.path(ScanFiles.DISCOVERY), index=False)
        b.path(ScanFiles.SUMMARY).write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
        made = {}
        for name, (fn, arg) in {
            ScanFiles.FIGURE: (diag_plots.window_scan_figure, table),
            ScanFiles.GALLERY: (diag_plots.data_gallery_figure, discovered),
        }.items():
            try:
                made[name] = bool(fn(arg, b.path(name), summary))
            except Exception as exc:  # one failed figure never takes the numbers down
                log.warning("stats: figure %s failed: %s: %s", name, type(exc).__name__, exc)
                made[name] = False
        b.stats = {
            "groups": len(summary["groups"]),
            "figures": made,
            "best": {k: v["best"] for k, v in summary["groups"].items()},
        }
    log.info("stats: data diagnostics -> %s", b.artifact.path)  # type: ignore[attr-defined]
    log.info("%s", format_scan(summary))
    return b.artifact  # type: ignore[attr-defined]


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return None if not np.isfinite(obj) else float(obj)
    return str(obj)


def format_scan(summary: dict) -> str:
    """One line per group: the best window size per segmentation."""
    lines = [
        f"data diagnostics (configured: sentences_per_row={summary['sentences_per_row']}, G={summary['group_size']})"
    ]
    for name, entry in summary["groups"].items():
        best = ", ".join(
            f"spr {b['sentences_per_row']}: G={b['group_size']} ({b['score']:.2f})"
            if b["sentences_per_row"]
            else f"G={b['group_size']} ({b['score']:.2f})"
            for b in entry["best"]
        )
        here = entry["configured"]
        chance = f"{entry['chance']:.2f}" if entry["chance"] is not None and np.isfinite(entry["chance"]) else "n/a"
        now = f"{here['score']:.2f}" if here and here.get("score") is not None and np.isfinite(here["score"]) else "n/a"
        lines.append(f"  {name:<18} {entry['primary']:<18} configured {now:>5} (chance {chance}); best {best}")
    return "\n".join(lines)


def run(cfg: BowsConfig) -> Artifact:
    from bows.data import binarize

    windows = binarize.run(cfg)
    artifact = build(cfg.paths.root_path, windows, cfg.stats)
    if cfg.stats.scan:
        build_window_scan(cfg, windows, artifact)
    return artifact


main = stage_main(run)

if __name__ == "__main__":
    main()
