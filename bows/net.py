"""Network reachability probe shared by the stages that talk to online services (HF hub, W&B)."""

from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlparse


def unreachable(url: str, timeout: float) -> str | None:
    """None if ``url``'s host (or the HTTPS proxy) accepts a TCP connection within ``timeout``
    seconds, else the reason. Runs in a daemon thread so a slow DNS lookup cannot stall the caller."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    parsed = urlparse(proxy or url)
    host, port = parsed.hostname or "localhost", parsed.port or (443 if parsed.scheme == "https" else 80)
    outcome: list[str | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(f"{host}:{port} unreachable ({exc})")

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return outcome[0] if outcome else f"{host}:{port} did not answer within {timeout:.0f} s"
