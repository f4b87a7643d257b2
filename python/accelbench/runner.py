"""Running cases: prepare, sample with the Rust sampler, summarise, record.

:func:`measure_case` turns one :class:`~accelbench.workloads.Case` into a
result row and its raw samples; it never raises for a problem of the case
itself (unsupported dtype, out of memory, a failing kernel): those become the
row's ``status`` and ``error``. :class:`Runner` walks a list of cases, writes
each finished case to the run's event log before starting the next one, and
skips cases already recorded (``--resume``).
"""

from __future__ import annotations

import gc
import math
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from accelbench import _core
from accelbench.devices import Device, host_batch_timer
from accelbench.errors import UnsupportedError
from accelbench.results import RunDir
from accelbench.workloads import get_family
from accelbench.workloads.base import Case

__all__ = ["Outcome", "Runner", "Settings", "base_row", "measure_case"]


@dataclass(frozen=True)
class Settings:
    """Measurement settings of a run (suite defaults, overridden by CLI flags)."""

    warmup: float = 0.5
    max_case_time: float = 5.0
    target_rel_ci: float = 0.01
    min_samples: int = 10
    confidence: float = 0.95

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Outcome:
    """One finished case: its result row and raw samples."""

    row: dict[str, Any]
    samples: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.row["status"])


def base_row(case: Case, device: Device, run_id: str) -> dict[str, Any]:
    """Identity columns of a case's row (filled before anything can fail)."""
    return {
        "run_id": run_id,
        "device": device.spec,
        "device_name": device.name,
        "backend": device.backend,
        "kernel": case.kernel,
        "case": case.case,
        "params": case.params_text,
        "dtype": case.dtype,
        "model": case.model,
        "timing_method": device.timing_method,
    }


def _is_oom(exc: BaseException) -> bool:
    name = type(exc).__name__
    return isinstance(exc, MemoryError) or name == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def _failure(row: dict[str, Any], exc: BaseException) -> Outcome:
    if isinstance(exc, UnsupportedError):
        row.update(status="unsupported", error=str(exc))
    elif _is_oom(exc):
        row.update(status="error", error=f"out of memory: {str(exc).splitlines()[0][:300]}")
    else:
        where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
        loc = f" (at {where[0].filename.rsplit('/', 1)[-1]}:{where[0].lineno})" if where else ""
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        row.update(status="error", error=f"{type(exc).__name__}: {first}{loc}")
    return Outcome(row, {})


def _throughput(row: dict[str, Any], flops: float | None, nbytes: float | None) -> None:
    median = row.get("median_s")
    row["flops"] = flops
    row["bytes"] = nbytes
    ok = isinstance(median, float) and median > 0 and math.isfinite(median)
    row["tflops"] = flops / median / 1e12 if ok and flops else None
    row["gbps"] = nbytes / median / 1e9 if ok and nbytes else None


def measure_case(case: Case, device: Device, settings: Settings, run_id: str) -> Outcome:
    """Prepare, warm up, sample and summarise one case; never raises for the case's faults."""
    row = base_row(case, device, run_id)
    started = time.perf_counter()
    try:
        family = get_family(case.kernel)
        prepared = family.prepare(case, device)
        timer: Callable[[], object] | Callable[[int], float]
        if prepared.extra.get("timing") == "host":  # the case asks for the host's view
            timer, batch = host_batch_timer(device, prepared.fn), True
            row["timing_method"] = "host-monotonic"
        else:
            timer, batch = device.timer(prepared.fn)
        result = _core.sample(
            timer,
            batch=batch,
            warmup_s=settings.warmup,
            max_time_s=settings.max_case_time,
            target_rel_ci=settings.target_rel_ci,
            min_samples=settings.min_samples,
            confidence=settings.confidence,
        )
        device.synchronize()
    except Exception as exc:  # a fault of this case: record it, keep the run going
        return _failure(row, exc)
    analysis = _core.analyze(result.samples, settings.confidence)
    s = analysis.summary
    row.update(
        status="ok",
        n_samples=len(result.samples),
        iters_per_sample=result.k,
        converged=result.converged,
        stop_reason=result.stop_reason,
        median_s=s.median,
        ci_low_s=analysis.ci_low,
        ci_high_s=analysis.ci_high,
        rel_ci=analysis.rel_ci,
        mean_s=s.mean,
        std_s=s.std,
        min_s=s.min,
        p95_s=s.p95,
        p99_s=s.p99,
        iqr_s=s.iqr,
        cv=s.cv,
        outlier_frac=analysis.outliers.fraction,
        drift=analysis.drift,
        warmup_s=result.warmup_s,
    )
    _throughput(row, prepared.flops, prepared.bytes)
    del prepared
    gc.collect()
    row["wall_s"] = time.perf_counter() - started
    return Outcome(row, {"seconds": list(result.samples), "iters": result.k})


ProgressHook = Callable[[str, Case, int, int, Outcome | None], None]


class Runner:
    """Runs cases one after the other, recording each as soon as it ends."""

    def __init__(
        self,
        device: Device,
        settings: Settings,
        run: RunDir,
        progress: ProgressHook | None = None,
    ) -> None:
        self.device = device
        self.settings = settings
        self.run_dir = run
        self.progress = progress

    def run(self, cases: Sequence[Case]) -> list[dict[str, Any]]:
        """Run every case not yet recorded; return all rows of the run in case order."""
        done = self.run_dir.case_events()
        todo = [c for c in cases if c.key not in done]
        total = len(cases)
        finished = total - len(todo)
        self.run_dir.append_event({"event": "start", "cases": total, "todo": len(todo)})
        for case in todo:
            if self.progress:
                self.progress("start", case, finished, total, None)
            self.run_dir.append_event({"event": "case_start", "key": case.key})
            outcome = measure_case(case, self.device, self.settings, self.run_dir.run_id)
            self.run_dir.record_case(case.key, outcome.row, outcome.samples)
            finished += 1
            if self.progress:
                self.progress("end", case, finished, total, outcome)
        self.run_dir.append_event({"event": "end"})
        rows = self.run_dir.case_events()
        return [rows[c.key]["row"] for c in cases if c.key in rows]
