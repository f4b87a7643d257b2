"""The result schema, declared once: columns, statuses, and the typed tables built from rows.

No torch, no device code: everything that reads runs (analysis, reports,
``accelbench.load``) can import it anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from accelbench.kinds import Status

__all__ = [
    "COLUMNS",
    "COLUMN_NAMES",
    "FINGERPRINT_COLUMNS",
    "LINK_COLUMNS",
    "SAMPLE_COLUMNS",
    "SCHEMA_VERSION",
    "STATUSES",
    "Column",
    "as_float",
    "fingerprints_frame",
    "links_frame",
    "results_frame",
    "samples_frame",
]

SCHEMA_VERSION = 1

#: Values of the ``status`` column.
STATUSES: tuple[str, ...] = Status.values()


@dataclass(frozen=True)
class Column:
    """One result column: name, pandas dtype, unit and meaning."""

    name: str
    dtype: str
    doc: str


#: The result schema, declared once; tables, writers and docs read it.
COLUMNS: tuple[Column, ...] = (
    Column("run_id", "string", "run directory name"),
    Column("device", "string", "device as given to --device (cpu, cuda:0)"),
    Column("device_name", "string", "marketing name of the device"),
    Column("backend", "string", "torch backend (cpu, cuda, xpu, mps, npu)"),
    Column("kernel", "string", "kernel family (matmul, attention, ...)"),
    Column("case", "string", "readable case name carrying the variant"),
    Column("params", "string", "shape and options as text (M=4096 N=4096 K=4096)"),
    Column("dtype", "string", "element type (fp32, bf16, ...)"),
    Column("model", "string", "model the shape comes from, if any"),
    Column("status", "string",
           "ok, unsupported, error, crash, timeout, mismatch or compile_error"),
    Column("n_samples", "Int64", "number of raw samples"),
    Column("iters_per_sample", "Int64", "kernel launches per sample (calibrated batch size)"),
    Column("converged", "boolean", "CI of the median reached the target"),
    Column("stop_reason", "string", "converged, time_budget, max_samples or unstable"),
    Column("median_s", "float64", "median time per launch, seconds"),
    Column("ci_low_s", "float64", "95% CI of the median, low end, seconds (see ci_method)"),
    Column("ci_high_s", "float64", "95% CI of the median, high end, seconds"),
    Column("rel_ci", "float64", "CI half-width relative to the median (worst side)"),
    Column("mean_s", "float64", "mean time per launch, seconds"),
    Column("std_s", "float64", "standard deviation of the samples, seconds"),
    Column("min_s", "float64", "fastest sample, seconds"),
    Column("p95_s", "float64", "95th percentile, seconds"),
    Column("p99_s", "float64", "99th percentile, seconds"),
    Column("iqr_s", "float64", "interquartile range, seconds"),
    Column("cv", "float64", "coefficient of variation (std / mean)"),
    Column("outlier_frac", "float64", "fraction of samples outside Tukey's 1.5 IQR fences"),
    Column("drift", "float64", "median of last third vs first third, relative"),
    Column("rounds", "Int64", "rounds the case was measured in, each in a fresh process"),
    Column("round_spread", "float64", "(max - min) / median of the round medians"),
    Column("ci_method", "string",
           "rounds-pooled[+drift[+history]], rounds-bootstrap, order-statistics or min-max"),
    Column("usual_s", "float64",
           "the case's usual median in this machine's earlier runs, which the interval spans"),
    Column("warmup_s", "float64", "wall time spent warming up, seconds (all rounds)"),
    Column("wall_s", "float64", "wall time of the case (prepare + warm-up + sampling)"),
    Column("timing_method", "string", "host-monotonic, device-events, ..."),
    Column("flops", "float64", "floating-point operations per launch"),
    Column("bytes", "float64", "bytes moved per launch (collectives: message size per rank)"),
    Column("tflops", "float64", "flops / median_s / 1e12"),
    Column("gbps", "float64", "bytes / median_s / 1e9"),
    Column("algbw_gbps", "float64", "collectives: bytes / time, GB/s"),
    Column("busbw_gbps", "float64", "collectives: algbw times the nccl-tests bus factor"),
    Column("max_abs_err", "float64", "max |out - ref| against the float64 reference"),
    Column("max_rel_err", "float64", "max |out - ref| / |ref|"),
    Column("ulp_max", "float64", "largest distance in units of last place of the output dtype"),
    Column("mismatch_frac", "float64", "fraction of elements outside the dtype tolerance"),
    Column("deterministic", "boolean", "repeated launches gave bitwise-equal outputs"),
    Column("fingerprint", "string", "hash of the output bytes"),
    Column("error", "string", "why the case is not ok (message, signal)"),
    Column("world_size", "Int64", "collectives: ranks in the world"),
    Column("rank_skew", "float64", "collectives: slowest over fastest rank's median"),
    Column("slowest_rank", "Int64", "collectives: rank whose median is the case time"),
    Column("fastest_rank", "Int64", "collectives: rank with the smallest median"),
    Column("rank_min_s", "float64", "collectives: the fastest rank's median time, seconds"),
    Column("rank_median_s", "float64", "collectives: median of the ranks' medians, seconds"),
    Column("check_repeats", "Int64", "collectives: exact data checks run (--check-repeats)"),
    Column("rank", "Int64", "fleet: the rank this row measured"),
    Column("host", "string", "fleet: host name of the rank"),
    Column("fleet_ratio", "float64", "fleet: rank median / median of the ranks' medians"),
    Column("fleet_ci_low", "float64", "fleet: CI of fleet_ratio, low end"),
    Column("fleet_ci_high", "float64", "fleet: CI of fleet_ratio, high end"),
    Column("fleet_late_ratio", "float64", "fleet --sustain: fleet_ratio of the last third"),
    Column("fleet_flag", "string", "fleet: slow, slow_late, wrong, failed (comma-separated)"),
    Column("cache_state", "string", "warm, or cold (last-level cache flushed before each launch)"),
    Column("graph", "boolean", "launches replayed from a captured device graph"),
    Column("cold_bytes", "float64", "bytes touched between launches to evict caches (cold)"),
    Column("host_submit_s", "float64", "host time to enqueue one launch, seconds (median)"),
    Column("throttled_frac", "float64", "fraction of telemetry readings that reported throttling"),
    Column("sm_clock_mhz", "float64", "SM/GFX clock during the case, MHz (median reading)"),
    Column("mem_clock_mhz", "float64", "memory clock during the case, MHz (median reading)"),
    Column("temp_c", "float64", "highest device temperature during the case, Celsius"),
    Column("power_w", "float64", "mean board power during the case, watts"),
    Column("ulp_mean", "float64", "mean ULP distance to the reference rounded to the dtype"),
    Column("nan_mismatch", "Int64", "elements where exactly one of output/reference is NaN"),
    Column("inf_mismatch", "Int64", "elements with an infinity the other side lacks"),
    Column("ref_elements", "Int64", "output elements the reference covers (compared)"),
    Column("cosine", "float64", "cosine similarity of output and float64 reference"),
    Column("rel_rmse", "float64", "RMS of the error / RMS of the reference"),
    Column("ulp_frac", "float64", "share of elements beyond the dtype's ULP threshold"),
    Column("small_elements", "Int64", "elements with |ref| below the dtype's small threshold"),
    Column("small_max_abs_err", "float64", "max |out - ref| over the small values"),
    Column("small_mismatches", "Int64", "small values whose |out - ref| exceeds atol"),
    Column("tolerance", "string", "rtol/atol of the reference check"),
    Column("flags", "string", "comma-separated check flags (reference_mismatch, ...)"),
    Column("peak_tflops", "float64", "device's published (or estimated) peak TFLOP/s, this dtype"),
    Column("peak_gbps", "float64", "device's published peak memory bandwidth, GB/s"),
    Column("peak_source", "string", "where the peak figures come from"),
    Column("peak_estimated", "boolean", "the peak is an estimate (e.g. CPU cores x GHz x FMA)"),
    Column("pct_of_peak", "float64", "percent of peak: max of TFLOP/s and GB/s utilisation"),
    Column("pct_of_best_matmul", "float64", "percent of the best matmul TFLOP/s of the run"),
    Column("suspect", "boolean", "a check, or a result above peak, says it may not be real"),
    Column("compile_s", "float64",
           "compiled cases: seconds to the first compiled result (cold cache), not in samples"),
    Column("vs_eager_max_abs_err", "float64", "compiled cases: max |compiled - eager|"),
    Column("vs_eager_max_rel_err", "float64", "compiled cases: max |compiled - eager| / |eager|"),
    Column("vs_eager_ulp_max", "float64", "compiled cases: largest ULP distance to eager"),
    Column("vs_eager_bitwise", "boolean", "compiled cases: bitwise equal to the eager result"),
    Column("samples_total", "Int64", "ops: OpInfo sample inputs of the operator in this dtype"),
    Column("samples_run", "Int64", "ops: samples that ran on the device"),
    Column("declared", "boolean", "ops: OpInfo declares this dtype for the device type"),
    Column("declared_cuda", "boolean", "ops: OpInfo declares this dtype for CUDA"),
    Column("defects", "Int64", "ops: defects found (kinds in defect_kinds, details in "
           "defects.json)"),
    Column("defect_kinds", "string", "ops: crash, hang, mismatch, nan_inf, nondeterministic, "
           "compile_failure, compile_mismatch"),
    Column("compile_status", "string", "ops --compile: ok, mismatch (vs eager), error, "
           "unsupported"),
    Column("compile_error", "string", "ops --compile: why compile_status is not ok"),
    Column("compile_samples", "Int64", "ops --compile: samples run compiled"),
    Column("compile_max_abs_err", "float64", "ops --compile: max abs error vs float64"),
    Column("compile_mismatch_frac", "float64", "ops --compile: elements outside tolerance of "
           "float64"),
    Column("compile_eager_max_abs_err", "float64", "ops --compile: max abs difference from eager"),
    Column("compile_eager_mismatch_frac", "float64", "ops --compile: elements outside tolerance "
           "of eager"),
    Column("baseline_status", "string", "ops --baseline: status on the baseline device"),
    Column("error_ratio", "float64", "ops --baseline: max abs error / the baseline device's"),
    Column("baseline_verdict", "string", "ops --baseline: agrees, shared_error, worse, missing, "
           "fails, not_compared"),
)
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)

#: ``links.parquet`` of a fleet run with ``--links``: one row per measured link or segment.
LINK_COLUMNS: tuple[Column, ...] = (
    Column("kind", "string", "intra (a pair on one node), ring (a rail's ring) or segment"),
    Column("src", "Int64", "sending rank (single links)"),
    Column("dst", "Int64", "receiving rank (single links)"),
    Column("src_node", "string", "node of the sending rank"),
    Column("dst_node", "string", "node of the receiving rank"),
    Column("rail", "Int64", "ring and segment: the local rank whose ring this is"),
    Column("chain", "string", "ranks the messages pass through (0>1>2)"),
    Column("bytes", "float64", "message size, bytes"),
    Column("n_samples", "Int64", "samples"),
    Column("median_s", "float64", "median time per message, seconds"),
    Column("gbps", "float64", "bytes / median_s / 1e9"),
    Column("ratio", "float64", "time / the peers' (intra) or the other half's (segment)"),
    Column("ratio_ci_low", "float64", "CI of ratio, low end"),
    Column("ratio_ci_high", "float64", "CI of ratio, high end"),
    Column("flag", "string", "slow_link or slow_segment"),
    Column("detail", "string", "why it is flagged"),
)

FINGERPRINT_COLUMNS = (
    "run_id", "key", "kernel", "case", "dtype", "shape", "n", "hash", "positions", "bits",
    "values", "rtol", "atol", "all_equal", "nan_count", "inf_count",
)

SAMPLE_COLUMNS = (
    "run_id", "kernel", "case", "dtype", "rank", "round", "index", "seconds", "iters",
    "throttled",
)


def as_float(value: Any) -> float | None:
    """A finite float, or None for missing, NA, non-numeric and non-finite values."""
    if value is None or value is pd.NA:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def results_frame(rows: list[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows (dicts) to the typed results table; unknown keys are kept after the schema."""
    frame = pd.DataFrame(list(rows))
    for col in COLUMNS:
        if col.name not in frame:
            frame[col.name] = pd.Series([None] * len(frame), dtype=col.dtype, index=frame.index)
    extra = [c for c in frame.columns if c not in COLUMN_NAMES]
    frame = frame[list(COLUMN_NAMES) + extra]
    for col in COLUMNS:
        frame[col.name] = frame[col.name].astype(col.dtype)
    return frame


