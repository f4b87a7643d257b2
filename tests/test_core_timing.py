"""The native adaptive sampler (accelbench._core.sample) on known workloads."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

import pytest

from accelbench import _core as core


def busy_wait(seconds: float) -> Callable[[], None]:
    """A callable that spins on perf_counter for `seconds` (truth known to ~0.1 µs)."""
    perf_counter = time.perf_counter

    def spin() -> None:
        t0 = perf_counter()
        while perf_counter() - t0 < seconds:
            pass

    return spin


@pytest.mark.parametrize("truth", [50e-6, 2e-3])
def test_busy_wait_median_within_one_percent(truth: float) -> None:
    r = core.sample(busy_wait(truth), warmup_s=0.2, max_time_s=3.0)
    assert r.median_s == pytest.approx(truth, rel=0.01), r
    assert r.ci_low_s <= r.median_s <= r.ci_high_s
    assert len(r.samples) >= 10
    # Calibration: one sample (k iterations) lasts at least min_sample_s.
    assert r.k * truth >= 1e-3 * 0.99
    assert r.warmup_iters >= 1
    assert r.elapsed_s >= r.warmup_s >= 0.2


def test_batch_mode_with_fake_timer() -> None:
    seen: list[int] = []

    def fake(k: int) -> float:
        seen.append(k)
        return k * 3e-6

    r = core.sample(fake, batch=True)
    assert all(isinstance(k, int) and k >= 1 for k in seen)
    assert r.median_s == pytest.approx(3e-6, rel=1e-12)
    assert r.converged
    assert r.stop_reason == "converged"
    assert len(r.samples) == 10  # min_samples: zero spread converges at once
    assert r.rel_ci == pytest.approx(0.0, abs=1e-12)
    assert r.k * 3e-6 >= 1e-3
    assert all(isinstance(s, float) for s in r.samples)


def test_tiny_time_budget_stops_on_time_budget() -> None:
    r = core.sample(busy_wait(2e-3), warmup_s=0.01, max_time_s=0.01, min_samples=2,
                    target_rel_ci=0.0)
    assert r.stop_reason == "time_budget"
    assert not r.converged
    assert 2 <= len(r.samples) < 10


def test_min_samples_is_a_floor_under_a_tiny_time_budget() -> None:
    # 10 ms of budget holds ~5 samples of 2 ms: the default floor of 10 stretches it.
    r = core.sample(busy_wait(2e-3), warmup_s=0.01, max_time_s=0.01, target_rel_ci=0.0)
    assert r.stop_reason == "time_budget"
    assert len(r.samples) == 10


def test_max_samples_stop_reason() -> None:
    rng = random.Random(0)
    r = core.sample(
        lambda k: k * 1e-4 * (1 + 0.1 * rng.random()),
        batch=True,
        target_rel_ci=0.0,
        max_samples=15,
    )
    assert r.stop_reason == "max_samples"
    assert len(r.samples) == 15
    assert not r.converged


def test_single_sample_has_infinite_rel_ci() -> None:
    r = core.sample(lambda k: k * 1e-3, batch=True, min_samples=1, max_samples=1)
    assert len(r.samples) == 1
    assert math.isinf(r.rel_ci)
    assert not r.converged


class CustomError(Exception):
    pass


def test_raising_callable_propagates_its_exception() -> None:
    err = CustomError("kernel failed")

    def boom() -> None:
        raise err

    with pytest.raises(CustomError) as info:
        core.sample(boom)
    assert info.value is err


def test_exception_after_some_calls_propagates_unchanged() -> None:
    calls = 0

    def flaky(k: int) -> float:
        nonlocal calls
        calls += 1
        if calls > 20:
            raise KeyError("device lost")
        return k * 1e-4 * (1 + 0.01 * (calls % 5))

    with pytest.raises(KeyError, match="device lost"):
        core.sample(flaky, batch=True, target_rel_ci=0.0)


def test_batch_fn_returning_garbage() -> None:
    with pytest.raises(TypeError):
        core.sample(lambda k: "fast", batch=True)  # type: ignore[arg-type]
    with pytest.raises(core.InputError, match="finite, non-negative"):
        core.sample(lambda k: float("nan"), batch=True)


def test_bad_settings_raise_input_error() -> None:
    with pytest.raises(core.InputError, match="max_samples"):
        core.sample(lambda: None, min_samples=10, max_samples=5)
    with pytest.raises(core.InputError, match="max_time_s"):
        core.sample(lambda: None, max_time_s=0.0)
    with pytest.raises(core.InputError, match="confidence"):
        core.sample(lambda: None, confidence=1.0)
    with pytest.raises(core.InputError, match="min_samples"):
        core.sample(lambda: None, min_samples=-1)
    with pytest.raises(core.InputError, match="callable"):
        core.sample(42)  # type: ignore[arg-type]


def test_loop_overhead_positive_and_below_one_microsecond() -> None:
    overhead = core.loop_overhead(200_000)
    assert 0 < overhead < 1e-6


def test_clock_resolution_positive_and_fine() -> None:
    res = core.clock_resolution()
    assert 0 < res < 1e-5


def test_sample_result_repr() -> None:
    r = core.sample(lambda k: k * 1e-6, batch=True)
    assert "stop_reason='converged'" in repr(r)
    assert repr(r).startswith("SampleResult(median_s=")
