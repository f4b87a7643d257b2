"""Sustained load: run one kernel continuously and record its speed over time.

``accelbench run --sustain SECONDS`` replaces each selected case's adaptive
sampling by a continuous run of SECONDS: after the warm-up, batches of ``k``
launches (``k`` chosen so one batch lasts about :data:`WINDOW_S`) follow each
other with nothing in between, and each batch becomes one point of the
stability curve (seconds per launch, and TFLOP/s or GB/s when the case has
FLOP or byte counts). Telemetry (clocks, temperature, power, throttling) is
read at the same time. The result row summarises all windows like ordinary
samples (:class:`~accelbench.measure.measurement.Measurement`; its ``drift``
column is the slowdown of the last third against the first), timed as
``run`` times the case (same ``--cache``, ``--graph`` and the case's host
timing); the windows and readings go into the event log, and
:func:`accelbench.report.sustain.write_outputs` turns them into
``sustain.parquet`` and a plot, ``sustain.png``, in the run directory.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from accelbench.devices.timers import timer_columns
from accelbench.kinds import StopReason
from accelbench.measure.core import Outcome, Row, Samples, Settings, failure
from accelbench.measure.measurement import (
    Measurement,
    Timing,
    as_batch,
    make_timer,
)
from accelbench.workloads import get_family

if TYPE_CHECKING:
    from accelbench.devices import Device
    from accelbench.workloads.base import Case

__all__ = ["WINDOW_S", "sustain_case"]

#: Target duration of one window (one point of the curve).
WINDOW_S = 0.1


def _warm_up(run: Callable[[int], float], warmup_s: float) -> tuple[int, float]:
    """Double k until a batch lasts half a window, for at least ``warmup_s``; (k, time spent)."""
    k, spent, t = 1, 0.0, 0.0
    while spent < max(warmup_s, WINDOW_S):
        t = float(run(k))
        spent += t
        if t < WINDOW_S / 2:
            k *= 2
    per_iter = t / k
    return (max(1, round(WINDOW_S / per_iter)) if per_iter > 0 else k), spent


def sustain_case(case: Case, device: Device, settings: Settings, row: Row) -> Outcome:
    """Run ``case`` for ``settings.sustain`` seconds; an Outcome with the windows as samples."""
    started = time.perf_counter()
    try:
        prepared = get_family(case.kernel).prepare(case, device)
        timer, batch = make_timer(device, prepared.fn, Timing.of(settings, prepared.host_timing),
                                  prepared.clone)
        run = as_batch(timer, batch)
        k, spent = _warm_up(run, settings.warmup)
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
        return failure(row, exc)
    measurement = Measurement(windows, k, False, StopReason.SUSTAIN, spent, settings.confidence,
                              _timer_cols(timer, batch, len(windows)))
    converged = measurement.analysis.rel_ci <= settings.target_rel_ci
    measurement = replace(measurement, converged=converged)
    row.update(measurement.columns(prepared.flops, prepared.bytes))
    row.update(prepared.columns)
    row.update(monitor.columns())
    flags = monitor.flags([(a + t_start, b + t_start) for a, b in stamps])
    row["wall_s"] = time.perf_counter() - started
    telemetry = [{**r, "t": r["t"] - t_start} for r in monitor.series()]
    samples: Samples = {
        "seconds": windows, "iters": k,
        "sustain": {"t": [(a + b) / 2 for a, b in stamps], "flops": prepared.flops,
                    "bytes": prepared.bytes, "telemetry": telemetry},
    }
    if flags is not None:
        samples["throttled"] = flags
    return Outcome(row, samples)


def _timer_cols(timer: object, batch: bool, n: int) -> Row:
    """The timer's columns; a plain kernel driven by the host loop reports as ``run`` does."""
    return timer_columns(timer, n) if batch else {}
