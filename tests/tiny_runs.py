"""Hand-made tiny inputs for the analysis tests: a corpus with known month/day rings, a windows
artifact and a run directory in the contract's format (no training, no network)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from safetensors.numpy import save_file

from bows.artifacts import Artifact, Files, build_artifact, file_record
from bows.config import BowsConfig, as_dict
from bows.core.groups import DAYS, MONTHS, ROMAN, SEASONAL, load_categories

WINTER = ("snow", "Christmas", "freezing")


def tiny_vocab() -> list[str]:
    cats = load_categories()
    words = [*DAYS, *MONTHS, *SEASONAL, *ROMAN, "pressure", "milk", "orange", "rice"]
    words += [w for c in cats.values() for w in c[:6]] + [f"w{i}" for i in range(30)]
    return list(dict.fromkeys(words))


def tiny_windows(vocab: list[str], n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR windows: random words plus a month (and often its calendar neighbour) and a day."""
    rng = np.random.default_rng(seed)
    idx = {w: i for i, w in enumerate(vocab)}
    rows = []
    for _ in range(n):
        active = set(rng.choice(len(vocab), size=rng.integers(0, 5), replace=False).tolist())
        m, d = rng.integers(12), rng.integers(7)
        if rng.random() < 0.6:
            active |= {idx[MONTHS[m]]} | ({idx[MONTHS[(m + 1) % 12]]} if rng.random() < 0.5 else set())
            if m in (11, 0, 1) and rng.random() < 0.5:
                active.add(idx[WINTER[rng.integers(3)]])
        if rng.random() < 0.4:
            active |= {idx[DAYS[d]]} | ({idx[DAYS[(d + 1) % 7]]} if rng.random() < 0.5 else set())
        rows.append(sorted(active))
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    indices = np.concatenate([np.asarray(r, dtype=np.uint16) for r in rows])
    return offsets, indices


def _without(offsets: np.ndarray, indices: np.ndarray, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The same CSR windows with the word ids ``ids`` removed from every window."""
    keep = ~np.isin(indices, ids)
    lengths = np.diff(np.concatenate([[0], np.cumsum(keep)])[offsets])
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), indices[keep]


def make_windows_artifact(
    root: Path,
    vocab: list[str],
    n_train: int = 3000,
    n_val: int = 600,
    seed: int = 0,
    absent: tuple[str, ...] = (),
    rename: dict[str, str] | None = None,
) -> Artifact:
    """A vocab + binarize artifact of ``tiny_windows``; words in ``absent`` stay in the vocabulary
    but occur in no window (like forced calendar tokens of a corpus without dates); ``rename``
    replaces words of the saved vocabulary (so they are missing from it)."""
    tag = f"tiny{seed}" + (f"-{len(absent)}absent-{len(rename or {})}renamed" if absent or rename else "")
    with build_artifact(root, "vocab", tag, {"tiny": seed, "absent": list(absent)}) as b:
        pd.DataFrame(
            {
                "index": np.arange(len(vocab), dtype=np.int32),
                "word": [(rename or {}).get(w, w) for w in vocab],
                "count": np.ones(len(vocab), dtype=np.int64),
                "forced": np.zeros(len(vocab), bool),
            }
        ).to_parquet(b.path(Files.VOCAB), index=False)
    vocab_art = b.artifact
    with build_artifact(root, "binarize", tag, {"tiny": seed, "absent": list(absent)}, {"vocab": vocab_art}) as b:
        for split, n, s in (("train", n_train, seed), ("validation", n_val, seed + 1)):
            offsets, indices = tiny_windows(vocab, n, s)
            if absent:
                offsets, indices = _without(offsets, indices, [vocab.index(w) for w in absent])
            np.save(b.path(Files.offsets(split)), offsets)
            np.save(b.path(Files.indices(split)), indices)
        b.extra["vocab_size"] = len(vocab)
    return b.artifact


def linear_weights(
    windows: Artifact, vocab_size: int, latent: int, scale: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """A 'PCA-like' model: W = top eigenvectors of the data's correlation matrix (rings included)."""
    offsets = np.load(windows.file(Files.offsets("train")))
    indices = np.load(windows.file(Files.indices("train")))
    X = sp.csr_matrix((np.ones(len(indices)), indices, offsets), shape=(len(offsets) - 1, vocab_size)).toarray()
    corr = np.nan_to_num(np.corrcoef(X, rowvar=False))
    evals, evecs = np.linalg.eigh(corr)
    W = (evecs[:, -latent:] * np.sqrt(np.clip(evals[-latent:], 0, None))).T * scale
    return W.astype(np.float32), np.full(vocab_size, -0.1, dtype=np.float32)


def make_run(root: Path, cfg: BowsConfig, windows: Artifact, W: np.ndarray, b: np.ndarray, key: str) -> Path:
    path = Path(root) / "runs" / key
    path.mkdir(parents=True)
    save_file({"W": np.ascontiguousarray(W), "b": np.ascontiguousarray(b)}, str(path / Files.WEIGHTS))
    (path / Files.RUN).write_text(
        json.dumps(
            {
                "key": key,
                "status": "finished",
                "step": 1,
                "total_steps": 1,
                "data": {"windows": str(windows.path)},
                "weights": file_record(path / Files.WEIGHTS),
                "config": as_dict(cfg),
                "summary": {},
            }
        )
    )
    return path
