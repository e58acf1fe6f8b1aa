"""Stage "analyze": reads a training run directory (or every run of a sweep index) with its windows,
vocabulary and co-activation statistics, and writes numbers (JSON/Parquet) then figures (PNG) under
``<run>/analysis/`` (``<sweep dir>/analysis/`` for a sweep), logging both to W&B.

An analysis's ``meta.json`` is a checked JSON (``bows.artifacts.write_checked_json``) recording its
identity -- the run (key + weights sha256), the stats artifact (key + digest), the analysis settings
(``key_dict(cfg.analyze)``) and the digest of the analysis code (``bows.stages``) -- the sha256 of every numbers file, and
``failed`` (figures/uploads that failed) and ``complete`` (set once figures and W&B are done). It is
reused only when all of these match, it is complete and ``failed`` is empty (``current_analysis``);
readers verify it with ``verify_analysis``.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bows.analysis.compute import Analysis, analyze_arrays
from bows.analysis.identity import analysis_identity
from bows.analysis.store import AnalysisFiles, load_analysis, save_analysis
from bows.artifacts import (
    ArtifactError,
    Files,
    atomic_path,
    file_record,
    read_checked_json,
    stable_hash,
    verify_files,
    write_checked_json,
)
from bows.cli import stage_main
from bows.config import BowsConfig, as_dict, to_config
from bows.data import HELDOUT_SPLITS
from bows.data.stats import build as build_stats
from bows.data.stats import load_stats
from bows.data.windows import heldout_rows
from bows.errors import BowsError
from bows.locks import hold
from bows.plots import registry
from bows.plots import sweep as sweep_plots
from bows.plots.common import figure_title
from bows.stages import code_changes, code_record, wandb_config
from bows.training.checkpoint import run_label, run_title

log = logging.getLogger(__name__)

ANALYSIS_DIR, FIGURE_DIR, SWEEP_METRICS = AnalysisFiles.DIR, AnalysisFiles.FIGURES, AnalysisFiles.SWEEP_METRICS
META = AnalysisFiles.META


def numbers_files(out: Path) -> dict:
    """``{name: {sha256, bytes}}`` of an analysis's numbers (its top-level JSON and Parquet files)."""
    names = sorted(p.name for p in [*out.glob("*.json"), *out.glob("*.parquet")] if p.name != META)
    return {name: file_record(out / name) for name in names}


def verify_analysis(out: Path) -> dict:
    """The checked ``meta.json`` of an analysis directory after verifying every numbers file it
    records; ``ArtifactError`` naming the file if any is missing, edited or truncated."""
    meta = read_checked_json(Path(out) / META)
    verify_files(Path(out), meta.get("files", {}))
    return meta


class AnalysisIncomplete(BowsError):
    """Some figures, uploads or sweep runs failed; everything else was written (meta.json ``failed``)."""


