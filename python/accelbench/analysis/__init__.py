"""Analysis of stored runs: A/B comparison, roofline and peaks, support matrix, consistency.

Reads tables only: never imports torch, a device or the runner.
"""

from __future__ import annotations

import os

import pandas as pd

from accelbench.analysis.roofline import annotate
from accelbench.results import load as _load_table

__all__ = ["load"]


def load(run_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """The results table of a run, one row per case (a pandas DataFrame).

    A run cut short has no table yet: it is rebuilt from ``events.jsonl``
    and given the roofline columns, as a finished run's table has them.
    """
    return _load_table(run_dir, annotate=annotate)
