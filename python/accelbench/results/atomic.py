"""Atomic writes: a file is written beside its final name, synced, then renamed into place.

A reader (or a resumed run) sees the old file or the new one, never half of
one. The one writer of the package: run directories and published folders.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

__all__ = ["write_bytes", "write_frame", "write_text"]


def _write_via(path: Path, fill: Callable[[str], None]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        fill(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""

    def fill(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)

    _write_via(path, fill)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_frame(path: Path, frame: pd.DataFrame) -> None:
    """Write a table atomically: parquet, or CSV for a ``.csv`` path."""
    if path.suffix == ".csv":
        _write_via(path, lambda tmp: frame.to_csv(tmp, index=False))
    else:
        _write_via(path, lambda tmp: frame.to_parquet(tmp, index=False))