def _attempt(failed: list[dict[str, str]], name: str, fn, *args, **kwargs):
    """Run one independent part (a figure, an upload, a run of a sweep); a failure is logged and
    appended to ``failed`` as {name, error} instead of taking the other parts down."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        log.error("analyze: %s failed: %s", name, error)
        failed.append({"name": name, "error": error})
        return None


def _raise_if_failed(failed: list[dict[str, str]], out: Path) -> None:
    if failed:
        names = ", ".join(f["name"] for f in failed)
        raise AnalysisIncomplete(
            f"{len(failed)} part(s) of the analysis failed ({names}); the rest is in {out} and "
            f"{out / 'meta.json'} lists the errors (`failed`); fix and re-run to complete it"
        )


def _root_of(run_dir: Path, cfg: BowsConfig) -> Path:
    """The data root a run lives in (``<root>/runs/<key>``), else the configured one."""
    return run_dir.parent.parent if run_dir.parent.name == "runs" else cfg.paths.root_path


def _heldout(windows_artifact, n: int):
    from bows.data.binarize import load_windows

    for split in HELDOUT_SPLITS:
        try:
            windows = load_windows(windows_artifact, split)
        except ArtifactError as exc:  # a corpus without this split: try the next one
            log.info("analyze: no %s windows (%s)", split, exc)
            continue
        rows = heldout_rows(windows.offsets, n)
        if len(rows):
            return windows.subset(rows).to_csr(), split
    raise BowsError(
        f"{windows_artifact.path} has no non-empty validation or test windows; "
        "the mechanism analyses need held-out windows"
    )


def analyze_run(run_dir: Path, cfg: BowsConfig, group: str | None = None) -> Path:
    """Analyse one run; returns ``<run>/analysis`` (one writer at a time: a second waits or stops, ``bows.locks``)."""
    with hold(Path(run_dir).resolve() / ANALYSIS_DIR, "analyze", cfg.paths.lock_wait):
        return _analyze_run(run_dir, cfg, group)


def _analyze_run(run_dir: Path, cfg: BowsConfig, group: str | None = None) -> Path:
    from bows.data.binarize import vocab_of
    from bows.training.checkpoint import load_run

    run_dir = Path(run_dir).resolve()
    if not run_dir.is_dir():
        raise BowsError(f"run directory {run_dir} does not exist; pass analyze.run=<runs/KEY> of a trained run")
    started = time.time()
    info = load_run(run_dir)
    vocab = vocab_of(info.windows)
    W, b = np.asarray(info.W, dtype=np.float32), np.asarray(info.b, dtype=np.float32)
    if W.shape[1] != len(vocab):
        raise BowsError(f"{run_dir}: W has {W.shape[1]} columns but the vocabulary has {len(vocab)} words")
    stats_artifact = build_stats(_root_of(run_dir, cfg), info.windows, cfg.stats)
    costats = load_stats(stats_artifact)
    X, split = _heldout(info.windows, cfg.analyze.heldout_windows)
    output = info.config.model.output
    log.info("analyze: %s (L=%d, V=%d, %d %s windows)", run_dir.name, W.shape[0], W.shape[1], X.shape[0], split)
    result = analyze_arrays(W, b, vocab, X, output=output, costats=costats, cfg=cfg.analyze)
    _attach_window_scan(result, info.config, cfg, info.windows, stats_artifact, _root_of(run_dir, cfg))
    out = run_dir / ANALYSIS_DIR
    (out / META).unlink(missing_ok=True)  # an interrupted rewrite leaves no meta: never reused
    note = training_code_note(info.meta)
    if note:
        log.warning("analyze: %s", note)
        result.sections["training_code"] = {"note": note}
    save_analysis(result, out)
    meta = {
        "identity": analysis_identity(info.meta, stats_artifact, cfg),
        "code": code_record("analyze"),
        "training_code_note": note,
        "failed": [],  # figures / uploads that failed (an analysis with failures is never reused)
        "run": str(run_dir),
        "run_key": info.meta.get("key", run_dir.name),
        "analyze": as_dict(cfg.analyze),
        "stats": str(stats_artifact.path),
        "heldout_split": split,
        "heldout_windows": int(X.shape[0]),
        "latent_size": int(W.shape[0]),
        "vocab_size": int(W.shape[1]),
        "output": output,
        "weight_decay": info.config.train.weight_decay,
        "seed": info.config.train.seed,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "seconds": round(time.time() - started, 1),
        "files": numbers_files(out),
    }
    meta["label"] = run_label(info.config)
    meta["title"] = run_title(info.config, info.meta.get("step"))
    meta = write_checked_json(out / META, {**meta, "complete": False})  # figures and W&B still to come
    shutil.rmtree(out / FIGURE_DIR, ignore_errors=True)
    failed: list[dict[str, str]] = []
    with figure_title(meta["title"]):
        made = registry.run_figures(out, out / FIGURE_DIR, failed) if cfg.analyze.figures else []
    _attempt(failed, "wandb", _track_run, cfg, info, result, made, meta, group or info.config.wandb.group, failed)
    # only now may it be reused -- and only if nothing failed (current_analysis refuses a non-empty `failed`)
    write_checked_json(out / META, {**meta, "figures": [f.name for f in made], "failed": failed, "complete": True})
    log.info("analyze: %d metrics, %d figures, %d failed -> %s", len(result.metrics), len(made), len(failed), out)
    _where_run(run_dir, out)
    _raise_if_failed(failed, out)
    return out


def _attach_window_scan(
    result: Analysis, run_cfg: BowsConfig, cfg: BowsConfig, windows, stats_artifact, root: Path
) -> None:
    """The data diagnostics of the run's corpus (built by ``make stats``), when they exist: table,
    summary and per-group numbers (``data_scan/<group>/...``) join the run's analysis."""
    import dataclasses

    from bows.data.stats import find_window_scan, load_window_scan

    scan = find_window_scan(dataclasses.replace(run_cfg, stats=cfg.stats), windows, stats_artifact, root)
    if scan is None:
        log.info("analyze: no data diagnostics for this corpus setting (run `make stats`)")
        return
    table, summary = load_window_scan(scan)
    result.tables["window_scan"] = table
    result.sections["window_scan"] = summary
    for name, entry in summary["groups"].items():
        key = name.replace(" ", "_")
        here = entry.get("configured") or {}
        if here.get("score") is not None:
            result.metrics[f"data_scan/{key}/configured_{entry['primary']}"] = here["score"]
        mine = [b for b in entry["best"] if b["sentences_per_row"] == summary["sentences_per_row"]]
        if mine:
            result.metrics[f"data_scan/{key}/best_group_size"] = mine[0]["group_size"]
            result.metrics[f"data_scan/{key}/best_{entry['primary']}"] = mine[0]["score"]
    # the co-occurrence's own label-free discovery, judged on the months and days (as for W)
    for name, entry in ((summary.get("discovery") or {}).get("evaluation") or {}).items():
        for shape in ("ring", "any"):
            for stat in ("precision", "recall", "rank"):
                value = entry[shape][stat]
                if value is None:
                    result.refuse(f"data_discovery/{name}_{shape}/{stat}", "no found group holds any of these words")
                else:
                    result.metrics[f"data_discovery/{name}_{shape}/{stat}"] = value
        result.metrics[f"data_discovery/{name}_candidate/f1"] = entry["candidate"]["f1"]
        if entry["own"] is not None:
            for stat in ("ring_z", "ring_p", "adjacency"):
                result.metrics[f"data_discovery/{name}_own/{stat}"] = entry["own"][stat]


