"""The word-centric explorer of a run, sweep or study: ``<analysis dir>/explorer.html``, one page opened
from disk with no server, drawn with plotly's offline bundle (vendored by the ``plotly`` package) and
``bows/resources/explorer.js``. Reads a model's arrays (W, b, vocabulary, co-occurrence statistics,
held-out windows) and its analysis numbers; writes the page (a sweep or study page also writes one data
script per model under ``explorer/``, loaded when that model is first shown).

What a model's data holds (``pack_model``; arrays as little-endian base64, float16 where a value is shown
or recomputed in the page, int32 / uint16 for ids):
- per word: count in the stats sample, frequency rank, category, |w|, feature dimensionality D, held-out
  R^2 with context and one-hot R^2 alone, one-hot pre-activation b + |w|^2;
- the vectors (vocab x latent; float16, or int8 with a scale per word above ``VECTOR_BUDGET_MB``), from which the page computes a group's Gram matrix, PCA and
  ring / line scores with the analysis's definitions (``analysis.geometry.ring_analysis``,
  ``analysis.discovery.group_shapes``);
- the ``NEIGHBOURS`` nearest and most opposed words by cosine, computed here in float32 (exact lists,
  not float16 guesses), and the ``NEIGHBOURS`` words each co-occurs with most (phi, PMI, count) in the
  stats sample;
- a pool of held-out windows (word ids) and per word up to ``EXAMPLES`` windows where its pre-activation
  is above zero (context lifts it over the ReLU threshold) and where it is not (the model misses it);
- a 2-D map (the analysis's UMAP when computed, else PCA of the vectors);
- the built-in groups (named, diagnostic, discovered) and the analysis's metrics.

Size: the vectors dominate (base64 adds 1/3): as float16, 26.7 MB for L=1000, V=10k (36 MB with the
rest, over the ~30 MB target), so a model that large gets int8 vectors (13.3 MB; 23 MB in all), measured
with ``scripts/explorer_size.py``.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from bows.artifacts import atomic_write_bytes
from bows.core import geometry as geo
from bows.core.groups import DIAGNOSTIC_GROUPS, GROUPS, category_labels
from bows.data.coactivation import phi, pmi

log = logging.getLogger(__name__)

EXPLORER = "explorer.html"  # in an analysis directory (a run's, a sweep's, a study's)
MODEL_SCRIPTS = "explorer"  # a sweep's / study's per-model data scripts: explorer/model-<i>.js
APP = "explorer.js"  # bows/resources: the page's code
NEIGHBOURS = 10  # nearest / most opposed / co-occurring words per word
EXAMPLES = 3  # held-out windows per word where it is lifted over the threshold, and where it is missed
MAX_WINDOWS = 4000  # held-out windows kept in the page (examples, and the data phi of a typed group)
VECTOR_BUDGET_MB = 15.0  # float16 vectors up to this size in the page, int8 (one scale per word) above
WANDB_MAX_VALUES = 2_000_000  # vector entries in the W&B word table (all words up to V x L = 2M)
ALIVE_NORM2 = 1e-8  # a word with |w|^2 below this has no direction: no neighbours (as the analysis's dead words)
SWEEP_COLUMNS = (  # the sweep view's metrics table, in this order, where present
    "label",
    "latent_size",
    "weight_decay",
    "seed",
    "steps",
    "eval_loss",
    "geometry/months/ring_score",
    "geometry/days/ring_score",
    "geometry/months/adjacent_z",
    "geometry/seasonal/season_match",
    "data/months/ring_score",
    "coactivation/spearman_dot_corr",
    "mechanism/r2_median",
    "mechanism/gap_median",
    "dimensionality/mean",
    "geometry/represented",
    "discovery/rings",
    "discovery/lines",
)
_DATA_TAG = re.compile(r'<script id="bows-model-0" type="application/json">(.*?)</script>', re.S)


# ----------------------------------------------------------------------------- packing (arrays in, JSON out)
def b64(array: np.ndarray, dtype: str) -> str:
    """``array`` as little-endian ``dtype`` bytes in base64 (the page decodes it into a typed array)."""
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()).decode(
        "ascii"
    )


def unb64(text: str, dtype: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """The inverse of ``b64`` (tests and the sweep writer)."""
    out = np.frombuffer(base64.b64decode(text), dtype=np.dtype(dtype).newbyteorder("<"))
    return out.reshape(shape) if shape is not None else out


def _top(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column ids and values of the ``k`` largest finite entries of each row, largest first (ties by
    id); -1 / NaN where a row has fewer than k finite entries."""
    rows, n = scores.shape
    k_eff = min(k, n)
    part = np.argpartition(-np.nan_to_num(scores, nan=-np.inf), k_eff - 1, axis=1)[:, :k_eff] if k_eff else None
    ids = np.full((rows, k), -1, np.int32)
    vals = np.full((rows, k), np.nan, np.float32)
    if part is None:
        return ids, vals
    got = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -np.nan_to_num(got, nan=-np.inf)), axis=1)
    part, got = np.take_along_axis(part, order, axis=1), np.take_along_axis(got, order, axis=1)
    ok = np.isfinite(got)
    ids[:, :k_eff] = np.where(ok, part, -1)
    vals[:, :k_eff] = np.where(ok, got, np.nan)
    return ids, vals


