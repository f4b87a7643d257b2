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
    "ErrorMetrics",
    "Fingerprint",
    "InputError",
    "MannWhitney",
    "Outliers",
    "RoundsAnalysis",
    "SampleResult",
    "Summary",
    "__version__",
    "analyze",
    "analyze_rounds",
    "balanced_median",
    "bootstrap_ci",
    "bootstrap_ratio_ci",
    "clock_resolution",
    "compare",
    "compare_groups",
    "compare_log_var",
    "compare_samples",
    "compare_to_reference",
    "core_clock_hz",
    "drift",
    "excess_between_runs",
    "fingerprint",
    "loop_overhead",
    "mann_whitney_u",
    "median_ci",
    "outliers",
    "round_bits",
    "round_variances",
    "sample",
    "sample_positions",
    "summarize",
    "ulp_distance",
    "ulp_histogram_labels",
    "within_run_variances",
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
@final
class RoundsAnalysis:
    """A run measured in rounds: the pooled analysis, whose CI is the two-level
    bootstrap over rounds (few-rounds Student-t calibrated), and how the rounds agree."""

    analysis: Analysis
    round_medians: list[float]
    spread: float | None  # (max - min) / median of the round medians; None for one round

def analyze_rounds(
    rounds: Sequence[Samples], confidence: float = 0.95, *, resamples: int = 10_000,
    seed: int = 0,
) -> RoundsAnalysis: ...
def round_variances(
    round_medians: Sequence[Samples], drift_sd: float = 0.0, confidence: float = 0.95, *,
    drift_df: float = ...,
) -> list[float | None]:
    """Log-scale variance of each case's run median from its round medians, pooled over
    the cases (the larger of pooled and own), plus drift_sd**2 (estimated with drift_df
    degrees of freedom; default infinite: known), scaled by (t / z)**2 for the sum's
    Welch-Satterthwaite degrees of freedom; None for one round."""
def within_run_variances(round_medians: Sequence[Samples]) -> list[float | None]:
    """Each case's within-run log-scale variance of its run median (pooled, no drift, no
    scaling); None for one round."""
def excess_between_runs(run_medians: Sequence[Samples], within: Sequence[float]) -> float:
    """The machine's drift: log-scale sd of run medians beyond the within-run variance."""

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
def core_clock_hz(trial_s: float = 0.01, trials: int = 5) -> float | None: ...

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
    n_runs_a: int  # runs pooled on each side (1 for compare_samples)
    n_runs_b: int
    spread_a: float | None  # (max - min) / median of the run medians; None for one run
    spread_b: float | None

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