def _where_run(run_dir: Path, out: Path) -> None:
    """The analysis directory, the model's W&B offline directories and the command to upload them."""
    from bows.tracking import offline_runs, sync_command

    dirs = offline_runs(run_dir) + offline_runs(out)
    if dirs:
        log.info("analyze: W&B offline files %s and %s", run_dir / "wandb", out / "wandb")
        log.info("analyze: upload training and analysis of this model with:  %s", sync_command(dirs))


def training_code_note(run_meta: dict) -> str | None:
    """One line if the run was trained by other training code than this bows's (or by code before code
    identities were recorded); None if the same."""
    changed = code_changes(run_meta.get("code"), code_record("train"))
    if not changed:
        return None
    key = run_meta.get("key", "?")
    if changed == ["(not recorded)"]:
        return f"run {key} records no training code identity (trained by an older bows); its weights are analysed as is"
    return f"run {key} was trained by other training code (changed since: {', '.join(changed)}); analysed as is"


def _analysis_config(cfg: BowsConfig, meta: dict) -> dict:
    """An analysis run's own W&B config: its settings and identity (no file manifest, no progress flags)."""
    keep = ("run_key", "heldout_split", "heldout_windows", "latent_size", "vocab_size", "output", "label")
    return {
        "stats": as_dict(cfg.stats),
        "analyze": as_dict(cfg.analyze),
        "analysis_identity": meta["identity"],
        **{f"analysis_{k}": meta[k] for k in keep if k in meta},
        "training_code_note": meta.get("training_code_note"),
    }


def comparable_record(info, metrics: dict) -> dict:
    """The analysis run's summary: every analysis number plus the training run's final losses under the
    training run's own keys, so one W&B row per model holds config, losses and geometry side by side."""
    final = info.meta.get("summary", {})
    record = {f"final/{k}": v for k, v in final.items() if isinstance(v, (int, float)) and v is not None}
    if final.get("eval_loss") is not None:
        record["eval/loss"] = final["eval_loss"]
    if final.get("train_loss") is not None:
        record["train/loss"] = final["train_loss"]
    return {**record, **metrics}