def cosine_neighbours(W: np.ndarray, k: int, chunk: int = 1024) -> dict[str, np.ndarray]:
    """Each word's ``k`` nearest and ``k`` most opposed other words by cosine of the columns of W
    (latent x vocab, float32), best first: ``nearest`` / ``opposed`` (vocab x k ids, -1 padding) and
    their cosines. Words with |w|^2 <= ALIVE_NORM2 have no direction: they get no neighbours and are
    nobody's neighbour."""
    W = np.asarray(W, dtype=np.float32)
    norm2 = (W.astype(np.float64) ** 2).sum(axis=0)
    alive = norm2 > ALIVE_NORM2
    Wn = W / np.sqrt(np.where(alive, norm2, 1.0)).astype(np.float32)
    V = W.shape[1]
    out: dict[str, np.ndarray] = {name: np.full((V, k), -1, np.int32) for name in ("nearest", "opposed")}
    out.update({f"{name}_cos": np.full((V, k), np.nan, np.float32) for name in ("nearest", "opposed")})
    for start in range(0, V, chunk):
        cols = np.arange(start, min(start + chunk, V))
        S = Wn[:, cols].T @ Wn  # (chunk, vocab)
        S[:, ~alive] = np.nan
        S[np.arange(len(cols)), cols] = np.nan
        S[~alive[cols]] = np.nan
        for name, sign in (("nearest", 1.0), ("opposed", -1.0)):
            ids, vals = _top(sign * S, k)
            out[name][cols], out[f"{name}_cos"][cols] = ids, sign * vals
    return out


def cooccurrence_neighbours(cooc: sp.csr_matrix, n: int, k: int, block: int = 2048) -> dict[str, np.ndarray]:
    """Each word's ``k`` partners of highest phi correlation in an upper-triangular co-occurrence count
    matrix over ``n`` windows (diagonal: word counts), with their PMI and joint count (vocab x k)."""
    C = sp.csr_matrix(cooc)
    counts = C.diagonal().astype(np.float64)
    full = (C + C.T).tocsr()
    full.setdiag(0)
    full.eliminate_zeros()
    V = full.shape[0]
    out = {
        "ids": np.full((V, k), -1, np.int32),
        "phi": np.full((V, k), np.nan, np.float32),
        "pmi": np.full((V, k), np.nan, np.float32),
        "count": np.zeros((V, k), np.int32),
    }
    for start in range(0, V, block):
        sub = full[start : start + block].tocoo()
        if sub.nnz == 0:
            continue
        rows, cols, c = sub.row, sub.col, sub.data.astype(np.float64)
        value = phi(c, counts[rows + start], counts[cols], n)
        order = np.lexsort((cols, -np.nan_to_num(value, nan=-np.inf), rows))
        rows, cols, c, value = rows[order], cols[order], c[order], value[order]
        first = np.searchsorted(rows, rows, side="left")
        rank = np.arange(len(rows)) - first
        keep = (rank < k) & np.isfinite(value)
        r, slot = rows[keep] + start, rank[keep]
        out["ids"][r, slot] = cols[keep]
        out["phi"][r, slot] = value[keep]
        out["pmi"][r, slot] = pmi(c[keep], counts[r], counts[cols[keep]], n)
        out["count"][r, slot] = c[keep]
    return out


