"""Stage "stats": reads the binarized train windows (stage binarize) and writes their co-activation
statistics -- word counts, the sparse co-occurrence matrix X^T X of an evenly spaced sample of
windows, the frequent pairs with phi correlation and PMI, and dense matrices for the named word groups.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm import tqdm

from bows.artifacts import Artifact, build_artifact, open_artifact, reuse_or_key
from bows.cli import stage_main
from bows.config import BowsConfig, StatsConfig, key_dict
from bows.analysis.groups import GROUPS, lookup

log = logging.getLogger(__name__)

STAGE = "stats"
SPLIT = "train"


class StatsFiles:
    """File names of a stats artifact."""

    WORDS = "words.parquet"  # index, word, count (in the sample), freq (count / sample windows)
    COOC = "cooccurrence.npz"  # scipy.sparse upper-triangular CSR of pair counts (diagonal = word counts)
    PAIRS = "pairs.parquet"  # i < j, count, corr (phi), pmi: pairs with count >= min_count
    GROUPS = "groups.npz"  # per group: <group>/count|corr|pmi|cond_corr|centred_gram (all train windows)
    GROUP_WORDS = "groups.json"  # per group: present words (matrix order), missing words, windows counted


# ----------------------------------------------------------------------------- pure functions
def sample_rows(n_windows: int, sample: int) -> np.ndarray:
    """``sample`` evenly spaced row ids in [0, n_windows) (all rows when the split is smaller)."""
    if sample >= n_windows:
        return np.arange(n_windows, dtype=np.int64)
    return np.unique(np.linspace(0, n_windows - 1, sample).round().astype(np.int64))


def cooccurrence(X: sp.csr_matrix, chunk: int = 50_000) -> sp.csr_matrix:
    """Upper-triangular pair counts C[i, j] = #windows containing both i and j (i <= j; C[i, i] = count of i)."""
    X = sp.csr_matrix(X, dtype=np.int32)
    total = sp.csr_matrix((X.shape[1], X.shape[1]), dtype=np.int64)
    for start in tqdm(range(0, X.shape[0], chunk), desc="stats: X^T X", unit="chunk", leave=False):
        block = X[start:start + chunk]
        total = total + sp.triu(block.T @ block, format="csr").astype(np.int64)
    total.sum_duplicates()
    return total


def phi(count_ij: np.ndarray, count_i: np.ndarray, count_j: np.ndarray, n: int) -> np.ndarray:
    """Pearson correlation of two binary indicators from their counts (phi coefficient); NaN if constant."""
    c_ij, c_i, c_j = (np.asarray(a, dtype=np.float64) for a in (count_ij, count_i, count_j))
    denom = np.sqrt(c_i * (n - c_i) * c_j * (n - c_j))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (n * c_ij - c_i * c_j) / denom, np.nan)


def pmi(count_ij: np.ndarray, count_i: np.ndarray, count_j: np.ndarray, n: int) -> np.ndarray:
    """Pointwise mutual information log(p_ij / (p_i p_j)) in nats; -inf for pairs never seen together."""
    c_ij, c_i, c_j = (np.asarray(a, dtype=np.float64) for a in (count_ij, count_i, count_j))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(n * c_ij) - np.log(c_i) - np.log(c_j)


def pair_table(cooc: sp.csr_matrix, n: int, min_count: int) -> pd.DataFrame:
    """Frequent pairs (i < j, count >= min_count) with their count, phi correlation and PMI."""
    counts = cooc.diagonal().astype(np.int64)
    upper = sp.triu(cooc, k=1, format="coo")
    keep = upper.data >= min_count
    i, j, c = upper.row[keep].astype(np.int32), upper.col[keep].astype(np.int32), upper.data[keep].astype(np.int64)
    order = np.lexsort((j, i))
    i, j, c = i[order], j[order], c[order]
    return pd.DataFrame({"i": i, "j": j, "count": c,
                         "corr": phi(c, counts[i], counts[j], n).astype(np.float32),
                         "pmi": pmi(c, counts[i], counts[j], n).astype(np.float32)})