def _track_run(
    cfg: BowsConfig, info, result: Analysis, made: list, meta: dict, group: str | None, failed: list
) -> None:
    """Log the analysis as the model's comparable record: a W&B run with a deterministic id (re-analysis
    updates it), the training run's config keys (``train.weight_decay``, ``model.latent_size``, ...)
    and the model artifact as its input."""
    from bows.tracking import job_tags, tracking_run
    from bows.training.train import model_artifact_name

    run_dir = info.path
    lineage = {"model_artifact": f"{model_artifact_name(run_dir)}:final", "training_run": f"train-{run_dir.name}"}
    with tracking_run(
        cfg.wandb,
        name=f"{meta['label']}-analysis",
        job_type="analyze",
        config={**wandb_config("train", info.config), **_analysis_config(cfg, meta), "analysis": lineage},
        dir=run_dir / ANALYSIS_DIR,
        group=group,
        run_id=f"analyze-{run_dir.name}",
        resume=True,
        tags=job_tags("analyze", info.config.corpus.name, group),
    ) as tracker:
        _attempt(failed, "wandb:lineage", tracker.use_model, model_artifact_name(run_dir))
        record = comparable_record(info, result.metrics)
        _attempt(failed, "wandb:summary", tracker.summary, record)
        _attempt(failed, "wandb:metrics", tracker.log, record)
        for fig in made:
            _attempt(failed, f"wandb:figures/{fig.name}", tracker.image, f"figures/{fig.name}", fig.path, fig.caption)
        groups = result.sections.get("groups", {})
        for name, section in groups.items():
            if "gram" in section:
                matrix = np.array(section["gram"], dtype=float)
                _attempt(failed, f"wandb:gram/{name}", tracker.heatmap, f"gram/{name}", matrix, section["words"])
            data = section.get("data", {})
            if data.get("words"):
                key = f"coactivation/{name}/cond_corr"
                _attempt(
                    failed,
                    f"wandb:{key}",
                    tracker.heatmap,
                    key,
                    np.array(data["cond_corr"], dtype=float),
                    data["words"],
                )
        for name in ("r2", "towers", "christmas_months", "discovery"):
            if name in result.tables:
                _attempt(failed, f"wandb:tables/{name}", tracker.table, f"tables/{name}", result.tables[name])


# ----------------------------------------------------------------------------- sweeps
def analyze_sweep(index_path: Path, cfg: BowsConfig) -> Path:
    """Analyse every finished run of a sweep index; write the per-run metrics table and the sweep figures."""
    with hold(Path(index_path).resolve().parent / ANALYSIS_DIR, "analyze sweep", cfg.paths.lock_wait):
        return _analyze_sweep(index_path, cfg)


