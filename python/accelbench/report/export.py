"""A run in pytest-benchmark's saved-run format (``accelbench export --pytest-benchmark``).

The file has the layout pytest-benchmark itself writes with ``--benchmark-save``
or ``--benchmark-json`` (``machine_info``, ``commit_info``, ``benchmarks``,
``datetime``, ``version``), so ``pytest-benchmark compare`` and anything else
that reads those files can read a run. Each ok case becomes one benchmark:
``group`` is the kernel family, ``name`` is ``<kernel>[<case>-<dtype>]``, the
statistics are pytest-benchmark's own (computed by its ``Stats`` class from
the raw samples, seconds per launch) and ``iterations`` is the calibrated
number of launches per sample. accelbench's own figures (TFLOP/s, GB/s, the
exact CI of the median, convergence) go into ``extra_info``.
"""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path
from typing import Any

from accelbench.analysis import load
from accelbench.analysis.compare import case_samples
from accelbench.errors import UsageError
from accelbench.kinds import Status
from accelbench.results import load_samples, read_meta

__all__ = ["EXTRA_INFO", "pytest_benchmark_json"]

#: Result columns copied into each benchmark's ``extra_info``.
EXTRA_INFO = ("device", "device_name", "backend", "timing_method", "params", "median_s",
              "ci_low_s", "ci_high_s", "rel_ci", "converged", "stop_reason", "n_samples",
              "iters_per_sample", "flops", "bytes", "tflops", "gbps", "algbw_gbps",
              "busbw_gbps", "cv", "drift")


def _plain(value: Any) -> Any:
    """A JSON-safe Python scalar (numpy/pandas values, NA and NaN to None)."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    try:
        if value != value:  # NaN or pd.NA (whose comparison raises)
            return None
    except TypeError:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _machine_info(meta: dict[str, Any]) -> dict[str, Any]:
    env = meta.get("environment") or {}
    host, device = env.get("host") or {}, env.get("device") or {}
    return {
        "node": host.get("hostname"),
        "processor": device.get("cpu_model") or platform.processor(),
        "machine": host.get("machine"),
        "python_implementation": "CPython",
        "python_version": host.get("python"),
        "release": None,
        "system": (host.get("platform") or "").split("-")[0] or None,
        "cpu": {"brand_raw": device.get("cpu_model") or device.get("name"),
                "count": host.get("logical_cpus")},
        "accelbench": {"device": device, "software": env.get("software")},
    }


def _commit_info(meta: dict[str, Any]) -> dict[str, Any]:
    rev = (meta.get("environment") or {}).get("git_revision") or ""
    return {"id": rev.removesuffix("-dirty") or None, "dirty": rev.endswith("-dirty"),
            "project": "accelbench", "branch": None, "time": None, "author_time": None}


def pytest_benchmark_json(run_dir: str | os.PathLike[str]) -> str:
    """The run at ``run_dir`` as pytest-benchmark JSON text."""
    try:
        from pytest_benchmark import __version__ as pb_version
        from pytest_benchmark.stats import Stats
    except ImportError:
        raise UsageError("export --pytest-benchmark needs the pytest-benchmark package "
                         "(pip install pytest-benchmark)") from None
    path = Path(run_dir)
    meta = read_meta(path)
    frame = load(path)
    samples = case_samples(load_samples(path))
    benchmarks = []
    for row in frame.to_dict("records"):
        key = (str(row["kernel"]), str(row["case"]), str(row["dtype"]))
        data = samples.get(key)
        if row["status"] != Status.OK or data is None or len(data) == 0:
            continue
        stats: Any = Stats()  # type: ignore[no-untyped-call]  # pytest-benchmark is untyped
        for value in data:
            stats.update(float(value))
        stat_dict: dict[str, Any] = stats.as_dict()
        stat_dict["data"] = [float(v) for v in data]
        stat_dict["iterations"] = _plain(row.get("iters_per_sample")) or 1
        param = f"{key[1]}-{key[2]}"
        benchmarks.append({
            "group": key[0],
            "name": f"{key[0]}[{param}]",
            "fullname": f"accelbench::{key[0]}[{param}]",
            "params": {"case": key[1], "dtype": key[2]},
            "param": param,
            "extra_info": {c: _plain(row.get(c)) for c in EXTRA_INFO},
            "options": {"timer": str(row.get("timing_method")), "disable_gc": False,
                        "min_rounds": _plain((meta.get("settings") or {}).get("min_samples")),
                        "max_time": _plain((meta.get("settings") or {}).get("max_case_time")),
                        "min_time": None, "warmup": True},
            "stats": stat_dict,
        })
    out = {
        "machine_info": _machine_info(meta),
        "commit_info": _commit_info(meta),
        "benchmarks": benchmarks,
        "datetime": meta.get("created"),
        "version": pb_version,
    }
    return json.dumps(out, indent=4, default=str) + "\n"
