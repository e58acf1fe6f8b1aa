"""All analyses of one model (SPEC 5.1-5.7) from arrays: W (latent x vocab), b, the vocabulary,
the co-activation statistics and held-out windows in; an ``Analysis`` of numbers out (flat
namespaced metrics, JSON sections and tables). Pure: no files (``bows.analysis.store`` saves
and loads an ``Analysis``), no figures, no W&B.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from bows.analysis import mechanism as mech
from bows.core import geometry as geo
from bows.core.groups import (
    CORRELATED_CONTEXT,
    CYCLIC_GROUPS,
    GROUPS,
    MONTH_SEASON,
    MONTHS,
    SEASON_OF_WORD,
    SEASONAL,
    TARGETS,
    UNCORRELATED_CONTEXT,
    Lookup,
    categories_version,
    category_labels,
    lookup,
    usable_group,
)
from bows.data.coactivation import CoStats, row_statistics

if TYPE_CHECKING:  # types only: the analysis settings
    from bows.config import AnalyzeConfig

log = logging.getLogger(__name__)

MAX_PLOTTED_PAIRS = 200_000  # pairs kept in coactivation.parquet for the hexbin (metrics use all)
UNAVAILABLE = "unavailable"  # section: metric key -> why it is null
MIN_TARGET_WINDOWS = 20  # a substitute target must occur in at least this many held-out windows


@dataclass
class Analysis:
    """Numbers of one model: ``metrics`` (flat, namespaced keys), ``sections`` (JSON), ``tables``."""

    metrics: dict[str, float] = field(default_factory=dict)
    sections: dict[str, dict] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def refuse(self, key: str, reason: str) -> None:
        """Metric ``key`` cannot be computed from the data: NaN (null in JSON) plus the reason,
        kept in the ``unavailable`` section (metric -> reason); never a default value."""
        self.metrics[key] = float("nan")
        self.sections.setdefault(UNAVAILABLE, {})[key] = reason
        log.warning("analyze: %s not computed: %s", key, reason)


def _matrix(m: np.ndarray) -> list:
    return np.where(np.isfinite(m), m, np.nan).tolist()


# ----------------------------------------------------------------------------- 5.1 + 5.2 rings, groups
RING_KEYS = ("adjacent_fraction", "circular_rank_corr")


def _ring_metrics(a: Analysis, prefix: str, ring: dict[str, Any]) -> None:
    """``prefix/ring_score`` (= adjacent_fraction) etc. from a ring dict, or NaN + the ring's reason."""
    names = {"ring_score": "adjacent_fraction", **{k: k for k in RING_KEYS}}
    for key, field_name in names.items():
        if ring.get("reason"):
            a.refuse(f"{prefix}/{key}", ring["reason"])
        else:
            a.metrics[f"{prefix}/{key}"] = ring[field_name]


def _refused_ring(reason: str) -> dict[str, Any]:
    nan = float("nan")
    return {"adjacent_fraction": nan, "circular_rank_corr": nan, "chance_adjacent_fraction": nan, "reason": reason}


def _data_shortfall(words: list[str], group_words: tuple[str, ...], info: dict, counts: np.ndarray) -> str | None:
    """Why the data side of a cyclic group cannot be measured (None when it can)."""
    if list(words) != list(group_words):
        return f"stats words {words} differ from the vocabulary's {list(group_words)}"
    if info["windows_with_group"] < len(words):
        return f"windows_with_group: {info['windows_with_group']} (need >= {len(words)})"
    absent = [w for w, c in zip(words, counts) if c <= 0]
    if absent:
        return f"in no sampled window: {absent}"
    return None


def _windows_with(costats: CoStats, name: str) -> int:
    return int(costats.group(name)[1]["windows_with_group"])