def _analyze_sweep(index_path: Path, cfg: BowsConfig) -> Path:
    index_path = Path(index_path).resolve()
    if not index_path.is_file():
        raise BowsError(f"sweep index {index_path} not found; pass analyze.sweep=<multirun dir>/sweep.parquet")
    index = pd.read_parquet(index_path)
    if "run_dir" not in index.columns:
        raise BowsError(f"{index_path} has no run_dir column; is it a sweep index written by `make sweep`?")
    group = cfg.wandb.group or _recorded_group(index) or f"sweep-{index_path.parent.name}"
    out = index_path.parent / ANALYSIS_DIR
    rows, failed, skipped = [], [], []
    for _, row in index.iterrows():
        status = row.get("status", "finished")
        if status != "finished" or not row["run_dir"]:
            error = row.get("error") if isinstance(row.get("error"), str) else None
            log.warning(
                "analyze: sweep job %s is %s, skipped%s", row.get("job"), status, f" ({error})" if error else ""
            )
            skipped.append({"job": _plain(row.get("job")), "status": str(status), "error": error})
            continue
        run_dir = Path(row["run_dir"])
        if not run_dir.is_absolute():
            run_dir = (
                (index_path.parent / run_dir).resolve() if (index_path.parent / run_dir).exists() else run_dir.resolve()
            )
        if not run_dir.is_dir():
            log.warning("analyze: sweep run %s is missing, skipped", run_dir)
            skipped.append({"job": _plain(row.get("job")), "status": "missing", "error": f"{run_dir} does not exist"})
            continue
        analysis_dir = current_analysis(run_dir, cfg)
        if analysis_dir is None:
            analysis_dir = _attempt(failed, f"run:{run_dir.name}", analyze_run, run_dir, cfg, group=group)
        if analysis_dir is None and (run_dir / ANALYSIS_DIR / "metrics.json").is_file():
            analysis_dir = run_dir / ANALYSIS_DIR  # its numbers exist; only figures/uploads failed (listed)
        if analysis_dir is None:
            continue
        if _attempt(failed, f"verify:{run_dir.name}", verify_analysis, analysis_dir) is None:
            continue
        meta = load_analysis(analysis_dir)
        rows.append(
            {
                "run_dir": str(run_dir),
                "analysis_dir": str(analysis_dir),
                **_config_columns(analysis_dir),
                **_run_columns(run_dir),
                **meta.metrics,
            }
        )
    if not rows:
        raise BowsError(
            f"none of the runs in {index_path} could be analysed ({len(skipped)} skipped, {len(failed)} failed: "
            f"{[f['error'] for f in failed] or [s['status'] for s in skipped]}); train them first (make sweep)"
        )
    table = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / SWEEP_METRICS) as tmp:
        table.to_parquet(tmp, index=False)
    meta = {
        "sweep_index": str(index_path),
        "runs": len(table),
        "group": group,
        "analyze": as_dict(cfg.analyze),
        "code": code_record("analyze"),
        "skipped": skipped,  # members that did not finish (or are missing), with their errors
        "files": {SWEEP_METRICS: file_record(out / SWEEP_METRICS)},
    }
    write_checked_json(out / META, {**meta, "failed": failed, "complete": False})
    shutil.rmtree(out / FIGURE_DIR, ignore_errors=True)
    made = registry.sweep_figures(table, out / FIGURE_DIR, failed, title=sweep_plots.sweep_title(table, group))
    _attempt(failed, "wandb", _track_sweep, cfg, index_path, table, made, out, group, failed)
    write_checked_json(out / META, {**meta, "figures": [f.name for f in made], "failed": failed, "complete": True})
    log.info(
        "analyze: sweep of %d runs (%d skipped, %d failed parts) -> %s", len(table), len(skipped), len(failed), out
    )
    _where_sweep(table, out)
    _raise_if_failed(failed, out)
    return out


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def summary_run_id(group: str) -> str:
    """The sweep-summary run's W&B id: a function of the sweep's group, so re-analysis updates it."""
    return f"sweep-summary-{stable_hash(group)[:16]}"


def _track_sweep(
    cfg: BowsConfig, index_path: Path, table: pd.DataFrame, made: list, out: Path, group: str, failed: list
) -> None:
    from bows.tracking import job_tags, tracking_run

    axes = sweep_plots.varying_axes(table)
    corpus = str(table["corpus"].iloc[0]) if "corpus" in table else "unknown"
    with tracking_run(
        cfg.wandb,
        name=f"{group}-summary",
        job_type="sweep-summary",
        config={"sweep_index": str(index_path), "runs": len(table), "group": group, "axes": axes},
        dir=index_path.parent / ANALYSIS_DIR,
        group=group,
        run_id=summary_run_id(group),
        resume=True,
        tags=job_tags("sweep-summary", corpus, group),
    ) as tracker:
        _attempt(failed, "wandb:sweep/metrics", tracker.table, "sweep/metrics", table)
        for fig in made:
            _attempt(failed, f"wandb:sweep/{fig.name}", tracker.image, f"sweep/{fig.name}", fig.path, fig.caption)


