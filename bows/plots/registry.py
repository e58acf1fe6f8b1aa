"""Every figure bows draws, declared once: its name (``figures/<name>.png``), what it shows (the caption
on W&B and in the README's figure guide), what to look for and where it goes on the report page, what
it needs to be drawn, and the function that draws it. The analyses draw from here
(``run_figures``, ``sweep_figures``), the report lays its pages out from here, and the README's figure
table is ``guide_markdown()`` (a test keeps the two identical).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bows.analysis.compute import Analysis
from bows.analysis.store import AnalysisFiles, load_analysis
from bows.plots import diagnostics as dg
from bows.plots import figures as rf
from bows.plots import mechanism as mf
from bows.plots import sweep as sf
from bows.plots.common import Figure, figure_title, plt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FigureSpec:
    """One figure. ``draw(data, path) -> made?`` gets an ``Analysis`` (a run figure) or the sweep's
    per-run metric table (a sweep figure) and returns False when its numbers are absent. ``varies``
    (sweep figures): the columns that must take at least that many distinct values for the figure to
    show something (the report leaves it out with a note otherwise)."""

    name: str
    draw: Callable[[Any, Path], bool]
    caption: str  # what it shows
    look_for: str  # what the reader should look for (the report page)
    section: str  # the report section it appears in (report.SECTIONS)
    needs: str  # what must exist for it to be drawn
    wide: bool = False  # several panels: the full page width
    varies: tuple[tuple[str, int], ...] = ()


def _discovery(a: Analysis, path: Path) -> bool:
    section = a.sections.get("discovery") or {}
    return dg.gallery_figure(
        a.tables.get("discovery"),
        path,
        "Structures found without labels in W (rings, lines, clusters; "
        "z against random word sets of the same size and frequency)" + dg.bars_text(section.get("thresholds")),
        reference=section.get("evaluation"),
    )


RUN_FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(
        "months_ring",
        lambda a, p: rf.ring_figure(a, "months", p),
        "The 12 month vectors projected on their first two principal components (left, raw; right, "
        "L2-normalised), connected in calendar order; stars are seasonal words projected with the same "
        "fit, coloured by their expected season. A ring in calendar order means the model encodes the "
        "cyclic structure linearly; 'adjacent' is the share of calendar neighbours that are neighbours "
        "around the ring (chance 2/(n-1)); 'circ. rank r' the circular rank correlation.",
        "Look for the 12 months joined in calendar order going once around a loop, and the seasonal words "
        "(stars, coloured by their season) next to their season's months. Left: raw vectors; right: "
        "L2-normalised. The title compares the share of calendar neighbours that are adjacent with chance.",
        "rings",
        "the `groups` section; a ring needs all 12 months in the vocabulary (else a not-enough-data panel)",
    ),
    FigureSpec(
        "days_ring",
        lambda a, p: rf.ring_figure(a, "days", p),
        "The same for the 7 day names.",
        "Look for the 7 days going once around in weekly order (Sunday next to Monday).",
        "rings",
        "the `groups` section; all 7 days in the vocabulary",
    ),
    FigureSpec(
        "months_data",
        lambda a, p: rf.data_ring_figure(a, "months", p),
        "Data side: correlation of month indicators over windows containing a month, the model's month "
        "Gram matrix (r = agreement over off-diagonal entries), and the months ring found by PCA of "
        "the row-centred indicators, i.e. in the data itself.",
        "Look for the same pattern in the data's month correlation (left) and the model's Gram matrix "
        "(middle, r in its title), and a ring in the data's own PCA (right): the model copies the data.",
        "data",
        "the stats artifact's month matrices (the data side of the `groups` section)",
        wide=True,
    ),
    FigureSpec(
        "days_data",
        lambda a, p: rf.data_ring_figure(a, "days", p),
        "The data side for the day names.",
        "The same for the days.",
        "data",
        "the stats artifact's day matrices",
        wide=True,
    ),
    FigureSpec(
        "groups",
        rf.groups_figure,
        "Gram matrices of the named word groups (months, days, planets, Roman numerals, seasonal words; "
        "top) and the data's correlation of the same words (bottom): off-diagonal structure in the model "
        "mirrors co-occurrence.",
        "Look for blocks in each model Gram matrix (top) where the data's correlation (bottom) has them: "
        "words that co-occur share directions.",
        "data",
        "a named group with at least 2 words in the vocabulary",
        wide=True,
    ),
    FigureSpec(
        "coactivation",
        rf.coactivation_figure,
        "Interference <w_i, w_j> of frequent word pairs against their co-activation in the data (phi "
        "correlation, PMI): positive slope = correlated words get aligned vectors (constructive interference).",
        "Look for a rising cloud: pairs that co-occur more (right) have larger interference <w_i, w_j> (up).",
        "data",
        "the `coactivation` table (frequent pairs of the stats artifact)",
    ),
    FigureSpec(
        "r2",
        mf.r2_figure,
        "Per-word R^2 on held-out windows against the R^2 the model gets from each word alone "
        "(one-hot inputs). Words above the diagonal are reconstructed thanks to their context: their "
        "reconstruction is carried by interference rather than by themselves.",
        "Look for words above the diagonal: reconstructed better in context than alone, i.e. carried by "
        "constructive interference from correlated words.",
        "mechanism",
        "the `r2` table (held-out windows)",
    ),
    FigureSpec(
        "preactivations",
        mf.preactivation_figure,
        "Pre-activation z_t of each target word over held-out windows that contain it; the dashed "
        "line is its value when the word appears alone. Mass right of the dashed line = context "
        "pushes the word up (constructive interference); left of zero = the word is missed.",
        "Look for mass right of zero for a target whose value alone (dashed) is below zero: its context "
        "lifts a word the ReLU would silence.",
        "mechanism",
        "the `mechanism` section's targets (a missing target is replaced by a named substitute)",
    ),
    FigureSpec(
        "towers",
        mf.towers_figure,
        "Decomposition of z_t into bias, the word's own |w_t|^2, correlated context, "
        "uncorrelated context and other words, for hand-built inputs and the held-out mean; "
        "the black tick is the sum (the model's pre-activation).",
        "Look for the correlated-context bar (not the uncorrelated one) pushing the sum (black tick) above zero.",
        "mechanism",
        "the `mechanism` section's decompositions",
    ),
    FigureSpec(
        "christmas_months",
        mf.christmas_figure,
        "How much each month pushes Christmas's output (interference) next to how much they co-occur in the data.",
        "Look for December (and its neighbours) with the largest positive interference with Christmas, "
        "in line with how often they co-occur.",
        "mechanism",
        "Christmas (or its substitute) and the months in the vocabulary",
    ),
    FigureSpec(
        "umap",
        rf.umap_figure,
        "UMAP of every word vector (cosine) coloured by hand-made semantic category "
        "(`bows/resources/categories.json`; uncategorised words grey); the title compares kNN category "
        "purity with a shuffled-label baseline.",
        "Look for coloured categories forming their own islands; the title compares kNN category purity "
        "with shuffled labels.",
        "words",
        "the `umap` table (`analyze.umap=true`)",
    ),
    FigureSpec(
        "dimensionality",
        rf.dimensionality_figure,
        "Feature dimensionality D_i = |w_i|^2 / sum_j (w_i_hat . w_j)^2 (Elhage et al.): 1 = a dedicated "
        "dimension, 1/n = sharing with n others, 0 = not represented; right: against how often the word occurs.",
        "Look for most words sharing dimensions (small D) and D rising with word frequency (right).",
        "words",
        "the `dimensionality` table",
    ),
    FigureSpec(
        "discovery",
        _discovery,
        "Structures found without labels: groups of frequent words whose vectors form a ring, a line or a "
        "tight cluster (hierarchical clustering, nearest-neighbour and mutual-neighbour sets, each scored "
        "against random word sets of the same size and frequency; Engels et al. 2024 did this by eye). Each "
        "panel is the group's own PCA; no word list is named in the method. A group is shown when its z "
        "passes its shape's bar: the best z the same search reaches on structure-free pools (words' "
        "relations destroyed), at least Bonferroni. Grey panels: the months and days, labelled only to "
        "judge the method, with their own ring z against such random sets.",
        "Structures found without labels: look for rings of words that belong together (days, months) among "
        "the top ring-like groups; each panel is the group's own PCA, z against random word sets of the same "
        "size and frequency.",
        "words",
        "the `discovery` table",
        wide=True,
    ),
    FigureSpec(
        "window_scan",
        lambda a, p: dg.window_scan_figure(a.tables.get("window_scan"), p, a.sections.get("window_scan")),
        "Data diagnostics (from `make stats`): how strongly the windows' co-occurrence alone supports each "
        "group's ring (share of calendar neighbours on the PCA ring of the row-centred indicators) or line "
        "(|Spearman| of PC1 with the natural order), against the window size G, one line per row "
        "segmentation; dashed: chance; circled: this corpus's configured setting.",
        "Data diagnostics (make stats): look for the window size G where each group's ring / line score "
        "peaks in the data alone (one line per row segmentation; circled: this corpus's setting).",
        "data",
        "the window scan of `make stats` for this corpus",
        wide=True,
    ),
)

SWEEP_FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(
        "structure_vs_latent",
        sf.structure_figure,
        "Structure vs latent size: off-diagonal Frobenius norm of the raw Gram matrix of the months and "
        "of the Roman numerals I..X (mean +- 2 sd over seeds). Large values = the group's words share "
        "directions (linear, PCA-like structure); small = nearly orthogonal.",
        "Look for how much the months and Roman numerals share directions (off-diagonal Gram norm) as L "
        "grows; the paper contrasts L = 400 with L = 4000.",
        "sweep",
        "a sweep over latent sizes",
        varies=(("latent_size", 2),),
    ),
    FigureSpec(
        "pca_snapshots",
        sf.snapshots_figure,
        "Months PCA (raw vectors, seasonal words as stars) across the swept values (first seed): watch the "
        "calendar ring appear or dissolve.",
        "Look for the month ring at the smallest L and whether it survives at the largest.",
        "sweep",
        "a sweep over latent sizes whose runs have a months ring",
        varies=(("latent_size", 2),),
    ),
    FigureSpec(
        "metrics_vs_weight_decay",
        lambda t, p: sf.metric_grid(t, "weight_decay", p),
        "Key metrics and eval loss vs weight decay: mean +- 2 sd over seeds (points: single runs); one "
        "line per latent size when L is swept too.",
        "Look for the trend of each key metric with weight decay.",
        "sweep",
        "a sweep over weight decays",
        wide=True,
        varies=(("weight_decay", 3),),
    ),
    FigureSpec(
        "metrics_vs_latent",
        lambda t, p: sf.metric_grid(t, "latent_size", p),
        "Key metrics and eval loss vs latent size (log x): mean +- 2 sd over seeds; one line per weight "
        "decay when it is swept too.",
        "Look for the trend of each key metric with latent size.",
        "sweep",
        "a sweep over latent sizes",
        wide=True,
        varies=(("latent_size", 3),),
    ),
    FigureSpec(
        "metrics_vs_lr",
        lambda t, p: sf.metric_grid(t, "lr", p),
        "Key metrics and eval loss vs learning rate (log x): mean +- 2 sd over seeds.",
        "Look for the trend of each key metric with the learning rate.",
        "sweep",
        "a sweep over learning rates",
        wide=True,
    ),
    FigureSpec(
        "phase_diagram",
        sf.phase_figure,
        "Phase diagrams of a two-axis sweep: each key metric (mean over seeds) over the grid, values in "
        "the cells; where the geometry switches from ReLU filtering to linear, PCA-like structure.",
        "Look for where the geometry switches between ReLU filtering and linear, PCA-like structure.",
        "sweep",
        "a sweep over two axes (weight decay, latent size or learning rate)",
        wide=True,
        varies=(("weight_decay", 2), ("latent_size", 2)),
    ),
)

FIGURES: dict[str, FigureSpec] = {f.name: f for f in (*RUN_FIGURES, *SWEEP_FIGURES)}


def draw(
    specs: Sequence[FigureSpec], data: Any, fig_dir: Path, failed: list[dict[str, str]] | None = None
) -> list[Figure]:
    """Draw every figure of ``specs`` on its own: one that raises is logged, closed and appended to
    ``failed`` as {name, error}; the rest go on."""
    made = []
    for spec in specs:
        path = Path(fig_dir) / AnalysisFiles.figure(spec.name)
        try:
            if spec.draw(data, path):
                made.append(Figure(spec.name, path, spec.caption))
        except Exception as exc:  # one broken figure never takes the others down
            plt.close("all")
            error = f"{type(exc).__name__}: {exc}"
            log.error("figure %s failed: %s", spec.name, error)
            if failed is not None:
                failed.append({"name": f"figure:{spec.name}", "error": error})
    return made


def run_figures(analysis_dir: Path, fig_dir: Path, failed: list[dict[str, str]] | None = None) -> list[Figure]:
    """Make every run figure whose numbers exist in ``analysis_dir``, each on its own; returns what
    was made and appends each figure that raised to ``failed`` ({name, error})."""
    return draw(RUN_FIGURES, load_analysis(analysis_dir), fig_dir, failed)


def sweep_figures(
    table: pd.DataFrame, fig_dir: Path, failed: list[dict[str, str]] | None = None, title: str | None = None
) -> list[Figure]:
    """Every sweep figure that fits the sweep's varying axes, each on its own (failures appended to
    ``failed``); each PNG carries ``title`` (default: what the sweep is, from the table)."""
    with figure_title(title or sf.sweep_title(table)):
        return draw(SWEEP_FIGURES, table, fig_dir, failed)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # a literal bar inside a Markdown table cell


def guide_markdown() -> str:
    """The README's figure guide: one row per figure, in the order the report shows them."""
    lines = ["| figure | of | what it shows | needs |", "|---|---|---|---|"]
    for kind, specs in (("run", RUN_FIGURES), ("sweep", SWEEP_FIGURES)):
        lines += [f"| `{f.name}` | {kind} | {_cell(f.caption)} | {_cell(f.needs)} |" for f in specs]
    return "\n".join(lines)