def window_examples(W: np.ndarray, b: np.ndarray, X: sp.csr_matrix, k: int, chunk: int = 512) -> dict[str, np.ndarray]:
    """Per word, up to ``k`` held-out windows (rows of X) containing it where its pre-activation
    z = b + sum_{i in window} <w_j, w_i> is highest and above zero (``lifted``: the ReLU lets it through)
    and where it is lowest and not above zero (``missed``), with those z's (vocab x k, -1 padding)."""
    X = sp.csr_matrix(X, dtype=np.float32)
    W32, b32 = np.asarray(W, dtype=np.float32), np.asarray(b, dtype=np.float32)
    word, window, z = [], [], []
    for start in range(0, X.shape[0], chunk):
        block = X[start : start + chunk]
        Z = np.asarray(block @ W32.T) @ W32 + b32  # (chunk, vocab)
        r, c = block.nonzero()
        word.append(c)
        window.append(r + start)
        z.append(Z[r, c])
    V = W32.shape[1]
    out = {
        "lifted": np.full((V, k), -1, np.int32),
        "lifted_z": np.full((V, k), np.nan, np.float32),
        "missed": np.full((V, k), -1, np.int32),
        "missed_z": np.full((V, k), np.nan, np.float32),
    }
    if not word:
        return out
    words, windows, zs = np.concatenate(word), np.concatenate(window), np.concatenate(z)
    for name, keep, sign in (("lifted", zs > 0, -1.0), ("missed", zs <= 0, 1.0)):
        w, r, v = words[keep], windows[keep], zs[keep]
        order = np.lexsort((r, sign * v, w))  # per word: highest z first (lifted), lowest first (missed)
        w, r, v = w[order], r[order], v[order]
        rank = np.arange(len(w)) - np.searchsorted(w, w, side="left")
        sel = rank < k
        out[name][w[sel], rank[sel]] = r[sel]
        out[f"{name}_z"][w[sel], rank[sel]] = v[sel]
    return out


def map_coordinates(W: np.ndarray, umap: pd.DataFrame | None) -> tuple[str, np.ndarray]:
    """2-D position of every word: the analysis's UMAP when it computed one, else PCA of the vectors."""
    if umap is not None and len(umap) == np.asarray(W).shape[1]:
        return "UMAP (cosine) of the word vectors, from the analysis", umap[["x", "y"]].to_numpy(np.float64)
    fit = geo.pca(np.asarray(W, dtype=np.float64).T, 2)
    xy = fit.transform(np.asarray(W, dtype=np.float64).T)
    if xy.shape[1] < 2:
        xy = np.column_stack([xy, np.zeros(len(xy))])
    return "PCA of the word vectors (PC1, PC2; the analysis computed no UMAP)", xy


def builtin_groups(vocab: list[str], discovery: pd.DataFrame | None) -> list[dict[str, Any]]:
    """The groups offered in the page: the named groups, the diagnostic ones (seasons, numbers), and each
    structure the discovery found (its words in angular order), with the words the vocabulary lacks."""
    index = set(vocab)
    out: list[dict[str, Any]] = []
    named = {**{n: (w, "ring" if n in ("months", "days") else "") for n, w in GROUPS.items()}, **DIAGNOSTIC_GROUPS}
    for name, (words, shape) in named.items():
        present = [w for w in words if w in index]
        if len(present) >= 2:
            out.append(
                {
                    "name": name,
                    "words": present,
                    "missing": [w for w in words if w not in index],
                    "shape": shape,
                    "source": "named",
                }
            )
    if discovery is not None:
        for _, row in discovery.iterrows():
            words = str(row["words"]).split()
            out.append(
                {
                    "name": f"discovered {row['shape']} #{int(row['rank'])}: {' '.join(words[:3])}...",
                    "words": words,
                    "missing": [],
                    "shape": str(row["shape"]),
                    "source": f"discovery (z = {float(row['z']):.1f})",
                }
            )
    return out


