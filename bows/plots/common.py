"""What every figure module shares: the Agg backend, ``Figure`` (a PNG that was made, with its
caption), ``save_figure`` (the ``figure_title`` in force on top, tight layout, written to a temporary
name and renamed), ``num`` (a number or "n/a" for a refused metric) and ``not_enough_data`` (the
explicit empty panel)."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bows.errors import with_path  # noqa: E402


@dataclass(frozen=True)
class Figure:
    name: str
    path: Path
    caption: str


_TITLE: ContextVar[str | None] = ContextVar("figure_title", default=None)


@contextmanager
def figure_title(title: str | None) -> Iterator[None]:
    """Every figure saved inside this block carries ``title`` (the run or sweep it shows) on top, so a
    PNG is readable without its file name."""
    token = _TITLE.set(title)
    try:
        yield
    finally:
        _TITLE.reset(token)


def save_figure(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    title = _TITLE.get()
    if title and fig._suptitle is None:  # wrapped to the figure's width, so it is never clipped
        width = max(30, int(fig.get_figwidth() * 13))
        fig.suptitle("\n".join(textwrap.wrap(title, width)), fontsize=9, fontweight="bold")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    try:
        fig.savefig(tmp, dpi=130)
    except OSError as exc:  # a full disk: name the figure, leave no partial file
        tmp.unlink(missing_ok=True)
        raise with_path(exc, path) from exc
    finally:
        plt.close(fig)
    tmp.replace(path)


def num(value: Any, spec: str = ".2f") -> str:
    """``value`` formatted with ``spec``, or "n/a" when it is absent or not finite (a refused metric)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return format(value, spec)


def not_enough_data(ax, title: str, reason: str) -> None:
    """An explicit empty panel: the figure exists and says why there is nothing to draw."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=8)
    ax.text(
        0.5,
        0.5,
        f"not enough data\n{reason}",
        ha="center",
        va="center",
        transform=ax.transAxes,
        fontsize=8,
        color="crimson",
        wrap=True,
    )
