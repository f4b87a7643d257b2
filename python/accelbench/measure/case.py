"""One case, start to end: prepare, time, sample, summarise, check.

:func:`measure_case` turns one :class:`~accelbench.workloads.base.Case` into a
result row and its raw samples; it never raises for a problem of the case
itself (unsupported dtype, out of memory, a failing kernel): those become the
row's ``status`` and ``error``. It runs in the worker process
(:mod:`accelbench.runner.worker`) or, with ``--no-isolation``, in the
runner's own.
"""

from __future__ import annotations

import gc
import time
from typing import TYPE_CHECKING, Any

from accelbench.devices.timers import timer_intervals
from accelbench.kinds import Status
from accelbench.measure.core import Outcome, Row, Samples, Settings, base_row, failure
from accelbench.measure.measurement import SamplingSpec, Timing, make_timer, sample
from accelbench.measure.sustain import sustain_case
from accelbench.numerics.checks import check_case
from accelbench.workloads import get_family

if TYPE_CHECKING:
    from accelbench.devices import Device
    from accelbench.workloads.base import Case, Prepared

__all__ = ["measure_case"]


def measure_case(case: Case, device: Device, settings: Settings, run_id: str) -> Outcome:
    """Prepare, warm up, sample and summarise one case; never raises for the case's faults."""
    row = base_row(case, device, run_id)
    row.update(cache_state=settings.cache, graph=settings.graph)
    if settings.sustain > 0:
        return sustain_case(case, device, settings, row)
    started = time.perf_counter()
    try:
        prepared = get_family(case.kernel).prepare(case, device)
        timer, batch = make_timer(device, prepared.fn, Timing.of(settings, prepared.host_timing),
                                  prepared.clone)
        with device.monitor() as monitor:
            measurement = sample(timer, batch, SamplingSpec.of(settings))
            device.synchronize()
    except Exception as exc:  # a fault of this case: record it, keep the run going
        return failure(row, exc)
    row.update(measurement.columns(prepared.flops, prepared.bytes))
    row.update(prepared.columns)
    row.update(monitor.columns())
    flags = monitor.flags(timer_intervals(timer, len(measurement.samples)))
    fingerprint = _checks(case, prepared, device, settings, row)
    del prepared, timer
    gc.collect()
    row["wall_s"] = time.perf_counter() - started
    samples: Samples = {"seconds": list(measurement.samples), "iters": measurement.k}
    if flags is not None:
        samples["throttled"] = flags
    if fingerprint is not None:
        samples["fingerprint"] = fingerprint
    return Outcome(row, samples)


def _checks(
    case: Case, prepared: Prepared, device: Device, settings: Settings, row: Row
) -> dict[str, Any] | None:
    """Numerical checks (:mod:`accelbench.numerics.checks`); a failing check marks the row."""
    if not settings.check:
        return None
    try:
        checked = check_case(case, prepared, device)
    except Exception as exc:  # a fault of this case's checks: record it
        row.update(status=Status.ERROR,
                   error=f"numerical check failed: {type(exc).__name__}: {exc}")
        return None
    row.update(checked.columns)
    if checked.mismatch:
        row.update(status=Status.MISMATCH, error=checked.mismatch)
    return checked.fingerprint
