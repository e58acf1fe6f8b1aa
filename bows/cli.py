"""Thin Hydra entry points: compose ``conf/``, validate once, run a stage, turn errors into one line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

from bows.config import CONF_DIR, BowsConfig, to_config
from bows.errors import USER_ERRORS, BowsError  # noqa: F401  (BowsError re-exported for callers)

log = logging.getLogger("bows")


def _multirun() -> bool:
    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:  # not inside a Hydra app
        return False


def parallel_jobs() -> bool:
    """True inside a multirun whose launcher runs several jobs at once (joblib, submitit, ...): their
    console output interleaves, so progress goes to one log line per interval instead of bars."""
    try:
        hydra_cfg = HydraConfig.get()
    except ValueError:
        return False
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return False
    launcher = str(hydra_cfg.launcher.get("_target_", ""))
    return not launcher.endswith("BasicLauncher") and hydra_cfg.launcher.get("n_jobs", 2) != 1


def _with_sweep_group(dcfg: DictConfig) -> DictConfig:
    """Inside a multirun without an explicit ``wandb.group``, the group derived from what the sweep is."""
    if not _multirun() or dcfg.get("wandb", {}).get("group"):
        return dcfg
    from bows.training.sweep import job_group

    group = job_group(HydraConfig.get())
    if group:
        with open_dict(dcfg):
            dcfg.wandb.group = group
    return dcfg


def stage_main(run: Callable[[BowsConfig], Any]) -> Callable[[], Any]:
    """Wrap ``run(cfg)`` in a Hydra main over the shared config tree. A user error in a single run
    prints one line and exits 2; inside a multirun it is raised, so Hydra marks that job failed
    (and the sweep index records it) instead of the whole process exiting."""

    @hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
    def _main(dcfg: DictConfig) -> Any:
        try:
            cfg = to_config(_with_sweep_group(dcfg))
            return run(cfg)
        except USER_ERRORS as exc:
            log.error("%s: %s", type(exc).__name__, exc)
            if _multirun():
                raise
            print(f"error: {exc}", file=sys.stderr)  # noqa: T201  (the entry point speaks to the user)
            sys.exit(2)

    return _main