def encode_vectors(W: np.ndarray, budget_mb: float | None = None) -> dict[str, Any]:
    """The word vectors (columns of W, latent x vocab) for the page, word-major: float16 (``f2``) when their
    base64 fits ``budget_mb`` (default ``VECTOR_BUDGET_MB``), else int8 with one float32 scale per word
    (``q8``: w ~ scale * q, |error| <= scale / 2 = max|w_j| / 254 per coordinate) -- half the size."""
    W = np.asarray(W, dtype=np.float32)
    budget = VECTOR_BUDGET_MB if budget_mb is None else budget_mb
    if W.size * 2 * 4 / 3 / 1e6 <= budget:
        return {"coding": "f2", "data": b64(W.T.astype(np.float16), "f2")}
    scale = np.abs(W).max(axis=0) / 127.0
    q = np.rint(W / np.where(scale > 0, scale, 1.0)).clip(-127, 127).astype(np.int8)
    return {"coding": "q8", "data": b64(q.T, "i1"), "scale": b64(scale.astype(np.float32), "f4")}


def decode_vectors(coded: dict[str, Any], latent: int) -> np.ndarray:
    """The inverse of ``encode_vectors``: vocab x latent float32."""
    if coded["coding"] == "f2":
        return unb64(coded["data"], "f2").reshape(-1, latent).astype(np.float32)
    q = unb64(coded["data"], "i1").reshape(-1, latent).astype(np.float32)
    return q * unb64(coded["scale"], "f4")[:, None]


def _rounded(values: np.ndarray, digits: int = 4) -> list:
    """Floats for JSON (NaN and inf -> null), ``digits`` significant digits."""
    arr = np.asarray(values, dtype=np.float64)
    return [None if not np.isfinite(v) else float(f"{v:.{digits}g}") for v in arr]


@dataclass(frozen=True)
class ModelInputs:
    """Everything one model's explorer data is made of (arrays and the analysis's tables)."""

    W: np.ndarray  # latent x vocab
    b: np.ndarray  # vocab
    vocab: list[str]
    X: sp.csr_matrix  # held-out windows x vocab
    heldout_split: str
    counts: np.ndarray | None  # per-word window counts in the stats sample
    n_windows: int  # windows in the stats sample
    cooc: sp.csr_matrix | None  # upper-triangular co-occurrence counts of the stats sample
    tables: dict[str, pd.DataFrame]  # the analysis's tables (r2, dimensionality, umap, discovery)
    metrics: dict[str, float]
    info: dict[str, Any]  # title, label, run key, latent size, weight decay, seed, output


