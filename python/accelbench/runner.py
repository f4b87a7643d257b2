"""Running cases: prepare, sample with the Rust sampler, summarise, record.

:func:`measure_case` turns one :class:`~accelbench.workloads.Case` into a
result row and its raw samples; it never raises for a problem of the case
itself (unsupported dtype, out of memory, a failing kernel): those become the
row's ``status`` and ``error``. :class:`Runner` walks a list of cases, writes
each finished case to the run's event log before starting the next one, and
skips cases already recorded (``--resume``). By default each case runs in a
supervised worker process (:mod:`accelbench.isolation`), so a crash or hang
becomes that case's status.
"""

from __future__ import annotations

import gc
import math
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from accelbench import _core
from accelbench.backends.timers import timer_columns, timer_intervals
from accelbench.devices import Device, host_batch_timer
from accelbench.errors import UnsupportedError
from accelbench.results import RunDir
from accelbench.workloads import FAMILIES, get_family
from accelbench.workloads.base import Case

if TYPE_CHECKING:
    from accelbench.isolation import Executor

__all__ = ["Outcome", "Runner", "Settings", "base_row", "deaths_in_flight", "measure_case"]


#: Seconds allowed for preparing a case on top of its time budgets (default case timeout).
PREPARE_ALLOWANCE_S = 120.0


@dataclass(frozen=True)
class Settings:
    """Measurement settings of a run (suite defaults, overridden by CLI flags)."""

    warmup: float = 0.5
    max_case_time: float = 5.0
    target_rel_ci: float = 0.01
    min_samples: int = 10
    confidence: float = 0.95
    #: run cases in a supervised worker process (``--no-isolation`` turns it off)
    isolation: bool = True
    #: seconds a case may take before it is killed and recorded as ``timeout``
    case_timeout: float | None = None
    #: address space a worker may add after start-up, GiB (``--max-memory``)
    max_memory_gib: float | None = None
    #: ranks of a local collectives world (None: per device)
    world_size: int | None = None
    cache: str = "warm"  # warm | cold: flush the last-level cache before every launch
    graph: bool = False  # replay the launches from a captured device graph
    sustain: float = 0.0  # > 0: run each case continuously this long (sustain.py)
    check: bool = True  # numerical checks (reference, determinism, fingerprint)
    threads: int | None = None  # torch.set_num_threads for the run (None: torch's default)
    deterministic_algorithms: bool = False  # torch.use_deterministic_algorithms(True)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def effective_case_timeout(self) -> float:
        """``case_timeout`` or a default from the budgets: 2 x (warm-up + sampling) + 120 s.

        The sampler may overrun its budget by one sample, and preparing a case
        (building inputs on the host, first-call autotuning, a float64
        reference) is not in the budget: 120 s are allowed for it.
        """
        if self.case_timeout is not None:
            return self.case_timeout
        return 2.0 * (self.warmup + self.max_case_time) + PREPARE_ALLOWANCE_S


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
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or name == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError)
        and any(s in text for s in ("out of memory", "can't allocate memory",
                                    "cannot allocate memory"))
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
    if not (isinstance(median, float) and median > 0 and math.isfinite(median)):
        row["tflops"] = row["gbps"] = None
        return
    row["tflops"] = flops / median / 1e12 if flops else None
    row["gbps"] = nbytes / median / 1e9 if nbytes else None


def measure_case(case: Case, device: Device, settings: Settings, run_id: str) -> Outcome:
    """Prepare, warm up, sample and summarise one case; never raises for the case's faults."""
    row = base_row(case, device, run_id)
    row.update(cache_state=settings.cache, graph=settings.graph)
    if settings.sustain > 0:
        from accelbench.sustain import sustain_case

        return sustain_case(case, device, settings, row)
    started = time.perf_counter()
    try:
        family = get_family(case.kernel)
        prepared = family.prepare(case, device)
        timer: Callable[[], object] | Callable[[int], float]
        if prepared.extra.get("timing") == "host":  # the case asks for the host's view
            timer, batch = host_batch_timer(device, prepared.fn), True
            row["timing_method"] = "host-monotonic"
        else:
            timer, batch = device.timer(prepared.fn, cache=settings.cache, graph=settings.graph,
                                        clone=prepared.clone)
        with device.monitor() as monitor:
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
    n = len(result.samples)
    row.update(timer_columns(timer, n))
    row.update(monitor.columns())
    flags = monitor.flags(timer_intervals(timer, n))
    fingerprint = _checks(case, prepared, device, settings, row)
    del prepared, timer
    gc.collect()
    row["wall_s"] = time.perf_counter() - started
    samples: dict[str, Any] = {"seconds": list(result.samples), "iters": result.k}
    if flags is not None:
        samples["throttled"] = flags
    if fingerprint is not None:
        samples["fingerprint"] = fingerprint
    return Outcome(row, samples)


