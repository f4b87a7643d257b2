"""Native statistics (accelbench._core) against numpy/scipy on fixed data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from accelbench import _core as core

RNG_DATA = np.random.default_rng(12345).lognormal(mean=-9.0, sigma=0.3, size=2001)


def test_summary_matches_numpy() -> None:
    x = RNG_DATA
    s = core.summarize(x)
    assert s.n == x.size
    assert s.mean == pytest.approx(np.mean(x), rel=1e-12)
    assert s.std == pytest.approx(np.std(x, ddof=1), rel=1e-12)
    assert s.min == x.min()
    assert s.max == x.max()
    qs = np.percentile(x, [5, 25, 50, 75, 95, 99])  # linear interpolation (type 7)
    got = [s.p5, s.q1, s.median, s.q3, s.p95, s.p99]
    np.testing.assert_allclose(got, qs, rtol=1e-14)
    assert s.iqr == pytest.approx(qs[3] - qs[1], rel=1e-12)
    assert s.cv == pytest.approx(np.std(x, ddof=1) / np.mean(x), rel=1e-12)


def test_sequence_and_strided_array_inputs_agree() -> None:
    x = RNG_DATA[:300]
    strided = RNG_DATA[:600:2]
    assert not strided.flags.c_contiguous
    assert core.summarize(list(x)).median == core.summarize(x).median
    assert core.summarize(strided).median == np.median(strided)
    assert core.summarize(x.astype(np.float32)).n == 300


def test_outliers_counted_by_hand() -> None:
    # q1 = 4.75, q3 = 16.25, iqr = 11.5: mild fences (-12.5, 33.5), severe
    # fences (-29.75, 50.75), so -40 is low severe, -20 low mild, 40 high
    # mild and 60 high severe.
    x = [*range(1, 21), 40.0, 60.0, -20.0, -40.0]
    q1, q3 = np.percentile(x, [25, 75])
    iqr = q3 - q1
    arr = np.asarray(x, dtype=float)
    expected = (
        int(np.sum(arr < q1 - 3 * iqr)),
        int(np.sum((arr >= q1 - 3 * iqr) & (arr < q1 - 1.5 * iqr))),
        int(np.sum((arr > q3 + 1.5 * iqr) & (arr <= q3 + 3 * iqr))),
        int(np.sum(arr > q3 + 3 * iqr)),
    )
    o = core.outliers(x)
    assert (o.low_severe, o.low_mild, o.high_mild, o.high_severe) == expected
    assert expected == (1, 1, 1, 1)
    assert o.fraction == pytest.approx(4 / len(x))


def _scipy_median_ci_ranks(n: int, confidence: float) -> tuple[int, int] | None:
    """0-based (lo, hi): lo is the largest k with P(Binom(n, 1/2) <= k) <= alpha/2."""
    half_alpha = (1 - confidence) / 2
    cdf = sps.binom.cdf(np.arange(n), n, 0.5)
    ok = np.nonzero(cdf <= half_alpha)[0]
    if ok.size == 0:
        return None
    lo = int(ok[-1])
    return lo, n - 1 - lo


@pytest.mark.parametrize("n", [6, 7, 10, 25, 100, 101, 1000, 2001])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_median_ci_uses_exact_binomial_ranks(n: int, confidence: float) -> None:
    x = np.sort(RNG_DATA[:n])
    ranks = _scipy_median_ci_ranks(n, confidence)
    if ranks is None:
        assert core.median_ci(x, confidence) == (x[0], x[-1])
        return
    lo, hi = ranks
    assert core.median_ci(x, confidence) == (x[lo], x[hi])
    # Coverage reaches the confidence, and the next narrower pair does not.
    coverage = 1 - 2 * sps.binom.cdf(lo, n, 0.5)
    assert coverage >= confidence
    assert 1 - 2 * sps.binom.cdf(lo + 1, n, 0.5) < confidence


def test_median_ci_small_n_falls_back_to_min_max() -> None:
    assert core.median_ci([3.0, 1.0, 2.0, 5.0, 4.0]) == (1.0, 5.0)


def test_analyze_rel_ci_and_drift() -> None:
    x = RNG_DATA
    a = core.analyze(x)
    med = np.median(x)
    assert (a.ci_low, a.ci_high) == core.median_ci(x)
    assert a.rel_ci == pytest.approx(max(med - a.ci_low, a.ci_high - med) / med)
    m = x.size // 3
    assert a.drift == pytest.approx((np.median(x[-m:]) - np.median(x[:m])) / med)
    assert a.drift == core.drift(x)
    assert a.summary.median == med
    assert a.outliers.fraction == core.outliers(x).fraction


def test_bootstrap_close_to_scipy_percentile() -> None:
    x = RNG_DATA[:1000]
    ours = core.bootstrap_ci(x, resamples=2000, seed=1)
    ref = sps.bootstrap(
        (x,), np.median, method="percentile", n_resamples=2000, random_state=1
    ).confidence_interval
    width = ref.high - ref.low
    # Two independent Monte-Carlo estimates of the same interval.
    assert abs(ours[0] - ref.low) < 0.15 * width
    assert abs(ours[1] - ref.high) < 0.15 * width
    mean_ci = core.bootstrap_ci(x, statistic="mean", resamples=2000, seed=1)
    ref_mean = sps.bootstrap(
        (x,), np.mean, method="percentile", n_resamples=2000, random_state=1
    ).confidence_interval
    assert mean_ci[0] == pytest.approx(ref_mean.low, abs=0.15 * (ref_mean.high - ref_mean.low))
    assert mean_ci[1] == pytest.approx(ref_mean.high, abs=0.15 * (ref_mean.high - ref_mean.low))


def test_bootstrap_is_deterministic_by_seed() -> None:
    x = RNG_DATA[:500]
    a = core.bootstrap_ci(x, resamples=1000, seed=42)
    assert a == core.bootstrap_ci(x, resamples=1000, seed=42)
    assert a != core.bootstrap_ci(x, resamples=1000, seed=43)


def test_bootstrap_ratio_brackets_true_ratio() -> None:
    a = RNG_DATA[:800]
    b = RNG_DATA[800:1600] * 1.25
    lo, hi = core.bootstrap_ratio_ci(a, b, resamples=2000, seed=3)
    true_ratio = np.median(b) / np.median(a)
    assert lo < true_ratio < hi
    assert core.bootstrap_ratio_ci(a, b, resamples=500, seed=3) == core.bootstrap_ratio_ci(
        a, b, resamples=500, seed=3
    )
    with pytest.raises(core.InputError, match="must be > 0"):
        core.bootstrap_ratio_ci([0.0, 1.0], b)


def test_single_sample() -> None:
    s = core.summarize([2.5])
    assert (s.n, s.std, s.cv, s.median, s.iqr) == (1, 0.0, 0.0, 2.5, 0.0)
    assert core.median_ci([2.5]) == (2.5, 2.5)
    assert core.bootstrap_ci([2.5], resamples=10) == (2.5, 2.5)
    assert core.drift([2.5]) == 0.0


def test_all_equal_samples_have_zero_width_ci() -> None:
    a = core.analyze([1e-3] * 100)
    assert a.ci_low == a.ci_high == 1e-3
    assert a.rel_ci == 0.0
    assert a.summary.cv == 0.0
    assert a.summary.std == 0.0
    assert a.outliers.fraction == 0.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -math.inf])
def test_non_finite_input_raises_input_error(bad: float) -> None:
    with pytest.raises(core.InputError, match=r"sample 2 is NaN or infinite"):
        core.summarize([1.0, 2.0, bad])
    with pytest.raises(core.InputError):
        core.analyze(np.array([bad]))


@pytest.mark.parametrize(
    "fn",
    [core.summarize, core.median_ci, core.bootstrap_ci, core.outliers, core.drift, core.analyze],
)
def test_empty_input_raises_input_error(fn: object) -> None:
    with pytest.raises(core.InputError, match="no samples"):
        fn([])  # type: ignore[operator]
    with pytest.raises(core.InputError):
        fn(np.array([], dtype=np.float64))  # type: ignore[operator]


def test_bad_arguments_raise_input_error() -> None:
    with pytest.raises(core.InputError, match="confidence"):
        core.median_ci([1.0, 2.0], confidence=1.5)
    with pytest.raises(core.InputError, match="statistic"):
        core.bootstrap_ci([1.0], statistic="mode")  # type: ignore[arg-type]
    with pytest.raises(core.InputError, match="resamples"):
        core.bootstrap_ci([1.0], resamples=-1)
    with pytest.raises(core.InputError, match="1-D"):
        core.summarize(np.ones((2, 2)))
    with pytest.raises(core.InputError):
        core.summarize("123")  # type: ignore[arg-type]


def test_exception_hierarchy() -> None:
    assert issubclass(core.InputError, core.AccelbenchError)
    assert issubclass(core.AccelbenchError, Exception)


def test_reprs_are_helpful() -> None:
    a = core.analyze(RNG_DATA[:100])
    assert repr(a).startswith("Analysis(median=")
    assert "n=100" in repr(a.summary)
    assert "fraction=" in repr(a.outliers)
