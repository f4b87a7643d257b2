"""The measurement step, written once: pick the timer, drive the sampler, summarise.

Every path that times a kernel goes through here: the runner
(:func:`accelbench.measure.case.measure_case`), sustained runs
(:mod:`accelbench.measure.sustain`), the ranks of a collective
(:mod:`accelbench.distributed.rank`) and the pytest fixture
(:mod:`accelbench.pytest_plugin`). So they honour the same options:

* :class:`Timing` says how launches are timed: the run's ``--cache`` and
  ``--graph`` and the case's own wish for the host's view
  (``Prepared.host_timing``); :func:`make_timer` turns it into a timer.
* :class:`SamplingSpec` is the frozen sampling budget (warm-up, time budget,
  target CI, minimum samples, confidence); :func:`sample` runs the Rust
  adaptive sampler with it.
* :class:`Measurement` holds the raw samples (seconds per launch) and
  computes the summary columns once, lazily, in the spirit of
  ``torch.utils.benchmark``'s frozen spec and lazy measurement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from accelbench import _core
from accelbench.devices.timers import HostSyncTimer, timer_columns
from accelbench.kinds import CacheState, CIMethod, Status, StopReason, TimingMethod
from accelbench.measure.core import Row, Settings, throughput

if TYPE_CHECKING:
    from accelbench.devices import Device

__all__ = [
    "MIN_EXACT_SAMPLES",
    "Measurement",
    "SamplingSpec",
    "Timer",
    "Timing",
    "as_batch",
    "make_timer",
    "sample",
    "statistics_columns",
]

#: Fewest samples whose order statistics give a 95% interval of the median;
#: below it the interval is (min, max), with less coverage (75% at 3 samples).
MIN_EXACT_SAMPLES = 6

Kernel = Callable[[], object]
#: What the sampler drives: a plain kernel (the Rust loop times it) or a batch function.
Timer = Kernel | Callable[[int], float]


@dataclass(frozen=True)
class Timing:
    """How launches are timed: cache state, graph replay, or the host's view."""

    cache: CacheState = CacheState.WARM
    graph: bool = False
    host: bool = False  # synchronised host clock around k launches (ignores cache and graph)

    @classmethod
    def of(cls, settings: Settings, host: bool = False) -> Timing:
        return cls(settings.cache, settings.graph, host)


@dataclass(frozen=True)
class SamplingSpec:
    """The sampler's budget for one case (frozen: the same for every rank and round)."""

    warmup_s: float = 0.5
    max_time_s: float = 5.0
    target_rel_ci: float = 0.01
    min_samples: int = 10
    confidence: float = 0.95

    @classmethod
    def of(cls, settings: Settings) -> SamplingSpec:
        return cls(settings.warmup, settings.max_case_time, settings.target_rel_ci,
                   settings.min_samples, settings.confidence)


def make_timer(device: Device, fn: Kernel, timing: Timing,
               clone: Callable[[], Kernel] | None = None) -> tuple[Timer, bool]:
    """What the sampler should drive for ``fn`` on ``device``, and whether it is a batch timer."""
    if timing.host:
        return HostSyncTimer(fn, device.synchronize, method=TimingMethod.HOST_MONOTONIC), True
    return device.timer(fn, cache=timing.cache, graph=timing.graph, clone=clone)


def as_batch(timer: Timer, batch: bool) -> Callable[[int], float]:
    """A batch function (k launches -> seconds) for any timer: plain kernels get the host loop."""
    if batch:
        return timer  # type: ignore[return-value]  # a batch function by the caller's word
    return HostSyncTimer(timer, method=TimingMethod.HOST_MONOTONIC)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Measurement:
    """Raw samples of one case (seconds per launch) and how they were taken."""

    samples: Sequence[float]
    k: int  # launches per sample
    converged: bool
    stop_reason: StopReason
    warmup_s: float
    confidence: float = 0.95
    timer_cols: Row = field(default_factory=dict)

    @classmethod
    def of(cls, result: _core.SampleResult, spec: SamplingSpec, timer: object) -> Measurement:
        n = len(result.samples)
        return cls(list(result.samples), result.k, result.converged,
                   StopReason(result.stop_reason), result.warmup_s, spec.confidence,
                   timer_columns(timer, n))

    @cached_property
    def analysis(self) -> _core.Analysis:
        return _core.analyze(list(self.samples), self.confidence)

    @property
    def median_s(self) -> float:
        return float(self.analysis.summary.median)

    def columns(self, flops: float | None = None, nbytes: float | None = None) -> Row:
        """The summary columns of an ``ok`` row: statistics, throughput, timer columns."""
        n = len(self.samples)
        row: Row = {
            "status": Status.OK, "n_samples": n, "iters_per_sample": self.k,
            "converged": self.converged, "stop_reason": self.stop_reason,
            "rounds": 1, "round_spread": None,
            "ci_method": CIMethod.ORDER_STATISTICS if n >= MIN_EXACT_SAMPLES else CIMethod.MIN_MAX,
            "warmup_s": self.warmup_s,
        }
        row.update(statistics_columns(self.analysis))
        row.update(throughput(row["median_s"], flops, nbytes))
        row.update(self.timer_cols)
        return row


def statistics_columns(a: _core.Analysis) -> Row:
    """The columns that describe a sample distribution: median and its CI, spread, shape."""
    s = a.summary
    return {
        "median_s": s.median, "ci_low_s": a.ci_low, "ci_high_s": a.ci_high,
        "rel_ci": a.rel_ci, "mean_s": s.mean, "std_s": s.std, "min_s": s.min,
        "p95_s": s.p95, "p99_s": s.p99, "iqr_s": s.iqr, "cv": s.cv,
        "outlier_frac": a.outliers.fraction, "drift": a.drift,
    }


def sample(timer: Timer, batch: bool, spec: SamplingSpec) -> Measurement:
    """Warm up, calibrate and sample ``timer`` with the Rust adaptive sampler."""
    result = _core.sample(
        timer, batch=batch, warmup_s=spec.warmup_s, max_time_s=spec.max_time_s,
        target_rel_ci=spec.target_rel_ci, min_samples=spec.min_samples,
        confidence=spec.confidence,
    )
    return Measurement.of(result, spec, timer)
