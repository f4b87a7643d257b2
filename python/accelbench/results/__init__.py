"""Storage: the result schema, the run directory and reading runs back (no torch)."""

from __future__ import annotations

from accelbench.results.load import load, load_fingerprints, load_samples
from accelbench.results.rundir import RunDir, read_meta
from accelbench.results.schema import COLUMNS, SCHEMA_VERSION, STATUSES, Column, results_frame

__all__ = [
    "COLUMNS",
    "SCHEMA_VERSION",
    "STATUSES",
    "Column",
    "RunDir",
    "load",
    "load_fingerprints",
    "load_samples",
    "read_meta",
    "results_frame",
]
