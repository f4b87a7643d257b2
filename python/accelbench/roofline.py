"""Roofline-style view of a run: each result beside the device's ceilings.

:func:`annotate` takes a results frame (one row per case) and fills:

* ``peak_tflops`` / ``peak_gbps``: the device's published peak for the row's
  dtype and its peak memory bandwidth (:func:`accelbench.peaks.peak_for`;
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

:func:`roofline_table` renders the annotated frame as a compact rich table
with the peak sources below it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
from rich.table import Table

from accelbench.peaks import KINDS, Peak, peak_for
from accelbench.report import as_float

__all__ = ["ROOFLINE_COLUMNS", "annotate", "peak_sources", "roofline_table"]

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
        mm = out[(out["kernel"] == "matmul") & (out["status"] == "ok")]
        for row in mm.to_dict("records"):
            tf = _num(row.get("tflops"))
            if tf is not None:
                key = (str(row["device_name"]), str(row["dtype"]))
                best[key] = max(best.get(key, 0.0), tf)
    cache: dict[tuple[str, str], Peak | None] = {}

    def peak(name: str, kind: str) -> Peak | None:
        if (name, kind) not in cache:
            cache[(name, kind)] = lookup(name, kind) if kind in KINDS else None
        return cache[(name, kind)]

    for i, row in enumerate(out.to_dict("records")):
        if row.get("status") != "ok":
            continue
        name, dtype = str(row.get("device_name")), str(row.get("dtype"))
        tflops, gbps = _num(row.get("tflops")), _num(row.get("gbps"))
        used: list[Peak] = []
        utils: list[float] = []
        compute = peak(name, dtype) if tflops is not None else None
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
            values["suspect"][i] = values["suspect"][i] is True or max(utils) > 100.0
            values["peak_source"][i] = SEP.join(dict.fromkeys(p.source for p in used))
            values["peak_estimated"][i] = any(p.estimated for p in used)
        top = best.get((name, dtype))
        if tflops is not None and top:
            values["pct_of_best_matmul"][i] = 100.0 * tflops / top
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
                seen[part] = seen.get(part, False) or _true(est)
    return [f"{src} (estimate)" if est else src for src, est in seen.items()]


def _true(value: Any) -> bool:
    """True for a set boolean (Python, numpy or pandas), False for False and missing."""
    return value is not None and value is not pd.NA and bool(value)


def _fmt(value: Any, spec: str) -> str:
    num = _num(value)
    return "-" if num is None else format(num, spec)


def roofline_table(frame: pd.DataFrame, title: str = "roofline") -> Table | None:
    """Compact table of ok rows with a throughput: achieved vs peak vs best matmul."""
    if "pct_of_peak" not in frame or frame.empty:
        return None
    rows = frame[(frame["status"] == "ok") & (frame["tflops"].notna() | frame["gbps"].notna())]
    if rows.empty:
        return None
    table = Table(title=title or None, header_style="bold")
    for name in ("kernel", "case", "dtype", "TFLOP/s", "peak", "GB/s", "peak GB/s", "% peak",
                 "% best mm", "flag"):
        table.add_column(name, justify="left" if name in ("kernel", "case", "dtype", "flag")
                         else "right")
    for row in rows.to_dict("records"):
        suspect = row.get("suspect")
        flag = "[bold red]SUSPECT > peak[/]" if _true(suspect) else ""
        if _true(row.get("peak_estimated")) and not flag:
            flag = "[dim]est. peak[/]"
        table.add_row(
            str(row["kernel"]), str(row["case"]), str(row["dtype"]),
            _fmt(row.get("tflops"), ".3g"), _fmt(row.get("peak_tflops"), ".4g"),
            _fmt(row.get("gbps"), ".3g"), _fmt(row.get("peak_gbps"), ".4g"),
            _fmt(row.get("pct_of_peak"), ".1f"), _fmt(row.get("pct_of_best_matmul"), ".1f"),
            flag,
        )
    return table
