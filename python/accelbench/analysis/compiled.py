"""Eager against compiled: the pairs of the ``blocks`` family side by side.

A block's two cases (``... eager`` and ``... compiled``, same inputs) are
one row here: both medians, the speed-up of the compiled function
(eager median / compiled median), its compile time, the calls after which the
compile has paid for itself, the distance of each from the float64 reference
(``max_abs_err``: is the compiled block less accurate than eager?) and the
compiled result's distance from eager.
Reads tables only (no torch).
"""

from __future__ import annotations

import math

import pandas as pd

from accelbench.kinds import Status
from accelbench.results.schema import as_float

__all__ = ["PAIR_COLUMNS", "compile_pairs"]

#: Columns of :func:`compile_pairs`.
PAIR_COLUMNS = ("case", "dtype", "eager_s", "compiled_s", "speedup", "compile_s",
                "breakeven_calls", "eager_max_abs_err", "compiled_max_abs_err",
                "vs_eager_max_abs_err", "vs_eager_max_rel_err", "vs_eager_ulp_max",
                "eager_status", "compiled_status", "error")

_MODES = ("eager", "compiled")


def _breakeven(eager: float | None, compiled: float | None, compile_s: float | None) -> float:
    """Calls of the compiled function that pay for its compile: compile_s / time saved per call.

    Infinite when compiling saves nothing per call; NaN when a figure is missing.
    """
    if eager is None or compiled is None or compile_s is None:
        return math.nan
    saved = eager - compiled
    return compile_s / saved if saved > 0 else math.inf


def compile_pairs(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (block case, dtype) that has an eager or a compiled row, in frame order.

    ``speedup`` and ``breakeven_calls`` need both cases ``ok``; ``error`` is
    the compiled case's reason when it is not ok (a ``compile_error`` says
    what the compiler said).
    """
    rows = frame[frame["kernel"] == "blocks"]
    pairs: dict[tuple[str, str], dict[str, object]] = {}
    for rec in rows.to_dict("records"):
        base, _, mode = str(rec["case"]).rpartition(" ")
        if mode not in _MODES:
            continue
        pair = pairs.setdefault((base, str(rec["dtype"])), {"case": base, "dtype": rec["dtype"]})
        ok = rec["status"] == Status.OK
        pair[f"{mode}_status"] = rec["status"]
        pair[f"{mode}_s"] = as_float(rec.get("median_s")) if ok else None
        pair[f"{mode}_max_abs_err"] = as_float(rec.get("max_abs_err"))
        if mode == "compiled":
            pair["compile_s"] = as_float(rec.get("compile_s"))
            pair["vs_eager_max_abs_err"] = as_float(rec.get("vs_eager_max_abs_err"))
            pair["vs_eager_max_rel_err"] = as_float(rec.get("vs_eager_max_rel_err"))
            pair["vs_eager_ulp_max"] = as_float(rec.get("vs_eager_ulp_max"))
            pair["error"] = None if ok else rec.get("error")
    out = []
    for pair in pairs.values():
        eager, compiled = as_float(pair.get("eager_s")), as_float(pair.get("compiled_s"))
        pair["speedup"] = eager / compiled if eager and compiled else None
        pair["breakeven_calls"] = _breakeven(eager, compiled, as_float(pair.get("compile_s")))
        out.append({c: pair.get(c) for c in PAIR_COLUMNS})
    return pd.DataFrame(out, columns=list(PAIR_COLUMNS))