def links_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Link rows (dicts) to the typed links table."""
    frame = pd.DataFrame(list(rows), columns=[c.name for c in LINK_COLUMNS])
    return frame.astype({c.name: c.dtype for c in LINK_COLUMNS})


def samples_frame(events: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    records: list[tuple[Any, ...]] = []
    for ev in events:
        row, smp = ev["row"], ev.get("samples") or {}
        ranks = smp.get("ranks") or [{"rank": 0, "seconds": smp.get("seconds", [])}]
        iters = smp.get("iters")
        for r in ranks:
            flags = r.get("throttled") or smp.get("throttled") or []
            rounds = r.get("round") or smp.get("round") or []
            for i, s in enumerate(r.get("seconds", [])):
                flag = flags[i] if i < len(flags) else None
                k = iters[i] if isinstance(iters, list) else iters
                records.append((row["run_id"], row["kernel"], row["case"], row["dtype"],
                                r["rank"], rounds[i] if i < len(rounds) else 0, i, s, k, flag))
    frame = pd.DataFrame.from_records(records, columns=list(SAMPLE_COLUMNS))
    return frame.astype({"rank": "int32", "round": "int32", "index": "int32",
                         "seconds": "float64", "iters": "Int64", "throttled": "boolean"})


def fingerprints_frame(events: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    records: list[dict[str, Any]] = []
    for ev in events:
        fp = (ev.get("samples") or {}).get("fingerprint")
        if fp:
            record = {c: fp.get(c) for c in FINGERPRINT_COLUMNS}
            record["run_id"] = ev["row"].get("run_id")
            record["shape"] = "x".join(str(d) for d in fp.get("shape", []))
            # float64 bit patterns with the sign set exceed int64: keep them uint64
            record["bits"] = np.asarray(fp.get("bits") or [], dtype=np.uint64)
            record["positions"] = np.asarray(fp.get("positions") or [], dtype=np.int64)
            records.append(record)
    frame = pd.DataFrame.from_records(records, columns=list(FINGERPRINT_COLUMNS))
    return frame.astype({"n": "int64", "rtol": "float64", "atol": "float64"})
