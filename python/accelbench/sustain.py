"""Sustained load: run one kernel continuously and record its speed over time.

``accelbench run --sustain SECONDS`` replaces each selected case's adaptive
sampling by a continuous run of SECONDS: after the warm-up, batches of ``k``
launches (``k`` chosen so one batch lasts about :data:`WINDOW_S`) follow each
other with nothing in between, and each batch becomes one point of the
stability curve (seconds per launch, and TFLOP/s or GB/s when the case has
FLOP or byte counts). Telemetry (clocks, temperature, power, throttling) is
read at the same time. The result row summarises all windows like ordinary
samples (its ``drift`` column is the slowdown of the last third against the
first); the windows and readings go into the event log, and
:func:`write_outputs` turns them into ``sustain.parquet`` and a plot,
``sustain.png``, in the run directory.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pandas as pd

from accelbench import _core
from accelbench.backends.timers import timer_columns
from accelbench.devices import Device
from accelbench.results import RunDir
from accelbench.runner import Outcome, Settings, _failure, _throughput
from accelbench.workloads import get_family
from accelbench.workloads.base import Case

__all__ = ["WINDOW_S", "sustain_case", "write_outputs"]

#: Target duration of one window (one point of the curve).
WINDOW_S = 0.1


def _host_batch(fn: Callable[[], object]) -> Callable[[int], float]:
    def batch(k: int) -> float:
        t0 = time.perf_counter()
        for _ in range(k):
            fn()
        return time.perf_counter() - t0

    return batch


def sustain_case(case: Case, device: Device, settings: Settings, row: dict[str, Any]) -> Outcome:
    """Run ``case`` for ``settings.sustain`` seconds; an Outcome with the windows as samples."""
    started = time.perf_counter()
    try:
        prepared = get_family(case.kernel).prepare(case, device)
        timer, batch = device.timer(prepared.fn, cache=settings.cache, graph=settings.graph,
                                    clone=prepared.clone)
        run = cast(Callable[[int], float], timer) if batch else \
            _host_batch(cast(Callable[[], object], timer))
        k, spent = 1, 0.0
        while spent < max(settings.warmup, WINDOW_S):  # warm-up, doubling k
            t = float(run(k))
            spent += t
            if t < WINDOW_S / 2:
                k *= 2
        per_iter = t / k
        k = max(1, round(WINDOW_S / per_iter)) if per_iter > 0 else k
        windows: list[float] = []
        stamps: list[tuple[float, float]] = []
        with device.monitor() as monitor:
            t_start = time.perf_counter()
            while time.perf_counter() - t_start < settings.sustain:
                begin = time.perf_counter()
                windows.append(float(run(k)) / k)
                stamps.append((begin - t_start, time.perf_counter() - t_start))
            device.synchronize()
    except Exception as exc:
        return _failure(row, exc)
    analysis = _core.analyze(windows, settings.confidence)
    s = analysis.summary
    row.update(
        status="ok", n_samples=len(windows), iters_per_sample=k,
        converged=analysis.rel_ci <= settings.target_rel_ci, stop_reason="sustain",
        median_s=s.median, ci_low_s=analysis.ci_low, ci_high_s=analysis.ci_high,
        rel_ci=analysis.rel_ci, mean_s=s.mean, std_s=s.std, min_s=s.min, p95_s=s.p95,
        p99_s=s.p99, iqr_s=s.iqr, cv=s.cv, outlier_frac=analysis.outliers.fraction,
        drift=analysis.drift, warmup_s=spent,
    )
    _throughput(row, prepared.flops, prepared.bytes)
    row.update(timer_columns(timer, len(windows)))
    row.update(monitor.columns())
    flags = monitor.flags([(a + t_start, b + t_start) for a, b in stamps])
    row["wall_s"] = time.perf_counter() - started
    telemetry = [{**r, "t": r["t"] - t_start} for r in monitor.series()]
    samples: dict[str, Any] = {
        "seconds": windows, "iters": k,
        "sustain": {"t": [(a + b) / 2 for a, b in stamps], "flops": prepared.flops,
                    "bytes": prepared.bytes, "telemetry": telemetry},
    }
    if flags is not None:
        samples["throttled"] = flags
    return Outcome(row, samples)


def sustain_frame(run: RunDir) -> pd.DataFrame:
    """One row per window of every sustained case in ``run``."""
    records = []
    for ev in run.case_events().values():
        smp = ev.get("samples") or {}
        info = smp.get("sustain")
        if not info:
            continue
        row = ev["row"]
        flags = smp.get("throttled") or []
        for i, (t, sec) in enumerate(zip(info["t"], smp["seconds"], strict=False)):
            records.append({
                "kernel": row["kernel"], "case": row["case"], "dtype": row["dtype"],
                "t_s": t, "seconds": sec,
                "tflops": info["flops"] / sec / 1e12 if info.get("flops") and sec > 0 else None,
                "gbps": info["bytes"] / sec / 1e9 if info.get("bytes") and sec > 0 else None,
                "throttled": flags[i] if i < len(flags) else None,
            })
    return pd.DataFrame.from_records(records)


def write_outputs(run: RunDir) -> Path | None:
    """Write ``sustain.parquet`` and ``sustain.png`` (needs matplotlib); the plot's path."""
    frame = sustain_frame(run)
    if frame.empty:
        return None
    frame.to_parquet(run.path / "sustain.parquet", index=False)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    events = {ev["row"]["case"] + " " + ev["row"]["dtype"]: ev
              for ev in run.case_events().values() if (ev.get("samples") or {}).get("sustain")}
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for (case, dtype), part in frame.groupby(["case", "dtype"], sort=False):
        y = part["tflops"] if part["tflops"].notna().all() else 1.0 / part["seconds"]
        top.plot(part["t_s"], y, label=f"{case} {dtype}")
        hot = part[part["throttled"] == True]  # noqa: E712 (nullable boolean)
        if not hot.empty:
            top.scatter(hot["t_s"], y[hot.index], color="red", s=8, zorder=3)
        tele = pd.DataFrame(events[f"{case} {dtype}"]["samples"]["sustain"]["telemetry"])
        if not tele.empty:
            bottom.plot(tele["t"], tele["sm_clock_mhz"], label=f"SM clock MHz ({case})")
            if tele["power_w"].notna().any():
                bottom.plot(tele["t"], tele["power_w"], label="power W")
            if tele["temp_c"].notna().any():
                bottom.plot(tele["t"], tele["temp_c"], label="temperature C")
    top.set_ylabel("TFLOP/s (launches/s without FLOP count)")
    top.set_title("sustained throughput (red: window overlapping a throttled reading)")
    top.legend(fontsize=8)
    bottom.set_xlabel("time since start of sustained run, s")
    if bottom.lines:
        bottom.legend(fontsize=8)
    fig.tight_layout()
    path = run.path / "sustain.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
