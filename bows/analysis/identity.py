"""What an analysis's numbers depend on (its ``meta.json`` ``identity``), without the analysis code's
imports (``bows.status`` reads it): an analysis is reused only if all of it matches."""

from __future__ import annotations

from typing import Any

from bows.config import BowsConfig, key_dict

ANALYSIS_VERSION = 3  # bump when the analysis code changes its numbers: every stored analysis is redone


def analysis_identity(run_meta: dict, stats_artifact: Any, cfg: BowsConfig) -> dict:
    """The run's key and weights, the stats artifact, the ``analyze.*`` settings and ``ANALYSIS_VERSION``."""
    return {
        "version": ANALYSIS_VERSION,
        "run_key": run_meta.get("key"),
        "weights_sha256": (run_meta.get("weights") or {}).get("sha256"),
        "stats_key": stats_artifact.key,
        "stats_digest": stats_artifact.digest,
        "settings": key_dict(cfg.analyze),
    }
