"""One writer per run, artifact and analysis: an exclusive lock that names its owner.

``hold(target, what, wait)`` locks a directory that one process at a time may write (a run, an
artifact being built, an analysis). Two files sit next to it (``target`` itself may not exist yet):
``.<name>.lock``, on which the holder takes ``fcntl.flock`` (the kernel releases it when the holder
dies, however it dies, so a dead owner's lock is taken over without anyone deciding it is stale),
and ``.<name>.lock.json``, the owner: PID, host, start time, what it does and its command. A second
process waits up to ``wait`` seconds (``0``: not at all; ``None`` or negative: without limit) and
then stops with ``LockHeld``, one line naming the owner.

On a file system without ``flock`` (some network mounts answer ``ENOLCK``/``EOPNOTSUPP``) the owner
file itself is the lock, created atomically (``os.link``): a stale one -- same host, dead PID -- is
taken over; one from another host is only ever taken over by hand (the message names the file).
``owner_of(target)`` tells ``bows.status`` who holds a lock now (None when nobody does).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from bows.errors import BowsError

log = logging.getLogger(__name__)

POLL_S = 0.2  # how often a waiting process tries again
GRACE_S = 0.5  # ``wait=0`` still retries this long: a `bows.status` probe holds a lock for microseconds
NO_FLOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


class LockHeld(BowsError):
    """Another live process holds the lock (the message names it and the way to wait)."""


@dataclass(frozen=True)
class Owner:
    """Who holds (or last held) a lock."""

    pid: int
    host: str
    since: str  # UTC, ISO 8601
    what: str  # "train", "build download", "analyze", ...
    command: str = ""

    def describe(self) -> str:
        return f"PID {self.pid} on {self.host} ({self.what}, since {self.since})"

    def alive(self) -> bool | None:
        """Is the owner process alive? Known only on its own host (None elsewhere)."""
        if self.host != socket.gethostname():
            return None
        return pid_alive(self.pid)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def lock_files(target: Path) -> tuple[Path, Path]:
    """The flock file and the owner file of ``target``: ``.<name>.lock`` and ``.<name>.lock.json`` beside it."""
    target = Path(target)
    return target.parent / f".{target.name}.lock", target.parent / f".{target.name}.lock.json"


def read_owner(target: Path) -> Owner | None:
    """The owner recorded for ``target``'s lock (possibly a dead process's), or None."""
    try:
        raw = json.loads(lock_files(target)[1].read_text())
        return Owner(**{k: raw[k] for k in ("pid", "host", "since", "what")}, command=raw.get("command", ""))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _me(what: str) -> Owner:
    return Owner(
        pid=os.getpid(),
        host=socket.gethostname(),
        since=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        what=what,
        command=" ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:300] if sys.argv else "",
    )


def _write_owner(path: Path, owner: Owner) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(asdict(owner)) + "\n")
    os.replace(tmp, path)


def owner_of(target: Path) -> Owner | None:
    """Who holds ``target``'s lock now, or None if nobody does (a dead owner's record is not a holder).
    Probes the flock with a shared lock held for microseconds."""
    lock, owner_file = lock_files(target)
    if not lock.exists():
        return _fallback_holder(target) if owner_file.exists() else None
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_owner(target) or Owner(pid=-1, host="?", since="?", what="unknown (no owner file yet)")
    except OSError as exc:
        if exc.errno in NO_FLOCK:
            return _fallback_holder(target)
        raise
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _fallback_holder(target: Path) -> Owner | None:
    owner = read_owner(target)
    return owner if owner is not None and owner.alive() is not False else None


_HELD: dict[str, int] = {}  # lock file -> nesting depth in this process (a process never waits for itself)
_REGISTRY = threading.Lock()


def _held_message(target: Path, what: str, owner: Owner | None, waited: float, fallback: bool) -> str:
    who = owner.describe() if owner is not None else "another process (owner not recorded yet)"
    waited_text = f" after waiting {waited:.0f} s" if waited >= 1 else ""
    hint = "set paths.lock_wait=SECONDS to wait for it (-1: no limit)"
    if fallback and owner is not None and owner.alive() is None:
        hint += f"; if that process is gone, delete {lock_files(target)[1]}"
    return f"{target} is in use by {who}{waited_text}; {what} stopped so as not to write it twice; {hint}"


@contextlib.contextmanager
def hold(target: Path, what: str, wait: float | None = 0.0) -> Iterator[Owner]:
    """Hold the exclusive lock of ``target`` (created beside it) for the block; see the module docstring.
    Re-entrant within one process. Raises ``LockHeld`` when another live process keeps it longer
    than ``wait`` seconds."""
    target = Path(target).expanduser().resolve()
    lock, owner_file = lock_files(target)
    key = str(lock)
    with _REGISTRY:
        if key in _HELD:
            _HELD[key] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield _me(what)
        finally:
            with _REGISTRY:
                _HELD[key] -= 1
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    me = _me(what)
    try:
        fd: int | None = _acquire(lock, target, what, wait)
    except OSError as exc:
        if exc.errno not in NO_FLOCK:
            raise
        log.warning("lock: %s does not support flock (%s); using its owner file as the lock", lock.parent, exc)
        fd = None
        _acquire_fallback(target, me, what, wait)
    try:
        if fd is not None:
            previous = read_owner(target)
            if previous is not None and (previous.pid, previous.host) != (me.pid, me.host):
                log.info("lock: took over %s from %s (that process is gone)", target, previous.describe())
            _write_owner(owner_file, me)
        with _REGISTRY:
            _HELD[key] = 1
        yield me
    finally:
        with _REGISTRY:
            _HELD.pop(key, None)
        with contextlib.suppress(OSError):
            owner_file.unlink()
        if fd is not None:
            with contextlib.suppress(OSError):
                lock.unlink()  # a waiter holding the old inode notices and retries on a fresh file
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _deadline(wait: float | None) -> float:
    if wait is None or wait < 0:
        return float("inf")
    return time.monotonic() + max(wait, GRACE_S)


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_ino, st.st_dev) == (mine.st_ino, mine.st_dev)


def _acquire(lock: Path, target: Path, what: str, wait: float | None) -> int:
    """An fd of ``lock`` holding its exclusive flock (the file the path names now: the releaser removes it)."""
    start, deadline, told = time.monotonic(), _deadline(wait), False
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
        except BaseException:
            os.close(fd)
            raise
        else:
            if _same_file(fd, lock):
                return fd
            os.close(fd)  # the holder removed it while we waited: take the fresh one
            continue
        now = time.monotonic()
        if now >= deadline:
            raise LockHeld(_held_message(target, what, read_owner(target), now - start, fallback=False))
        if not told and now - start >= GRACE_S:
            owner = read_owner(target)
            limit = "no limit" if deadline == float("inf") else f"up to {wait:g} s"
            log.warning(
                "lock: %s is in use by %s; %s waits (%s)", target, owner.describe() if owner else "?", what, limit
            )
            told = True
        time.sleep(POLL_S)


def _acquire_fallback(target: Path, me: Owner, what: str, wait: float | None) -> None:
    """Owner file as the lock: created with ``os.link`` (atomic, also over NFS); a same-host owner whose
    PID is dead is stale and removed."""
    _, owner_file = lock_files(target)
    tmp = owner_file.with_name(f"{owner_file.name}.new-{me.host}-{me.pid}")
    _write_owner(tmp, me)
    start, deadline = time.monotonic(), _deadline(wait)
    try:
        while True:
            try:
                os.link(tmp, owner_file)
                return
            except FileExistsError:
                pass
            owner = read_owner(target)
            if owner is not None and owner.alive() is False:
                log.info("lock: %s was left by %s, which is gone; taking it over", target, owner.describe())
                with contextlib.suppress(FileNotFoundError):
                    owner_file.unlink()
                continue
            now = time.monotonic()
            if now >= deadline:
                raise LockHeld(_held_message(target, what, owner, now - start, fallback=True))
            time.sleep(POLL_S)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def wait_while_held(target: Path, what: str, wait: float | None = None) -> None:
    """Wait (up to ``wait`` s, None: no limit) until nobody holds ``target``'s lock, without taking it:
    a stage about to build an artifact that another process is building waits and then reuses it."""
    if str(lock_files(Path(target).expanduser().resolve())[0]) in _HELD:
        return  # this process holds it
    owner = owner_of(target)
    if owner is None:
        return
    log.warning("lock: %s is being written by %s; %s waits for it", target, owner.describe(), what)
    start, deadline = time.monotonic(), _deadline(wait)
    while owner_of(target) is not None:
        if time.monotonic() >= deadline:
            raise LockHeld(_held_message(target, what, read_owner(target), time.monotonic() - start, fallback=False))
        time.sleep(POLL_S)
