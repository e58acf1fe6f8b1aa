"""Stage "report": reads the analysis of a run (``<run>/analysis/``) or of a sweep
(``<sweep dir>/analysis/``), running the analysis first if it is missing, and writes one static,
self-contained HTML page (``report.html``, figures embedded as base64) that opens without a server.
"""

from __future__ import annotations

import base64
import html
import json
import logging
from pathlib import Path

import pandas as pd

from bows.analysis import analyze
from bows.analysis.compute import Analysis, load_analysis
from bows.artifacts import atomic_write_bytes
from bows.cli import stage_main
from bows.config import BowsConfig
from bows.errors import BowsError

log = logging.getLogger(__name__)

REPORT = "report.html"
STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}figure{margin:1em 0}
img{max-width:100%;border:1px solid #eee}figcaption{font-size:.9em;color:#444;max-width:900px}
.note{color:#a00;font-size:.9em}"""


def _img(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(Path(path).stem)}">'


def _table(frame: pd.DataFrame, digits: int = 3) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.{digits}g}", border=0, escape=True, na_rep="")


def _figure(name: str, path: Path, caption: str) -> str:
    return f'<figure id="{html.escape(name)}">{_img(path)}<figcaption>{html.escape(caption)}</figcaption></figure>'


def _metrics_table(metrics: dict) -> str:
    rows = [
        {"section": k.split("/", 1)[0], "metric": k.split("/", 1)[-1], "value": v} for k, v in sorted(metrics.items())
    ]
    return _table(pd.DataFrame(rows)[["metric", "value", "section"]])


def _notes(a: Analysis) -> list[str]:
    """Words the analyses looked for and did not find (never dropped silently)."""
    notes = []
    for name, s in a.sections.get("groups", {}).items():
        if s.get("missing"):
            notes.append(f"{name}: missing from the vocabulary: {', '.join(s['missing'])}")
        if s.get("seasonal_missing"):
            notes.append(f"seasonal words missing: {', '.join(s['seasonal_missing'])}")
    mech = a.sections.get("mechanism", {})
    for t, sub in mech.get("substitutes", {}).items():
        notes.append(
            f"target {t!r} is not in the vocabulary; replaced by {sub!r} (best held-out R^2 among words "
            "whose one-hot pre-activation is below zero)"
        )
    for t, info in mech.get("per_target", {}).items():
        if info.get("missing_context"):
            notes.append(
                f"{t}: named context words missing ({', '.join(info['missing_context'])}); "
                f"context chosen by {info.get('context_choice')}"
            )
    missing = {k: v for k, v in a.sections.get("clusters", {}).get("missing", {}).items() if v}
    if missing:
        notes.append("category words not in the vocabulary: " + "; ".join(f"{k}: {len(v)}" for k, v in missing.items()))
    return notes


def run_page(analysis_dir: Path) -> str:
    from bows.plots.figures import run_figure_specs

    a = load_analysis(analysis_dir)
    meta = json.loads((analysis_dir / "meta.json").read_text()) if (analysis_dir / "meta.json").is_file() else {}
    parts = [
        f"<h1>BOWS run {html.escape(str(meta.get('run_key', analysis_dir.parent.name)))}</h1>",
        _table(
            pd.DataFrame(
                [
                    {
                        k: meta.get(k)
                        for k in (
                            "latent_size",
                            "vocab_size",
                            "output",
                            "weight_decay",
                            "seed",
                            "heldout_split",
                            "heldout_windows",
                            "created",
                        )
                    }
                ]
            )
        ),
    ]
    notes = _notes(a)
    if notes:
        parts.append("<ul class='note'>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    parts.append("<h2>Key numbers</h2>" + _metrics_table(a.metrics))
    parts.append("<h2>Figures</h2>")
    for name, (_, caption) in run_figure_specs().items():
        png = analysis_dir / analyze.FIGURE_DIR / f"{name}.png"
        if png.is_file():
            parts.append(_figure(name, png, caption))
    groups = a.sections.get("groups", {})
    for g in ("months", "days"):
        if "raw" in groups.get(g, {}):
            order = " \u2192 ".join(groups[g]["raw"]["angular_order"])
            parts.append(f"<h2>Angular order of {g} (raw PCA)</h2><p>{html.escape(order)}</p>")
    if groups.get("months", {}).get("seasonal"):
        seasonal = pd.DataFrame(groups["months"]["seasonal"]).drop(columns=["coords"])
        parts.append("<h2>Seasonal words in the months plane</h2>" + _table(seasonal))
    tables = [
        ("r2", "Words most carried by their context (held-out R^2 minus one-hot R^2)", 25),
        ("towers", "Decomposition towers of the target words' pre-activation", 40),
        ("christmas_months", "Christmas vs each month", 12),
        ("discovery", "Structures found without labels (rings, lines, clusters; z vs random word sets)", 36),
    ]
    for name, title, n in tables:
        if name in a.tables:
            frame = a.tables[name].drop(columns=["indices", "pc1", "pc2"], errors="ignore")  # lists: figure only
            parts.append(f"<h2>{html.escape(title)}</h2>" + _table(frame.head(n)))
    return _page("BOWS run report", parts)


def sweep_page(analysis_dir: Path) -> str:
    from bows.plots.sweep import SWEEP_FIGURES

    table = pd.read_parquet(analysis_dir / analyze.SWEEP_METRICS)
    parts = [f"<h1>BOWS sweep ({len(table)} runs)</h1>"]
    for name, (_, caption) in SWEEP_FIGURES.items():
        png = analysis_dir / analyze.FIGURE_DIR / f"{name}.png"
        if png.is_file():
            parts.append(_figure(name, png, caption))
    cols = ["latent_size", "weight_decay", "seed"] + [c for c in table.columns if "/" in c]
    parts.append("<h2>Per-run metrics</h2>" + _table(table[cols].sort_values(["weight_decay", "latent_size", "seed"])))
    links = []
    for _, row in table.iterrows():
        page = Path(row["analysis_dir"]) / REPORT
        if page.is_file():
            rel = _relative(page, analysis_dir)
            links.append(
                f"<li><a href='{html.escape(str(rel))}'>L={row['latent_size']}, wd={row['weight_decay']:g}, "
                f"seed={row['seed']}</a></li>"
            )
    if links:
        parts.append("<h2>Run reports</h2><ul>" + "".join(links) + "</ul>")
    return _page("BOWS sweep report", parts)


def _relative(target: Path, start: Path) -> Path:
    import os

    return Path(os.path.relpath(target.resolve(), start.resolve()))


def _page(title: str, parts: list[str]) -> str:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n"
    )


def write_report(analysis_dir: Path, sweep: bool = False) -> Path:
    page = sweep_page(analysis_dir) if sweep else run_page(analysis_dir)
    path = analysis_dir / REPORT
    atomic_write_bytes(path, page.encode("utf-8"))
    log.info("report: %s", path)
    return path


def run(cfg: BowsConfig) -> Path:
    if cfg.analyze.sweep:
        analysis_dir = Path(cfg.analyze.sweep).resolve().parent / analyze.ANALYSIS_DIR
        if not (analysis_dir / analyze.SWEEP_METRICS).is_file():
            analysis_dir = analyze.run(cfg)
        table = pd.read_parquet(analysis_dir / analyze.SWEEP_METRICS)
        for run_analysis in table["analysis_dir"]:
            if (Path(run_analysis) / "metrics.json").is_file():
                write_report(Path(run_analysis))
        return write_report(analysis_dir, sweep=True)
    run_dir = Path(cfg.analyze.run) if cfg.analyze.run else analyze.default_run_dir(cfg)
    analysis_dir = run_dir.resolve() / analyze.ANALYSIS_DIR
    if not (analysis_dir / "metrics.json").is_file():
        if not run_dir.is_dir():
            raise BowsError(f"run directory {run_dir} does not exist; pass analyze.run=<runs/KEY> of a trained run")
        analysis_dir = analyze.run(cfg)
    return write_report(analysis_dir)


main = stage_main(run)

if __name__ == "__main__":
    main()
