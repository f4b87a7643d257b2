"""The run directory and the result tables.

Layout of a run (``runs/<UTC timestamp>-<device slug>/``)::

    meta.json            device, host, software, git revision, settings
    events.jsonl         append-only log, one JSON object per line, flushed and
                         fsync'ed as each case ends: the source of truth
    results.parquet/csv  one row per case (written atomically at the end)
    samples.parquet      raw samples, one row per sample
    fingerprints.parquet output fingerprints (when numerics are checked): one row
                         per case with the output hash and 32 sampled elements
                         (bits and values); the case event carries it under
                         ``samples["fingerprint"]``

Because every finished case is in ``events.jsonl`` with its row and raw
samples, a killed run loses at most the case in flight, and the tables can be
rebuilt from the log (:func:`load` does so when ``results.parquet`` is
missing). Tables are written to a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from accelbench.errors import UsageError
from accelbench.roofline import annotate

__all__ = [
    "COLUMNS",
    "SCHEMA_VERSION",
    "STATUSES",
    "Column",
    "RunDir",
    "load",
    "load_fingerprints",
    "load_samples",
]

SCHEMA_VERSION = 1

#: Values of the ``status`` column.
STATUSES = ("ok", "unsupported", "error", "crash", "timeout", "mismatch")


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
    Column("status", "string", "ok, unsupported, error, crash, timeout or mismatch"),
    Column("n_samples", "Int64", "number of raw samples"),
    Column("iters_per_sample", "Int64", "kernel launches per sample (calibrated batch size)"),
    Column("converged", "boolean", "CI of the median reached the target"),
    Column("stop_reason", "string", "converged, time_budget or max_samples"),
    Column("median_s", "float64", "median time per launch, seconds"),
    Column("ci_low_s", "float64", "95% CI of the median, low end, seconds"),
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
    Column("warmup_s", "float64", "wall time spent warming up, seconds"),
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
    Column("tolerance", "string", "rtol/atol of the reference check"),
    Column("flags", "string", "comma-separated check flags (reference_mismatch, ...)"),
    Column("peak_tflops", "float64", "device's published (or estimated) peak TFLOP/s, this dtype"),
    Column("peak_gbps", "float64", "device's published peak memory bandwidth, GB/s"),
    Column("peak_source", "string", "where the peak figures come from"),
    Column("peak_estimated", "boolean", "the peak is an estimate (e.g. CPU cores x GHz x FMA)"),
    Column("pct_of_peak", "float64", "percent of peak: max of TFLOP/s and GB/s utilisation"),
    Column("pct_of_best_matmul", "float64", "percent of the best matmul TFLOP/s of the run"),
    Column("suspect", "boolean", "a check, or a result above peak, says it may not be real"),
)
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)

FINGERPRINT_COLUMNS = (
    "run_id", "key", "kernel", "case", "dtype", "shape", "n", "hash", "positions", "bits",
    "values", "rtol", "atol", "all_equal", "nan_count", "inf_count",
)

SAMPLE_COLUMNS = (
    "run_id", "kernel", "case", "dtype", "rank", "index", "seconds", "iters", "throttled",
)


def _utc_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_frame(path: Path, frame: pd.DataFrame, fmt: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _clean(value: Any) -> Any:
    """JSON-safe value: NaN/inf become None (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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


class RunDir:
    """A run directory being written (or resumed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.run_id = path.name

    # -- creation ---------------------------------------------------------
    @classmethod
    def create(cls, out_dir: Path, device_slug: str) -> RunDir:
        out_dir.mkdir(parents=True, exist_ok=True)
        base = f"{_utc_stamp()}-{device_slug}"
        for i in range(1000):
            path = out_dir / (base if i == 0 else f"{base}-{i}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return cls(path)
        raise UsageError(f"{out_dir}: cannot create a run directory")

    @classmethod
    def open(cls, path: Path) -> RunDir:
        if not (path / "meta.json").is_file():
            raise UsageError(f"{path}: not a run directory (no meta.json)")
        run = cls(path)
        run._end_torn_line()
        return run

    def _end_torn_line(self) -> None:
        """A run killed mid-write leaves a partial last line: close it so appends stay parseable."""
        if not self.events_path.exists() or self.events_path.stat().st_size == 0:
            return
        with self.events_path.open("rb+") as fh:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                fh.write(b"\n")

    # -- files --------------------------------------------------------------
    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    def write_meta(self, meta: Mapping[str, Any]) -> None:
        text = json.dumps(meta, indent=2, sort_keys=True, default=str)
        _atomic_write_bytes(self.path / "meta.json", text.encode())

    def read_meta(self) -> dict[str, Any]:
        return read_meta(self.path)

    def append_event(self, event: Mapping[str, Any]) -> None:
        """Append one event and force it to disk before returning."""
        record = {"time": datetime.now(timezone.utc).isoformat(), **event}
        line = json.dumps(record, default=_clean, allow_nan=False, separators=(",", ":"))
        with self.events_path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def events(self) -> Iterator[dict[str, Any]]:
        """Events in order; a torn last line (killed mid-write) is skipped."""
        if not self.events_path.exists():
            return
        with self.events_path.open(encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue

    def case_events(self) -> dict[str, dict[str, Any]]:
        """The last finished-case event per case key."""
        done: dict[str, dict[str, Any]] = {}
        for ev in self.events():
            if ev.get("event") == "case":
                done[ev["key"]] = ev
        return done

    def record_case(self, key: str, row: Mapping[str, Any], samples: Mapping[str, Any]) -> None:
        safe_row = {k: _clean(v) for k, v in row.items()}
        self.append_event({"event": "case", "key": key, "row": safe_row, "samples": samples})

    # -- tables ------------------------------------------------------------
    def finalize(self) -> pd.DataFrame:
        """Rebuild every table from the event log and write them atomically."""
        done = self.case_events()
        frame = annotate(results_frame([ev["row"] for ev in done.values()]))
        _atomic_frame(self.path / "results.parquet", frame, "parquet")
        _atomic_frame(self.path / "results.csv", frame, "csv")
        _atomic_frame(self.path / "samples.parquet", _samples_frame(done.values()), "parquet")
        _atomic_frame(
            self.path / "fingerprints.parquet", _fingerprints_frame(done.values()), "parquet"
        )
        return frame


def _samples_frame(events: Any) -> pd.DataFrame:
    records: list[tuple[Any, ...]] = []
    for ev in events:
        row, smp = ev["row"], ev.get("samples") or {}
        ranks = smp.get("ranks") or [{"rank": 0, "seconds": smp.get("seconds", [])}]
        iters = smp.get("iters")
        for r in ranks:
            flags = r.get("throttled") or smp.get("throttled") or []
            for i, s in enumerate(r.get("seconds", [])):
                flag = flags[i] if i < len(flags) else None
                records.append((row["run_id"], row["kernel"], row["case"], row["dtype"],
                                r["rank"], i, s, iters, flag))
    frame = pd.DataFrame.from_records(records, columns=list(SAMPLE_COLUMNS))
    return frame.astype({"rank": "int32", "index": "int32", "seconds": "float64", "iters": "Int64",
                         "throttled": "boolean"})


def _fingerprints_frame(events: Any) -> pd.DataFrame:
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


def read_meta(path: Path) -> dict[str, Any]:
    """The ``meta.json`` of a run directory; a one-line UsageError when absent or unreadable."""
    try:
        data: dict[str, Any] = json.loads((path / "meta.json").read_text())
    except FileNotFoundError:
        raise UsageError(f"{path}: not a run directory (no meta.json)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}/meta.json: unreadable: {exc}") from None
    return data


def _run_path(run_dir: str | os.PathLike[str]) -> Path:
    path = Path(run_dir)
    if not path.is_dir():
        raise UsageError(f"{path}: no such run directory")
    return path


def load(run_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """The results table of a run (rebuilt from events.jsonl if the run was cut short)."""
    path = _run_path(run_dir)
    table = path / "results.parquet"
    if table.exists():
        return pd.read_parquet(table)
    run = RunDir(path)
    if not run.events_path.exists():
        raise UsageError(f"{path}: not a run directory (no results.parquet or events.jsonl)")
    return annotate(results_frame([ev["row"] for ev in run.case_events().values()]))


def load_fingerprints(run_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """The output fingerprints of a run, one row per checked case."""
    path = _run_path(run_dir)
    table = path / "fingerprints.parquet"
    if table.exists():
        return pd.read_parquet(table)
    return _fingerprints_frame(RunDir(path).case_events().values())


def load_samples(run_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """The raw samples of a run, one row per sample."""
    path = _run_path(run_dir)
    table = path / "samples.parquet"
    if table.exists():
        return pd.read_parquet(table)
    return _samples_frame(RunDir(path).case_events().values())
