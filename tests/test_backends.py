"""Accelerator backend logic on a simulated device: event timers, cold cache, graphs, facts.

The fake runtime (tests/fakes.py) reports the true device time of its
simulated kernels through its events, so each test knows the right answer
and a timer that measures the wrong thing fails.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from accelbench import _core
from accelbench.devices import AcceleratorDevice, rotating_copies
from accelbench.devices.facts import event_api, probe_events
from accelbench.devices.timers import (
    ColdEventTimer,
    EventApi,
    EventTimer,
    GraphTimer,
    timer_columns,
    timer_intervals,
)
from accelbench.errors import UnsupportedError, UsageError
from tests.fakes import FakeRuntime

NVIDIA = SimpleNamespace(cuda="13.0", hip=None)
ROCM = SimpleNamespace(cuda=None, hip="6.4.1")


class FakeDevice(AcceleratorDevice):
    """An AcceleratorDevice over the fake runtime; its cache flush is a simulated kernel."""

    flush_s = 200e-6

    def __init__(self, rt: FakeRuntime, version: Any = NVIDIA) -> None:
        super().__init__("cuda", 0, module=rt, version=version)
        self.rt = rt
        self.flushes = 0

    def make_flush(self, nbytes: int) -> Any:
        def flush() -> None:
            self.flushes += 1
            self.rt.launch(self.flush_s)

        return flush


def per_launch(timer: Any, k: int = 20, reps: int = 5) -> float:
    return min(timer(k) / k for _ in range(reps))


def test_event_timer_reports_the_device_time_of_the_kernels() -> None:
    rt = FakeRuntime()
    dev = FakeDevice(rt)
    timer, batch = dev.timer(lambda: rt.launch(50e-6))
    assert batch and dev.timing_method == "device-events"
    assert per_launch(timer) == pytest.approx(50e-6, rel=0.01)
    cols = timer_columns(timer, 3)
    assert cols["timing_method"] == "device-events" and cols["cache_state"] == "warm"
    assert cols["host_submit_s"] is not None and cols["host_submit_s"] < 50e-6


def test_events_follow_the_stream_the_work_runs_on() -> None:
    rt = FakeRuntime()
    dev = FakeDevice(rt)
    side = rt.Stream()
    timer, _ = dev.timer(lambda: rt.launch(100e-6))
    with rt.stream(side):
        on_side = per_launch(timer)
    assert on_side == pytest.approx(100e-6, rel=0.01)
    # The known failure: events recorded on the default stream see (almost) nothing.
    wrong = EventApi(new_event=lambda: rt.Event(enable_timing=True), synchronize=rt.synchronize,
                     current_stream=lambda: rt.default)
    with rt.stream(side):
        assert per_launch(EventTimer(lambda: rt.launch(100e-6), wrong)) < 50e-6


def test_host_submit_time_shows_a_launch_bound_kernel() -> None:
    rt = FakeRuntime(host_launch_s=30e-6)
    timer = EventTimer(lambda: rt.launch(5e-6), probe_events(event_api("cuda", rt)))  # type: ignore[arg-type]
    t = per_launch(timer)
    cols = timer.columns(5)
    assert cols["host_submit_s"] >= 30e-6
    assert t == pytest.approx(cols["host_submit_s"], rel=0.2)  # device waits for the host


def test_cold_cache_flush_stays_outside_the_timed_region() -> None:
    rt = FakeRuntime()
    dev = FakeDevice(rt)
    timer, _ = dev.timer(lambda: rt.launch(30e-6), cache="cold")
    assert isinstance(timer, ColdEventTimer)
    t = per_launch(timer, k=10)
    assert t == pytest.approx(30e-6, rel=0.02)
    assert dev.flushes == 50  # one flush per launch
    cols = timer_columns(timer, 2)
    assert cols["cache_state"] == "cold" and cols["timing_method"] == "device-events-per-iter"
    assert cols["cold_bytes"] == 2 * rt.l2_bytes


def test_graph_mode_removes_the_host_launch_overhead() -> None:
    rt = FakeRuntime(host_launch_s=20e-6)
    dev = FakeDevice(rt)
    eager, _ = dev.timer(lambda: rt.launch(2e-6))
    graphed, _ = dev.timer(lambda: rt.launch(2e-6), graph=True)
    assert isinstance(graphed, GraphTimer)
    assert per_launch(eager) >= 18e-6
    assert per_launch(graphed, k=100) == pytest.approx(2e-6, rel=0.02)
    assert 1 <= graphed.iters <= 1024
    assert timer_columns(graphed, 1)["timing_method"] == "graph-events"


def test_graph_timer_under_the_rust_sampler() -> None:
    rt = FakeRuntime()
    dev = FakeDevice(rt)
    timer, batch = dev.timer(lambda: rt.launch(20e-6), graph=True)
    result = _core.sample(timer, batch=batch, warmup_s=0.02, max_time_s=0.3, min_samples=5)
    assert result.median_s == pytest.approx(20e-6, rel=0.01)
    assert len(timer_intervals(timer, len(result.samples))) == len(result.samples)


def test_cold_graph_rotates_over_copies_covering_twice_the_cache() -> None:
    rt = FakeRuntime(l2_bytes=1 << 20)
    dev = FakeDevice(rt)
    made: list[int] = []

    def clone() -> Any:
        rt.allocated += 300_000  # each copy's measured footprint
        made.append(len(made))
        i = len(made)
        return lambda: rt.launch(5e-6 + i * 1e-9)

    timer, _ = dev.timer(lambda: rt.launch(5e-6), cache="cold", graph=True, clone=clone)
    assert isinstance(timer, GraphTimer)
    assert len(made) == 7  # ceil(2 MiB / 300 kB)
    assert timer.cold_bytes is not None and timer.cold_bytes >= 2 * rt.l2_bytes
    assert timer.iters % 7 == 0
    assert timer_columns(timer, 0)["cache_state"] == "cold"


def test_cold_graph_without_copies_or_size_is_unsupported() -> None:
    rt = FakeRuntime()
    dev = FakeDevice(rt)
    with pytest.raises(UnsupportedError, match=r"Prepared\.clone"):
        dev.timer(lambda: None, cache="cold", graph=True)
    api = probe_events(event_api("cuda", rt))
    assert api is not None
    with pytest.raises(UnsupportedError, match="size"):
        rotating_copies(lambda: (lambda: None), 1 << 20, api)  # footprint 0: cannot check


def test_no_graphs_and_bad_cache_state_are_reported() -> None:
    rt = FakeRuntime(graphs=False)
    dev = FakeDevice(rt)
    with pytest.raises(UnsupportedError, match="graph"):
        dev.timer(lambda: None, graph=True)
    with pytest.raises(UsageError, match="cache state"):
        dev.timer(lambda: None, cache="lukewarm")


def test_backend_without_events_falls_back_to_synchronised_host_timing() -> None:
    rt = FakeRuntime(events=False)
    dev = FakeDevice(rt)
    assert dev.timing_method == "host-synchronized"
    timer, batch = dev.timer(lambda: rt.launch(200e-6))
    assert batch
    t = per_launch(timer, k=10)
    assert 200e-6 <= t < 260e-6  # the host waited for the device
    assert timer_columns(timer, 1)["timing_method"] == "host-synchronized"
    cold, _ = dev.timer(lambda: rt.launch(100e-6), cache="cold")
    assert 100e-6 <= per_launch(cold, k=5) < 160e-6  # 200 us flush not included


def test_events_that_fail_the_probe_are_not_trusted() -> None:
    rt = FakeRuntime()

    class Broken:
        def __init__(self, enable_timing: bool = False) -> None:
            pass

        def record(self, stream: Any = None) -> None:
            pass

        def synchronize(self) -> None:
            pass

        def elapsed_time(self, other: Any) -> float:
            raise RuntimeError("timing not supported")

    rt.Event = Broken
    assert probe_events(event_api("cuda", rt)) is None
    assert FakeDevice(rt).timing_method == "host-synchronized"


def test_mps_events_get_a_device_wide_synchronisation() -> None:
    rt = FakeRuntime()
    calls: list[str] = []
    mps = SimpleNamespace(event=SimpleNamespace(Event=rt.Event),
                          synchronize=lambda: calls.append("sync"))
    api = event_api("mps", mps)
    assert api is not None and api.current_stream is None and api.full_sync
    assert api.capture is None
    ev = api.new_event()
    api.record(ev)
    api.wait(ev)
    assert calls == ["sync"]


def test_nvidia_facts() -> None:
    dev = FakeDevice(FakeRuntime(name="NVIDIA H100 80GB HBM3", l2_bytes=50 * 2**20))
    f = dev.facts
    assert dev.name == "NVIDIA H100 80GB HBM3" and dev.slug == "cuda-nvidia-h100-80gb-hbm3"
    assert f["vendor"] == "nvidia" and f["runtime"] == "cuda 13.0"
    assert f["capability"] == "9.0" and f["llc_bytes"] == 50 * 2**20
    assert f["uuid"] == "9447b8f5-0808-44e0-d0df-55ec060ed869"
    assert f["pci_bus_id"] == "00000000:1b:00.0"
    assert dev.llc_bytes() == 50 * 2**20 and dev.memory_bytes() == 80 * 2**30


def test_rocm_build_reports_cuda_backend_with_rocm_runtime() -> None:
    dev = FakeDevice(FakeRuntime(name="AMD Instinct MI300X"), version=ROCM)
    assert dev.backend == "cuda"
    assert dev.facts["vendor"] == "amd" and dev.facts["runtime"] == "rocm 6.4.1"
    assert dev.facts["arch"].startswith("gfx942")
    assert "capability" not in dev.facts


def test_missing_device_index_is_a_usage_error() -> None:
    from accelbench.errors import DeviceError

    rt = FakeRuntime()
    with pytest.raises(DeviceError, match="does not exist"):
        AcceleratorDevice("cuda", 3, module=rt, version=NVIDIA)


def test_batch_log_maps_samples_to_host_intervals() -> None:
    rt = FakeRuntime()
    timer = EventTimer(lambda: rt.launch(10e-6), probe_events(event_api("cuda", rt)))  # type: ignore[arg-type]
    t0 = time.perf_counter()
    for k in (1, 2, 4):
        timer(k)
    spans = timer_intervals(timer, 2)
    assert len(spans) == 2 and t0 <= spans[0][0] <= spans[0][1] <= spans[1][0]
    assert [b.k for b in timer.log] == [1, 2, 4]


def test_privateuse1_facts_from_what_the_module_offers() -> None:
    """npu keeps its specifics on top of the generic PrivateUse1 facts; missing ones are None."""
    from accelbench.devices.facts import accelerator_facts

    props = SimpleNamespace(total_memory=64 * 2**30, cube_core_num=24, name="Ascend910B")
    npu = SimpleNamespace(__name__="torch_npu.npu", get_device_name=lambda i: "Ascend910B2",
                          get_device_properties=lambda i: props, driver_version="24.1")
    facts = accelerator_facts("npu", npu, 0)
    assert facts["name"] == "Ascend910B2" and facts["vendor"] == "huawei"
    assert facts["memory_bytes"] == 64 * 2**30 and facts["multiprocessors"] == 24
    assert facts["package"] == "torch_npu" and facts["driver"] == "24.1"
    bare = SimpleNamespace(__name__="torch_foo.dev", mem_get_info=lambda i: (1, 2**30))
    facts = accelerator_facts("foo", bare, 1)
    assert facts["name"] == "foo device 1" and facts["memory_bytes"] == 2**30
    assert facts["driver"] is None and facts["multiprocessors"] is None