def pack_model(m: ModelInputs) -> dict[str, Any]:
    """The JSON-able data of one model (see the module docstring)."""
    W = np.asarray(m.W, dtype=np.float32)
    L, V = W.shape
    norm2 = (W.astype(np.float64) ** 2).sum(axis=0)
    counts = np.asarray(m.counts, dtype=np.int64) if m.counts is not None else None
    rank = np.empty(V, np.int64)
    rank[np.argsort(-(counts if counts is not None else norm2), kind="stable")] = np.arange(1, V + 1)
    labels, categories, _ = category_labels(m.vocab)
    r2 = m.tables.get("r2")
    by_index = r2.set_index("index").reindex(np.arange(V)) if r2 is not None else None
    dim = m.tables.get("dimensionality")
    D = dim["dimensionality"].to_numpy() if dim is not None else geo.feature_dimensionality(W)
    nb = cosine_neighbours(W, NEIGHBOURS)
    X = sp.csr_matrix(m.X)[:MAX_WINDOWS]
    examples = window_examples(W, np.asarray(m.b, dtype=np.float32), X, EXAMPLES)
    method, xy = map_coordinates(W, m.tables.get("umap"))
    data: dict[str, Any] = {
        "info": {**m.info, "latent_size": int(L), "vocab_size": int(V)},
        "words": list(m.vocab),
        "count": counts.tolist() if counts is not None else None,
        "n_windows": int(m.n_windows),
        "rank": rank.tolist(),
        "categories": categories,
        "category": labels.tolist(),
        "norm": _rounded(np.sqrt(norm2)),
        "dim": _rounded(D),
        "onehot_z": _rounded(np.asarray(m.b, dtype=np.float64) + norm2),
        "r2": _rounded(by_index["r2"].to_numpy()) if by_index is not None else None,
        "onehot_r2": _rounded(by_index["onehot_r2"].to_numpy()) if by_index is not None else None,
        "heldout_count": by_index["count"].fillna(0).astype(int).tolist() if by_index is not None else None,
        "vectors": encode_vectors(W),
        "neighbours": {
            "k": NEIGHBOURS,
            **{name: b64(nb[name], "i4") for name in ("nearest", "opposed")},
            **{f"{name}_cos": b64(nb[f"{name}_cos"].astype(np.float16), "f2") for name in ("nearest", "opposed")},
        },
        "windows": {
            "split": m.heldout_split,
            "n": int(X.shape[0]),
            "offsets": b64(X.indptr, "i4"),
            "indices": b64(X.indices, "i4" if V > 65535 else "u2"),
            "index_dtype": "i4" if V > 65535 else "u2",
            "k": EXAMPLES,
            **{name: b64(examples[name], "i4") for name in ("lifted", "missed")},
            **{f"{name}_z": b64(examples[f"{name}_z"].astype(np.float16), "f2") for name in ("lifted", "missed")},
        },
        "map": {"method": method, "x": _rounded(xy[:, 0], 5), "y": _rounded(xy[:, 1], 5)},
        "groups": builtin_groups(list(m.vocab), m.tables.get("discovery")),
        "metrics": {
            k: (None if not np.isfinite(v) else v) for k, v in m.metrics.items() if isinstance(v, (int, float))
        },
        "cooc": None,
    }
    if m.cooc is not None:
        co = cooccurrence_neighbours(m.cooc, m.n_windows, NEIGHBOURS)
        data["cooc"] = {
            "k": NEIGHBOURS,
            "ids": b64(co["ids"], "i4"),
            "phi": b64(co["phi"].astype(np.float16), "f2"),
            "pmi": b64(co["pmi"].astype(np.float16), "f2"),
            "count": b64(co["count"], "i4"),
        }
    return data


