"""Saves and loads an ``Analysis`` (the numbers of one model) under ``<run>/analysis/``: one
Parquet per table, one JSON per section, ``metrics.json``; the stage adds ``meta.json`` and
``figures/``. Every analysis file name is defined in ``bows.artifacts.AnalysisFiles``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bows.analysis.compute import Analysis
from bows.artifacts import AnalysisFiles, atomic_path, atomic_write_json  # noqa: F401  (AnalysisFiles re-exported)


def save_analysis(a: Analysis, out: Path) -> None:
    """Write every table and section to ``out``, replacing what an earlier analysis left there."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob(AnalysisFiles.table("*")), *out.glob(AnalysisFiles.section("*"))]:
        stale.unlink()
    for name, frame in a.tables.items():
        with atomic_path(out / AnalysisFiles.table(name)) as tmp:
            frame.to_parquet(tmp, index=False)
    for name, section in a.sections.items():
        atomic_write_json(out / AnalysisFiles.section(name), _jsonable(section))
    atomic_write_json(out / AnalysisFiles.METRICS, _jsonable(a.metrics))


def load_analysis(out: Path) -> Analysis:
    """Read back what ``save_analysis`` wrote."""
    out = Path(out)
    skip = {AnalysisFiles.METRICS, AnalysisFiles.META}
    sections = {p.stem: json.loads(p.read_text()) for p in out.glob(AnalysisFiles.section("*")) if p.name not in skip}
    tables = {p.stem: pd.read_parquet(p) for p in out.glob(AnalysisFiles.table("*"))}
    metrics = json.loads((out / AnalysisFiles.METRICS).read_text())
    metrics = {k: float("nan") if v is None else v for k, v in metrics.items()}  # a refused metric is NaN again
    return Analysis(metrics, sections, tables)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