def rings(W: np.ndarray, vocab: list[str], costats: CoStats | None, a: Analysis) -> None:
    """Model rings of months and days (raw PCA-3 and normalised PCA-2), seasonal projections,
    named-group Gram matrices, and the data side (conditional correlation, data PCA ring, agreement).

    A ring metric needs every word of its cyclic group (the calendar order of a partial group has
    gaps) and, on the data side, windows containing each of them; otherwise it is NaN with the
    reason (``missing: [...]``, ``windows_with_group: 0``) in the ``unavailable`` section."""
    out: dict[str, Any] = {}
    # the cosine noise every group's structure must stand above: how tightly the represented words pack
    packing = geo.packing_floor(W)
    a.metrics["geometry/represented"] = packing["represented"]
    a.metrics["geometry/packing_floor"] = packing["packing_floor"]
    counts = costats.words["count"].to_numpy() if costats is not None else None
    for name, words in GROUPS.items():
        check = usable_group(words, vocab, counts, where="sampled training windows")  # the one decision
        found = check.found
        section: dict[str, Any] = {"words": list(found.words), "missing": list(found.missing)}
        vecs = W[:, found.indices].T  # (group, latent)
        if len(found) >= 2:
            section["gram"] = _matrix(geo.gram(vecs))
            section["cosine"] = _matrix(geo.cosine_matrix(vecs))
            section["offdiag_frobenius"] = geo.offdiag_frobenius(vecs)
            if check.ok:
                a.metrics[f"geometry/{name}/offdiag_frobenius"] = section["offdiag_frobenius"]
        if not check.ok or len(found) < 2:
            section["reason"] = check.reason or f"{len(found)} words"
            a.refuse(f"geometry/{name}/offdiag_frobenius", section["reason"])
        cyclic = name in CYCLIC_GROUPS
        complete = check.ok and len(found) >= geo.MIN_RING_POINTS
        if check.reason and costats is not None and not found.missing:
            why_not = f"{check.reason} (windows_with_group: {_windows_with(costats, name)})"
        else:
            why_not = check.reason or f"{len(found)} words"
        if cyclic and not complete:
            section["ring_reason"] = why_not
            for key in ("ring_score", *RING_KEYS, *(f"normalized_{k}" for k in RING_KEYS)):
                a.refuse(f"geometry/{name}/{key}", why_not)
        if cyclic and complete:
            section.update(_model_ring(W, vocab, name, found, a))
        if costats is not None:
            section["data"] = _data_side(costats, name, found, vecs, None if complete else why_not, cyclic, a)
        out[name] = section
    a.sections["groups"] = out


def _model_ring(W: np.ndarray, vocab: list[str], name: str, found: Lookup, a: Analysis) -> dict[str, Any]:
    """A complete cyclic group's ring in W: raw (PCA-3) and normalised (PCA-2) ring scores, its signal
    against random word pairs, and for the months the seasonal words projected on the ring."""
    vecs = W[:, found.indices].T
    section: dict[str, Any] = {}
    raw = geo.ring_analysis(vecs, found.words, k=3)
    section["raw"] = raw
    # the ring's signal against random word pairs (is it above the cosine noise of a wide W?)
    represented = W[:, (W**2).sum(axis=0) > 1e-8].T
    section["signal"] = signal = geo.ring_signal(vecs, represented)
    for key, value in signal.items():
        a.metrics[f"geometry/{name}/{key}"] = value
    section["normalized"] = geo.ring_analysis(vecs, found.words, k=2, normalize=True)
    _ring_metrics(a, f"geometry/{name}", raw)
    for key in RING_KEYS:
        if section["normalized"].get("reason"):
            a.refuse(f"geometry/{name}/normalized_{key}", section["normalized"]["reason"])
        else:
            a.metrics[f"geometry/{name}/normalized_{key}"] = section["normalized"][key]
    for i, ev in enumerate(raw["explained_variance"]):
        a.metrics[f"geometry/{name}/explained_variance_pc{i + 1}"] = ev
    if name == "months":
        seasonal = lookup(SEASONAL, vocab)
        fit = geo.pca(vecs, 3)
        proj = geo.project_words(
            fit,
            found.words,
            np.array(raw["coords"]),
            W[:, seasonal.indices].T,
            seasonal.words,
            MONTH_SEASON,
            SEASON_OF_WORD,
        )
        section["seasonal"] = proj
        section["seasonal_missing"] = list(seasonal.missing)
        if proj:
            a.metrics["geometry/seasonal/season_match"] = float(np.mean([p["season_match"] for p in proj]))
            a.metrics["geometry/seasonal/in_plane_fraction"] = float(np.mean([p["in_plane_fraction"] for p in proj]))
        else:
            for key in ("season_match", "in_plane_fraction"):
                a.refuse(f"geometry/seasonal/{key}", f"missing: {list(seasonal.missing)}")
    return section


