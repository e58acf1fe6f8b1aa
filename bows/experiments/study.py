"""The whole study (`make all`): data, co-activation statistics, the paper's two models, their
analyses and reports. Reads the corpus; writes the stage artifacts, ``runs/<key>/`` per model and
``study/<key>/`` (an index of the study's runs, like a sweep's, with its comparison report).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bows.analysis import analyze, report
from bows.analysis.store import AnalysisFiles
from bows.artifacts import Files, atomic_write_json, output_dir
from bows.cli import stage_main
from bows.config import BowsConfig, as_dict
from bows.data import binarize, download, stats, vocab
from bows.tracking import flatten
from bows.training import train
from bows.training.sweep import JOB_FILE, build_index

log = logging.getLogger(__name__)

TIMINGS = "timings.json"  # seconds per stage of the study


def _timed(timings: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    result = fn()
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - start
    return result


def model_configs(cfg: BowsConfig, group: str) -> list[BowsConfig]:
    """One config per weight decay of ``study.weight_decays``, sharing a W&B group."""
    return [
        dataclasses.replace(
            cfg,
            train=dataclasses.replace(cfg.train, weight_decay=wd),
            wandb=dataclasses.replace(cfg.wandb, group=group),
        )
        for wd in cfg.study.weight_decays
    ]


def run(cfg: BowsConfig) -> Path:
    timings: dict[str, float] = {}
    _timed(timings, "download", lambda: download.run(cfg))
    _timed(timings, "vocab", lambda: vocab.run(cfg))
    windows = _timed(timings, "binarize", lambda: binarize.run(cfg))
    _timed(timings, "stats", lambda: stats.run(cfg))

    study = {
        "windows": windows.key,
        "model": as_dict(cfg.model),
        "train": as_dict(cfg.train),
        "study": as_dict(cfg.study),
    }
    study_dir = output_dir(cfg.paths.root_path, "study", "", study)
    group = cfg.wandb.group or f"study-{study_dir.name}"
    summaries, incomplete = [], []
    for i, model_cfg in enumerate(model_configs(cfg, group)):
        wd = model_cfg.train.weight_decay
        run_dir = _timed(timings, f"train wd={wd:g}", lambda mc=model_cfg: train.run(mc))
        try:
            analysis_dir = _timed(
                timings, f"analyze wd={wd:g}", lambda rd=run_dir, mc=model_cfg: analyze.analyze_run(rd, mc, group)
            )
        except (
            analyze.AnalysisIncomplete
        ) as exc:  # numbers exist, some figures/uploads failed: go on, report at the end
            incomplete.append(f"wd={wd:g}: {exc}")
            analysis_dir = run_dir / analyze.ANALYSIS_DIR
        _timed(timings, "report", lambda ad=analysis_dir: report.write_report(ad))
        atomic_write_json(
            study_dir / str(i) / JOB_FILE,
            {"job": i, "overrides": [f"train.weight_decay={wd:g}"], "status": "finished", "run_dir": str(run_dir)},
        )
        summaries.append((wd, run_dir, analysis_dir))

    build_index(study_dir)
    sweep_cfg = dataclasses.replace(
        cfg, analyze=dataclasses.replace(cfg.analyze, sweep=str(study_dir / Files.SWEEP_INDEX))
    )
    page = _timed(timings, "report", lambda: report.run(sweep_cfg))
    atomic_write_json(study_dir / TIMINGS, {k: round(v, 2) for k, v in timings.items()})
    _print_summary(timings, summaries, page)
    if incomplete:
        raise analyze.AnalysisIncomplete("; ".join(incomplete))
    return study_dir


def _print_summary(timings: dict[str, float], summaries: list[tuple[float, Path, Path]], page: Path) -> None:
    lines = ["", "study finished", "  seconds per stage:"]
    lines += [f"    {name:<18} {seconds:8.1f}" for name, seconds in timings.items()]
    for wd, run_dir, analysis_dir in summaries:
        metrics_file = analysis_dir / AnalysisFiles.METRICS
        metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
        ring = {k: v for k, v in flatten(metrics).items() if k.endswith("ring_score")}
        lines.append(f"  wd={wd:g}: {run_dir}")
        lines += [f"    {k} = {v:.3f}" for k, v in ring.items() if isinstance(v, (int, float))]
    lines.append(f"  report: {page}")
    log.info("\n".join(lines))


main = stage_main(run)

if __name__ == "__main__":
    main()
