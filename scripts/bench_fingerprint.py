"""Content fingerprint speed (issue 20): hash a ``--gb`` GB local corpus the way the download key does
(``bows.stages.content_fingerprint``), against sha256 for comparison, and delete the corpus afterwards.

The corpus is written like ``make bench-scale`` writes its own (``bench_scale.make_corpus``: a Parquet
file of OpenWebText-shaped records, ``--gb`` GB of text), then its text is also written as a ``.txt``
file of ``--gb`` GB. Each file is hashed cold (evicted from the page cache with
``posix_fadvise(DONTNEED)`` first: read from disk) and warm (again, from the page cache).

    python scripts/bench_fingerprint.py [--gb 1] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bows import stages  # noqa: E402


def _timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def _sha256(path: Path, chunk: int = 1 << 24) -> str:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from bench_scale import make_corpus

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bows-fingerprint-") as work:
        path = Path(work) / "corpus.parquet"
        seconds, _ = _timed(lambda: make_corpus(path, args.gb))
        print(f"wrote {path} ({path.stat().st_size / 1e9:.2f} GB) in {seconds:.1f} s")
        text = Path(work) / "corpus.txt"
        _write_text(path, text, int(args.gb * 1e9))
        results = {}
        for file in (path, text):
            size = file.stat().st_size
            for name, fn in [
                (
                    "content_fingerprint cold",
                    lambda file=file: (_evict(file), stages.content_fingerprint([file], "bench")),
                ),
                ("content_fingerprint warm", lambda file=file: stages.content_fingerprint([file], "bench")),
                ("sha256 warm", lambda file=file: _sha256(file)),
            ]:
                seconds, _ = _timed(fn)
                results[f"{file.name} {name}"] = {
                    "bytes": size,
                    "seconds": round(seconds, 3),
                    "MB_per_s": round(size / 1e6 / seconds),
                }
                print(
                    f"{file.name:<16} {size / 1e9:5.2f} GB {name:<26} {seconds:6.2f} s  {size / 1e6 / seconds:8.0f} MB/s"
                )
        print(json.dumps(results))
    print(f"deleted {work}")


def _write_text(parquet: Path, out: Path, target: int) -> None:
    """The records' text, one after another, until ``target`` bytes (flushed to disk)."""
    import pyarrow.parquet as pq

    written = 0
    with open(out, "wb") as handle:
        while written < target:
            for batch in pq.ParquetFile(parquet).iter_batches(batch_size=20_000, columns=["text"]):
                data = "\n".join(batch.column(0).to_pylist()).encode()[: target - written]
                handle.write(data)
                written += len(data)
                if written >= target:
                    break
        handle.flush()
        os.fsync(handle.fileno())


def _evict(path: Path) -> None:
    """Drop ``path``'s pages from the page cache (its next read comes from disk)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


if __name__ == "__main__":
    main()
