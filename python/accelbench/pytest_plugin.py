"""pytest-benchmark integration: the ``accel_benchmark`` fixture (a ``pytest11`` plugin).

pytest-benchmark times a callable with a host clock around a loop. On an
accelerator that measures how fast kernels are *queued*, not run (the
launches return before the device is done). ``accel_benchmark`` times the
kernel the accelbench way instead: :meth:`accelbench.devices.Device.timer`
(device events around k launches and one synchronisation per sample on
accelerators, the host monotonic clock on the CPU) driven by the Rust
adaptive sampler (warm-up, calibration of k, samples until the 95% CI of the
median is within the target). The samples, seconds per launch, are then
handed to pytest-benchmark's own statistics (one round per sample,
``iterations`` = k), so ``--benchmark-autosave``, ``--benchmark-json``,
``--benchmark-compare`` and ``pytest-benchmark compare`` work unchanged.
TFLOP/s, GB/s, the exact CI of the median and convergence go into
``extra_info``.

Usage::

    def test_gemm(accel_benchmark):
        a = torch.randn(1024, 1024, device=accel_benchmark.device.torch_device)
        accel_benchmark(lambda: a @ a, flops=2 * 1024**3)

    def test_catalog_case(accel_benchmark, case):   # a Case from a suite
        accel_benchmark.case(case)

Options: ``--accel-device`` (default ``$ACCELBENCH_DEVICE`` or ``auto``),
``--accel-max-time`` (sampling budget per test, seconds, default 1),
``--accel-warmup`` (seconds, default 0.2), ``--accel-target-rel-ci`` (0.01).

The module imports neither torch nor pytest-benchmark at import time, so
loading the plugin costs nothing in test runs that do not use the fixture;
pytest-benchmark's fixture is only requested when ``accel_benchmark`` is.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from accelbench._core import SampleResult
    from accelbench.devices import Device
    from accelbench.workloads.base import Case

__all__ = ["AccelBenchmark", "accel_benchmark", "pytest_addoption"]

_DEFAULTS = {"accel_max_time": 1.0, "accel_warmup": 0.2, "accel_target_rel_ci": 0.01}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("accelbench", "accelerator kernel benchmarks (accel_benchmark)")
    group.addoption("--accel-device", default=None,
                    help="device for accel_benchmark (default $ACCELBENCH_DEVICE or auto)")
    group.addoption("--accel-max-time", type=float, default=None,
                    help="sampling time budget per benchmark, seconds (1.0)")
    group.addoption("--accel-warmup", type=float, default=None,
                    help="warm-up per benchmark, seconds (0.2)")
    group.addoption("--accel-target-rel-ci", type=float, default=None,
                    help="stop when the 95%% CI of the median is within this (0.01)")


def _option(config: pytest.Config, name: str) -> float:
    value = config.getoption(name, default=None)
    return float(_DEFAULTS[name] if value is None else value)


class AccelBenchmark:
    """Times a device kernel with the accelbench sampler and records it in pytest-benchmark."""

    def __init__(self, benchmark: Any, device: Device, config: pytest.Config) -> None:
        self._benchmark = benchmark
        self.device = device
        self.max_time = _option(config, "accel_max_time")
        self.warmup = _option(config, "accel_warmup")
        self.target_rel_ci = _option(config, "accel_target_rel_ci")
        self.result: SampleResult | None = None

    @property
    def extra_info(self) -> dict[str, Any]:
        """pytest-benchmark's ``extra_info`` of this test (saved with the run)."""
        info: dict[str, Any] = self._benchmark.extra_info
        return info

    def __call__(self, fn: Callable[[], object], *, flops: float | None = None,
                 bytes: float | None = None) -> SampleResult | None:
        """Sample ``fn`` (a zero-argument kernel launch) and record the statistics.

        ``flops`` and ``bytes`` (per launch) give TFLOP/s and GB/s from the
        median. With ``--benchmark-disable`` the kernel runs once, untimed,
        as pytest-benchmark does.
        """
        from accelbench import _core

        self._benchmark._mode = "accel_benchmark(...)"
        if self._benchmark.disabled:
            fn()
            self.device.synchronize()
            return None
        timer, batch = self.device.timer(fn)
        result = _core.sample(timer, batch=batch, warmup_s=self.warmup, max_time_s=self.max_time,
                              target_rel_ci=self.target_rel_ci, min_samples=5)
        self.device.synchronize()
        analysis = _core.analyze(result.samples)
        median = analysis.summary.median
        # pytest-benchmark's Metadata divides each duration by `iterations`,
        # so feed it whole batches: k launches of `seconds` each.
        stats = self._benchmark._make_stats(result.k)
        for seconds in result.samples:
            stats.update(seconds * result.k)
        self.extra_info.update({
            "device": self.device.spec,
            "device_name": self.device.name,
            "timing_method": self.device.timing_method,
            "median_s": median,
            "ci_low_s": analysis.ci_low,
            "ci_high_s": analysis.ci_high,
            "rel_ci": analysis.rel_ci,
            "converged": result.converged,
            "stop_reason": result.stop_reason,
            "n_samples": len(result.samples),
            "iters_per_sample": result.k,
            "flops": flops,
            "bytes": bytes,
            "tflops": flops / median / 1e12 if flops and median > 0 else None,
            "gbps": bytes / median / 1e9 if bytes and median > 0 else None,
        })
        self.result = result
        return result

    def case(self, case: Case) -> SampleResult | None:
        """Prepare a catalog case on the device and benchmark it (skips unsupported cases)."""
        from accelbench.errors import UnsupportedError
        from accelbench.workloads import get_family

        try:
            prepared = get_family(case.kernel).prepare(case, self.device)
        except UnsupportedError as exc:
            pytest.skip(f"{case.kernel} {case.case} {case.dtype}: {exc}")
        self.extra_info.update({"kernel": case.kernel, "case": case.case, "dtype": case.dtype,
                                "params": case.params_text})
        return self(prepared.fn, flops=prepared.flops, bytes=prepared.bytes)


@pytest.fixture
def accel_benchmark(request: pytest.FixtureRequest) -> AccelBenchmark:
    """Benchmark a device kernel: ``accel_benchmark(fn, flops=..., bytes=...)``."""
    from accelbench.devices import resolve_device
    from accelbench.errors import DeviceError

    benchmark = request.getfixturevalue("benchmark")
    spec = (request.config.getoption("accel_device", default=None)
            or os.environ.get("ACCELBENCH_DEVICE") or "auto")
    try:
        device = resolve_device(spec)
    except DeviceError as exc:
        pytest.skip(f"accel_benchmark: {exc}")
    return AccelBenchmark(benchmark, device, request.config)