def compare_groups(
    a: Sequence[Samples],
    b: Sequence[Samples],
    *,
    threshold: float = 0.02,
    alpha: float = 0.05,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> Comparison:
    """Groups of runs (a sequence of sample sets per side): two-level bootstrap CI of
    the ratio of pooled medians (runs, then samples within runs, with replacement),
    Mann-Whitney on the pooled samples, the verdict rule of compare_samples.
    One run per side gives exactly compare_samples."""
def compare_log_var(
    a: Sequence[Samples],
    b: Sequence[Samples],
    var_a: float,
    var_b: float,
    *,
    usual_a: float | None = None,
    usual_b: float | None = None,
    threshold: float = 0.02,
    alpha: float = 0.05,
    confidence: float = 0.95,
) -> Comparison:
    """One run per side, each by round, with each median's log-scale variance known
    (round_variances): medians balanced over rounds (balanced_median), interval
    ratio * exp(+-z * sqrt(var_a + var_b)), widened to the hull over each side's usual
    median (its machine's history) when given; Mann-Whitney, the verdict rule."""
def balanced_median(rounds: Sequence[Samples]) -> float:
    """Median of a run's samples with every round weighing the same (a sample of round r
    weighs 1 / (R n_r)): a noisy round that sampled longer does not outvote quick ones."""

# ------------------------------------------------------------------ numerics
# Arrays are numpy arrays of the stated dtype, any shape, borrowed without a
# copy when C-contiguous; the work runs with the GIL released, in parallel.
# dtype: "fp64" | "fp32" | "fp16" | "bf16" (aliases float64, bfloat16, ...).
# fp16 arrays may be numpy.float16 or their bits as int16/uint16; bf16 arrays
# are always bits as int16/uint16 (torch: tensor.view(torch.int16).numpy()).
DTypeName = str  # "fp64" | "fp32" | "fp16" | "bf16" (or float64, bfloat16, ...)
Array = npt.NDArray[np.generic]

@final
class ErrorMetrics:
    """Error metrics of ``out`` against a reference, element by element.

    Pairs with exactly one NaN are NaN mismatches; pairs where an infinity is
    not matched by the same infinity (after rounding the reference to the
    output dtype) are Inf mismatches. Both are left out of the error and ULP
    statistics and counted in ``mismatches``. Finite pairs: abs/rel error
    against the unrounded reference (rel skips ref == 0), ULP distance against
    the reference rounded to the output dtype, outside the tolerance when
    ``|out - ref| > atol + rtol * |ref|``.

    Figures at every scale, over the finite pairs, from the same pass:
    ``cosine`` (cosine similarity; 1 for two zero vectors), ``rel_rmse``
    (RMS of the error / RMS of the reference), small values (``|ref| <
    small_threshold``, judged by absolute error against ``small_atol``) and
    ``ulp_frac``. Float sums are taken in a fixed order: bit-identical on
    every thread count and instruction set.
    """

    dtype: str
    n: int
    matched: int  # pairs whose NaN/Inf pattern agrees (the ULP statistics cover these)
    max_abs_err: float
    max_rel_err: float
    ulp_max: int
    ulp_mean: float
    ulp_hist: list[int]  # counts per bucket of ulp_histogram_labels()
    mismatches: int  # outside the tolerance, NaN/Inf mismatches included
    mismatch_frac: float  # mismatches / n
    nan_mismatch: int
    inf_mismatch: int
    bitwise_equal: int  # pairs with identical bits (reference rounded to the dtype)
    identical: bool  # bitwise_equal == n
    first_mismatch: int | None  # lowest flat index outside the tolerance
    rtol: float
    atol: float
    cosine: float  # sum(o*r) / (|o| |r|), clamped to [-1, 1]
    rel_rmse: float  # sqrt(sum((o - r)^2) / sum(r^2))
    ulp_threshold: int
    ulp_over: int  # matched pairs more than ulp_threshold ULP away
    ulp_frac: float  # (ulp_over + NaN/Inf mismatches) / n
    small_threshold: float
    small_atol: float
    small_elements: int  # finite pairs with |ref| < small_threshold
    small_max_abs_err: float  # largest |out - ref| over them (0 when none)
    small_mismatches: int  # of them, |out - ref| > small_atol
    large_mismatches: int  # finite pairs with |ref| >= small_threshold outside the tolerance

@final
class Fingerprint:
    """Hash of an array's bytes plus the elements at fixed positions."""

    dtype: str
    n: int
    hash: int  # 64-bit block-parallel xxHash64-style hash of the bytes
    positions: list[int]  # sample_positions(n, samples)
    bits: list[int]  # bits of the sampled elements
    values: list[float]  # the sampled elements, exactly, as float
    all_equal: bool  # every element has the bits of the first
    nan_count: int
    inf_count: int
    @property
    def hash_hex(self) -> str: ...

def compare_to_reference(
    out: Array,
    reference: npt.NDArray[np.float64],
    *,
    dtype: DTypeName,
    rtol: float,
    atol: float,
    small_threshold: float = 0.0,
    small_atol: float = 0.0,
    ulp_threshold: int = 0,
) -> ErrorMetrics:
    """``ulp_threshold``: 0, 1, 2 or a power of two up to 2**20."""

def compare(
    a: Array,
    b: Array,
    *,
    dtype: DTypeName,
    rtol: float = 0.0,
    atol: float = 0.0,
    small_threshold: float = 0.0,
    small_atol: float = 0.0,
    ulp_threshold: int = 0,
) -> ErrorMetrics:
    """Two arrays of one dtype and shape; ``b`` plays the reference. Bitwise: ``.identical``."""

def ulp_distance(a: Array, b: Array, *, dtype: DTypeName) -> npt.NDArray[np.uint64]:
    """Flattened element-wise ULP distances; 2**64-1 where exactly one side is NaN."""

def fingerprint(arr: Array, *, dtype: DTypeName, samples: int = 16) -> Fingerprint: ...
def sample_positions(n: int, samples: int = 16) -> list[int]:
    """``samples`` evenly spaced positions then ``samples`` SplitMix64 ones (seeded by n)."""

def ulp_histogram_labels() -> list[str]: ...
def round_bits(values: npt.NDArray[np.float64], *, dtype: DTypeName) -> npt.NDArray[np.uint64]:
    """float64 values rounded to ``dtype`` (nearest, ties to even), as bits."""
