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
``--accel-warmup`` (seconds, default 0.2), ``--accel-target-rel-ci`` (0.01),
``--accel-cache warm|cold`` and ``--accel-graph``, which time launches as
``accelbench run --cache``/``--graph`` do. The measurement step is the one
``accelbench run`` uses (:mod:`accelbench.measure.measurement`): the same
timers, the case's own host timing (``Prepared.host_timing``) honoured, the
same summary columns in ``extra_info``.

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
    from accelbench.devices import Device
    from accelbench.measure.measurement import Measurement
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
    group.addoption("--accel-cache", choices=("warm", "cold"), default="warm",
                    help="warm, or cold: flush the last-level cache before each launch")
    group.addoption("--accel-graph", action="store_true", default=False,
                    help="replay the launches from a captured device graph")


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
        self.cache = str(config.getoption("accel_cache", default="warm") or "warm")
        self.graph = bool(config.getoption("accel_graph", default=False))
        self.result: Measurement | None = None

    @property
    def extra_info(self) -> dict[str, Any]:
        """pytest-benchmark's ``extra_info`` of this test (saved with the run)."""
        info: dict[str, Any] = self._benchmark.extra_info
        return info

    def __call__(self, fn: Callable[[], object], *, flops: float | None = None,
                 bytes: float | None = None, host_timing: bool = False,
                 clone: Callable[[], Callable[[], object]] | None = None,
                 ) -> Measurement | None:
        """Sample ``fn`` (a zero-argument kernel launch) and record the statistics.

        ``flops`` and ``bytes`` (per launch) give TFLOP/s and GB/s from the
        median. ``host_timing`` times with the synchronised host clock (as a
        case with ``Prepared.host_timing`` is timed); ``clone`` is needed for
        cold cache in graph mode. With ``--benchmark-disable`` the kernel
        runs once, untimed, as pytest-benchmark does.
        """
        from accelbench.kinds import CacheState
        from accelbench.measure.measurement import SamplingSpec, Timing, make_timer, sample

        self._benchmark._mode = "accel_benchmark(...)"
        if self._benchmark.disabled:
            fn()
            self.device.synchronize()
            return None
        timing = Timing(CacheState(self.cache), self.graph, host_timing)
        timer, batch = make_timer(self.device, fn, timing, clone)
        spec = SamplingSpec(self.warmup, self.max_time, self.target_rel_ci, min_samples=5)
        measurement = sample(timer, batch, spec)
        self.device.synchronize()
        # pytest-benchmark's Metadata divides each duration by `iterations`,
        # so feed it whole batches: k launches of `seconds` each.
        stats = self._benchmark._make_stats(measurement.k)
        for seconds in measurement.samples:
            stats.update(seconds * measurement.k)
        columns = measurement.columns(flops, bytes)
        self.extra_info.update({
            "device": self.device.spec,
            "device_name": self.device.name,
            "timing_method": str(columns.get("timing_method", self.device.timing_method)),
            "cache_state": str(columns.get("cache_state", timing.cache)),
            **{k: columns[k] for k in _EXTRA_INFO},
            "stop_reason": str(columns["stop_reason"]),
        })
        self.result = measurement
        return measurement

    def case(self, case: Case) -> Measurement | None:
        """Prepare a catalog case on the device and benchmark it (skips unsupported cases)."""
        from accelbench.errors import UnsupportedError
        from accelbench.workloads import get_family

        try:
            prepared = get_family(case.kernel).prepare(case, self.device)
        except UnsupportedError as exc:
            pytest.skip(f"{case.kernel} {case.case} {case.dtype}: {exc}")
        self.extra_info.update({"kernel": case.kernel, "case": case.case, "dtype": case.dtype,
                                "params": case.params_text})
        return self(prepared.fn, flops=prepared.flops, bytes=prepared.bytes,
                    host_timing=prepared.host_timing, clone=prepared.clone)


#: Summary columns copied into pytest-benchmark's ``extra_info``.
_EXTRA_INFO = ("median_s", "ci_low_s", "ci_high_s", "rel_ci", "converged", "n_samples",
               "iters_per_sample", "flops", "bytes", "tflops", "gbps")


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
