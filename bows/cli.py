"""Thin Hydra entry points: compose ``conf/``, validate once, run a stage, turn errors into one line."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from bows.config import CONF_DIR, BowsConfig, to_config
from bows.errors import USER_ERRORS, BowsError, StopRequested  # noqa: F401  (BowsError re-exported for callers)

log = logging.getLogger("bows")


def _multirun() -> bool:
    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:  # not inside a Hydra app
        return False


def stage_main(run: Callable[[BowsConfig], Any]) -> Callable[[], Any]:
    """Wrap ``run(cfg)`` in a Hydra main over the shared config tree. A user error in a single run
    prints one line and exits 2; inside a multirun it is raised, so Hydra marks that job failed
    (and the sweep index records it) instead of the whole process exiting."""

    @hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
    def _main(dcfg: DictConfig) -> Any:
        previous = _stop_on_sigterm()
        try:
            cfg = to_config(dcfg)
            return run(cfg)
        except USER_ERRORS as exc:
            log.error("%s: %s", type(exc).__name__, exc)
            code = int(getattr(exc, "exit_code", 2))
            if _multirun() and code == 2:
                raise
            print(f"error: {exc}", file=sys.stderr)  # noqa: T201  (the entry point speaks to the user)
            sys.exit(code)  # an interrupt also stops a multirun (the sweep index marks the job)
        except (KeyboardInterrupt, StopRequested) as exc:
            name = "SIGTERM" if isinstance(exc, StopRequested) else "SIGINT"
            log.error("interrupted by %s", name)
            print(  # noqa: T201
                f"interrupted by {name}: finished artifacts are kept (partial ones are discarded); "
                "re-run the same command to continue",
                file=sys.stderr,
            )
            sys.exit(143 if isinstance(exc, StopRequested) else 130)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    return _main


def _raise_stop(signum: int, frame: Any) -> None:
    raise StopRequested()


def _stop_on_sigterm() -> Any:
    """Turn SIGTERM (SLURM time limit, `kill`) into ``StopRequested`` so ``finally`` blocks clean up."""
    try:
        return signal.signal(signal.SIGTERM, _raise_stop)
    except ValueError:  # not the main thread
        return None
