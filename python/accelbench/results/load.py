"""Reading a run back: its results, raw samples and output fingerprints as pandas tables.

A run cut short has no tables yet; they are rebuilt from ``events.jsonl``
(the source of truth). No torch is needed to read a run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from accelbench.errors import UsageError
from accelbench.results.rundir import Annotate, RunDir
from accelbench.results.schema import fingerprints_frame, results_frame, samples_frame

__all__ = ["load", "load_fingerprints", "load_samples"]


def _run_path(run_dir: str | os.PathLike[str]) -> Path:
    """``run_dir`` if it is a run (or a published folder); a one-line UsageError otherwise."""
    path = Path(run_dir)
    if not path.is_dir():
        raise UsageError(f"{path}: no such run directory")
    if not any((path / name).is_file() for name in ("meta.json", "events.jsonl",
                                                    "results.parquet")):
        raise UsageError(f"{path}: not a run directory (no meta.json, events.jsonl or "
                         "results.parquet)")
    return path


def _read(path: Path, name: str,
          rebuild: Callable[[Iterable[Mapping[str, Any]]], pd.DataFrame]) -> pd.DataFrame | None:
    """``NAME.parquet``; rebuilt from ``events.jsonl`` when missing or damaged (None: no log).

    ``events.jsonl`` is the source of truth: a table truncated or emptied by a
    crash, a full disk or a bad copy is rebuilt from it rather than read.
    Without a log (a published folder) a damaged table is a one-line error.
    """
    table = path / f"{name}.parquet"
    problem = "missing"
    if table.exists():
        try:
            return pd.read_parquet(table)
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... for damage
            problem = f"damaged ({type(exc).__name__})"
    run = RunDir(path)
    if not run.events_path.exists():
        if problem == "missing":
            return None
        raise UsageError(f"{table}: {problem} and no events.jsonl to rebuild it from; "
                         "publish or copy the run again")
    return rebuild(run.case_events().values())


def load(run_dir: str | os.PathLike[str], annotate: Annotate | None = None) -> pd.DataFrame:
    """The results table of a run (rebuilt from events.jsonl if cut short or damaged).

    ``annotate`` fills the derived columns of a rebuilt table (a finished
    run's table has them already): :func:`accelbench.load` passes the
    roofline annotation.
    """
    path = _run_path(run_dir)
    rebuilt: list[bool] = []

    def rows(events: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
        rebuilt.append(True)
        return results_frame([ev["row"] for ev in events])

    frame = _read(path, "results", rows)
    if frame is None:
        raise UsageError(f"{path}: not a run directory (no results.parquet or events.jsonl)")
    return annotate(frame) if annotate is not None and rebuilt else frame


def _table(run_dir: str | os.PathLike[str], name: str,
           rebuild: Callable[[Iterable[Mapping[str, Any]]], pd.DataFrame]) -> pd.DataFrame:
    """``NAME.parquet`` of a run, or the same table rebuilt from its event log."""
    path = _run_path(run_dir)
    frame = _read(path, name, rebuild)
    return rebuild([]) if frame is None else frame


def load_fingerprints(run_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """The output fingerprints of a run, one row per checked case."""
    return _table(run_dir, "fingerprints", fingerprints_frame)


def load_samples(run_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """The raw samples of a run, one row per sample."""
    return _table(run_dir, "samples", samples_frame)
