"""Roofline-style view of a run: each result beside the device's ceilings.

:func:`annotate` takes a results frame (one row per case) and fills:

* ``peak_tflops`` / ``peak_gbps``: the device's published peak for the row's
  dtype (fp8 rows: the fp8 peak; int8 rows: TOP/s, as their ``tflops``) and its
  peak memory bandwidth (:func:`accelbench.analysis.peaks.peak_for`;
  the host CPU gets a labelled estimate for compute and none for memory);
* ``pct_of_peak``: the *speed-of-light* percentage, the larger of
  ``100 * tflops / peak_tflops`` and ``100 * gbps / peak_gbps`` (as profilers
  report SOL: a kernel is judged against whichever roof bounds it: decode
  attention and copies against bandwidth, prefill and matmul against compute);
* ``pct_of_best_matmul``: ``100 * tflops`` over the best matmul TFLOP/s this
  device reached in the same run and dtype: the maximum *achievable* FLOP/s
  view, which no spec sheet gives;
* ``suspect``: true when a result is above a peak. Such a figure is never a
  win: it means a cache-resident working set (small copies), a wrong count,
  a kernel that did less work than claimed, or a wrong peak (an estimate).
  False when checked and below the peaks; missing when no peak is known.

:func:`accelbench.report.tables.roofline_table` renders the annotated frame
as a compact table with the peak sources below it; the roofline plot reads
the same ``peak_tflops``/``peak_gbps`` columns, so the peaks are decided here
once. Rows above a peak also get the ``above_peak`` flag in ``flags``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from accelbench.analysis.peaks import KINDS, Peak, peak_for, peak_kind
from accelbench.kinds import Flag, Status, join_flags, split_flags
from accelbench.results.schema import as_float

__all__ = ["ROOFLINE_COLUMNS", "annotate", "is_set", "peak_sources"]

#: Columns filled by :func:`annotate`, with their pandas dtypes.
ROOFLINE_COLUMNS: dict[str, str] = {
    "peak_tflops": "float64",
    "peak_gbps": "float64",
    "peak_source": "string",
    "peak_estimated": "boolean",
    "pct_of_peak": "float64",
    "pct_of_best_matmul": "float64",
    "suspect": "boolean",
}

#: Separates the sources of the compute and the memory peak in ``peak_source``.
SEP = " | "

PeakLookup = Callable[[str, str], "Peak | None"]


def _num(value: Any) -> float | None:
    """A finite positive float (a throughput), else None."""
    out = as_float(value)
    return out if out is not None and out > 0 else None


def annotate(frame: pd.DataFrame, lookup: PeakLookup = peak_for) -> pd.DataFrame:
    """A copy of ``frame`` with the roofline columns filled (see the module doc)."""
    out = frame.copy()
    n = len(out)
    values: dict[str, list[Any]] = {name: [None] * n for name in ROOFLINE_COLUMNS}
    # ``suspect`` may already be set by the numerical checks (a no-op kernel,
    # a constant output): being above a peak adds to it, never clears it.
    if "suspect" in out:
        values["suspect"] = [True if v is True else None for v in out["suspect"].tolist()]
    best: dict[tuple[str, str], float] = {}
    if n:
        mm = out[(out["kernel"] == "matmul") & (out["status"] == Status.OK)]
        for row in mm.to_dict("records"):
            tf = _num(row.get("tflops"))
            if tf is not None:
                key = (str(row["device_name"]), str(row["dtype"]))
                best[key] = max(best.get(key, 0.0), tf)
    cache: dict[tuple[str, str], Peak | None] = {}
    flags: list[Any] = out["flags"].tolist() if "flags" in out else [None] * n

    def peak(name: str, kind: str) -> Peak | None:
        if (name, kind) not in cache:
            cache[(name, kind)] = lookup(name, kind) if kind in KINDS else None
        return cache[(name, kind)]

    for i, row in enumerate(out.to_dict("records")):
        if row.get("status") != Status.OK:
            continue
        name, dtype = str(row.get("device_name")), str(row.get("dtype"))
        tflops, gbps = _num(row.get("tflops")), _num(row.get("gbps"))
        used: list[Peak] = []
        utils: list[float] = []
        compute = peak(name, peak_kind(dtype)) if tflops is not None else None
        if compute is not None and tflops is not None:
            values["peak_tflops"][i] = compute.value
            utils.append(100.0 * tflops / compute.value)
            used.append(compute)
        memory = peak(name, "memory") if gbps is not None else None
        if memory is not None and gbps is not None:
            values["peak_gbps"][i] = memory.value
            utils.append(100.0 * gbps / memory.value)
            used.append(memory)
        if utils:
            values["pct_of_peak"][i] = max(utils)
            above = max(utils) > 100.0
            values["suspect"][i] = values["suspect"][i] is True or above
            if above:
                flags[i] = join_flags([*split_flags(flags[i]), Flag.ABOVE_PEAK])
            values["peak_source"][i] = SEP.join(dict.fromkeys(p.source for p in used))
            values["peak_estimated"][i] = any(p.estimated for p in used)
        top = best.get((name, dtype))
        if tflops is not None and top:
            values["pct_of_best_matmul"][i] = 100.0 * tflops / top
    if "flags" in out:
        out["flags"] = pd.Series(flags, index=out.index, dtype="object").astype("string")
    for name, dtype in ROOFLINE_COLUMNS.items():
        out[name] = pd.Series(values[name], index=out.index, dtype="object").astype(dtype)
    return out


def peak_sources(frame: pd.DataFrame) -> list[str]:
    """Distinct peak sources cited by an annotated frame, estimates labelled."""
    seen: dict[str, bool] = {}
    if "peak_source" not in frame:
        return []
    for src, est in zip(frame["peak_source"], frame["peak_estimated"], strict=True):
        if isinstance(src, str) and src:
            for part in src.split(SEP):
                seen[part] = seen.get(part, False) or is_set(est)
    return [f"{src} (estimate)" if est else src for src, est in seen.items()]


def is_set(value: Any) -> bool:
    """True for a set boolean (Python, numpy or pandas), False for False and missing."""
    return value is not None and value is not pd.NA and bool(value)
