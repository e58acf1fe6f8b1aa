"""Progress of a long data stage: a tqdm bar on a terminal, otherwise one log line every interval.

The same convention as training (``bows.training.train.progress_bar_wanted``): a bar only when
stderr is a terminal and one job runs at a time; under SLURM, joblib or a redirected log, a line
``<label>: 1,234,567/4,000,000 rows (31%), 12 s, ETA 27 s`` at most every ``LOG_SECONDS``. Nothing
is shown for work that ends within ``QUIET_SECONDS``.
"""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType

from tqdm import tqdm

log = logging.getLogger("bows.progress")

LOG_SECONDS = 10.0
QUIET_SECONDS = 3.0


def bar_wanted() -> bool:
    from bows.cli import parallel_jobs

    return sys.stderr.isatty() and not parallel_jobs()


class Progress:
    """``with Progress("binarize train", total_rows, "rows") as p: ... p.update(n)``."""

    def __init__(self, label: str, total: int, unit: str = "rows"):
        self.label, self.total, self.unit = label, max(0, int(total)), unit
        self.done = 0
        self.started = time.monotonic()
        self.last_line = self.started
        self.bar: tqdm | None = None
        self.bar_wanted = bar_wanted()

    def update(self, n: int) -> None:
        self.done += int(n)
        now = time.monotonic()
        if self.bar is not None:
            self.bar.update(int(n))
            return
        if now - self.started < QUIET_SECONDS:
            return
        if self.bar_wanted:
            self.bar = tqdm(total=self.total, initial=self.done, desc=self.label, unit=self.unit, leave=False)
        elif now - self.last_line >= LOG_SECONDS or self.last_line == self.started:
            self.last_line = now
            log.info("%s", self.line(now))

    def line(self, now: float) -> str:
        elapsed = now - self.started
        share = self.done / self.total if self.total else 1.0
        eta = elapsed * (1 - share) / share if share > 0 else float("nan")
        return (
            f"{self.label}: {self.done:,}/{self.total:,} {self.unit} ({100 * share:.0f}%), "
            f"{elapsed:.0f} s, ETA {eta:.0f} s"
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
