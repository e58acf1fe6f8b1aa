"""The project's exceptions: errors a person can act on, printed as one line by the entry points."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path


class BowsError(RuntimeError):
    """An error a person can act on: printed as one message, exit status 2."""


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the field."""


class ArtifactError(RuntimeError):
    """A stored artifact that is missing, incomplete, edited or truncated; the message names it."""


USER_ERRORS = (BowsError, ConfigError, ArtifactError)


@dataclass(frozen=True)
class FailedJob:
    """What a multirun job returns when its stage stopped with a user error: Hydra then records no
    traceback; the sweep index marks the job failed with ``error`` and the sweep ends with one line
    per failed job and exit status 2 (``bows.training.sweep.SweepIndex``)."""

    error: str


class StopRequested(BaseException):
    """SIGTERM outside the training loop (raised by the entry point's handler). A BaseException, like
    KeyboardInterrupt, so no ``except Exception`` mistakes it for a failed part and carries on."""

    exit_code = 143


SHORT_WRITE = ("requested and", "written")  # numpy's tofile on a full disk: "N requested and M written", no errno


def with_path(exc: OSError, path: Path | str) -> OSError:
    """``exc`` naming the file it happened to: itself if it names one and has an errno, else a new
    ``OSError`` naming ``path`` (numpy's short write and Arrow's "No space left" become ENOSPC)."""
    text = str(exc)
    code = exc.errno
    if code is None and (all(part in text for part in SHORT_WRITE) or "No space left" in text):
        code = errno.ENOSPC
    if code is not None and exc.filename and exc.errno == code:
        return exc
    named = OSError(code, os.strerror(code) if code is not None else text, str(exc.filename or path))
    named.__cause__ = exc
    return named
