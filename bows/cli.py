"""Thin Hydra entry points: compose ``conf/``, validate once, run a stage, turn errors into one line.

``RootCheck`` (a Hydra callback in ``conf/config.yaml``) checks that the data root is writable before
Hydra creates its ``outputs/`` or ``multirun/`` directory there, so an unwritable root is one line
naming the path and the fix, even for a command that would only reuse finished work.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import signal
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

from bows.artifacts import Files
from bows.config import CONF_DIR, BowsConfig, to_config
from bows.errors import USER_ERRORS, BowsError, FailedJob, StopRequested, with_path  # noqa: F401  (BowsError re-exported for callers)

ROOT_FIX = "set paths.root=/a/writable/dir (or the BOWS_DATA environment variable)"
DISK_ERRORS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}

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


def job_group(hydra_cfg: Any) -> str | None:
    """The W&B group of a multirun job: the one its sweep derived at start (``bows_sweep.json``, written by
    ``bows.training.sweep.write_sweep_definition``)."""
    file = Path(hydra_cfg.sweep.dir) / Files.SWEEP
    if file.is_file():
        return json.loads(file.read_text()).get("group")
    log.warning("sweep: %s is missing (is the SweepIndex callback configured?); no W&B group derived", file)
    return None


def _with_sweep_group(dcfg: DictConfig) -> DictConfig:
    """Inside a multirun without an explicit ``wandb.group``, the group derived from what the sweep is."""
    if not _multirun() or dcfg.get("wandb", {}).get("group"):
        return dcfg
    group = job_group(HydraConfig.get())
    if group:
        with open_dict(dcfg):
            dcfg.wandb.group = group
    return dcfg


PROBE_BYTES = 1 << 18  # room Hydra's run directory needs (config.yaml, hydra.yaml, overrides.yaml, the log)


def unwritable(root: Path) -> str | None:
    """None if files can be created under ``root`` (created if missing) with room for Hydra's run
    directory, else why not."""
    probe = root / f".bows-write-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as handle:
            handle.write(bytes(PROBE_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"no space left: {free_space(root)} free"
        return f"{exc.strerror or exc}: {exc.filename or root}"
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return None


def free_space(path: Path | str) -> str:
    """Free bytes of the file system holding ``path`` (its nearest existing folder), readable."""
    here = Path(path)
    while not here.exists() and here != here.parent:
        here = here.parent
    try:
        free = shutil.disk_usage(here).free
    except OSError:
        return "unknown space"
    return f"{free / 2**20:.1f} MiB" if free < 2**30 else f"{free / 2**30:.1f} GiB"


def _fail(message: str, logged: bool = True) -> None:
    if logged:
        log.error("%s", message)
    print(f"error: {message}", file=sys.stderr)  # noqa: T201  (the entry point speaks to the user)
    sys.exit(2)


class RootCheck(Callback):
    """Hydra callback: stop with one line before Hydra writes its run/sweep directory to an unwritable root."""

    def _check(self, config: DictConfig) -> None:
        root = Path(str(config.paths.root)).expanduser().resolve()
        reason = unwritable(root)
        if reason is not None:
            _fail(f"the data root {root} is not writable ({reason}); {ROOT_FIX}", logged=False)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config)


def disk_error_message(exc: OSError, root: Path | None) -> str:
    """One line for a file-system error met while running a stage: the path, the cause, the fix."""
    path = exc.filename or root or "?"
    cause = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC or exc.errno == errno.EDQUOT:
        return f"no space left writing {path} ({free_space(path)} free there now); free space or {ROOT_FIX}"
    inside = root is not None and str(path).startswith(str(root))
    if inside:
        return f"cannot write {path} ({cause}); {ROOT_FIX}"
    return f"cannot access {path} ({cause})"


def stage_main(run: Callable[[BowsConfig], Any]) -> Callable[[], Any]:
    """Wrap ``run(cfg)`` in a Hydra main over the shared config tree. A user error in a single run
    prints one line and exits 2; inside a multirun the job returns a ``FailedJob`` instead, so the
    other jobs run, the sweep index records it as failed, and the sweep ends with one line per
    failed job and exit 2 (no traceback)."""

    @hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
    def _main(dcfg: DictConfig) -> Any:
        previous = _stop_on_sigterm()
        cfg = None
        try:
            cfg = to_config(_with_sweep_group(dcfg))
            return run(cfg)
        except USER_ERRORS as exc:
            log.error("%s: %s", type(exc).__name__, exc)
            code = int(getattr(exc, "exit_code", 2))
            if _multirun() and code == 2:
                return FailedJob(f"{type(exc).__name__}: {exc}")  # one line at the sweep's end, no traceback
            print(f"error: {exc}", file=sys.stderr)  # noqa: T201  (the entry point speaks to the user)
            sys.exit(code)  # an interrupt also stops a multirun (the sweep index marks the job)
        except OSError as exc:
            root = cfg.paths.root_path if cfg is not None else None
            named = with_path(exc, root or "?")
            if named.errno not in DISK_ERRORS:
                raise
            message = disk_error_message(named, root)
            if _multirun():
                return FailedJob(f"OSError: {message}")
            _fail(message)
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

    def _entry(*args: Any, **kwargs: Any) -> Any:
        from bows.overrides import type_error

        message = type_error(sys.argv[1:])  # Hydra would say it in 7 lines and exit 1
        if message is not None:
            _fail(message, logged=False)
        logging.raiseExceptions = False  # a log file on a full disk: no "--- Logging error ---" tracebacks
        return _main(*args, **kwargs)

    return _entry


def _raise_stop(signum: int, frame: Any) -> None:
    raise StopRequested()


def _stop_on_sigterm() -> Any:
    """Turn SIGTERM (SLURM time limit, `kill`) into ``StopRequested`` so ``finally`` blocks clean up."""
    try:
        return signal.signal(signal.SIGTERM, _raise_stop)
    except ValueError:  # not the main thread
        return None