def _where_sweep(table: pd.DataFrame, out: Path) -> None:
    """The offline W&B directories of the sweep (training, analysis, summary) and one command to upload them."""
    from bows.tracking import offline_runs, sync_command

    dirs = [p for run in table["run_dir"] for d in (Path(run), Path(run) / ANALYSIS_DIR) for p in offline_runs(d)]
    dirs += offline_runs(out)
    if dirs:
        log.info("analyze: W&B offline files of this sweep: %d run segments", len(dirs))
        log.info("analyze: upload them with:  %s", sync_command(dirs))


def current_analysis(run_dir: Path, cfg: BowsConfig) -> Path | None:
    """A run's existing analysis if it is complete, intact, without failures, and made from this run's
    weights, this stats artifact, these analysis settings and this analysis code; else None
    (with the reason logged)."""
    from bows.training.checkpoint import load_run

    out = run_dir / ANALYSIS_DIR
    if not (out / META).is_file():
        return None
    try:
        meta = verify_analysis(out)
    except ArtifactError as exc:
        log.warning("analyze: %s -- redoing the analysis", exc)
        return None
    if not meta.get("complete"):
        log.info("analyze: %s was not completed (interrupted or crashed), redone", out)
        return None
    if meta.get("failed"):
        log.info("analyze: %s has failed parts (%s), redone", out, ", ".join(map(str, meta["failed"])))
        return None
    info = load_run(run_dir)
    stats = build_stats(_root_of(run_dir, cfg), info.windows, cfg.stats)
    expected = json.loads(json.dumps(analysis_identity(info.meta, stats, cfg), default=str))
    recorded = meta.get("identity")
    if recorded != expected:
        changed = sorted(k for k in expected if not isinstance(recorded, dict) or recorded.get(k) != expected[k])
        log.info("analyze: %s is out of date (%s changed), redone", out, ", ".join(changed))
        return None
    log.info("analyze: %s is up to date, reused", out)
    return out


def _recorded_group(index: pd.DataFrame) -> str | None:
    """The W&B group the sweep's runs were trained in (from the first run's run.json), if any."""
    for run_dir in index["run_dir"].dropna():
        run_json = Path(run_dir) / Files.RUN
        if run_json.is_file():
            return json.loads(run_json.read_text()).get("config", {}).get("wandb", {}).get("group")
    return None


def _run_columns(run_dir: Path) -> dict:
    """Training-side columns of a sweep member: label, lr, steps, corpus and final losses (run.json)."""
    info = json.loads((run_dir / Files.RUN).read_text())
    config, summary = info.get("config", {}), info.get("summary", {})
    return {
        "label": info.get("label") or _label_of(config),
        "lr": config.get("train", {}).get("lr"),
        "steps": info.get("step"),
        "corpus": config.get("corpus", {}).get("name"),
        "eval_loss": summary.get("eval_loss"),
        "train_loss": summary.get("train_loss"),
    }


def _label_of(config: dict) -> str | None:
    try:
        return run_label(to_config(config))
    except Exception:  # an old or hand-made run.json: the label is cosmetic
        return None


def _config_columns(analysis_dir: Path) -> dict:
    meta = read_checked_json(analysis_dir / META)
    return {
        "latent_size": meta["latent_size"],
        "weight_decay": meta["weight_decay"],
        "seed": meta["seed"],
        "output": meta["output"],
    }


def default_run_dir(cfg: BowsConfig) -> Path:
    """The run directory the current config trains (its windows are built if missing)."""
    from bows.data import binarize
    from bows.training.checkpoint import run_dir as run_dir_of

    run_dir = run_dir_of(cfg, binarize.run(cfg))
    if not run_dir.is_dir():
        raise BowsError(
            f"the run this config trains ({run_dir}) does not exist yet; run `make train` "
            "with the same overrides, or pass analyze.run=..."
        )
    return run_dir


def run(cfg: BowsConfig) -> Path:
    if cfg.analyze.sweep:
        return analyze_sweep(Path(cfg.analyze.sweep), cfg)
    run_dir = Path(cfg.analyze.run) if cfg.analyze.run else default_run_dir(cfg)
    return analyze_run(run_dir, cfg)


main = stage_main(run)

if __name__ == "__main__":
    main()
