"""Do two runs (two devices, two thread counts, two days) compute the same answers?

Works from the stored fingerprints alone (``fingerprints.parquet``), so the
devices need not be present. The first run is the baseline; every other run
is compared with it, case by case (cases matched by key: kernel|case|dtype):

* ``bitwise``: the 64-bit hashes of the whole output are equal.
* ``within_tolerance``: the hashes differ, but at every sampled position
  (16 evenly spaced + 16 pseudo-random, the same positions in both runs
  because they depend only on the size) the NaN/Inf pattern agrees and
  ``|a - b| <= atol + rtol * |b|`` with the tolerance the baseline case used
  against its float64 reference (the dtype table of :mod:`accelbench.numerics.tensors`
  when the case had none).
* ``discrepant``: otherwise, or when the shapes differ.

``ulp_max`` is the worst ULP distance over the sampled positions (computed by
the native :func:`accelbench._core.ulp_distance`; NaN against a number is
reported as ``discrepant`` with ``ulp_max`` empty). The consistency rate is
(bitwise + within_tolerance) / cases compared. Only the sampled positions
are seen once hashes differ: a difference elsewhere in the output makes the
case at least ``within_tolerance`` rather than ``bitwise``, never ``bitwise``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from accelbench import _core
from accelbench.errors import UsageError
from accelbench.kinds import Agreement
from accelbench.numerics.tolerance import tolerance_for
from accelbench.results.load import load_fingerprints

__all__ = ["CLASSES", "Consistency", "check_consistency"]

CLASSES: tuple[Agreement, ...] = tuple(Agreement)

_BITS_DTYPE = {"fp64": np.uint64, "fp32": np.uint32, "fp16": np.uint16, "bf16": np.uint16}
_FLOAT_DTYPE = {"fp64": np.float64, "fp32": np.float32}
_UNDEFINED = np.iinfo(np.uint64).max


@dataclass
class Consistency:
    """Per-case classification of every run against the baseline."""

    runs: list[str]
    table: pd.DataFrame  # one row per (run, case): run, key, dtype, status, ulp_max, samples

    def rate(self, run: str | None = None) -> float:
        """Fraction of compared cases that are bitwise or within tolerance."""
        t = self.table if run is None else self.table[self.table["run"] == run]
        if t.empty:
            return float("nan")
        return float(t["status"].isin((Agreement.BITWISE, Agreement.WITHIN_TOLERANCE)).mean())

    def counts(self) -> dict[str, int]:
        return {c: int((self.table["status"] == c).sum()) for c in CLASSES}


def _as_array(bits: Any, dtype: str) -> np.ndarray[Any, Any]:
    arr = np.asarray(list(bits), dtype=np.uint64).astype(_BITS_DTYPE[dtype])
    return arr.view(_FLOAT_DTYPE[dtype]) if dtype in _FLOAT_DTYPE else arr


def _values(bits: np.ndarray[Any, Any], dtype: str) -> np.ndarray[Any, Any]:
    if dtype in _FLOAT_DTYPE:
        return bits.astype(np.float64)
    if dtype == "fp16":
        return bits.view(np.float16).astype(np.float64)
    return (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def _classify(base: pd.Series, other: pd.Series) -> tuple[Agreement, float | None, int]:
    dtype = str(base["dtype"])
    if base["shape"] != other["shape"] or int(base["n"]) != int(other["n"]):
        return Agreement.DISCREPANT, None, 0
    a = _as_array(other["bits"], dtype)
    b = _as_array(base["bits"], dtype)
    if a.shape != b.shape:
        return Agreement.DISCREPANT, None, 0
    d = _core.ulp_distance(a, b, dtype=dtype)
    undefined = bool((d == _UNDEFINED).any())
    ulp = None if undefined else float(d.max()) if d.size else 0.0
    if base["hash"] == other["hash"]:
        return Agreement.BITWISE, ulp, int(a.size)
    rtol, atol = base.get("rtol"), base.get("atol")
    if rtol is None or atol is None or pd.isna(rtol) or pd.isna(atol):
        tol = tolerance_for(dtype)
        rtol, atol = tol.rtol, tol.atol
    cmp = _core.compare(a, b, dtype=dtype, rtol=float(rtol), atol=float(atol))
    status = Agreement.DISCREPANT if undefined or cmp.mismatches else Agreement.WITHIN_TOLERANCE
    return status, ulp, int(a.size)


def check_consistency(run_dirs: Sequence[str | os.PathLike[str]]) -> Consistency:
    """Classify every case of runs[1:] against runs[0] (see the module docstring)."""
    if len(run_dirs) < 2:
        raise UsageError("consistency needs at least two run directories")
    frames = [load_fingerprints(r) for r in run_dirs]
    names = [os.fspath(r).rstrip("/").rsplit("/", 1)[-1] for r in run_dirs]
    for run_dir, frame in zip(run_dirs, frames, strict=True):
        if frame.empty:
            raise UsageError(f"{os.fspath(run_dir)}: no fingerprints (run with checks on)")
    base = frames[0].drop_duplicates("key", keep="last").set_index("key")
    rows: list[dict[str, Any]] = []
    for name, frame in zip(names[1:], frames[1:], strict=True):
        other = frame.drop_duplicates("key", keep="last").set_index("key")
        for key in base.index.intersection(other.index):
            b, o = base.loc[key], other.loc[key]
            status, ulp, samples = _classify(b, o)
            rows.append({
                "run": name, "key": key, "kernel": b["kernel"], "case": b["case"],
                "dtype": b["dtype"], "status": status, "ulp_max": ulp, "samples": samples,
                "hash_base": b["hash"], "hash_run": o["hash"],
            })
    columns = ["run", "key", "kernel", "case", "dtype", "status", "ulp_max", "samples",
               "hash_base", "hash_run"]
    table = pd.DataFrame(rows, columns=columns)
    table["ulp_max"] = table["ulp_max"].astype("float64")
    return Consistency(runs=names, table=table)
