"""The vocabulary of measuring: settings, the outcome of a case, and the rows it fills.

Everything that measures (the runner, sustained runs, the collective ranks,
the pytest fixture) builds its result row from these helpers, so a column is
filled in one place: :func:`base_row` (identity, filled before anything can
fail), :func:`failure` (a case's fault as status and one-line reason),
:func:`throughput` (TFLOP/s and GB/s from the median). This module imports
no torch and no device code.
"""

from __future__ import annotations

import math
import traceback
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from accelbench.errors import CompileError, UnsupportedError, UsageError
from accelbench.kinds import CacheState, Status

if TYPE_CHECKING:
    from accelbench.devices import Device
    from accelbench.workloads.base import Case

__all__ = [
    "PREPARE_ALLOWANCE_S",
    "Outcome",
    "Row",
    "Samples",
    "Settings",
    "base_row",
    "failure",
    "failure_row",
    "is_oom",
    "is_unsupported",
    "throughput",
]

#: Seconds allowed for preparing a case on top of its time budgets (default case timeout).
PREPARE_ALLOWANCE_S = 120.0

Row = dict[str, Any]
Samples = dict[str, Any]


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
    #: warm, or cold: flush the last-level cache before every launch
    cache: CacheState = CacheState.WARM
    graph: bool = False  # replay the launches from a captured device graph
    sustain: float = 0.0  # > 0: run each case continuously this long (measure.sustain)
    check: bool = True  # numerical checks (reference, determinism, fingerprint)
    threads: int | None = None  # torch.set_num_threads for the run (None: torch's default)
    deterministic_algorithms: bool = False  # torch.use_deterministic_algorithms(True)
    #: rounds per case, each in a fresh worker and a shuffled case order (the CLI suites: 3)
    rounds: int = 1
    #: the machine's run-to-run drift, a log-scale standard deviation added to every
    #: interval of a run in rounds (``accelbench calibrate`` measures it; 0: unmeasured)
    drift_sd: float = 0.0
    #: runs of the machine's history the drift was estimated from (0: given, taken as known);
    #: a drift from few runs widens the intervals by Student's t (``results.pooled``)
    drift_runs: int = 0
    #: collectives: data checks after timing, each on fresh inputs (nccl-tests' -c)
    check_repeats: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.cache, CacheState):
            try:
                object.__setattr__(self, "cache", CacheState(self.cache))
            except ValueError:
                raise UsageError(f"unknown cache state {self.cache!r}: choose "
                                 f"{' or '.join(CacheState.values())}") from None

    def as_dict(self) -> dict[str, Any]:
        """Plain values (JSON), e.g. for ``meta.json``."""
        out = asdict(self)
        out["cache"] = self.cache.value
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Settings:
        """Settings from :meth:`as_dict` output; keys of a newer version are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

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

    row: Row
    samples: Samples

    @property
    def status(self) -> Status:
        return Status(self.row["status"])


def base_row(case: Case, device: Device, run_id: str) -> Row:
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


def is_oom(exc: BaseException) -> bool:
    """An allocation refused by the device, the host or ``--max-memory``."""
    name = type(exc).__name__
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or name == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError)
        and any(s in text for s in ("out of memory", "can't allocate memory",
                                    "cannot allocate memory"))
    )


def is_unsupported(exc: BaseException) -> bool:
    """The backend has no kernel for this (operator, dtype): ``NotImplementedError``,
    :class:`~accelbench.errors.UnsupportedError`, or PyTorch's messages
    ``"... not implemented for 'BFloat16'"`` and ``"... is only supported on CUDA ..."``."""
    text = str(exc)
    return isinstance(exc, NotImplementedError | UnsupportedError) or (
        "not implemented for" in text or "is only supported on" in text)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else ""


def failure(row: Row, exc: BaseException) -> Outcome:
    """``row`` marked with the case's fault: unsupported, compile error, out of memory, or an
    error and where."""
    if isinstance(exc, UnsupportedError):
        row.update(status=Status.UNSUPPORTED, error=str(exc))
    elif isinstance(exc, CompileError):  # the compiler's reason, from the family
        row.update(status=Status.COMPILE_ERROR, error=str(exc))
    elif is_unsupported(exc):  # the backend has no kernel: its reason
        row.update(status=Status.UNSUPPORTED, error=_first_line(exc) or "not implemented")
    elif is_oom(exc):
        row.update(status=Status.ERROR, error=f"out of memory: {_first_line(exc)}")
    else:
        where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
        loc = f" (at {where[0].filename.rsplit('/', 1)[-1]}:{where[0].lineno})" if where else ""
        row.update(status=Status.ERROR, error=f"{type(exc).__name__}: {_first_line(exc)}{loc}")
    return Outcome(row, {})


def failure_row(case: Case, device: Device, run_id: str, status: Status, error: str,
                **extra: Any) -> Outcome:
    """An outcome without samples for a case that did not run to the end."""
    row = base_row(case, device, run_id)
    row.update(status=status, error=error, **extra)
    return Outcome(row, {})


def throughput(median_s: object, flops: float | None, nbytes: float | None) -> Row:
    """``flops``, ``bytes``, ``tflops`` and ``gbps`` columns from the median time per launch."""
    ok = isinstance(median_s, float) and median_s > 0 and math.isfinite(median_s)
    median = float(median_s) if ok else 0.0  # type: ignore[arg-type]
    return {
        "flops": flops,
        "bytes": nbytes,
        "tflops": flops / median / 1e12 if ok and flops else None,
        "gbps": nbytes / median / 1e9 if ok and nbytes else None,
    }
