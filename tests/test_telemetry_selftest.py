"""Telemetry (fake NVML / amdsmi), throttle flags in results, and the timer self-test."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import accelbench
from accelbench.devices import CpuDevice
from accelbench.devices.telemetry import AmdSmiSource, Monitor, NvmlSource, Reading
from accelbench.measure.core import Settings
from accelbench.measure.selftest import selftest
from accelbench.results import RunDir
from accelbench.runner.suite import Runner
from accelbench.workloads.base import Case
from tests.fakes import FakeNvml, FakeRuntime
from tests.test_backends import FakeDevice


def test_nvml_source_finds_the_device_by_uuid_and_converts_units() -> None:
    nvml = FakeNvml([0x4], uuid="GPU-abc")
    src = NvmlSource(0, "abc", None, nvml=nvml)
    assert nvml.lookups == ["GPU-abc"] and src.handle == "by-uuid"
    r = src.read()
    assert (r.sm_clock_mhz, r.mem_clock_mhz, r.power_w) == (1980.0, 2619.0, 350.0)
    assert r.reasons == 0x4 and r.throttled  # software power cap
    assert NvmlSource(2, "nope", None, nvml=FakeNvml([0])).handle == "index-2"


@pytest.mark.parametrize(("reasons", "throttled"), [
    (0x0, False), (0x1, False), (0x2, False), (0x10, False),  # idle, app clocks, sync boost
    (0x4, True), (0x8, True), (0x20, True), (0x40, True), (0x80, True), (0x1 | 0x40, True),
])
def test_which_nvml_reasons_count_as_throttling(reasons: int, throttled: bool) -> None:
    assert NvmlSource(0, nvml=FakeNvml([reasons])).read().throttled is throttled


def test_amdsmi_source_reads_clocks_power_and_throttle_status() -> None:
    smi = SimpleNamespace(
        amdsmi_init=lambda: None,
        amdsmi_get_processor_handles=lambda: ["h0", "h1"],
        AmdSmiClkType=SimpleNamespace(GFX="gfx", MEM="mem"),
        AmdSmiTemperatureType=SimpleNamespace(HOTSPOT="hot"),
        AmdSmiTemperatureMetric=SimpleNamespace(CURRENT="cur"),
        amdsmi_get_clock_info=lambda h, k: {"clk": 2100 if k == "gfx" else 1300},
        amdsmi_get_temp_metric=lambda h, t, m: 71,
        amdsmi_get_power_info=lambda h: {"current_socket_power": 612},
        amdsmi_get_gpu_metrics_info=lambda h: {"throttle_status": 1},
    )
    src = AmdSmiSource(1, amdsmi=smi)
    r = src.read()
    assert src.handle == "h1"
    assert (r.sm_clock_mhz, r.mem_clock_mhz, r.temp_c, r.power_w) == (2100, 1300, 71, 612)
    assert r.throttled


def test_monitor_samples_in_the_background_and_summarises() -> None:
    nvml = FakeNvml([0, 0x4])
    with Monitor(NvmlSource(0, nvml=nvml), interval_s=0.005) as mon:
        time.sleep(0.1)
    assert len(mon.readings) >= 10  # ~20 at 5 ms, plus first and last
    cols = mon.columns()
    assert cols["throttled_frac"] == pytest.approx(
        sum(r.throttled for r in mon.readings) / len(mon.readings))
    assert 0.3 < cols["throttled_frac"] < 0.7
    assert cols["sm_clock_mhz"] == 1980 and cols["power_w"] == 350 and cols["temp_c"] <= 44
    assert Monitor(None).columns() == {}


def test_flags_mark_samples_overlapping_a_throttled_reading() -> None:
    mon = Monitor(None)
    mon.readings = [Reading(t, 1980, 2619, 40, 300, r, bool(r)) for t, r in
                    [(0.0, 0), (1.0, 4), (2.0, 0), (3.0, 0)]]
    spans = [(0.1, 0.5), (0.6, 1.2), (1.3, 1.4), (2.1, 2.5), (3.5, 3.6)]
    # (1.3, 1.4) holds no reading: the last one before it (t=1, throttled) decides.
    assert mon.flags(spans) == [False, True, True, False, False]
    assert mon.flags([]) is None


class _CpuWithTelemetry(CpuDevice):
    """A CPU device whose monitor reads a fake NVML reporting throttling half the time."""

    def llc_bytes(self) -> int:
        return 1 << 16  # keep the cold-cache flush tiny

    def monitor(self) -> Monitor:
        return Monitor(NvmlSource(0, nvml=FakeNvml([0, 0x40])), interval_s=0.002)


def test_telemetry_and_throttle_flags_reach_the_results(tmp_path: Path) -> None:
    case = Case("matmul", "t 32", "fp32", (("M", 32), ("N", 32), ("K", 32)))
    run = RunDir.create(tmp_path, "cpu")
    run.write_meta({})
    # in-process: a worker process would open a real CpuDevice, not this fake one
    settings = Settings(warmup=0.02, max_case_time=0.3, min_samples=5, cache="cold",
                        isolation=False)
    Runner(_CpuWithTelemetry(), settings, run).run([case])
    frame = run.finalize()
    row = frame.iloc[0]
    assert row["status"] == "ok" and row["cache_state"] == "cold"
    assert row["timing_method"] == "host-monotonic-per-iter" and row["cold_bytes"] == 2 << 16
    assert row["sm_clock_mhz"] == 1980 and row["power_w"] == 350
    assert 0.2 < row["throttled_frac"] < 0.8
    samples = accelbench.load_samples(run.path)
    assert len(samples) == row["n_samples"]
    assert samples["throttled"].notna().all()  # every sample flagged or cleared, none dropped


# ------------------------------------------------------------------ self-test
def test_selftest_on_a_correct_simulated_gpu_passes() -> None:
    dev = FakeDevice(FakeRuntime(gap_s=1e-6))
    checks = selftest(dev, budget_s=0.08)
    names = [c.name for c in checks]
    assert "spin 10 us" in names and "graph spin 100 us" in names
    assert "spin 100 us on a side stream" in names
    strict = [c for c in checks if c.tolerance is not None]
    assert len(strict) >= 7
    assert all(c.ok for c in checks), [(c.name, c.error) for c in checks if not c.ok]
    null = next(c for c in checks if c.name == "null launch (device-bound)")
    assert null.measured_s == pytest.approx(1e-6, rel=0.1)  # the simulated per-launch gap


def test_selftest_catches_events_recorded_on_the_wrong_stream() -> None:
    dev = FakeDevice(FakeRuntime(events_ignore_stream=True))
    checks = {c.name: c for c in selftest(dev, budget_s=0.05)}
    side = checks["spin 100 us on a side stream"]
    assert not side.ok and side.error is not None and side.error < -0.5


def test_selftest_on_the_cpu_reports_every_check() -> None:
    checks = selftest(CpuDevice(), budget_s=0.05)
    assert [c.name for c in checks][:2] == ["null launch (zero-length spin)", "busy-wait 1 us"]
    big = next(c for c in checks if c.name == "busy-wait 1000 us")
    assert big.error is not None and abs(big.error) < 0.05  # ms-long work: close even when loaded


