"""Stage "report": reads the analysis of a run (``<run>/analysis/``) or of a sweep or study
(``<sweep dir>/analysis/``), running the analysis first if it is missing, and writes one static,
self-contained HTML page (``report.html``, figures embedded as base64) that opens without a server.

A page reads like a results section: the run's settings as its title, the paper's claims with
verdicts (``bows.analysis.claims``), figures with what to look for (side by side across weight
decays on a study page), and the raw numbers collapsed at the bottom.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bows.analysis import analyze
from bows.analysis.claims import CLAIMS, ClaimResult, ModelResult, evaluate
from bows.analysis.compute import Analysis
from bows.analysis.store import AnalysisFiles, load_analysis
from bows.artifacts import ArtifactError, atomic_write_bytes
from bows.cli import stage_main
from bows.config import BowsConfig
from bows.errors import BowsError
from bows.plots import registry
from bows.training.checkpoint import read_run_json

log = logging.getLogger(__name__)

REPORT = AnalysisFiles.REPORT


# ----------------------------------------------------------------------------- what the pages show
@dataclass(frozen=True)
class Shown:
    """A figure on the page: its PNG name, the page section, what to look for, and whether it needs
    the full width (several panels)."""

    name: str
    section: str
    caption: str
    wide: bool = False


SECTIONS = {
    "rings": "Month and day rings",
    "data": "Data versus model",
    "mechanism": "Mechanism: reconstruction through interference",
    "words": "All words: clusters and dimensionality",
    "sweep": "Across the runs",
    "more": "More figures",
}

# The figures of a run and of a sweep or study, from the one registry (``bows.plots.registry``), in page
# order; figures it does not list still appear under "More figures". A sweep figure is left out (with a
# note) unless the runs vary enough: name -> (column, distinct values needed).
RUN_FIGURES = tuple(Shown(f.name, f.section, f.look_for, f.wide) for f in registry.RUN_FIGURES)
SWEEP_FIGURES = tuple(Shown(f.name, f.section, f.look_for, f.wide) for f in registry.SWEEP_FIGURES)
SWEEP_NEEDS = {f.name: f.varies for f in registry.SWEEP_FIGURES if f.varies}
COLUMN_WORDS = {"latent_size": "latent size", "weight_decay": "weight decay"}

# Human labels of metric keys: exact keys, then "<section>/<group>/<name>" patterns ({g} = the group).
METRIC_LABELS = {
    "geometry/seasonal/season_match": "Seasonal words on their season's side (share)",
    "geometry/seasonal/in_plane_fraction": "Seasonal words: share of their norm in the month plane",
    "clusters/knn_purity": "Semantic clusters: kNN category purity",
    "clusters/knn_baseline_mean": "Semantic clusters: purity with shuffled labels (mean)",
    "clusters/knn_baseline_sd": "Semantic clusters: purity with shuffled labels (sd)",
    "clusters/knn_z": "Semantic clusters: purity above shuffled (z)",
    "clusters/knn_k": "Semantic clusters: neighbours k",
    "clusters/knn_words": "Semantic clusters: labelled words",
    "coactivation/pairs": "Co-activation: frequent word pairs",
    "coactivation/pearson_dot_corr": "Interference vs data correlation (Pearson r)",
    "coactivation/spearman_dot_corr": "Interference vs data correlation (Spearman)",
    "coactivation/pearson_dot_pmi": "Interference vs PMI (Pearson r)",
    "coactivation/spearman_dot_pmi": "Interference vs PMI (Spearman)",
    "mechanism/r2_median": "Held-out R^2 (median over words)",
    "mechanism/onehot_r2_median": "One-hot R^2 (median over words)",
    "mechanism/gap_median": "R^2 gap, held-out minus one-hot (median)",
    "mechanism/heldout_windows": "Held-out windows used",
    "dimensionality/mean": "Feature dimensionality D (mean)",
    "dimensionality/sum": "Feature dimensionality D (sum, ~dimensions used)",
    "dimensionality/dead_words": "Words with a zero vector",
    "dimensionality/spearman_freq": "Dimensionality vs frequency (Spearman)",
    "geometry/represented": "Represented words (|w| > 0.5)",
    "geometry/packing_floor": "Packing floor: least possible max |cosine| of the represented words (Welch bound)",
    "discovery/rings": "Discovered ring-shaped word clusters",
    "discovery/z_min": "Discovery: Bonferroni z over the candidates",
    **{
        f"discovery/threshold/{shape}": f"Discovery: z a {shape} must pass (Bonferroni, or what structure-free pools reach)"
        for shape in ("ring", "line", "cluster")
    },
    **{
        f"{side}/{g}_{stat}": f"{where}{g.capitalize()}: {text}"
        for side, where in (("discovery", ""), ("data_discovery", "Data: "))
        for g in ("months", "days")
        for stat, text in (
            ("ring/precision", "precision in the best-matching found ring"),
            ("ring/recall", "recall in the best-matching found ring"),
            ("ring/rank", "rank of that ring"),
            ("candidate/f1", "best F1 of any candidate, called or not"),
            ("own/ring_z", "own ring z vs random word sets of its size and frequency"),
            ("own/ring_p", "own ring p vs random word sets of its size and frequency"),
        )
    },
}
GROUP_LABELS = {
    "geometry/{g}/ring_score": "{G} ring: calendar neighbours adjacent (share)",
    "geometry/{g}/adjacent_fraction": "{G} ring, raw vectors: neighbours adjacent (share)",
    "geometry/{g}/circular_rank_corr": "{G} ring, raw vectors: circular rank correlation",
    "geometry/{g}/normalized_adjacent_fraction": "{G} ring, normalised vectors: neighbours adjacent (share)",
    "geometry/{g}/normalized_circular_rank_corr": "{G} ring, normalised vectors: circular rank correlation",
    "geometry/{g}/offdiag_frobenius": "{G}: off-diagonal Gram norm",
    "geometry/{g}/adjacent_cosine": "{G}: mean cosine of calendar neighbours",
    "geometry/{g}/other_cosine": "{G}: mean cosine of the other pairs",
    "geometry/{g}/random_cosine_sd": "sd of the cosine of random word pairs (noise)",
    "geometry/{g}/adjacent_z": "{G}: calendar neighbours' cosine in sd of random pairs",
    "data/{g}/ring_score": "{G} ring in the data (PCA of indicators): neighbours adjacent",
    "data/{g}/corr_ring_score": "{G} ring in the data (PCA of correlation): neighbours adjacent",
    "data/{g}/gram_vs_cond_corr": "{G}: model Gram vs data correlation (r)",
    "mechanism/{g}/share_above_zero": "{g}: held-out windows with z > 0 (share)",
    "mechanism/{g}/onehot_z": "{g}: pre-activation alone (b + |w|^2)",
}


def metric_label(key: str) -> str:
    if key in METRIC_LABELS:
        return METRIC_LABELS[key]
    parts = key.split("/")
    if len(parts) == 3:
        pattern = f"{parts[0]}/{{g}}/{parts[2]}"
        if pattern in GROUP_LABELS:
            return GROUP_LABELS[pattern].format(g=parts[1], G=parts[1].capitalize())
        if parts[2].startswith("explained_variance_pc"):
            return f"{parts[1].capitalize()} PCA: variance explained by PC{parts[2][-1]}"
    return key.replace("/", " · ").replace("_", " ")


# ----------------------------------------------------------------------------- HTML pieces
STYLE = """*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;max-width:1200px;margin:1.2em auto;padding:0 16px;color:#222;line-height:1.35}
h1{font-size:1.35em;margin:.2em 0}h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin:1.3em 0 .4em}
.details{color:#666;font-size:.8em;margin:.2em 0 .8em}code{font-size:.9em;color:#555}
table{border-collapse:collapse;font-size:.82em;margin:.4em 0}td,th{border:1px solid #ddd;padding:3px 6px;vertical-align:top}
th{background:#f4f4f4;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
table.claims{width:100%;table-layout:fixed}table.claims td{overflow-wrap:anywhere}
table.claims col.c1{width:25%}table.claims col.c2{width:11.5%}table.claims col.c3{width:32%}
table.claims col.c4{width:24%}table.claims col.c5{width:7.5%}table.claims td{padding:2px 6px}
.small{font-size:.9em;color:#444}
.v{display:inline-block;padding:1px 7px;border-radius:9px;font-weight:600;white-space:nowrap;font-size:.95em}
.v-reproduced{background:#d8f0d8;color:#185c18}.v-partial{background:#fbeec8;color:#6b4d00}
.v-not-reproduced{background:#f6d9d6;color:#7a1d12}.v-not-measurable{background:#e6e6e6;color:#444}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:10px 16px;align-items:start}
.cmp{display:grid;gap:8px 14px;align-items:start}
figure{margin:.6em 0;min-width:0}figure.wide{grid-column:1/-1}
.cmp figure{margin:0}.cmp h3{font-size:.9em;margin:.2em 0;color:#333}
img.fig{max-width:100%;height:auto;border:1px solid #eee;cursor:zoom-in;display:block}
img.fig.zoom{position:fixed;inset:0;margin:auto;max-width:98vw;max-height:98vh;width:auto;z-index:9;cursor:zoom-out;
background:#fff;box-shadow:0 0 0 100vmax rgba(0,0,0,.55)}
figcaption,.caption{font-size:.86em;color:#444;margin:.25em 0 1em}
.note{background:#f3f6fa;border-left:3px solid #8aa4c8;padding:4px 10px;font-size:.86em;color:#333;margin:.4em 0}
details{margin:.5em 0}summary{cursor:pointer;color:#234}
.scroll{overflow-x:auto;max-width:100%}
.below{display:flex;flex-wrap:wrap;gap:4px 28px;font-size:.86em}.below>div{flex:1 1 380px;min-width:0}"""
ZOOM_SCRIPT = (
    "<script>document.addEventListener('click',function(e){var i=e.target;"
    "if(i.classList&&i.classList.contains('fig'))i.classList.toggle('zoom');});</script>"
)


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _img(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img class="fig" src="data:image/png;base64,{data}" alt="{esc(Path(path).stem)}">'


def _value(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) >= 100):
        return f"{int(v):,}"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def _table(frame: pd.DataFrame, digits: int = 3) -> str:
    body = frame.to_html(index=False, float_format=lambda v: f"{v:.{digits}g}", border=0, escape=True, na_rep="")
    return f"<div class='scroll'>{body}</div>"


def _collapsed(summary: str, body: str, open_: bool = False) -> str:
    return f"<details{' open' if open_ else ''}><summary>{esc(summary)}</summary>{body}</details>"


def claims_table(rows: Sequence[ClaimResult], figures: set[str], notes: Sequence[str] = ()) -> str:
    """The claims at the top of every page (a claim's figure linked where the page shows it), then the
    decision rules and the notes about missing words, both collapsed."""
    out = [
        "<table class='claims' id='claims'><colgroup><col class='c1'><col class='c2'><col class='c3'>"
        "<col class='c4'><col class='c5'></colgroup>"
        "<tr><th>Claim of the paper</th><th>Verdict</th><th>Measured</th><th>Decided by</th><th>Figure</th></tr>"
    ]
    for r in rows:
        fig = r.claim.figure
        link = (
            f"<a href='#{esc(fig)}' title='{esc(fig)}'>{esc(fig.replace('_', ' '))}</a>"
            if fig in figures
            else f"<span class='small' title='not drawn on this page'>{esc(fig.replace('_', ' '))}</span>"
        )
        numbers = "<br>".join(
            f"<b>{esc(label)}</b>: {esc(text)}" if len(r.numbers) > 1 else esc(text) for label, text in r.numbers
        )
        decided = esc(r.comparison) + ("<br>" if r.comparison else "") + f"<i>{esc(r.reason)}</i>"
        out.append(
            f"<tr id='claim-{esc(r.claim.key)}'><td title='{esc(r.claim.rule)}'>{esc(r.claim.statement)}</td>"
            f"<td><span class='v v-{r.verdict.replace(' ', '-')}'>{esc(r.verdict)}</span></td>"
            f"<td class='small'>{numbers}</td><td class='small'>{decided}</td><td class='small'>{link}</td></tr>"
        )
    out.append("</table>")
    rules = "".join(f"<li><b>{esc(c.statement)}</b> {esc(c.rule)}</li>" for c in CLAIMS)
    below = [_collapsed("How each verdict is decided (hover a claim for its rule)", f"<ul class='small'>{rules}</ul>")]
    if notes:
        items = "".join(f"<li>{esc(n)}</li>" for n in notes)
        below.append(
            _collapsed(f"Notes ({len(notes)}): words the analyses looked for and did not find", f"<ul>{items}</ul>")
        )
    out.append(f"<div class='below'>{''.join(f'<div>{b}</div>' for b in below)}</div>")
    return "".join(out)


def _page(title: str, parts: list[str]) -> str:
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{esc(title)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}{ZOOM_SCRIPT}</body></html>\n"
    )


# ----------------------------------------------------------------------------- reading a run
@dataclass(frozen=True)
class RunView:
    """One analysed run as the pages name it."""

    analysis_dir: Path
    analysis: Analysis
    meta: dict
    run: dict  # run.json (empty if the run directory is gone)

    @property
    def weight_decay(self) -> float:
        return float(self.meta.get("weight_decay", float("nan")))

    @property
    def latent_size(self) -> int:
        return int(self.meta.get("latent_size", 0))

    @property
    def label(self) -> str:
        return f"wd {self.weight_decay:g}, L {self.latent_size}"

    def figure(self, name: str) -> Path | None:
        png = self.analysis_dir / analyze.FIGURE_DIR / AnalysisFiles.figure(name)
        return png if png.is_file() else None

    def model(self) -> ModelResult:
        return model_result(self.analysis, self.weight_decay, self.latent_size)


def read_run(analysis_dir: Path) -> RunView:
    analysis_dir = Path(analysis_dir)
    meta = analyze.verify_analysis(analysis_dir)  # refuses an edited or truncated analysis by name
    run_dir = Path(meta["run"]) if meta.get("run") else analysis_dir.parent
    return RunView(analysis_dir, load_analysis(analysis_dir), meta, read_run_json(run_dir) or {})


def model_result(a: Analysis, weight_decay: float, latent_size: int, seeds: int = 1) -> ModelResult:
    frame = a.tables.get("christmas_months")
    christmas = dict(zip(frame["word"], frame["dot"].astype(float))) if frame is not None else {}
    return ModelResult(
        weight_decay,
        latent_size,
        a.metrics,
        a.sections.get("groups", {}),
        a.sections.get("mechanism", {}),
        christmas,
        seeds,
    )


def _corpus(run: dict) -> str | None:
    corpus = run.get("config", {}).get("corpus", {})
    if not corpus.get("name"):
        return None
    rows = corpus.get("max_rows")
    return f"corpus {corpus['name']}" + (f" (first {rows:,} rows)" if rows else "")


def _steps(run: dict) -> str | None:
    if run.get("step") is None:
        return None
    status = run.get("status")
    return f"{run['step']:,} steps" + (f" ({status})" if status and status != "finished" else "")


def run_title(view: RunView) -> str:
    parts = [
        f"L = {view.latent_size}",
        f"weight decay {view.weight_decay:g}",
        _steps(view.run),
        _corpus(view.run),
    ]
    return ", ".join(p for p in parts if p)


def _details_line(items: Sequence[tuple[str, Any]]) -> str:
    shown = [f"{esc(k)} <code>{esc(v)}</code>" for k, v in items if v not in (None, "")]
    return f"<p class='details'>{' · '.join(shown)}</p>"


def _notes(a: Analysis) -> list[str]:
    """Words the analyses looked for and did not find (never dropped silently)."""
    notes = []
    for name, s in a.sections.get("groups", {}).items():
        if s.get("missing"):
            notes.append(f"{name}: not in the vocabulary: {', '.join(s['missing'])}")
        if s.get("seasonal_missing"):
            notes.append(f"seasonal words not in the vocabulary: {', '.join(s['seasonal_missing'])}")
    mech = a.sections.get("mechanism", {})
    for t, sub in mech.get("substitutes", {}).items():
        notes.append(
            f"target {t!r} is not in the vocabulary; replaced by {sub!r} (best held-out R^2 among words "
            "whose one-hot pre-activation is below zero)"
        )
    for t, info in mech.get("per_target", {}).items():
        if info.get("missing_context"):
            notes.append(
                f"{t}: named context words not in the vocabulary ({', '.join(info['missing_context'])}); "
                f"context chosen by {info.get('context_choice')}"
            )
    missing = {k: v for k, v in a.sections.get("clusters", {}).get("missing", {}).items() if v}
    if missing:
        notes.append("category words not in the vocabulary: " + "; ".join(f"{k}: {len(v)}" for k, v in missing.items()))
    for key, reason in a.sections.get("unavailable", {}).items():
        notes.append(f"{key} not computed (null): {reason}")
    return notes


def _failed(meta: dict) -> str:
    """A warning block listing what failed in the analysis (figures, uploads) and sweep members skipped."""
    failed, skipped = meta.get("failed") or [], meta.get("skipped") or []
    items = [f"<li>{esc(f.get('name'))}: {esc(f.get('error'))}</li>" for f in failed]
    items += [
        f"<li>job {esc(k.get('job'))} ({esc(k.get('status'))}) skipped: {esc(k.get('error'))}</li>" for k in skipped
    ]
    if not items:
        return ""
    return f"<h2>Incomplete: {len(failed)} part(s) failed, {len(skipped)} run(s) skipped</h2><ul class='note'>{''.join(items)}</ul>"


def _code_note(views: Sequence[RunView]) -> str:
    """One line per model trained by other training code than the current one (``analyze`` records it)."""
    notes = [v.meta["training_code_note"] for v in views if v.meta.get("training_code_note")]
    return "".join(f"<p class='note'>Training code: {esc(n)}.</p>" for n in notes)


def _why_not_drawn(view: RunView, name: str) -> str:
    settings = view.meta.get("analyze", {})
    if settings.get("figures") is False:
        return "per-run figures were switched off (analyze.figures=false)"
    if name == "umap" and settings.get("umap") is False:
        return "UMAP was skipped (analyze.umap=false)"
    if name in ("coactivation", "months_data", "days_data"):
        return "its data-side numbers are missing (see the notes)"
    return "its numbers are missing (see the notes)"


def _extra_figures(fig_dirs: Sequence[Path], listed: set[str]) -> list[str]:
    """PNG names in the figure folders that no list above places (new figures land under "More figures")."""
    names: set[str] = set()
    for d in fig_dirs:
        names |= {p.stem for p in Path(d).glob("*.png") if not p.name.startswith(".")}
    return sorted(names - listed)


def _figure_html(shown: Shown, png: Path) -> str:
    cls = " class='wide'" if shown.wide else ""
    return f"<figure id='{esc(shown.name)}'{cls}>{_img(png)}<figcaption>{esc(shown.caption)}</figcaption></figure>"


def _numbers_table(columns: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """Every metric as a row (human label, key), one value column per run."""
    keys = sorted({k for _, metrics in columns for k in metrics}, key=_metric_order)
    head = "<tr><th>metric</th><th>key</th>" + "".join(f"<th>{esc(name)}</th>" for name, _ in columns) + "</tr>"
    rows = "".join(
        f"<tr><td>{esc(metric_label(k))}</td><td><code>{esc(k)}</code></td>"
        + "".join(f"<td class='num'>{esc(_value(m.get(k)))}</td>" for _, m in columns)
        + "</tr>"
        for k in keys
    )
    return f"<div class='scroll'><table>{head}{rows}</table></div>"


SECTION_ORDER = ("geometry", "data", "coactivation", "clusters", "mechanism", "dimensionality", "discovery")


def _metric_order(key: str) -> tuple[int, str]:
    head = key.split("/", 1)[0]
    return (SECTION_ORDER.index(head) if head in SECTION_ORDER else len(SECTION_ORDER), key)


def _run_tables(view: RunView) -> list[str]:
    a = view.analysis
    parts = []
    groups = a.sections.get("groups", {})
    for g in ("months", "days"):
        if groups.get(g, {}).get("raw", {}).get("angular_order"):
            order = " \u2192 ".join(groups[g]["raw"]["angular_order"])
            parts.append(_collapsed(f"Angular order of {g} around the ring (raw PCA)", f"<p>{esc(order)}</p>"))
    if groups.get("months", {}).get("seasonal"):
        seasonal = pd.DataFrame(groups["months"]["seasonal"]).drop(columns=["coords"])
        parts.append(_collapsed("Seasonal words in the months plane", _table(seasonal)))
    tables = [
        ("r2", "Words most carried by their context (held-out R^2 minus one-hot R^2)", 25),
        ("towers", "Decomposition towers of the target words' pre-activation", 40),
        ("christmas_months", "Christmas vs each month", 12),
        ("discovery", "Structures found without labels (rings, lines, clusters; z vs random word sets)", 36),
    ]
    for name, title, n in tables:
        if name in a.tables:
            frame = a.tables[name].drop(columns=["indices", "pc1", "pc2"], errors="ignore")  # lists: figure only
            parts.append(_collapsed(title, _table(frame.head(n))))
    return parts


# ----------------------------------------------------------------------------- the run page
def run_page(analysis_dir: Path) -> str:
    view = read_run(analysis_dir)
    listed = {s.name for s in RUN_FIGURES}
    extra = _extra_figures([analysis_dir / analyze.FIGURE_DIR], listed)
    shown = [*RUN_FIGURES, *(Shown(n, "more", n, wide=True) for n in extra)]
    present = {s.name for s in shown if view.figure(s.name)}
    title = run_title(view)
    parts = [
        f"<h1>BOWS run: {esc(title)}</h1>",
        _details_line(
            [
                ("run", view.meta.get("run_key", view.analysis_dir.parent.name)),
                ("vocabulary", f"{view.meta['vocab_size']:,} words" if "vocab_size" in view.meta else None),
                ("output", view.meta.get("output")),
                ("seed", view.meta.get("seed")),
                ("held-out", f"{view.meta.get('heldout_windows', 0):,} {view.meta.get('heldout_split', '')} windows"),
                ("analysed", view.meta.get("created")),
            ]
        ),
        _failed(view.meta),
        _code_note([view]),
        "<h2>Does it reproduce the paper?</h2>",
        claims_table(evaluate([view.model()]), present, _notes(view.analysis)),
    ]
    for section, heading in SECTIONS.items():
        items = [s for s in shown if s.section == section]
        figs = [_figure_html(s, png) for s in items if (png := view.figure(s.name))]
        missing = [s.name for s in items if not view.figure(s.name)]
        if not figs and not missing:
            continue
        parts.append(f"<h2>{esc(heading)}</h2>")
        if figs:
            parts.append(f"<div class='grid'>{''.join(figs)}</div>")
        for name in missing:
            parts.append(f"<p class='note'>Not drawn: <code>{esc(name)}</code>: {esc(_why_not_drawn(view, name))}.</p>")
    parts.append("<h2>Numbers</h2>")
    parts.append(_collapsed("All metrics (label and key)", _numbers_table([(title, view.analysis.metrics)])))
    parts += _run_tables(view)
    return _page(f"BOWS run: {title}", parts)


# ----------------------------------------------------------------------------- the sweep / study page
def _span(values: pd.Series, unit: str, fmt: Callable[[Any], str] = lambda v: f"{v:g}") -> str:
    vals = sorted(v for v in values.dropna().unique())
    if len(vals) == 1:
        return f"{unit} {fmt(vals[0])}"
    if len(vals) <= 3:
        return f"{unit} " + " vs ".join(fmt(v) for v in sorted(vals, reverse=unit == "weight decay"))
    return f"{unit} {fmt(vals[0])}..{fmt(vals[-1])} ({len(vals)} values)"


def sweep_title(table: pd.DataFrame, runs: Mapping[str, RunView], study: bool) -> str:
    parts = [] if study else [f"{len(table)} runs"]
    parts.append(_span(table["latent_size"], "L ="))
    parts.append(_span(table["weight_decay"], "weight decay"))
    if table["seed"].nunique() > 1:
        parts.append(f"{table['seed'].nunique()} seeds")
    for describe in (_steps, _corpus):  # named when every run shares it
        said = {describe(v.run) for v in runs.values()}
        if len(said) == 1 and (only := said.pop()) is not None:
            parts.append(only)
    return ", ".join(parts)


def representatives(table: pd.DataFrame) -> list[tuple[float, pd.DataFrame]]:
    """Per weight decay (highest first), the runs at its largest latent size (all seeds)."""
    out = []
    for wd in sorted(table["weight_decay"].unique(), reverse=True):
        sub = table[table["weight_decay"] == wd]
        out.append((float(wd), sub[sub["latent_size"] == sub["latent_size"].max()].sort_values("seed")))
    return out


def _mean_metrics(views: Sequence[RunView]) -> dict[str, Any]:
    """Mean over seeds of every metric; a metric with no finite value stays null."""
    keys = {k for v in views for k in v.analysis.metrics}
    out: dict[str, Any] = {}
    for k in keys:
        vals = [v.analysis.metrics.get(k) for v in views]
        good = [float(x) for x in vals if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)]
        out[k] = sum(good) / len(good) if good else None
    return out


def _compare_row(shown: Shown, columns: Sequence[tuple[str, RunView]]) -> str:
    cells = []
    for i, (head, view) in enumerate(columns):
        png = view.figure(shown.name)
        anchor = f" id='{esc(shown.name)}'" if i == 0 else ""
        body = _img(png) if png else f"<p class='note'>Not drawn: {esc(_why_not_drawn(view, shown.name))}.</p>"
        cells.append(f"<figure{anchor}><h3>{esc(head)}</h3>{body}</figure>")
    cols = "minmax(0,1fr)" if shown.wide else f"repeat({min(len(columns), 3)},minmax(0,1fr))"  # wide: stacked
    return (
        f"<div class='cmp' style='grid-template-columns:{cols}'>{''.join(cells)}</div>"
        f"<p class='caption'>{esc(shown.caption)}</p>"
    )


def sweep_page(analysis_dir: Path) -> str:
    sweep_meta = analyze.verify_analysis(analysis_dir)
    table = pd.read_parquet(analysis_dir / analyze.SWEEP_METRICS)
    study = analysis_dir.parent.parent.name == "study"
    views = {d: read_run(Path(d)) for d in table["analysis_dir"] if (Path(d) / AnalysisFiles.METRICS).is_file()}
    reps = [(wd, [views[d] for d in sub["analysis_dir"] if d in views]) for wd, sub in representatives(table)]
    reps = [(wd, vs) for wd, vs in reps if vs]
    models = []  # one per weight decay: metrics averaged over seeds, sections of the first seed
    for _, vs in reps:
        first = vs[0].model()
        models.append(dataclasses.replace(first, metrics=_mean_metrics(vs), seeds=len(vs)) if len(vs) > 1 else first)
    columns = [
        (
            f"weight decay {wd:g} (L {vs[0].latent_size}"
            + (f", seed {vs[0].meta.get('seed')})" if len(vs) > 1 else ")"),
            vs[0],
        )
        for wd, vs in reps
    ]
    title = sweep_title(table, views, study)
    kind = "study" if study else "sweep"
    sweep_dir = analysis_dir.parent
    parts = [
        f"<h1>BOWS {kind}: {esc(title)}</h1>",
        _details_line(
            [
                (kind, sweep_dir.name),
                ("runs", ", ".join(f"{v.label}: {v.meta.get('run_key', '?')}" for v in views.values())),
            ]
        ),
        _failed(sweep_meta),
        _code_note(list(views.values())),
        "<h2>Does it reproduce the paper?</h2>",
    ]
    listed_run = {s.name for s in RUN_FIGURES}
    listed_sweep = {s.name for s in SWEEP_FIGURES}
    extra_run = _extra_figures([v.analysis_dir / analyze.FIGURE_DIR for _, v in columns], listed_run)
    extra_sweep = _extra_figures([analysis_dir / analyze.FIGURE_DIR], listed_sweep | listed_run)
    run_shown = [*RUN_FIGURES, *(Shown(n, "more", n) for n in extra_run)]
    present = {s.name for s in run_shown if any(v.figure(s.name) for _, v in columns)}
    notes: dict[str, list[str]] = {}
    for _, v in columns:
        for n in _notes(v.analysis):
            notes.setdefault(n, []).append(f"wd {v.weight_decay:g}")
    shared = [n if len(w) == len(columns) else f"{', '.join(w)}: {n}" for n, w in notes.items()]
    parts.append(claims_table(evaluate(models), present, shared) if models else "<p class='note'>No analysed runs.</p>")
    for section, heading in SECTIONS.items():
        block = [_compare_row(s, columns) for s in run_shown if s.section == section and s.name in present]
        block += [
            f"<p class='note'>Not drawn: <code>{esc(s.name)}</code>: {esc(_why_not_drawn(columns[0][1], s.name))}.</p>"
            for s in run_shown
            if s.section == section and s.name not in present and columns
        ]
        if section == "sweep":
            block += _sweep_figures(analysis_dir, table, [*SWEEP_FIGURES, *(Shown(n, "sweep", n) for n in extra_sweep)])
        if block:
            parts.append(f"<h2>{esc(heading)}</h2>" + "".join(block))
    parts.append("<h2>Numbers</h2>")
    number_columns = [(f"{v.label}, seed {v.meta.get('seed')}", v.analysis.metrics) for v in views.values()]
    parts.append(_collapsed("All metrics per run (label and key)", _numbers_table(number_columns)))
    links = []
    for _, row in table.iterrows():
        page = Path(row["analysis_dir"]) / REPORT
        if page.is_file():
            rel = Path(os.path.relpath(page.resolve(), analysis_dir.resolve()))
            links.append(
                f"<li><a href='{esc(rel)}'>L = {row['latent_size']}, weight decay {row['weight_decay']:g}, "
                f"seed {row['seed']}</a></li>"
            )
    if links:
        parts.append("<h2>Run reports</h2><ul>" + "".join(links) + "</ul>")
    return _page(f"BOWS {kind}: {title}", parts)


def _sweep_figures(analysis_dir: Path, table: pd.DataFrame, shown: Sequence[Shown]) -> list[str]:
    """Sweep figures that have something to show; one line per reason for those left out."""
    out, left_out = [], {}
    for s in shown:
        png = analysis_dir / analyze.FIGURE_DIR / f"{s.name}.png"
        short = [(col, n) for col, n in SWEEP_NEEDS.get(s.name, ()) if col in table and table[col].nunique() < n]
        if short:
            left_out.setdefault(short[0], []).append(s.name)
        elif png.is_file():
            out.append(f"<div class='grid'>{_figure_html(s, png)}</div>")
    for (col, n), names in left_out.items():
        have = ", ".join(f"{v:g}" for v in sorted(table[col].unique()))
        out.append(
            f"<p class='note'>Left out, nothing to compare: {', '.join(f'<code>{esc(x)}</code>' for x in names)} "
            f"need at least {n} values of {COLUMN_WORDS.get(col, col)}; these runs have {esc(have)}.</p>"
        )
    return out


# ----------------------------------------------------------------------------- the stage
def write_report(analysis_dir: Path, sweep: bool = False) -> Path:
    page = sweep_page(analysis_dir) if sweep else run_page(analysis_dir)
    path = analysis_dir / REPORT
    atomic_write_bytes(path, page.encode("utf-8"))
    log.info("report: %s", path)
    return path


def run(cfg: BowsConfig) -> Path:
    if cfg.analyze.sweep:
        analysis_dir = Path(cfg.analyze.sweep).resolve().parent / analyze.ANALYSIS_DIR
        try:
            analyze.verify_analysis(analysis_dir)
        except ArtifactError as exc:
            log.info("report: %s -- analysing the sweep", exc)
            analysis_dir = analyze.run(cfg)
        table = pd.read_parquet(analysis_dir / analyze.SWEEP_METRICS)
        for run_analysis in table["analysis_dir"]:
            if (Path(run_analysis) / AnalysisFiles.METRICS).is_file():
                write_report(Path(run_analysis))
        return write_report(analysis_dir, sweep=True)
    run_dir = Path(cfg.analyze.run) if cfg.analyze.run else analyze.default_run_dir(cfg)
    if not run_dir.is_dir():
        raise BowsError(f"run directory {run_dir} does not exist; pass analyze.run=<runs/KEY> of a trained run")
    analysis_dir = analyze.current_analysis(run_dir.resolve(), cfg) or analyze.run(cfg)
    return write_report(analysis_dir)


main = stage_main(run)

if __name__ == "__main__":
    main()