def _data_side(
    costats: CoStats, name: str, found: Lookup, vecs: np.ndarray, why_not: str | None, cyclic: bool, a: Analysis
) -> dict[str, Any]:
    """The group in the data: its correlation matrices, the ring of the data's own PCA (of the
    row-centred indicators, and of their correlation) and the model Gram's agreement with the data;
    refused with ``why_not`` (the model side's reason) or the data's own shortfall."""
    mats, info = costats.group(name)
    data = {
        "words": info["words"],
        "windows_with_group": info["windows_with_group"],
        "cond_corr": _matrix(mats["cond_corr"]),
        "corr": _matrix(mats["corr"]),
        "pmi": _matrix(mats["pmi"]),
    }
    counts = np.diag(mats["count"]) if "count" in mats else np.zeros(len(info["words"]))
    shortfall = why_not if why_not is not None else _data_shortfall(info["words"], found.words, info, counts)
    if shortfall is None:
        coords, ev = geo.pca_from_gram(mats["centred_gram"], 2)
        data["ring"] = {
            "coords": coords.tolist(),
            "explained_variance": ev.tolist(),
            **geo.ring_score(geo.angles(coords)),
        }
        ccoords, cev = geo.pca_from_gram(np.nan_to_num(mats["cond_corr"]), 2)  # standardised variant
        data["corr_ring"] = {
            "coords": ccoords.tolist(),
            "explained_variance": cev.tolist(),
            **geo.ring_score(geo.angles(ccoords)),
        }
        data["gram_vs_cond_corr"] = geo.offdiag_agreement(geo.gram(vecs), mats["cond_corr"])
    else:
        data["ring"] = data["corr_ring"] = _refused_ring(shortfall)
        data["gram_vs_cond_corr"] = {"pearson": float("nan"), "spearman": float("nan"), "pairs": 0}
    if cyclic:
        for key, ring in (("ring_score", data["ring"]), ("corr_ring_score", data["corr_ring"])):
            if ring.get("reason"):
                a.refuse(f"data/{name}/{key}", ring["reason"])
            else:
                a.metrics[f"data/{name}/{key}"] = ring["adjacent_fraction"]
        if data["ring"].get("reason"):
            a.refuse(f"data/{name}/circular_rank_corr", data["ring"]["reason"])
        else:
            a.metrics[f"data/{name}/circular_rank_corr"] = data["ring"]["circular_rank_corr"]
        pearson = data["gram_vs_cond_corr"]["pearson"]
        if np.isfinite(pearson):
            a.metrics[f"data/{name}/gram_vs_cond_corr"] = pearson
        else:
            a.refuse(f"data/{name}/gram_vs_cond_corr", shortfall or "fewer than 3 usable pairs")
    return data


# ----------------------------------------------------------------------------- 5.3 co-activation
def _correlation_gap(frame: pd.DataFrame, col: str, what: str) -> str | None:
    """Why interference cannot be correlated with ``col`` over the pairs of ``frame`` (None: it can)."""
    if frame.empty:
        return "no word pair is frequent enough in the statistics sample (stats.min_count)"
    ok = np.isfinite(frame[col].to_numpy()) & np.isfinite(frame["dot"].to_numpy())
    if ok.sum() < 3:
        return f"{int(ok.sum())} of {len(frame)} frequent word pairs have a finite {what} (3 needed)"
    if np.std(frame[col].to_numpy()[ok]) == 0:
        return f"the {what} is the same for all {int(ok.sum())} pairs (every window holds the same words)"
    if np.std(frame["dot"].to_numpy()[ok]) == 0:
        return f"the interference <w_i, w_j> is the same for all {int(ok.sum())} pairs"
    return None


def coactivation(W: np.ndarray, costats: CoStats, a: Analysis, seed: int) -> None:
    numbers, frame = geo.coactivation_vs_interference(W, costats.pairs)
    a.metrics.update({f"coactivation/{k}": v for k, v in numbers.items()})
    for col, what in (("corr", "data correlation (phi)"), ("pmi", "PMI")):
        reason = _correlation_gap(frame, col, what)
        for kind in ("pearson", "spearman"):
            key = f"coactivation/{kind}_dot_{col}"
            if not np.isfinite(numbers[f"{kind}_dot_{col}"]):
                a.refuse(key, reason or f"the {kind} correlation of <w_i, w_j> with the {what} is undefined")
    if len(frame) > MAX_PLOTTED_PAIRS:
        frame = frame.sample(MAX_PLOTTED_PAIRS, random_state=seed)
    a.tables["coactivation"] = frame.reset_index(drop=True)


