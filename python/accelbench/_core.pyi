"""Typed stubs of the native module ``accelbench._core`` (Rust, pyo3, abi3).

All times are in seconds (float). Every function that takes samples accepts
a sequence of floats or a 1-D float64 numpy array; NaN/inf or an empty input
raise :class:`InputError`.
"""

from collections.abc import Callable, Sequence
from typing import Literal, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "AccelbenchError",
    "Analysis",
    "Comparison",
    "InputError",
    "MannWhitney",
    "Outliers",
    "SampleResult",
    "Summary",
    "__version__",
    "analyze",
    "bootstrap_ci",
    "bootstrap_ratio_ci",
    "clock_resolution",
    "compare_samples",
    "drift",
    "loop_overhead",
    "mann_whitney_u",
    "median_ci",
    "outliers",
    "sample",
    "summarize",
]

__version__: str

Samples = Sequence[float] | npt.NDArray[np.float64]

class AccelbenchError(Exception):
    """Base of every error raised by accelbench."""

class InputError(AccelbenchError):
    """Bad data given to a native function (empty, NaN/inf, bad argument)."""

# ---------------------------------------------------------------- statistics
@final
class Summary:
    """Robust summary of raw samples (quantiles: linear interpolation, numpy's default)."""

    n: int
    mean: float
    std: float  # sample standard deviation (ddof=1); 0.0 when n == 1
    min: float
    max: float
    median: float
    q1: float
    q3: float
    iqr: float
    p5: float
    p95: float
    p99: float
    cv: float  # std / mean

@final
class Outliers:
    """Tukey fences: mild outside 1.5 IQR of the quartiles, severe outside 3 IQR."""

    low_severe: int
    low_mild: int
    high_mild: int
    high_severe: int
    fraction: float  # (all four counts) / n

@final
class Analysis:
    """Everything the result table needs from one sample set."""

    summary: Summary
    ci_low: float  # confidence interval of the median (exact order statistics)
    ci_high: float
    rel_ci: float  # max(median - ci_low, ci_high - median) / median
    outliers: Outliers
    drift: float  # (median of last third - median of first third) / median

def summarize(samples: Samples) -> Summary: ...
def median_ci(samples: Samples, confidence: float = 0.95) -> tuple[float, float]: ...
def bootstrap_ci(
    samples: Samples,
    *,
    statistic: Literal["median", "mean"] = "median",
    resamples: int = 100_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]: ...
def bootstrap_ratio_ci(
    a: Samples,
    b: Samples,
    *,
    statistic: Literal["median", "mean"] = "median",
    resamples: int = 100_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap CI of statistic(b) / statistic(a); every value of a must be > 0."""

def outliers(samples: Samples) -> Outliers: ...
def drift(samples: Samples) -> float: ...
def analyze(samples: Samples, confidence: float = 0.95) -> Analysis: ...

# -------------------------------------------------------------------- timing
@final
class SampleResult:
    """Raw samples and the sampler's verdict for one case."""

    samples: list[float]  # seconds per iteration, one value per sample (batch time / k)
    k: int  # iterations per sample, chosen by calibration
    converged: bool  # rel_ci <= target_rel_ci with at least min_samples samples
    stop_reason: Literal["converged", "time_budget", "max_samples"]
    median_s: float
    ci_low_s: float  # -inf when fewer than 2 samples
    ci_high_s: float  # +inf when fewer than 2 samples
    rel_ci: float  # inf when fewer than 2 samples
    warmup_s: float  # wall time spent warming up
    warmup_iters: int
    elapsed_s: float  # wall time of warm-up + sampling

def sample(
    fn: Callable[[], object] | Callable[[int], float],
    *,
    batch: bool = False,
    warmup_s: float = 0.5,
    max_time_s: float = 5.0,
    target_rel_ci: float = 0.01,
    min_samples: int = 10,
    max_samples: int = 100_000,
    min_sample_s: float = 1e-3,
    confidence: float = 0.95,
) -> SampleResult: ...
def clock_resolution() -> float: ...
def loop_overhead(iterations: int = 1_000_000) -> float: ...

# ----------------------------------------------------------------- A/B tests
@final
class MannWhitney:
    """Two-sided Mann-Whitney U test (normal approximation, tie and continuity corrected)."""

    u: float  # U of the first sample: pairs with a_i > b_j, ties counting one half
    z: float  # (U - n1 n2 / 2) / sigma, positive when the first sample tends larger
    p_value: float  # as scipy.stats.mannwhitneyu(a, b, method="asymptotic")
    effect: float  # U / (n1 n2): P(a_i > b_j) + P(a_i == b_j) / 2

@final
class Comparison:
    """Candidate b against baseline a (times): ratio of medians, its CI, rank test, verdict."""

    median_a: float
    median_b: float
    ratio: float  # median_b / median_a; > 1 means b is slower
    ci_low: float  # percentile-bootstrap CI of the ratio
    ci_high: float
    p_value: float  # two-sided Mann-Whitney U
    effect: float  # P(b_j > a_i): 0.5 when there is no shift
    verdict: Literal["faster", "slower", "no change"]

def mann_whitney_u(a: Samples, b: Samples) -> MannWhitney: ...
def compare_samples(
    a: Samples,
    b: Samples,
    *,
    threshold: float = 0.02,
    alpha: float = 0.05,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> Comparison:
    """Verdict: slower when ci_low > 1 + threshold and p < alpha;
    faster when ci_high < 1 / (1 + threshold) and p < alpha; else no change."""
