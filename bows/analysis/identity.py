"""What an analysis's numbers depend on (its ``meta.json`` ``identity``), without the analysis code's
imports (``bows.status`` reads it): an analysis is reused only if all of it matches."""

from __future__ import annotations

from typing import Any

from bows.config import BowsConfig, key_dict
from bows.stages import code_digest


def analysis_identity(run_meta: dict, stats_artifact: Any, cfg: BowsConfig) -> dict:
    """The digest of the analysis code, the run's key and weights, the stats artifact and the ``analyze.*``
    settings."""
    return {
        "code": code_digest("analyze"),
        "run_key": run_meta.get("key"),
        "weights_sha256": (run_meta.get("weights") or {}).get("sha256"),
        "stats_key": stats_artifact.key,
        "stats_digest": stats_artifact.digest,
        "settings": key_dict(cfg.analyze),
    }