# ----------------------------------------------------------------------------- 5.4 clusters
def clusters(W: np.ndarray, vocab: list[str], a: Analysis, cfg: AnalyzeConfig) -> None:
    labels, names, missing = category_labels(vocab)
    ids = np.flatnonzero(labels >= 0)
    k = cfg.knn_k
    test = geo.knn_purity_test(W[:, ids].T, labels[ids], k=k, seed=cfg.seed) if len(ids) > k + 1 else {}
    a.metrics.update({f"clusters/knn_{k}": v for k, v in test.items()})
    if not test:
        a.refuse("clusters/knn_purity", f"{len(ids)} categorised words in the vocabulary (need > 11)")
    a.sections["clusters"] = {
        "categories": names,
        "categories_version": categories_version(),
        "missing": missing,
        "knn": test,
        "umap": {"n_neighbors": cfg.umap_neighbors, "min_dist": cfg.umap_min_dist} if cfg.umap else {},
    }
    if cfg.umap:
        xy = geo.umap_embedding(W.T, seed=cfg.seed, n_neighbors=cfg.umap_neighbors, min_dist=cfg.umap_min_dist)
        a.tables["umap"] = pd.DataFrame(
            {"word": vocab, "x": xy[:, 0], "y": xy[:, 1], "category": [names[c] if c >= 0 else "" for c in labels]}
        )


# ----------------------------------------------------------------------------- 5.6 mechanism
def _pick_targets(r2: pd.DataFrame, vocab: list[str]) -> tuple[list[str], dict[str, str]]:
    """The named targets present in the vocabulary; each missing one is replaced by the best
    reconstructed held-out word (highest R^2, seen in enough windows) that alone would be filtered
    out by the ReLU (one-hot pre-activation b_t + |w_t|^2 < 0): a word carried by its context."""
    present = [t for t in TARGETS if t in set(vocab)]
    substitutes: dict[str, str] = {}
    ok = (r2["count"] >= MIN_TARGET_WINDOWS) & r2["r2"].notna() & (r2["onehot_z"] < 0)
    pool = r2[ok].sort_values("r2", ascending=False)["word"].tolist()
    for t in TARGETS:
        if t in present:
            continue
        pick = next((w for w in pool if w not in present and w not in substitutes.values()), None)
        if pick is not None:
            substitutes[t] = pick
    return present + list(substitutes.values()), substitutes


def _context(
    t: str, vocab: list[str], index: dict[str, int], costats: CoStats | None, cooc: sp.csr_matrix | None, k: int = 4
) -> tuple[list[str], list[str], str]:
    """Correlated and uncorrelated context words for target t (named lists, else chosen from the data)."""
    correlated = [w for w in CORRELATED_CONTEXT.get(t, ()) if w in index]
    uncorrelated = [w for w in UNCORRELATED_CONTEXT if w in index and w != t]
    how = "named"
    if (len(correlated) < 2 or len(uncorrelated) < 2) and costats is not None and cooc is not None:
        row = row_statistics(cooc, costats.n_windows, index[t])
        row["word"] = vocab
        row = row[(row["word"] != t) & (row["count"] >= 1)]
        if len(correlated) < 2:
            correlated = row.sort_values("corr", ascending=False)["word"].head(k).tolist()
            how = "top data correlation"
        if len(uncorrelated) < 2:
            freq = costats.words.set_index("word")["count"]
            row = row.assign(freq=freq.reindex(row["word"]).to_numpy())
            row = row[row["freq"] >= row["freq"].quantile(0.9)]
            uncorrelated = row.reindex(row["corr"].abs().sort_values().index)["word"].head(k).tolist()
            how += "; uncorrelated: frequent words with |corr| nearest 0"
    return correlated, uncorrelated, how


