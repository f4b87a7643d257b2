"""Native A/B statistics: Mann-Whitney U against scipy, the verdict rule on known shifts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from accelbench import _core as core

RNG = np.random.default_rng(2024)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (RNG.lognormal(-9, 0.2, 50), RNG.lognormal(-9, 0.2, 70)),
        (RNG.lognormal(-9, 0.2, 300), RNG.lognormal(-8.9, 0.25, 200)),
        # heavy ties, as a coarse timer gives
        (RNG.integers(0, 6, 40).astype(float), RNG.integers(1, 7, 55).astype(float)),
        (np.round(RNG.normal(10, 1, 500), 1), np.round(RNG.normal(10.05, 1, 480), 1)),
        (np.array([1.0]), np.array([2.0, 3.0])),
        (np.array([5.0, 5.0, 5.0]), np.array([5.0, 5.0])),
    ],
)
def test_mann_whitney_matches_scipy_asymptotic(a: np.ndarray, b: np.ndarray) -> None:
    want = sps.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic")
    got = core.mann_whitney_u(a, b)
    assert got.u == pytest.approx(float(want.statistic), rel=1e-12, abs=1e-12)
    if np.isnan(want.pvalue):  # all values tied: scipy divides by zero, we report p = 1
        assert got.p_value == 1.0
    else:
        assert got.p_value == pytest.approx(float(want.pvalue), rel=1e-9, abs=1e-15)
    assert got.effect == pytest.approx(got.u / (len(a) * len(b)))


def test_mann_whitney_tiny_p_values_keep_relative_precision() -> None:
    a = np.linspace(1.0, 2.0, 400)
    b = np.linspace(1.9, 2.9, 400)
    want = sps.mannwhitneyu(a, b, method="asymptotic").pvalue
    got = core.mann_whitney_u(a, b).p_value
    assert want < 1e-100
    assert got == pytest.approx(want, rel=1e-9)


def test_compare_samples_finds_a_ten_percent_slowdown() -> None:
    a = RNG.lognormal(np.log(1e-3), 0.02, 200)
    b = RNG.lognormal(np.log(1.1e-3), 0.02, 200)
    c = core.compare_samples(a, b)
    assert c.verdict == "slower"
    assert c.ci_low > 1.02 and c.ci_low < 1.1 < c.ci_high
    assert c.ratio == pytest.approx(np.median(b) / np.median(a))
    assert c.median_a == np.median(a) and c.median_b == np.median(b)
    assert c.p_value < 1e-20
    back = core.compare_samples(b, a)
    assert back.verdict == "faster"


def test_compare_samples_same_distribution_is_no_change() -> None:
    flagged = 0
    for _ in range(40):
        a = RNG.lognormal(np.log(1e-3), 0.05, 100)
        b = RNG.lognormal(np.log(1e-3), 0.05, 100)
        flagged += core.compare_samples(a, b, resamples=2000).verdict != "no change"
    assert flagged == 0


def test_compare_samples_rejects_bad_arguments() -> None:
    with pytest.raises(core.InputError, match="threshold"):
        core.compare_samples([1.0], [1.0], threshold=-1)
    with pytest.raises(core.InputError, match="alpha"):
        core.compare_samples([1.0], [1.0], alpha=0)
    with pytest.raises(core.InputError, match="> 0"):
        core.compare_samples([0.0], [1.0])
    with pytest.raises(core.InputError):
        core.mann_whitney_u([], [1.0])