def row_statistics(cooc: sp.csr_matrix, n: int, t: int) -> pd.DataFrame:
    """Co-occurrence count, phi correlation and PMI of word t with every word (from the upper-triangular matrix)."""
    cooc = sp.csr_matrix(cooc)
    counts = cooc.diagonal().astype(np.int64)
    row = np.asarray(cooc[t].todense()).ravel() + np.asarray(cooc[:, t].todense()).ravel()
    row[t] = counts[t]
    return pd.DataFrame({"count": row.astype(np.int64), "corr": phi(row, counts[t], counts, n),
                         "pmi": pmi(row, counts[t], counts, n)})


def group_statistics(X_group: sp.spmatrix | np.ndarray) -> dict[str, np.ndarray]:
    """Dense statistics of a word group's indicator columns (windows x k).

    count: co-occurrence counts; corr: phi over all windows; pmi: PMI over all windows;
    cond_corr: Pearson correlation over windows containing at least one group word;
    centred_gram: M^T M of the row-centred indicators of those windows (its eigenvectors give
    the data's own PCA of the group words -- the months ring in the data).
    """
    X = sp.csr_matrix(X_group, dtype=np.float64)
    n, k = X.shape
    count = (X.T @ X).toarray()
    c = np.diag(count)
    stats = {"count": count.astype(np.int64),
             "corr": phi(count, c[:, None], c[None, :], n),
             "pmi": pmi(count, c[:, None], c[None, :], n)}
    active = np.asarray(X.sum(axis=1)).ravel() > 0
    Xa = X[active].toarray()
    m = Xa.shape[0]
    if m > 1:
        centred = Xa - Xa.mean(axis=0)
        cov = centred.T @ centred
        sd = np.sqrt(np.diag(cov))
        with np.errstate(invalid="ignore", divide="ignore"):
            stats["cond_corr"] = cov / np.outer(sd, sd)
        rows = Xa - Xa.mean(axis=1, keepdims=True)
        stats["centred_gram"] = rows.T @ rows
    else:
        stats["cond_corr"] = np.full((k, k), np.nan)
        stats["centred_gram"] = np.zeros((k, k))
    stats["windows"] = np.array([n, m], dtype=np.int64)  # all windows, windows with >= 1 group word
    return stats


def group_columns(offsets: np.ndarray, indices: np.ndarray, ids: np.ndarray, vocab_size: int,
                  chunk: int = 1 << 26) -> sp.csr_matrix:
    """Indicator matrix (windows x len(ids)) of the word ids ``ids`` from CSR windows, without
    materialising the full windows x V matrix (reads ``indices`` in chunks; works on memmaps)."""
    column = np.full(vocab_size, -1, dtype=np.int64)
    column[ids] = np.arange(len(ids))
    rows, cols = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for start in range(0, len(indices), chunk):
        mapped = column[np.asarray(indices[start:start + chunk], dtype=np.int64)]
        hit = np.flatnonzero(mapped >= 0)
        rows.append(np.searchsorted(offsets, start + hit, side="right") - 1)
        cols.append(mapped[hit])
    row, col = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_matrix((np.ones(len(row), dtype=np.int8), (row, col)), shape=(len(offsets) - 1, len(ids)))


# ----------------------------------------------------------------------------- artifact
@dataclass(frozen=True)
class CoStats:
    """A loaded stats artifact."""

    artifact: Artifact
    words: pd.DataFrame  # index, word, count, freq
    n_windows: int  # windows in the sample behind counts and pairs

    @property
    def vocab(self) -> list[str]:
        return self.words["word"].tolist()

    def pairs(self) -> pd.DataFrame:
        return pd.read_parquet(self.artifact.file(StatsFiles.PAIRS))

    def cooccurrence(self) -> sp.csr_matrix:
        return sp.load_npz(self.artifact.file(StatsFiles.COOC)).tocsr()

    def group(self, name: str) -> tuple[dict[str, np.ndarray], dict]:
        """A named group's matrices and its word info (``words``, ``missing``, ``windows``)."""
        info = json.loads(self.artifact.file(StatsFiles.GROUP_WORDS).read_text())[name]
        with np.load(self.artifact.file(StatsFiles.GROUPS)) as data:
            mats = {key.split("/", 1)[1]: data[key] for key in data.files if key.startswith(name + "/")}
        return mats, info