def mechanism(
    W: np.ndarray, b: np.ndarray, vocab: list[str], X: sp.csr_matrix, output: str, costats: CoStats | None, a: Analysis
) -> None:
    heldout = mech.heldout_r2(W, b, X, output)
    table = mech.r2_table(heldout, mech.onehot_r2(W, b, output), vocab)
    table["onehot_z"] = (b.astype(np.float64) + (W.astype(np.float64) ** 2).sum(axis=0))[table["index"]]
    a.tables["r2"] = table
    ok = table["r2"].notna()
    a.metrics.update(
        {
            "mechanism/r2_median": float(table.loc[ok, "r2"].median()),
            "mechanism/onehot_r2_median": float(table["onehot_r2"].median()),
            "mechanism/gap_median": float(table.loc[ok, "gap"].median()),
            "mechanism/heldout_windows": int(X.shape[0]),
        }
    )
    if not ok.any():
        present = table["count"] > 0
        if not present.any():
            reason = f"no word occurs in the {X.shape[0]} held-out windows"
        else:
            reason = (
                f"each of the {int(present.sum())} words that occur is in all {X.shape[0]} held-out windows "
                "(R^2 needs a word present in some windows and absent from others)"
            )
        for key in ("r2_median", "gap_median"):
            a.refuse(f"mechanism/{key}", reason)
    index = {w: i for i, w in enumerate(vocab)}
    targets, substitutes = _pick_targets(table, vocab)
    cooc = costats.cooccurrence if costats is not None else None
    section: dict[str, Any] = {
        "targets": targets,
        "substitutes": substitutes,
        "missing": [t for t in TARGETS if t not in index],
        "per_target": {},
    }
    z_rows, tower_rows = [], []
    for t in targets:
        ti = index[t]
        dist = mech.target_preactivations(W, b, X, ti)
        z_rows.append(pd.DataFrame({"target": t, "z": dist.pop("z")}))
        corr_words, uncorr_words, how = _context(t, vocab, index, costats, cooc)
        corr_ids, uncorr_ids = [index[w] for w in corr_words], [index[w] for w in uncorr_words]
        towers = mech.towers(W, b, ti, corr_ids, uncorr_ids, output)
        towers.insert(0, "target", t)
        mean = mech.heldout_decomposition(W, b, X, ti, {"correlated": corr_ids, "uncorrelated": uncorr_ids})
        windows = mean.pop("windows")
        tower_rows += [
            towers,
            pd.DataFrame(
                [
                    {
                        "target": t,
                        "input": f"held-out mean (n={windows})",
                        **mean,
                        "output": float(np.maximum(mean["total"], 0) if output == "relu" else mean["total"]),
                    }
                ]
            ),
        ]
        section["per_target"][t] = {
            **dist,
            "correlated": corr_words,
            "uncorrelated": uncorr_words,
            "context_choice": how,
            "missing_context": [w for w in CORRELATED_CONTEXT.get(t, ()) if w not in index],
        }
        key = t.replace("/", "_")
        a.metrics[f"mechanism/{key}/share_above_zero"] = dist["share_above_zero"]
        a.metrics[f"mechanism/{key}/onehot_z"] = dist["onehot"]
    if z_rows:
        a.tables["preactivations"] = pd.concat(z_rows, ignore_index=True)
        a.tables["towers"] = pd.concat(tower_rows, ignore_index=True)
    christmas = "Christmas" if "Christmas" in index else None
    months = lookup(MONTHS, vocab)
    if christmas is not None and len(months):
        frame = mech.target_vs_group(W, b, index[christmas], months.indices, months.words, output)
        if cooc is not None and costats is not None:
            row = row_statistics(cooc, costats.n_windows, index[christmas])
            frame["data_corr"] = row["corr"].to_numpy()[months.indices]
            frame["data_pmi"] = row["pmi"].to_numpy()[months.indices]
        a.tables["christmas_months"] = frame
    section["christmas_vs_months"] = {"target": christmas, "missing_months": list(months.missing)}
    a.sections["mechanism"] = section


# ----------------------------------------------------------------------------- 5.7 dimensionality
def dimensionality(W: np.ndarray, vocab: list[str], costats: CoStats | None, a: Analysis) -> None:
    D = geo.feature_dimensionality(W)
    freq = costats.words["freq"].to_numpy() if costats is not None else np.full(len(vocab), np.nan)
    frame = pd.DataFrame(
        {"word": vocab, "dimensionality": D, "norm2": (W.astype(np.float64) ** 2).sum(axis=0), "freq": freq}
    )
    a.tables["dimensionality"] = frame
    alive = frame["norm2"] > 1e-8
    a.metrics.update(
        {
            "dimensionality/mean": float(D[alive].mean()) if alive.any() else float("nan"),
            "dimensionality/sum": float(D.sum()),
            "dimensionality/dead_words": int((~alive).sum()),
        }
    )
    if costats is not None and alive.sum() > 2:
        from scipy.stats import spearmanr

        a.metrics["dimensionality/spearman_freq"] = float(spearmanr(D[alive], freq[alive]).statistic)


