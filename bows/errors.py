"""The project's exceptions: errors a person can act on, printed as one line by the entry points."""

from __future__ import annotations


class BowsError(RuntimeError):
    """An error a person can act on: printed as one message, exit status 2."""


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the field."""


class ArtifactError(RuntimeError):
    """A stored artifact that is missing, incomplete, edited or truncated; the message names it."""


USER_ERRORS = (BowsError, ConfigError, ArtifactError)


class StopRequested(BaseException):
    """SIGTERM outside the training loop (raised by the entry point's handler). A BaseException, like
    KeyboardInterrupt, so no ``except Exception`` mistakes it for a failed part and carries on."""

    exit_code = 143