def _checks(
    case: Case, prepared: Any, device: Device, settings: Settings, row: dict[str, Any]
) -> dict[str, Any] | None:
    """Numerical checks (:mod:`accelbench.checks`); a failing check marks the row, never raises."""
    if not settings.check:
        return None
    from accelbench.checks import check_case

    try:
        checked = check_case(case, prepared, device, row)
    except Exception as exc:  # a fault of this case's checks: record it
        row.update(status="error", error=f"numerical check failed: {type(exc).__name__}: {exc}")
        return None
    row.update(checked.columns)
    if checked.mismatch:
        row.update(status="mismatch", error=checked.mismatch)
    return checked.fingerprint


ProgressHook = Callable[[str, Case, int, int, Outcome | None], None]


class Runner:
    """Runs cases one after the other, recording each as soon as it ends."""

    def __init__(
        self,
        device: Device,
        settings: Settings,
        run: RunDir,
        progress: ProgressHook | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.device = device
        self.settings = settings
        self.run_dir = run
        self.progress = progress
        self.executor = executor

    def run(self, cases: Sequence[Case]) -> list[dict[str, Any]]:
        """Run every case not yet recorded; return all rows of the run in case order.

        Resume rules: a case with a ``case`` event is done. A case that was in
        flight when an earlier attempt died (``case_start`` without ``case``)
        runs again, unless that happened in two attempts: then it is recorded
        as ``crash`` without running, so a case that takes the whole process
        down cannot block a resume forever. Ctrl-C stops the case in flight
        (logged as ``case_abort``, which does not count as a death) and
        re-raises after the worker is gone.
        """
        from accelbench.isolation import make_executor

        done = self.run_dir.case_events()
        deaths = deaths_in_flight(self.run_dir.events())
        todo = [c for c in cases if c.key not in done]
        total = len(cases)
        finished = total - len(todo)
        self.run_dir.append_event({"event": "start", "cases": total, "todo": len(todo)})
        # Families that measure cases themselves (collectives run in a world of
        # ranks, spawned from this process) get their cases as one group.
        delegated: dict[str, list[Case]] = {}

        def started(case: Case) -> None:
            if self.progress:
                self.progress("start", case, finished, total, None)
            self.run_dir.append_event({"event": "case_start", "key": case.key})

        def ended(case: Case, row: dict[str, Any], samples: dict[str, Any]) -> None:
            nonlocal finished
            self.run_dir.record_case(case.key, row, samples)
            finished += 1
            if self.progress:
                self.progress("end", case, finished, total, Outcome(row, samples))

        own: list[Case] = []
        for case in todo:
            if getattr(FAMILIES.get(case.kernel), "run_cases", None) is None:
                own.append(case)
            else:
                delegated.setdefault(case.kernel, []).append(case)
        executor = None
        try:
            for case in own:
                if executor is None:
                    executor = self.executor or make_executor(
                        self.device, self.settings, self.run_dir.run_id,
                        self.run_dir.path / "worker.log",
                    )
                if self.progress:
                    self.progress("start", case, finished, total, None)
                if deaths.get(case.key, 0) >= 2:
                    outcome = _killed_run_twice(case, self.device, self.run_dir.run_id)
                else:
                    self.run_dir.append_event({"event": "case_start", "key": case.key})
                    try:
                        outcome = executor.run(case)
                    except KeyboardInterrupt:
                        self.run_dir.append_event({"event": "case_abort", "key": case.key,
                                                   "reason": "interrupted"})
                        raise
                self.run_dir.record_case(case.key, outcome.row, outcome.samples)
                finished += 1
                if self.progress:
                    self.progress("end", case, finished, total, outcome)
        finally:
            if executor is not None:
                executor.close()
        for kernel, group in delegated.items():
            family: Any = FAMILIES[kernel]
            family.run_cases(group, self.device, self.settings, self.run_dir.run_id, started,
                             ended)
        self.run_dir.append_event({"event": "end"})
        rows = self.run_dir.case_events()
        return [rows[c.key]["row"] for c in cases if c.key in rows]


def deaths_in_flight(events: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Per case key, in how many attempts the process died while the case was running.

    Attempts begin with a ``start`` event; a ``case_start`` not followed by the
    case's ``case`` (or ``case_abort``) event before the attempt ended means the
    process died during that case.
    """
    deaths: dict[str, int] = {}
    open_keys: set[str] = set()

    def close_attempt() -> None:
        for key in open_keys:
            deaths[key] = deaths.get(key, 0) + 1
        open_keys.clear()

    for ev in events:
        kind, key = ev.get("event"), ev.get("key")
        if kind == "start":
            close_attempt()
        elif kind == "case_start" and isinstance(key, str):
            open_keys.add(key)
        elif kind in ("case", "case_abort") and isinstance(key, str):
            open_keys.discard(key)
    close_attempt()
    return deaths


def _killed_run_twice(case: Case, device: Device, run_id: str) -> Outcome:
    row = base_row(case, device, run_id)
    row.update(status="crash", error="the run died while this case was running, in two "
               "attempts; not run again")
    return Outcome(row, {})