def discovery(
    W: np.ndarray, vocab: list[str], costats: CoStats | None, a: Analysis, seed: int, candidates: int
) -> None:
    """Structures found without labels among the most frequent words (SPEC 8, ``bows.core.discovery``),
    and how well the found ring-like groups recover the months and days (precision / recall)."""
    from bows.core import discovery as disc

    counts = costats.words["count"].to_numpy() if costats is not None else (W**2).sum(axis=0)
    targets, unusable = {}, {}
    for name, words in (("months", MONTHS), ("days", GROUPS["days"])):
        check = usable_group(
            words,
            vocab,
            costats.words["count"].to_numpy() if costats is not None else None,
            where="sampled training windows",
        )
        if check.ok:
            targets[name] = words
        else:  # evaluating the search against words the model never saw would score noise
            unusable[name] = check.reason
            for key in (
                *(f"{name}_{shape}/{stat}" for shape in ("ring", "any") for stat in ("precision", "recall", "rank")),
                f"{name}_candidate/f1",
                *(f"{name}_own/{stat}" for stat in ("ring", "ring_z", "ring_p", "adjacency")),
            ):
                a.refuse(f"discovery/{key}", str(check.reason))
    done = disc.in_weights(W, vocab, counts, targets, candidates=candidates, seed=seed)
    if done is None:
        a.refuse("discovery/rings", "fewer than 20 represented candidate words")
        return
    result, ids, evaluation = done
    found = result.found.copy()
    found["indices"] = [[int(ids[i]) for i in g] for g in found["indices"]]
    a.tables["discovery"] = found
    section: dict[str, Any] = {
        "z_min": result.z_min,
        "candidates": int(len(result.candidates)),
        "scored": int(result.scored),
        "candidate_words": int(len(ids)),
        "matches": {},
        "evaluation": evaluation,
        "unusable_targets": unusable,
    }
    a.metrics["discovery/z_min"] = result.z_min
    section["thresholds"] = result.thresholds
    for shape, bar in result.thresholds.items():
        a.metrics[f"discovery/threshold/{shape}"] = bar
    for shape in disc.SHAPES:
        a.metrics[f"discovery/{shape}s"] = int((found["shape"] == shape).sum())
    for name, entry in evaluation.items():
        for shape in ("ring", "any"):
            m = entry[shape]
            key = f"{name}_{shape}"
            section["matches"][key] = m
            for stat in ("precision", "recall"):
                a.metrics[f"discovery/{key}/{stat}"] = m[stat]
            if m["rank"] is None:
                what = "ring" if shape == "ring" else "structure"
                a.refuse(f"discovery/{key}/rank", f"no found {what} group holds any of these words")
            else:
                a.metrics[f"discovery/{key}/rank"] = m["rank"]
        # evaluation after the fact: did any candidate hold the group, and how ring-like is the group itself
        # against random word sets of its size and frequency (its detectability from W alone)?
        a.metrics[f"discovery/{name}_candidate/f1"] = entry["candidate"]["f1"]
        if entry["own"] is None:
            a.refuse(f"discovery/{name}_own/ring_z", entry["reason"])
            continue
        for stat in ("ring", "ring_z", "ring_p", "adjacency"):
            a.metrics[f"discovery/{name}_own/{stat}"] = entry["own"][stat]
    a.sections["discovery"] = section


def analyze_arrays(
    W: np.ndarray,
    b: np.ndarray,
    vocab: list[str],
    X_heldout: sp.csr_matrix,
    *,
    output: str = "relu",
    costats: CoStats | None = None,
    cfg: AnalyzeConfig,
) -> Analysis:
    """Every single-model analysis with the settings of ``cfg``; ``costats`` None skips the data-side parts."""
    seed = cfg.seed
    W = np.asarray(W, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    a = Analysis()
    steps = [
        ("rings", lambda: rings(W, vocab, costats, a)),
        ("coactivation", lambda: costats is not None and coactivation(W, costats, a, seed)),
        ("clusters", lambda: clusters(W, vocab, a, cfg)),
        ("mechanism", lambda: mechanism(W, b, vocab, X_heldout, output, costats, a)),
        ("dimensionality", lambda: dimensionality(W, vocab, costats, a)),
        ("discovery", lambda: discovery(W, vocab, costats, a, seed, cfg.discovery_candidates)),
    ]
    for name, step in steps:
        log.info("analyze: %s", name)
        step()
    return a
