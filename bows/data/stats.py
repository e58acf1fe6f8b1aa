"""Stage "stats": reads the binarized train windows (stage binarize) and writes their co-activation
statistics -- word counts, the sparse co-occurrence matrix X^T X of an evenly spaced sample of
windows, the frequent pairs with phi correlation and PMI, and dense matrices for the named word groups.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from bows.analysis.groups import GROUPS, lookup
from bows.artifacts import Artifact, build_artifact, open_artifact, reuse_or_key
from bows.cli import stage_main
from bows.config import BowsConfig, StatsConfig, key_dict
from bows.data import TRAIN
from bows.data.coactivation import cooccurrence, group_columns, group_statistics, pair_table
from bows.data.windows import spread_rows

log = logging.getLogger(__name__)

STAGE = "stats"
SPLIT = TRAIN


class StatsFiles:
    """File names of a stats artifact."""

    WORDS = "words.parquet"  # index, word, count (in the sample), freq (count / sample windows)
    COOC = "cooccurrence.npz"  # scipy.sparse upper-triangular CSR of pair counts (diagonal = word counts)
    PAIRS = "pairs.parquet"  # i < j, count, corr (phi), pmi: pairs with count >= min_count
    GROUPS = "groups.npz"  # per group: <group>/count|corr|pmi|cond_corr|centred_gram (all train windows)
    GROUP_WORDS = "groups.json"  # per group: present words (matrix order), missing words, windows counted


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
        return sp.csr_matrix(sp.load_npz(self.artifact.file(StatsFiles.COOC)))

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
    rows = nonempty[spread_rows(len(nonempty), cfg.sample_windows)]
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