def load_stats(artifact: Artifact | Path) -> CoStats:
    artifact = artifact if isinstance(artifact, Artifact) else open_artifact(Path(artifact))
    words = pd.read_parquet(artifact.file(StatsFiles.WORDS))
    return CoStats(artifact, words, int(artifact.stats["sample_windows"]))


def build(root: Path, windows_artifact: Artifact, cfg: StatsConfig,
          groups: dict[str, Sequence[str]] | None = None) -> Artifact:
    """The stats artifact of a windows artifact (built unless an intact one exists)."""
    from bows.data.binarize import load_windows, vocab_of

    config = {"stats": key_dict(cfg), "split": SPLIT}
    key, found = reuse_or_key(root, STAGE, config, {"windows": windows_artifact})
    if found is not None:
        return found
    groups = dict(GROUPS if groups is None else groups)
    vocab = vocab_of(windows_artifact)
    windows = load_windows(windows_artifact, SPLIT)
    nonempty = np.flatnonzero(windows.lengths > 0)  # as in training, empty windows are skipped
    rows = nonempty[sample_rows(len(nonempty), cfg.sample_windows)]
    log.info("stats: %d of %d non-empty train windows (evenly spaced), V=%d", len(rows), len(nonempty), len(vocab))
    X = windows.subset(rows).to_csr()
    cooc = cooccurrence(X)
    n = X.shape[0]
    counts = cooc.diagonal().astype(np.int64)
    pairs = pair_table(cooc, n, cfg.min_count)
    with build_artifact(root, STAGE, key, config, {"windows": windows_artifact}) as b:
        pd.DataFrame({"index": np.arange(len(vocab), dtype=np.int32), "word": vocab, "count": counts,
                      "freq": counts / max(n, 1)}).to_parquet(b.path(StatsFiles.WORDS), index=False)
        sp.save_npz(b.path(StatsFiles.COOC), cooc, compressed=True)
        pairs.to_parquet(b.path(StatsFiles.PAIRS), index=False)
        arrays, info = {}, {}
        for name, words in groups.items():
            found_words = lookup(words, vocab)
            columns = group_columns(windows.offsets, windows.indices, found_words.indices, len(vocab))
            mats = group_statistics(columns[nonempty])
            arrays.update({f"{name}/{k}": v for k, v in mats.items()})
            info[name] = {"words": list(found_words.words), "missing": list(found_words.missing),
                          "windows": int(mats["windows"][0]), "windows_with_group": int(mats["windows"][1])}
        np.savez_compressed(b.path(StatsFiles.GROUPS), **arrays)
        b.path(StatsFiles.GROUP_WORDS).write_text(json.dumps(info, indent=2) + "\n")
        b.stats = {"sample_windows": int(n), "train_windows": int(len(windows)), "nonempty_windows": int(len(nonempty)),
                   "sample": f"{n} evenly spaced of the {len(nonempty)} non-empty train windows",
                   "group_windows": f"all {len(nonempty)} non-empty train windows",
                   "pairs": int(len(pairs)), "nonzero_pairs": int(cooc.nnz - np.count_nonzero(counts)),
                   "min_count": cfg.min_count, "vocab_size": len(vocab),
                   "missing": {k: v["missing"] for k, v in info.items() if v["missing"]}}
    log.info("stats: %d pairs with count >= %d -> %s", len(pairs), cfg.min_count, b.artifact.path)
    return b.artifact


def run(cfg: BowsConfig) -> Artifact:
    from bows.data import binarize

    return build(cfg.paths.root_path, binarize.run(cfg), cfg.stats)


main = stage_main(run)

if __name__ == "__main__":
    main()