def word_table(
    W: np.ndarray, vocab: list[str], dimensionality: pd.DataFrame, max_values: int = WANDB_MAX_VALUES
) -> pd.DataFrame:
    """The word table logged to W&B: word, frequency (share of sampled windows), category, norm, D and the
    vector (float32 list) of every word -- or, when V x latent exceeds ``max_values``, of the most frequent
    ``max_values // latent`` words (a W&B table of 10M floats is too heavy to open)."""
    W = np.asarray(W, dtype=np.float32)
    labels, names, _ = category_labels(vocab)
    freq = dimensionality["freq"].to_numpy(np.float64)
    keep = max(1, min(len(vocab), max_values // max(W.shape[0], 1)))
    ids = np.argsort(-np.nan_to_num(freq, nan=-1.0), kind="stable")[:keep]
    return pd.DataFrame(
        {
            "word": [vocab[i] for i in ids],
            "frequency": freq[ids],
            "category": [names[labels[i]] if labels[i] >= 0 else "" for i in ids],
            "norm": np.sqrt(dimensionality["norm2"].to_numpy(np.float64)[ids]),
            "D": dimensionality["dimensionality"].to_numpy(np.float64)[ids],
            "vector": [W[:, i] for i in ids],
        }
    )


# ----------------------------------------------------------------------------- the page
def _script_json(data: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs  # the offline bundle vendored by the plotly package

    return get_plotlyjs()


def _app_js() -> str:
    return resources.files("bows").joinpath("resources", APP).read_text(encoding="utf-8")


def page(title: str, models: list[dict[str, Any]], inline: dict[str, Any] | None, sweep: list[dict] | None) -> str:
    """The HTML of an explorer: ``models`` (title, label, src of its data script or None when
    ``inline``), the inline data of model 0 when there is one, the sweep's metrics rows."""
    head = {"title": title, "models": models, "sweep": sweep}
    data_tag = f'<script id="bows-model-0" type="application/json">{_script_json(inline)}</script>' if inline else ""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_esc(title)}</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<style>{CSS}</style></head><body>"
        f"<header><h1>{_esc(title)}</h1><nav id='tabs'></nav><span id='model-pick'></span></header>"
        "<main id='view'><p id='loading'>Loading the explorer...</p></main>"
        f'<script id="bows-head" type="application/json">{_script_json(head)}</script>'
        f"{data_tag}"
        f"<script>{_plotly_js()}</script>"
        f"<script>{_app_js()}</script>"
        "</body></html>"
    )


def _esc(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_run_explorer(analysis_dir: Path, data: dict[str, Any]) -> Path:
    """``<run>/analysis/explorer.html`` with the model's data inline (one file)."""
    info = data["info"]
    title = f"BOWS explorer: {info.get('title') or info.get('label') or analysis_dir.parent.name}"
    models = [{"label": info.get("label") or "model", "title": info.get("title"), "src": None}]
    path = Path(analysis_dir) / EXPLORER
    atomic_write_bytes(path, page(title, models, data, None).encode("utf-8"))
    log.info("explorer: %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path


def read_model_data(explorer: Path) -> dict[str, Any]:
    """The inline model data of a run's explorer page."""
    found = _DATA_TAG.search(Path(explorer).read_text(encoding="utf-8"))
    if found is None:
        raise ValueError(f"{explorer} holds no model data (not a run explorer?)")
    return json.loads(found.group(1).replace("<\\/", "</"))


def write_sweep_explorer(analysis_dir: Path, table: pd.DataFrame, title: str) -> Path | None:
    """``<sweep>/analysis/explorer.html`` over the runs of ``table`` (sweep_metrics rows) whose own
    explorer exists: their data copied to ``explorer/model-<i>.js`` (each loaded when first shown),
    and the sweep's metrics table. None (logged) when no run has an explorer."""
    analysis_dir = Path(analysis_dir)
    order = table.sort_values([c for c in ("latent_size", "weight_decay", "seed") if c in table]).reset_index(drop=True)
    scripts = analysis_dir / MODEL_SCRIPTS
    scripts.mkdir(parents=True, exist_ok=True)
    models, rows = [], []
    for _, row in order.iterrows():
        source = Path(row["analysis_dir"]) / EXPLORER
        if not source.is_file():
            log.warning("explorer: %s has no explorer page; left out of the sweep's", row["analysis_dir"])
            continue
        data = read_model_data(source)
        name = f"model-{len(models)}.js"
        body = f"BOWS_EXPLORER.add({len(models)}, {_script_json(data)});\n"
        atomic_write_bytes(scripts / name, body.encode("utf-8"))
        info = data["info"]
        models.append(
            {"label": info.get("label") or name, "title": info.get("title"), "src": f"{MODEL_SCRIPTS}/{name}"}
        )
        rows.append({c: _plain(row[c]) for c in SWEEP_COLUMNS if c in row.index})
    if not models:
        log.warning("explorer: no run of %s has an explorer page; no sweep explorer written", analysis_dir)
        return None
    path = analysis_dir / EXPLORER
    atomic_write_bytes(path, page(f"BOWS explorer: {title}", models, None, rows).encode("utf-8"))
    size = path.stat().st_size + sum(p.stat().st_size for p in scripts.glob("model-*.js"))
    log.info("explorer: %s (%d models, %.1f MB with their data)", path, len(models), size / 1e6)
    return path


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{display:flex;flex-wrap:wrap;align-items:center;gap:12px;padding:8px 16px;background:#fff;border-bottom:1px solid #ddd;position:sticky;top:0;z-index:5}
h1{font-size:17px;margin:0 12px 0 0}
nav button{border:1px solid #bbb;background:#f4f4f4;padding:5px 12px;margin-right:4px;border-radius:4px;cursor:pointer;font-size:14px}
nav button.on{background:#2a6fdb;color:#fff;border-color:#2a6fdb}
main{padding:12px 16px}
.row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 12px;min-width:220px}
.card h3{font-size:14px;margin:0 0 6px}
table{border-collapse:collapse;font-size:13px}
td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child{text-align:left}
ol{margin:0;padding-left:22px;font-size:13px}
li a,a.w{color:#2a6fdb;cursor:pointer;text-decoration:none}
.note{color:#666;font-size:12px;max-width:900px}
.win{font-size:12px;margin:3px 0;max-width:520px}
.win b{color:#c0392b}
input[type=text]{font-size:14px;padding:4px 6px;width:260px}
textarea{font-size:13px;width:420px;height:48px}
.score{font-size:13px}
.bad{color:#b00}
"""
