"""Weights & Biases behind one seam: the only module that imports wandb (writes ``<dir>/wandb/``).

Modes (``WandbConfig.mode``): ``offline`` (default; files under ``<dir>/wandb/``, upload later
with ``wandb sync <dir>/wandb/offline-run-*``), ``online`` (needs ``wandb login`` or
``WANDB_API_KEY``) and ``disabled`` (tests: every call is a no-op and wandb is never imported).
``tracking_run`` always finishes the run in a ``finally`` -- with a non-zero exit code when the
block raised -- so a failed run is marked failed and a Hydra multirun never merges two runs.
"""

from __future__ import annotations

import contextlib
import logging
import netrc
import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from bows.config import WandbConfig
from bows.errors import BowsError
from bows.net import unreachable

log = logging.getLogger(__name__)


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of nested dicts as ``prefix/a/b`` keys (W&B's namespaced keys)."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(flatten(value, f"{prefix}/{key}" if prefix else str(key)))
    return out


class Tracker:
    """Logs to one W&B run; every method is a no-op when the run is disabled (``run is None``)."""

    def __init__(self, run: Any = None, mode: str = "disabled"):
        self.run, self.mode = run, mode

    @property
    def enabled(self) -> bool:
        return self.run is not None

    def log(self, metrics: dict[str, float], step: int | None = None) -> None:
        if self.run is not None:
            self.run.log(dict(metrics), step=step)

    def summary(self, metrics: dict[str, Any]) -> None:
        if self.run is not None:
            self.run.summary.update(dict(metrics))

    def image(self, key: str, png: Path, caption: str = "") -> None:
        if self.run is not None:
            import wandb

            self.run.log({key: wandb.Image(str(png), caption=caption or None)})

    def table(self, key: str, frame: Any) -> None:
        """Log a pandas DataFrame as a W&B table."""
        if self.run is not None:
            import wandb

            self.run.log({key: wandb.Table(dataframe=frame.reset_index(drop=True))})

    def embedding_table(self, key: str, frame: Any) -> None:
        """Log a table whose list-valued column (e.g. each word's vector) W&B's embedding projector plots
        (a 2-D PCA / UMAP / t-SNE panel of that column, hover for the other columns)."""
        if self.run is not None:
            import wandb

            rows: list[Any] = [
                [v.tolist() if isinstance(v, np.ndarray) else v for v in row] for row in frame.itertuples(index=False)
            ]
            self.run.log({key: wandb.Table(columns=[str(c) for c in frame.columns], data=rows)})

    def heatmap(self, key: str, matrix: np.ndarray, labels: list[str]) -> None:
        """A labelled square matrix (Gram, correlation, ...) as an image plus a table."""
        if self.run is None:
            return
        import pandas as pd
        import wandb

        matrix = np.asarray(matrix, dtype=float)
        self.run.log({key: wandb.Image(_heatmap_pixels(matrix, labels), caption=key)})
        frame = pd.DataFrame(matrix, columns=list(labels))
        frame.insert(0, "label", list(labels))
        self.table(f"{key}_table", frame)

    def model_artifact(self, name: str, files: list[Path], metadata: dict[str, Any]) -> None:
        """Log the trained model (weights + its config file) with ``metadata``, aliased latest and final."""
        if self.run is not None:
            self.run.log_artifact(_artifact(name, "model", files, metadata), aliases=list(MODEL_ALIASES))

    def use_model(self, name: str, alias: str = "final") -> bool:
        """Declare the trained model ``name:alias`` as this run's input (W&B lineage). Online only:
        wandb refuses ``use_artifact`` offline, so offline runs carry the reference in their config
        (see ``bows.analysis.analyze``); returns whether the lineage was recorded."""
        if self.run is None or self.mode != "online":
            return False
        try:
            self.run.use_artifact(f"{artifact_name(name)}:{alias}", type="model")
        except Exception as exc:  # e.g. the training run was never uploaded: keep the analysis
            log.warning("wandb: could not declare %s:%s as input (%s)", name, alias, exc)
            return False
        return True

    def artifact(self, path: Path, name: str, type: str) -> None:
        """Log a file or directory as a W&B artifact (names are sanitised to W&B's alphabet)."""
        if self.run is None:
            return
        import wandb

        path = Path(path)
        art = wandb.Artifact(re.sub(r"[^A-Za-z0-9._-]+", "-", name), type=type)
        if path.is_dir():
            art.add_dir(str(path))
        else:
            art.add_file(str(path))
        self.run.log_artifact(art)


MODEL_ALIASES = ("latest", "final")


def artifact_name(name: str) -> str:
    """``name`` in W&B's artifact-name alphabet."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)


def _artifact(name: str, type: str, files: list[Path], metadata: dict[str, Any]) -> Any:
    import wandb

    art = wandb.Artifact(artifact_name(name), type=type, metadata=_json_safe(metadata) or None)
    for file in files:
        art.add_file(str(file), name=Path(file).name)
    return art


def _json_safe(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {str(k): _json_safe(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_json_safe(v) for v in tree]
    if isinstance(tree, float) and not np.isfinite(tree):
        return None
    return tree if isinstance(tree, (str, int, float, bool, type(None))) else str(tree)


def under_wandb_agent() -> bool:
    """True inside a W&B Sweeps agent job: the agent owns the run id and the swept config keys."""
    return bool(os.environ.get("WANDB_SWEEP_ID"))


def job_tags(job_type: str, corpus: str, group: str | None) -> list[str]:
    """Tags of every run: corpus, job type and, for sweep members, the sweep (W&B caps tags at 64 chars)."""
    tags = [f"corpus:{corpus}", f"job:{job_type}"]
    if group:
        tags.append(f"sweep:{group}"[:64])
    return tags


def offline_runs(dir: Path) -> list[Path]:
    """The offline run directories ``tracking_run(dir=dir)`` wrote (one per segment), oldest first."""
    return sorted(Path(dir).glob("wandb/offline-run-*"))


def shell_path(path: Path | str) -> str:
    """``path`` for a POSIX shell: literal parts quoted (spaces, quotes, ``$``), glob characters
    (``*``, ``?``, ``[...]``) left to the shell to expand."""
    pieces = re.split(r"(\*|\?|\[[^/\]]*\])", str(path))
    return "".join(piece if i % 2 else (shlex.quote(piece) if piece else "") for i, piece in enumerate(pieces))


def sync_command(paths: list[Path] | list[str]) -> str:
    """The ``wandb sync`` command that uploads the given offline run directories (or glob patterns),
    ready to paste into a shell whatever characters the data root holds."""
    return "wandb sync " + " ".join(shell_path(p) for p in paths)


def sync_patterns(root: Path) -> list[str]:
    """Glob patterns covering every offline run under a data root: training runs, their analyses and
    sweep summaries (resumed runs have one directory per segment; ``wandb sync`` appends them in order)."""
    root = Path(root)
    return [
        f"{root}/runs/*/wandb/offline-run-*",
        f"{root}/runs/*/analysis/wandb/offline-run-*",
        f"{root}/multirun/*/*/analysis/wandb/offline-run-*",
    ]


def _heatmap_pixels(matrix: np.ndarray, labels: list[str]) -> np.ndarray:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    size = max(3.0, 0.35 * len(labels) + 1.5)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    bound = float(np.nanmax(np.abs(matrix))) or 1.0
    im = ax.imshow(matrix, cmap="RdBu_r", vmin=-bound, vmax=bound)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.canvas.draw()
    pixels = np.asarray(cast(FigureCanvasAgg, fig.canvas).buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return pixels


def _has_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        auth = netrc.netrc().authenticators("api.wandb.ai")
    except (FileNotFoundError, netrc.NetrcParseError):
        return False
    return bool(auth and auth[2])


ENV_MODES = {"online": "online", "run": "online", "offline": "offline", "dryrun": "offline", "disabled": "disabled"}


def resolve_mode(cfg: WandbConfig) -> str:
    """The effective mode. An explicit ``wandb=...`` (``cfg.mode`` set) wins; without one
    ``$WANDB_MODE`` is honoured, else ``offline``. ``WANDB_DISABLED=true`` always disables (CI)."""
    if os.environ.get("WANDB_DISABLED", "").lower() in ("1", "true"):
        return "disabled"
    if cfg.mode is not None:
        return cfg.mode
    env = os.environ.get("WANDB_MODE", "").strip().lower()
    if env and env not in ENV_MODES:
        raise BowsError(f"WANDB_MODE={env!r} is not a W&B mode; use online, offline or disabled (or pass wandb=...)")
    return ENV_MODES.get(env, "offline")


def _check_online(cfg: WandbConfig) -> None:
    """Fail fast, in one line, when online W&B cannot work: no API key, or the server unreachable."""
    if not _has_api_key():
        raise BowsError(
            "wandb.mode=online needs a W&B API key: run `wandb login` or set WANDB_API_KEY "
            "(or use wandb=offline and upload later with `wandb sync`)"
        )
    url = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
    reason = unreachable(url, timeout=min(10.0, cfg.init_timeout))
    if reason is not None:
        raise BowsError(
            f"wandb.mode=online but the W&B server is not reachable ({reason}); use wandb=offline "
            "and upload later with `wandb sync <run dir>/wandb/offline-run-*`"
        )


@contextlib.contextmanager
def tracking_run(
    cfg: WandbConfig,
    *,
    name: str,
    job_type: str,
    config: dict[str, Any],
    dir: Path,
    group: str | None = None,
    run_id: str | None = None,
    resume: bool = False,
    tags: list[str] | None = None,
) -> Iterator[Tracker]:
    """Open a W&B run (files under ``dir/wandb``), yield a ``Tracker``, and always finish it.

    ``run_id`` + ``resume=True`` continue the same W&B run (online) or write a new offline segment
    with the same id, which ``wandb sync`` appends to that run. ``tags`` add to ``cfg.tags``.
    """
    mode = resolve_mode(cfg)
    if mode == "disabled":
        yield Tracker(None)
        return
    if mode == "online":
        _check_online(cfg)
    import wandb

    dir = Path(dir)
    dir.mkdir(parents=True, exist_ok=True)
    try:
        run = wandb.init(
            project=cfg.project,
            entity=cfg.entity,
            group=group or cfg.group,
            name=name,
            job_type=job_type,
            tags=list(dict.fromkeys([*cfg.tags, *(tags or [])])) or None,
            config=config,
            dir=str(dir),
            mode=cast(Literal["online", "offline", "disabled"], mode),
            id=run_id,
            resume="allow" if resume and run_id else None,
            reinit="create_new",
            settings=wandb.Settings(silent=True, console="off", x_disable_stats=True, init_timeout=cfg.init_timeout),
        )
    except Exception as exc:  # CommError, UsageError, timeouts: one line with the fix
        first = (str(exc).strip().splitlines() or [""])[0]
        raise BowsError(
            f"wandb.mode={mode}: could not start the W&B run ({type(exc).__name__}: {first}); "
            "use wandb=offline (upload later with `wandb sync`) or wandb=disabled"
        ) from exc
    exit_code = 1
    try:
        yield Tracker(run, mode)
        exit_code = 0
    except BaseException as exc:  # an interrupt finishes the run with its own code (130/143)
        exit_code = int(getattr(exc, "exit_code", 130 if isinstance(exc, KeyboardInterrupt) else 1))
        raise
    finally:
        try:
            run.finish(exit_code=exit_code)
        except Exception as exc:  # never mask the block's own error with a tracking failure
            log.warning("wandb: could not finish run %s cleanly: %s", name, exc)
