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
    path = Path(run_dir)
    if not path.is_dir():
        raise UsageError(f"{path}: no such run directory")
    return path


def load(run_dir: str | os.PathLike[str], annotate: Annotate | None = None) -> pd.DataFrame:
    """The results table of a run (rebuilt from events.jsonl if the run was cut short).

    ``annotate`` fills the derived columns of a rebuilt table (a finished
    run's table has them already): :func:`accelbench.load` passes the
    roofline annotation.
    """
    path = _run_path(run_dir)
    table = path / "results.parquet"
    if table.exists():
        return pd.read_parquet(table)
    run = RunDir(path)
    if not run.events_path.exists():
        raise UsageError(f"{path}: not a run directory (no results.parquet or events.jsonl)")
    frame = results_frame([ev["row"] for ev in run.case_events().values()])
    return frame if annotate is None else annotate(frame)


def _table(run_dir: str | os.PathLike[str], name: str,
           rebuild: Callable[[Iterable[Mapping[str, Any]]], pd.DataFrame]) -> pd.DataFrame:
    """``NAME.parquet`` of a run, or the same table rebuilt from its event log."""
    path = _run_path(run_dir)
    table = path / f"{name}.parquet"
    if table.exists():
        return pd.read_parquet(table)
    return rebuild(RunDir(path).case_events().values())


def load_fingerprints(run_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """The output fingerprints of a run, one row per checked case."""
    return _table(run_dir, "fingerprints", fingerprints_frame)


def load_samples(run_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """The raw samples of a run, one row per sample."""
    return _table(run_dir, "samples", samples_frame)
