"""The support matrix: per device, how many kernel combinations ran, failed or crashed.

Cross-vendor studies publish two kinds of numbers besides speed: operator
coverage (how many (kernel, dtype, variant) combinations a backend runs at
all) and defect counts (errors, crashes, hangs, wrong answers). Every row of
a results table is one such combination, so the matrix is a count of rows
per device and status. ``unsupported`` means the backend declined the case
(dtype, size, missing operator); ``error``/``crash``/``timeout``/``mismatch``
and ``compile_error`` (``torch.compile`` failed) are defects found.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from accelbench.results.schema import STATUSES

__all__ = ["support_matrix"]


def support_matrix(frame: pd.DataFrame, by: Sequence[str] = ("device",)) -> pd.DataFrame:
    """Counts of cases per ``by`` group (default: device) and status.

    Columns: ``total`` then one column per status in :data:`~accelbench.results.STATUSES`
    order (ok, unsupported, error, crash, timeout, mismatch, compile_error), all integers;
    one row per group. Works on one run (``accelbench.load``) or several concatenated.
    """
    keys = list(by)
    missing = [k for k in [*keys, "status"] if k not in frame.columns]
    if missing:
        raise KeyError(f"support_matrix: frame has no column(s) {missing}")
    if frame.empty:
        empty = pd.DataFrame(columns=["total", *STATUSES], dtype="int64")
        empty.index = pd.MultiIndex.from_tuples([], names=keys) if len(keys) > 1 else pd.Index(
            [], name=keys[0])
        return empty
    counts = (
        frame.assign(status=frame["status"].astype("string"))
        .groupby([*keys, "status"], dropna=False, observed=True)
        .size()
        .unstack("status", fill_value=0)
    )
    extra = [c for c in counts.columns if c not in STATUSES]
    counts = counts.reindex(columns=[*STATUSES, *extra], fill_value=0).astype("int64")
    counts.insert(0, "total", counts.sum(axis=1))
    counts.columns.name = None
    return counts
