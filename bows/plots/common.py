"""What every figure module shares: the Agg backend, ``Figure`` (a PNG that was made, with its
caption) and ``save_figure`` (the ``figure_title`` in force on top, tight layout, written to a
temporary name and renamed)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


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
    fig.savefig(tmp, dpi=130)
    plt.close(fig)
    tmp.replace(path)
